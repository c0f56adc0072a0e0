// bench/backfill: what a user does first (issue 16, item 2). A fresh repository with the whole
// corpus committed, a real `kitty-sync serve` child, and one cold `kitty-sync sync --all` process,
// timed from its spawn to its exit, then `status --json` must show an empty queue. The server is warmed
// up first, as bench/drain's receivers are (bench/warm-up.ts): the CLI is cold, not the server. Prints bodies/s
// end to end and the per-phase breakdown of KITTY_SYNC_TRACE=1 (wall and CPU per phase).
// In the same run, bench/drain (one fresh-process run) on the same number of corpus bodies, for the
// >= 70 % comparison: drain.js runs its work at import, so it is spawned rather than imported.
// And the backfill floor (bench/floor-agent.ts with KS_FLOOR_ALL=1): the least a backfill on the
// named stack must do, from a cold process, against its own fresh server; the ratio to it says how
// much of the gap is kitty-sync's own work and how much the stack's and this machine's.
// runs (default 3): sync and drain alternate, so both meet the same moment of a shared machine's load;
// the medians are printed, by wall rate and by CPU per body (the latter swings much less under load).
// The corpus is committed just before, so its objects are loose, as for a user who just committed;
// KS_BENCH_PACKED=1 packs them first (`git gc`), as in a long-lived repository.
// Run: npm run build && node dist/bench/backfill.js [concurrency] [runs]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONCURRENCY } from '../lib/config.js';
import { commitAll, copyCorpusFeatures, gitOk, makeRepo } from '../test/support/git.js';
import { cleanEnv } from '../test/support/proc.js';
import { corpusArtifacts } from './corpus.js';
import { statCpuMs } from './proc-stat.js';
import { formatSteal, stealSince } from './steal.js';
import { bundleFloorAgent } from './floor-bundle.js';
import { postEvents, warmUpEvents } from './warm-up.js';
import { median } from './median.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, '../bundle/kitty-sync.js');
const drainBench = path.resolve(here, 'drain.js');
const CONCURRENCY = Number(process.argv[2] ?? DEFAULT_CONCURRENCY);
/** Runs (each a fresh server and state directory), alternating sync and drain, medians at the end. */
const RUNS = Number(process.argv[3] ?? 3);

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  cpuMs: number;
}

/** Runs a child to its exit; `ms` is wall time from spawn to exit, `cpuMs` the child's user + system CPU. */
function runChild(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    // 'exit' rather than 'close': the clock stops when the process ends, not when its pipes drain.
    child.on('exit', (code) => {
      const ms = performance.now() - t0;
      child.on('close', () => resolve({ code, stdout, stderr, ms, cpuMs: reapedChildrenCpuDelta() }));
    });
  });
}

/**
 * CPU of children reaped since the last call (the CLI and the git processes it waited for): /proc/<pid>
 * is gone once a child exits, and process.resourceUsage() has no children figure; /proc/self/stat's
 * cutime + cstime (Linux) has.
 */
let childrenCpuSeen = 0;
function reapedChildrenCpuDelta(): number {
  const total = statCpuMs('/proc/self/stat', 16, 17); // cutime + cstime of reaped children
  const delta = total - childrenCpuSeen;
  childrenCpuSeen = total;
  return delta;
}

async function startServer(): Promise<{ url: string; child: ChildProcess; data: string }> {
  const data = mkdtempSync(path.join(tmpdir(), 'ks-bench-backfill-recv-'));
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--data', data], { stdio: ['ignore', 'pipe', 'inherit'], env: cleanEnv() });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(buf);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code} before listening`)));
  });
  return { url, child, data };
}

async function stopServer(s: { child: ChildProcess; data: string }): Promise<void> {
  if (s.child.exitCode === null) {
    const exited = new Promise((res) => s.child.once('exit', res));
    s.child.kill('SIGTERM');
    await exited;
  }
  rmSync(s.data, { recursive: true, force: true });
}

/** Trace lines ("kitty-sync trace:  123 ms (+  45)  cpu  100 ms (+  30)  label") as rows. */
function phases(stderr: string): { at: number; wall: number; cpu: number; label: string }[] {
  const re = /^kitty-sync trace:\s+(\d+) ms \(\+\s*(\d+)\)\s+cpu\s+(\d+) ms \(\+\s*(\d+)\)\s+(.*)$/;
  return stderr
    .split('\n')
    .map((l) => re.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ at: Number(m[1]), wall: Number(m[2]), cpu: Number(m[4]), label: m[5] }));
}

