// Chaos (issue 6 item 1): a faulty receiver (child process), a real repository with the hooks
// installed by `kitty-sync install`, many commits in two worktrees, hook agents and drains
// SIGKILLed at random moments. Then the user's recovery path (`kitty-sync sync --all` in each
// worktree), faults off, one `drain --force`, and the proof: every eligible artifact's latest
// content is on the receiver, no older version ever followed a newer one, the queue is empty
// and opens cleanly. Seeded: KITTY_SYNC_CHAOS_SEED=<n> replays a run's choices.
import test from 'ava';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, cli, CLI_PATH, prng, start, type Started } from '../support/proc.js';
import { copyCorpusFeatures, git, gitBytes, gitOk, makeRepo } from '../support/git.js';
import { spawnReceiver } from '../support/receiver.js';

const TOKEN = 'chaos-token-7f3a9c';
// 20 commits, not 32: each commit is a hook run or a killed agent (and, one time in three, a killed
// drain), the test's whole cost, and a seeded run of 20 already shows every path many times (hook
// commits, agents killed and surviving, drains killed, edits, renames, deletes, adds, 5xx/429/drops
// and index lag: see the counts the test prints), in two worktrees sharing one queue.
const COMMITS = 20;
const MAIN_FEATURES = ['037-mission-dsl-foundation', '013-fix-and-test-dashboard'];
const WT2_FEATURES = ['049-fix-merge-target-resolution', '053-orchestrator-api-json-contract-fidelity'];
const TOP_LEVEL = new Set(['spec.md', 'plan.md', 'tasks.md', 'research.md', 'quickstart.md', 'data-model.md']);
const EXTENSIONS = /\.(md|json|ya?ml|csv)$/i;