/**
 * The marks grouped as a user sees a backfill: start-up and reading the repository, the capture
 * (one spool file), the merge into the queue (sql.js start, merge, save), delivery (events, bodies, the drain's saves), the end.
 * A group ends at the first mark whose label matches; the wall and CPU are the sums of the deltas.
 */
function phaseSummary(rows: ReturnType<typeof phases>, totalMs: number): string[] {
  const groups: [string, (label: string) => boolean][] = [
    ['start-up + reading blobs + eligibility (to "artifacts collected")', (l) => /^sync: \d+ artifacts collected$/.test(l)],
    ['capture: the spool of bodies and events written (to "spooled")', (l) => l === 'spooled'],
    ['merge: sql.js start, merge, save (to "merged")', (l) => l === 'merged'],
    ['delivery: events + bodies + the drain\'s saves (to "drain: finished")', (l) => l === 'drain: finished'],
    ['report + outcome log (to "sync: reported")', (l) => l === 'sync: reported'],
  ];
  const out: string[] = [];
  let i = 0;
  for (const [name, ends] of groups) {
    let wall = 0;
    let cpu = 0;
    for (; i < rows.length; i++) {
      wall += rows[i].wall;
      cpu += rows[i].cpu;
      if (ends(rows[i].label)) {
        i += 1;
        break;
      }
    }
    out.push(`${wall.toFixed(0).padStart(6)} ms wall  ${cpu.toFixed(0).padStart(6)} ms cpu  ${name}`);
  }
  const last = rows.at(-1)?.at ?? 0;
  out.push(`${(totalMs - last).toFixed(0).padStart(6)} ms wall               exit (after the last mark)`);
  return out;
}

/** Index events of another project the server indexes before the clock starts (as many as bench/drain's default). */
const WARM_UP_EVENTS = 2000;
const WARM_UP_CONTEXT = { team_slug: 'local', project_slug: 'warm-up', repo_slug: null, git_branch: 'main', head_commit_sha: '0'.repeat(40) };

interface Outcome {
  status: string;
}

interface RunResult {
  rate: number;
  cpuUs: number;
  drainRate: number;
  drainClientUs: number;
  floorRate: number;
  /** When the first request could go (ms since each process started): kitty-sync's drain, the floor's delivery. */
  syncBeforeMs: number;
  floorBeforeMs: number;
}

/** One cold `sync --all` into a fresh state directory and a fresh server, then bench/drain on as many bodies. */
async function once(repo: Awaited<ReturnType<typeof makeRepo>>, features: string[], run: number): Promise<RunResult> {
  const server = await startServer();
  // A server that has been running, as bench/drain's receivers are (bench/warm-up.ts): the CLI is cold, not the server.
  await postEvents(server.url, await warmUpEvents(corpusArtifacts(WARM_UP_EVENTS), WARM_UP_CONTEXT));
  const home = mkdtempSync(path.join(tmpdir(), 'ks-bench-backfill-home-'));
  try {
    const env = cleanEnv({ KITTY_SYNC_SERVER_URL: server.url, KITTY_SYNC_TRACE: '1', KITTY_SYNC_CONCURRENCY: String(CONCURRENCY), KITTY_SYNC_HOME: home });
    reapedChildrenCpuDelta(); // baseline: earlier children are not this sync's

    const sync = await runChild([cli, 'sync', '--all', '--json'], { cwd: repo.root, env });
    if (sync.code !== 0) throw new Error(`sync --all exited ${sync.code}: ${sync.stderr.slice(-2000)}`);
    const outcomes = (JSON.parse(sync.stdout) as { outcomes: Outcome[] }).outcomes;
    const uploaded = outcomes.filter((o) => o.status === 'uploaded' || o.status === 'already_exists').length;
    const status = JSON.parse((await runChild([cli, 'status', '--json'], { cwd: repo.root, env: cleanEnv({ KITTY_SYNC_SERVER_URL: server.url, KITTY_SYNC_HOME: home }) })).stdout) as {
      pending: number;
      events_pending: number;
      failed: number;
    };
    if (status.pending !== 0 || status.events_pending !== 0 || status.failed !== 0) throw new Error(`queue not empty after sync --all: ${JSON.stringify(status)}`);

    const rate = uploaded / (sync.ms / 1000);
    console.log(
      `--- run ${run}: features: ${features.length}, bodies delivered: ${uploaded} (outcomes ${outcomes.length}), concurrency ${CONCURRENCY}, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(`cold sync --all: ${sync.ms.toFixed(0)} ms spawn to exit, cpu ${sync.cpuMs.toFixed(0)} ms (CLI + its git children) -> ${rate.toFixed(0)} bodies/s end to end; queue empty after (status --json)`);
    console.log('phases (KITTY_SYNC_TRACE; wall and CPU since the previous mark):');
    const marks = phases(sync.stderr);
    for (const p of marks) console.log(`  ${String(p.at).padStart(5)} ms  +${String(p.wall).padStart(5)} ms wall  +${String(p.cpu).padStart(5)} ms cpu  ${p.label}`);
    const last = marks.at(-1)?.at ?? 0;
    console.log(`  ${sync.ms.toFixed(0).padStart(5)} ms  +${(sync.ms - last).toFixed(0).padStart(5)} ms wall  (after the last mark: exit, and process start before node's clock)`);
    console.log('per phase (what the issue asks to compare: everything before sending must cost less than sending):');
    for (const row of phaseSummary(marks, sync.ms)) console.log(`  ${row}`);

    // The same number of corpus bodies through bench/drain, one fresh-process run.
    const drain = await runChild([drainBench, String(uploaded), String(CONCURRENCY), '1'], { env: { ...process.env, KS_BENCH_CHILD: '1' } });
    const line = drain.stdout.split('\n').find((l) => l.startsWith('KS_BENCH_RESULT '));
    if (drain.code !== 0 || !line) throw new Error(`bench/drain failed (${drain.code}): ${drain.stderr.slice(-2000)}`);
    const d = JSON.parse(line.slice('KS_BENCH_RESULT '.length)) as { drainRate: number; fetchFloorRate: number; floorRate: number; drainClientUs: number };
    const cpuUs = (sync.cpuMs / uploaded) * 1000;
    console.log(`bench/drain on ${uploaded} corpus bodies (same run): drain ${d.drainRate.toFixed(0)} bodies/s, node-fetch floor ${d.fetchFloorRate.toFixed(0)}, http.request floor ${d.floorRate.toFixed(0)}`);
    console.log(
      `backfill / drain: ${((rate / d.drainRate) * 100).toFixed(0)} %   (target >= 70 %); cpu per body: backfill ${cpuUs.toFixed(0)} µs (everything, git included), drain ${d.drainClientUs.toFixed(0)} µs -> ${((d.drainClientUs / cpuUs) * 100).toFixed(0)} % by CPU`,
    );
    const floor = await backfillFloor(repo.root);
    // Before the first request: kitty-sync's drain starts at its "drain: … ready" mark, the floor's
    // delivery at its "enqueued (durable)" one (both in ms since their process started).
    const syncBefore = marks.find((p) => /^drain: \d+ events, \d+ bodies ready$/.test(p.label))?.at ?? NaN;
    const syncDone = marks.find((p) => p.label === 'drain: finished')?.at ?? NaN;
    console.log(
      `backfill floor (bench/floor-agent.ts with KS_FLOOR_ALL: cold Node, the documents read and verified, one durable spool, the same wire): ${floor.stored} bodies in ${floor.ms.toFixed(0)} ms -> ${floor.rate.toFixed(0)} bodies/s = ${((floor.rate / d.drainRate) * 100).toFixed(0)} % of the drain; kitty-sync's backfill = ${((rate / floor.rate) * 100).toFixed(0)} % of the floor`,
    );
    console.log(
      `  before the first request: kitty-sync ${syncBefore.toFixed(0)} ms, the floor ${floor.beforeMs.toFixed(0)} ms (${floor.marks}); sending: kitty-sync ${(syncDone - syncBefore).toFixed(0)} ms, the floor ${floor.sendingMs.toFixed(0)} ms`,
    );
    return { rate, cpuUs, drainRate: d.drainRate, drainClientUs: d.drainClientUs, floorRate: floor.rate, syncBeforeMs: syncBefore, floorBeforeMs: floor.beforeMs };
  } finally {
    await stopServer(server);
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * The backfill floor: bench/floor-agent.ts's KS_FLOOR_ALL mode (the least a backfill on the named
 * stack must do), bundled and started as the real CLI is, against its own fresh, warmed-up server.
 * Its queue and spool (in .git) are removed after, so every run is a first backfill.
 */
let floorEntry: string | null = null;
async function backfillFloor(root: string): Promise<{ stored: number; ms: number; rate: number; beforeMs: number; sendingMs: number; marks: string }> {
  floorEntry ??= bundleFloorAgent();
  const server = await startServer();
  try {
    await postEvents(server.url, await warmUpEvents(corpusArtifacts(WARM_UP_EVENTS), WARM_UP_CONTEXT));
    const run = await runChild([floorEntry], { cwd: root, env: cleanEnv({ KITTY_SYNC_SERVER_URL: server.url, KS_FLOOR_ALL: '1', KS_FLOOR_TRACE: '1' }) });
    const m = /floor-agent: (\d+) stored of (\d+)/.exec(run.stderr);
    if (run.code !== 0 || !m || m[1] !== m[2]) throw new Error(`the backfill floor did not deliver everything (${run.code}): ${run.stderr.slice(-2000)}`);
    const stored = Number(m[1]);
    const marks = [...run.stderr.matchAll(/^floor-agent trace:\s+(\d+) ms {2}(.*)$/gm)].map((t) => ({ at: Number(t[1]), label: t[2] }));
    const at = (label: RegExp): number => marks.find((t) => label.test(t.label))?.at ?? NaN;
    const beforeMs = at(/^enqueued/);
    return { stored, ms: run.ms, rate: stored / (run.ms / 1000), beforeMs, sendingMs: at(/^sent$/) - beforeMs, marks: marks.map((t) => `${t.label} ${t.at}`).join(', ') };
  } finally {
    await stopServer(server);
    for (const f of ['floor-queue.sqlite', 'floor-spool']) rmSync(path.join(root, '.git', f), { force: true });
  }
}

async function main(): Promise<void> {
  const repo = await makeRepo({ prefix: 'ks-bench-backfill-' });
  try {
    const features = await copyCorpusFeatures(repo, 'all');
    await commitAll(repo, 'the whole corpus');
    if (process.env.KS_BENCH_PACKED === '1') await gitOk(repo, ['gc', '-q']);
    console.log(`repository objects: ${process.env.KS_BENCH_PACKED === '1' ? 'packed (git gc)' : 'loose (just committed)'}`);
    const results: RunResult[] = [];
    const steals: (number | null)[] = [];
    for (let i = 1; i <= RUNS; i++) {
      const steal = stealSince();
      results.push(await once(repo, features, i));
      steals.push(steal());
      console.log(`hypervisor steal during run ${i}: ${formatSteal(steals[i - 1])}`);
    }
    if (RUNS > 1) {
      const med = (pick: (r: RunResult) => number): number => median(results.map(pick));
      const each = (pick: (r: RunResult) => number) => results.map((r) => (pick(r) * 100).toFixed(0)).join(' / ');
      console.log(
        `=== ${RUNS} runs: backfill / drain median ${(med((r) => r.rate / r.drainRate) * 100).toFixed(0)} % (each: ${each((r) => r.rate / r.drainRate)} %; target >= 70 %); hypervisor steal per run: ${steals.map(formatSteal).join(' / ')}`,
      );
      console.log(
        `    backfill floor / drain median ${(med((r) => r.floorRate / r.drainRate) * 100).toFixed(0)} % (each: ${each((r) => r.floorRate / r.drainRate)} %); kitty-sync's backfill / the floor median ${(med((r) => r.rate / r.floorRate) * 100).toFixed(0)} % (each: ${each((r) => r.rate / r.floorRate)} %)`,
      );
      console.log(`    before the first request, median: kitty-sync ${med((r) => r.syncBeforeMs).toFixed(0)} ms, the floor ${med((r) => r.floorBeforeMs).toFixed(0)} ms`);
      console.log(
        `    by CPU per body (less sensitive to a shared machine's load): median ${(med((r) => r.drainClientUs / r.cpuUs) * 100).toFixed(0)} % (each: ${each((r) => r.drainClientUs / r.cpuUs)} %); backfill ${med((r) => r.cpuUs).toFixed(0)} µs, drain ${med((r) => r.drainClientUs).toFixed(0)} µs per body; load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
      );
    }
  } finally {
    await repo.cleanup();
  }
}

await main();