/** SPEC §3 surfaces, written out independently of lib/eligibility.ts. */
function onSurface(rel: string): boolean {
  if (TOP_LEVEL.has(rel)) return true;
  if (/^(research|contracts|checklists)\//.test(rel)) return true;
  return /^tasks\/WP\d[^/]*\.md$/.test(rel);
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

function validUtf8(buf: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

interface Blob {
  gitId: string;
  mode: string;
}

async function lsTree(cwd: string, rev: string, env: NodeJS.ProcessEnv): Promise<Map<string, Blob>> {
  const out = await gitOk(cwd, ['ls-tree', '-r', '-z', rev, '--', 'kitty-specs/'], env);
  const files = new Map<string, Blob>();
  for (const entry of out.split('\0')) {
    if (entry === '') continue;
    const [meta, p] = entry.split('\t');
    const [mode, type, gitId] = meta.split(' ');
    if (type === 'blob') files.set(p, { gitId, mode });
  }
  return files;
}

const blobCache = new Map<string, Buffer>();
async function blobBytes(cwd: string, gitId: string, env: NodeJS.ProcessEnv): Promise<Buffer> {
  let b = blobCache.get(gitId);
  if (!b) {
    b = await gitBytes(cwd, ['cat-file', 'blob', gitId], env);
    blobCache.set(gitId, b);
  }
  return b;
}

test('chaos: faults, kills and two worktrees lose nothing and never regress a version', async (t) => {
  const seed = Number(process.env.KITTY_SYNC_CHAOS_SEED ?? Date.now() % 1_000_000);
  const rand = prng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  t.log(`seed ${seed}`);

  // Nominal rates of the brief, as the receiver draws them in turn (drop, then 429, then 5xx):
  // 10 % dropped, 10 % 429, 30 % 5xx overall.
  const receiver = await spawnReceiver({
    token: TOKEN,
    args: ['--drop-rate', '0.1', '--rate-limit-rate', String(0.1 / 0.9), '--retry-after', '1', '--fail-rate', String(0.3 / 0.8), '--fail-status', '503', '--latency-ms', '0-30', '--index-lag-ms', '200'],
  });
  const repo = await makeRepo();
  const children: Started[] = [];
  t.teardown(async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.done));
    await receiver.stop();
    await repo.cleanup();
  });

  const main = repo.root;
  const wt2 = path.join(path.dirname(main), 'wt2');
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_TOKEN: TOKEN, KITTY_SYNC_BUDGET_MS: '300' });
  const offEnv = { ...env, KITTY_SYNC: '0' };

  // Base commit (config only), install through the CLI, then a second worktree on its own branch.
  await gitOk(main, ['add', '-A'], env);
  await gitOk(main, ['commit', '-q', '-m', 'base'], env);
  const install = await cli(main, ['install', '--repo', main], env);
  t.is(install.code, 0, install.stderr);
  await gitOk(main, ['worktree', 'add', '-q', '-b', 'wt2', wt2], env);

  // Each worktree owns its features (both have target_branch main: two worktrees editing one
  // feature of one namespace would make "latest" a race between users, not a property of the tool).
  const owned = new Map<string, string[]>([
    [main, MAIN_FEATURES],
    [wt2, WT2_FEATURES],
  ]);
  await copyCorpusFeatures(main, MAIN_FEATURES);
  await copyCorpusFeatures(wt2, WT2_FEATURES);

  const counts = { commits: 0, hookCommits: 0, agentKills: 0, drainKills: 0, agentsSurvived: 0, edits: 0, renames: 0, deletes: 0, adds: 0 };
  const hookFailures: string[] = [];

  const mdFiles = (wt: string): string[] => {
    const out: string[] = [];
    const walk = (dir: string): void => {
      for (const d of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, d.name);
        if (d.isDirectory()) walk(p);
        else if (d.name.endsWith('.md')) out.push(path.relative(wt, p).split(path.sep).join('/'));
      }
    };
    for (const f of owned.get(wt)!) walk(path.join(wt, 'kitty-specs', f));
    return out.sort();
  };

  const killLater = (s: Started, delayMs: number, kind: 'agent' | 'drain'): void => {
    setTimeout(() => {
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    }, delayMs);
    void s.done.then((r) => {
      if (r.signal === 'SIGKILL') counts[kind === 'agent' ? 'agentKills' : 'drainKills']++;
      else if (kind === 'agent') counts.agentsSurvived++;
    });
  };

  const commit = async (wt: string, message: string): Promise<void> => {
    await gitOk(wt, ['add', '-A'], env);
    const mode = counts.commits < 2 ? 'hook' : rand();
    if (mode === 'hook' || (mode as number) < 0.6) {
      // The real path: git runs the installed shim → launcher → agent, synchronously.
      const r = await git(wt, ['commit', '-q', '-m', message], env);
      if (r.code !== 0) throw new Error(`commit failed: ${r.stderr}`);
      if (/could not finish|hook failed|Error:/.test(r.stderr)) hookFailures.push(r.stderr);
      counts.hookCommits++;
    } else {
      // The hook's node process, killed at a random moment (possibly before it enqueued anything).
      await gitOk(wt, ['commit', '-q', '-m', message], offEnv);
      const agent = start(process.execPath, [CLI_PATH, 'hook', 'post-commit'], { cwd: wt, env });
      children.push(agent);
      killLater(agent, Math.floor(rand() * 2500), 'agent');
    }
    counts.commits++;
    if (rand() < 0.3) {
      const d = start(process.execPath, [CLI_PATH, 'drain', '--budget', '3s'], { cwd: pick([main, wt2]), env });
      children.push(d);
      killLater(d, 50 + Math.floor(rand() * 900), 'drain');
    }
  };

  await commit(main, 'main: features');
  await commit(wt2, 'wt2: features');

  for (let i = 0; i < COMMITS - 2; i++) {
    const wt = rand() < 0.55 ? main : wt2;
    const files = mdFiles(wt);
    const actions = 1 + Math.floor(rand() * 3);
    for (let a = 0; a < actions; a++) {
      const r = rand();
      const file = pick(files);
      if (r < 0.75 || files.length < 10) {
        appendFileSync(path.join(wt, file), `\n<!-- chaos edit ${i}.${a} ${Math.floor(rand() * 1e9)} -->\n`);
        counts.edits++;
      } else if (r < 0.85 && existsSync(path.join(wt, file))) {
        const to = path.posix.join(path.posix.dirname(file), `renamed-${i}-${path.posix.basename(file)}`);
        await gitOk(wt, ['mv', file, to], env);
        files.splice(files.indexOf(file), 1, to);
        counts.renames++;
      } else if (r < 0.92 && existsSync(path.join(wt, file))) {
        // -f: the file may have been edited earlier in this same commit.
        await gitOk(wt, ['rm', '-q', '-f', file], env);
        files.splice(files.indexOf(file), 1);
        counts.deletes++;
      } else {
        const feature = pick(owned.get(wt)!);
        const dir = path.join(wt, 'kitty-specs', feature, 'research');
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, `chaos-${i}.md`), `# note ${i}\n\n${Math.floor(rand() * 1e9)}\n`);
        counts.adds++;
      }
    }
    await commit(wt, `chaos ${i}`);
  }

  // Let every agent and drain finish or be killed before recovering (each kill timer still fires;
  // no extra sleep is needed).
  await Promise.all(children.map((c) => c.done));

  // Recovery path: a killed hook may have enqueued nothing for its commit, and the next hook only
  // syncs its own commit, so the user (or the test) re-indexes each worktree's features at HEAD.
  // Faults are still on: it enqueues durably and delivers what it can.
  for (const wt of [main, wt2]) {
    const s = await cli(wt, ['sync', '--all', '--json'], env);
    t.true(s.code === 0 || s.code === 75, `sync --all in ${wt}: ${s.code} ${s.stderr}`);
  }

  await receiver.setFaults({ reset: true });
  const drained = await cli(main, ['drain', '--force', '--json'], env);
  t.is(drained.code, 0, `drain --force: ${drained.stderr}\n${drained.stdout}`);

  const status = await cli(main, ['status', '--json'], env);
  t.is(status.code, 0, status.stderr);
  const st = JSON.parse(status.stdout) as { pending: number; events_pending: number; failed: number; state_dir: string };
  t.is(st.pending, 0);
  t.is(st.events_pending, 0);
  t.is(st.failed, 0, 'a fault-only run leaves no dead letters');
  t.notRegex(status.stderr, /could not be read|moved aside|corrupt/i);
  t.deepEqual(
    readdirSync(st.state_dir).filter((f) => f.includes('corrupt')),
    [],
  );
  const failed = await cli(main, ['failed', '--json'], env);
  t.deepEqual((JSON.parse(failed.stdout) as { failed: unknown[] }).failed, []);

  // Expected: every eligible file at each worktree's HEAD, hashed here with node:crypto.
  const artifacts = await receiver.artifacts();
  const byKey = new Map<string, (typeof artifacts)[number][]>();
  for (const a of artifacts) {
    const k = `${a.namespace.feature_slug}\0${a.artifact_path}`;
    byKey.set(k, [...(byKey.get(k) ?? []), a]);
  }
  let expectedCount = 0;
  let versionsChecked = 0;
  for (const wt of [main, wt2]) {
    const head = await lsTree(wt, 'HEAD', env);
    for (const [p, blob] of head) {
      const [, feature, ...rest] = p.split('/');
      const rel = rest.join('/');
      if (!owned.get(wt)!.includes(feature) || !onSurface(rel) || !EXTENSIONS.test(rel) || blob.mode !== '100644') continue;
      const bytes = await blobBytes(wt, blob.gitId, env);
      if (bytes.length > 524_288 || bytes.includes(0) || !validUtf8(bytes)) continue;
      expectedCount++;
      const recs = byKey.get(`${feature}\0${rel}`) ?? [];
      t.is(recs.length, 1, `exactly one namespace holds ${feature}/${rel}`);
      if (recs.length === 1) t.is(recs[0].latest_hash, sha256(bytes), `${feature}/${rel} holds its content at HEAD of ${path.basename(wt)}`);
    }

    // Version order: the receiver's versions of a path (arrival order) must follow the order in
    // which those contents first appeared in the branch's history. Every edit adds unique text,
    // so each content appears in exactly one position (no reverts in this run).
    const revs = (await gitOk(wt, ['rev-list', '--reverse', '--first-parent', 'HEAD'], env)).trim().split('\n');
    const firstSeen = new Map<string, Map<string, number>>(); // path -> sha256 -> commit index
    for (let i = 0; i < revs.length; i++) {
      for (const [p, blob] of await lsTree(wt, revs[i], env)) {
        const m = firstSeen.get(p) ?? new Map<string, number>();
        firstSeen.set(p, m);
        const h = sha256(await blobBytes(wt, blob.gitId, env));
        if (!m.has(h)) m.set(h, i);
      }
    }
    for (const a of artifacts) {
      if (!owned.get(wt)!.includes(a.namespace.feature_slug)) continue;
      const history = firstSeen.get(`kitty-specs/${a.namespace.feature_slug}/${a.artifact_path}`);
      t.truthy(history, `${a.artifact_path} was received but never committed`);
      if (!history) continue;
      const order = a.versions.map((v) => history.get(v.content_hash));
      t.true(
        order.every((x, i) => x !== undefined && (i === 0 || x > order[i - 1]!)),
        `versions of ${a.namespace.feature_slug}/${a.artifact_path} arrived out of commit order: ${JSON.stringify(order)}`,
      );
      versionsChecked += a.versions.length;
    }
  }
  t.true(expectedCount >= 10, `expected many eligible artifacts, got ${expectedCount}`);
  t.deepEqual(hookFailures, []);

  const stats = await receiver.stats();
  const injected = stats.faults.drop + stats.faults.rate_limit + stats.faults.fail;
  const retries = injected + stats.index_entry_not_found;
  t.true(injected > 0, 'faults were injected');
  t.true(counts.agentKills + counts.drainKills > 0, 'processes were killed');
  const line =
    `chaos seed=${seed}: commits=${counts.commits} (hook ${counts.hookCommits}, direct agents ${counts.commits - counts.hookCommits}; ` +
    `edits ${counts.edits}, renames ${counts.renames}, deletes ${counts.deletes}, adds ${counts.adds}); ` +
    `kills: agents ${counts.agentKills} (survived ${counts.agentsSurvived}), drains ${counts.drainKills}; ` +
    `requests: events ${stats.requests.events}, push-content ${stats.requests.push_content}; ` +
    `injected faults: 5xx ${stats.faults.fail}, 429 ${stats.faults.rate_limit}, dropped ${stats.faults.drop}, latency ${stats.faults.latency}; ` +
    `index_entry_not_found ${stats.index_entry_not_found}; retries (requests that had to be repeated) ${retries}; ` +
    `stored ${stats.stored}, already_exists ${stats.already_exists}; artifacts expected ${expectedCount}, versions checked ${versionsChecked}`;
  t.log(line);
  console.log(line);
});
