// bench/drain: drain 2,000 queued real bodies (from the shared corpus) to the local
// receiver, and in the same run send the same 2,000 POSTs with a minimal keep-alive
// http.request client (the floor), and with bare node-fetch (the node-fetch floor: what the
// named HTTP library allows at best). Each side gets a fresh receiver process, warmed up by 2,000
// index events before the clock starts (the floors': their bodies' events; the drain's and the wire
// floor's, which time their own events: another project's, see warmUpEvents).
// A cold wire floor: bare node-fetch sending the index events as well (what 047 asks of any client).
// The cold node-fetch floor (a fresh process, as the drain is cold) runs just before and just after
// the drain, and the drain is set against both: on a shared machine the speed drifts between runs.
// The same comparison by the CPU client and receiver spend per body, which drifts much less.
// Also times Transport.pushContent alone (no queue, no drain) on a fourth receiver, so the CPU per body
// splits into node-fetch, what the transport adds, and what the drain and queue add.
// Run: npm run build && node dist/bench/drain.js [count] [concurrency] [runs]
// Also reports CPU time of this process and of each receiver, so a saturated receiver (which would
// make the ratio meaningless) shows up in the figures; and each client's CPU split between its main
// thread and the rest (bench/threads.ts): a cold client pays V8's optimizing compiler on helper threads.
// runs > 1 (default 3): each run is a fresh process (a cold drain, as a real CLI run is), and the
// medians are printed at the end: one run on a shared 2-core machine swings by 20 % or more.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { DEFAULT_CONCURRENCY } from '../lib/config.js';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { corpusArtifacts } from './corpus.js';
import { statCpuMs } from './proc-stat.js';
import { formatSteal, stealSince } from './steal.js';
import { threadCpuSince, type ThreadCpu } from './threads.js';
import { postEvents, warmUpEvents } from './warm-up.js';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { withQueue } from '../lib/queue/queue.js';
import { drain, eventBatches, type DrainTransport } from '../lib/delivery/drain.js';
import { Transport } from '../lib/delivery/transport.js';
import type { CommitContext, DossierEvent, EligibleArtifact, PushContentRequest } from '../lib/types.js';
import { median } from './median.js';

const gzipAsync = promisify(gzip);

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, '../bundle/kitty-sync.js');
const COUNT = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? DEFAULT_CONCURRENCY);
const RUNS = Number(process.argv[4] ?? 3);
/** Set in the child runs: print one JSON line of figures after the human report. */
const JSON_MARK = 'KS_BENCH_RESULT ';

async function startReceiver(): Promise<{ url: string; child: ChildProcess; data: string }> {
  const data = mkdtempSync(path.join(tmpdir(), 'ks-bench-recv-'));
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--data', data], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(buf);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`receiver exited ${code}`)));
  });
  return { url, child, data };
}

/** CPU milliseconds (user + system) a child has used so far, from /proc (Linux). */
function childCpuMs(child: ChildProcess): number {
  return statCpuMs(`/proc/${child.pid}/stat`, 14, 15);
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function stopReceiver(r: { child: ChildProcess; data: string }): Promise<void> {
  if (r.child.exitCode === null) {
    const exited = new Promise((res) => r.child.once('exit', res));
    r.child.kill('SIGTERM');
    await exited;
  }
  rmSync(r.data, { recursive: true, force: true });
}

/**
 * KS_BENCH_PROFILE=file.cpuprofile: a CPU profile of the timed drain only (not setup or the floors);
 * KS_BENCH_PROFILE_FETCH / KS_BENCH_PROFILE_TRANSPORT=file.cpuprofile: of the bare node-fetch floor, of
 * Transport.pushContent alone, to compare them (both warm: they run after the drain, in its process);
 * KS_BENCH_PROFILE_COLD_FETCH / KS_BENCH_PROFILE_COLD_FLOOR: of the cold node-fetch or http.request floor,
 * each in its fresh process, as the drain is measured against them.
 */
async function profileIfAsked(variable = 'KS_BENCH_PROFILE'): Promise<() => Promise<void>> {
  const file = process.env[variable];
  if (!file) return async () => undefined;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

/** Sends every request, CONCURRENCY at a time, with `post`; the elapsed ms. */
/** The push-content requests of the bench bodies, as 047 sends them (the floors post these). */
function pushRequests(artifacts: EligibleArtifact[]): PushContentRequest[] {
  return artifacts.map((a) => ({
    ...a.namespace,
    mission_slug: a.namespace.mission_key,
    artifact_path: a.artifact_path,
    content_hash: a.content_hash,
    hash_algorithm: 'sha256',
    content_body: a.body.toString('utf8'),
  }));
}

async function timedPosts(name: string, requests: PushContentRequest[], post: (req: PushContentRequest) => Promise<number>): Promise<number> {
  let next = 0;
  let ok = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < requests.length) {
        const status = await post(requests[next++]);
        if (status === 201 || status === 200) ok += 1;
      }
    }),
  );
  const ms = performance.now() - t0;
  if (ok !== requests.length) throw new Error(`${name}: only ${ok}/${requests.length} accepted`);
  return ms;
}

/**
 * node-fetch with nothing around it (no queue, no drain, no classification): the best any
 * drain built on node-fetch could do, beside the http.request floor.
 */
async function nodeFetchFloor(url: string, requests: PushContentRequest[]): Promise<number> {
  const { default: fetch } = await import('node-fetch');
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const target = new URL('/api/dossier/push-content/', url).href;
  const ms = await timedPosts('node-fetch floor', requests, async (req) => {
    const res = await fetch(target, { method: 'POST', agent, body: Buffer.from(JSON.stringify(req)), headers: { 'content-type': 'application/json' } });
    await res.arrayBuffer();
    return res.status;
  });
  agent.destroy();
  return ms;
}

/**
 * The wire floor: bare node-fetch doing what 047's wire asks of any client, with nothing else (no
 * queue, no reading, no bookkeeping): the index events in gzipped batches (sized as the drain sizes
 * them: eventBatches), one batch at a time, and each body once its own event's batch was accepted,
 * CONCURRENCY requests in flight in all. The drain against it shows what the drain's own work costs;
 * the bare node-fetch floor against it, what the wire's events cost.
 */
async function wireFloor(url: string, events: DossierEvent[], requests: PushContentRequest[]): Promise<number> {
  const { default: fetch } = await import('node-fetch');
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const eventsUrl = new URL('/api/v1/events/batch/', url).href;
  const pushUrl = new URL('/api/dossier/push-content/', url).href;
  const batches = eventBatches(events);
  // The batch each body's index event is in.
  const batchOf = new Map<string, number>();
  batches.forEach((b, k) => {
    for (const e of b) if (e.event_type === 'MissionDossierArtifactIndexed') batchOf.set(`${e.payload.feature_slug}\u0000${e.payload.relative_path}`, k);
  });
  let accepted = 0;
  let waiters: (() => void)[] = [];
  let nextBody = 0;
  let ok = 0;
  const t0 = performance.now();
  const bodyLane = async (): Promise<void> => {
    while (nextBody < requests.length) {
      const req = requests[nextBody++];
      const k = batchOf.get(`${req.feature_slug}\u0000${req.artifact_path}`) ?? 0;
      while (k >= accepted) await new Promise<void>((resolve) => waiters.push(resolve));
      const res = await fetch(pushUrl, { method: 'POST', agent, body: Buffer.from(JSON.stringify(req)), headers: { 'content-type': 'application/json' } });
      await res.arrayBuffer();
      if (res.status === 201 || res.status === 200) ok += 1;
    }
  };
  const eventsLane = async (): Promise<void> => {
    for (const batch of batches) {
      const body = await gzipAsync(Buffer.from(JSON.stringify({ events: batch })));
      const res = await fetch(eventsUrl, { method: 'POST', agent, body, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`wire floor: events batch answered ${res.status}`);
      accepted += 1;
      const w = waiters;
      waiters = [];
      for (const wake of w) wake();
    }
    await bodyLane();
  };
  await Promise.all([eventsLane(), ...Array.from({ length: CONCURRENCY - 1 }, bodyLane)]);
  const ms = performance.now() - t0;
  agent.destroy();
  if (ok !== requests.length) throw new Error(`wire floor: only ${ok}/${requests.length} accepted`);
  return ms;
}

/** Transport.pushContent alone (no queue, no drain), on the stored bytes: what the transport adds to node-fetch. */
async function transportOnly(url: string, requests: PushContentRequest[]): Promise<number> {
  const transport = new Transport({ serverUrl: url, token: null, maxSockets: CONCURRENCY });
  const bodies = requests.map((r) => ({ ...r, content_body: Buffer.from(r.content_body, 'utf8') }));
  let i = 0;
  const byReq = new Map(requests.map((r) => [r, bodies[i++]]));
  const ms = await timedPosts('transport', requests, async (req) => {
    const r = await transport.pushContent(byReq.get(req)!);
    return r.kind === 'stored' ? 201 : 0;
  });
  transport.close();
  return ms;
}

async function floor(url: string, requests: PushContentRequest[]): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const target = new URL('/api/dossier/push-content/', url);
  const post = (req: PushContentRequest) =>
    new Promise<number>((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify(req));
      const r = http.request(target, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      r.on('error', reject);
      r.end(payload);
    });
  const ms = await timedPosts('floor', requests, post);
  agent.destroy();
  return ms;
}

/** A floor timed in a fresh process: wall ms, the client's CPU ms, its receiver's CPU ms. */
interface ColdFigures {
  ms: number;
  cpuMs: number;
  recvCpuMs: number;
  /** The client's CPU split between its main thread and the rest (null off Linux). */
  threads: ThreadCpu | null;
}

interface RunFigures {
  drainRate: number;
  floorRate: number;
  ratio: number;
  fetchFloorRate: number;
  drainClientUs: number;
  floorClientUs: number;
  fetchFloorClientUs: number;
  transportClientUs: number;
  coldFloorRate: number;
  coldFetchRate: number;
  coldFloorClientUs: number;
  coldFetchClientUs: number;
  coldWireRate: number;
  coldWireClientUs: number;
  coldWireRecvUs: number;
  /** The bracketing node-fetch floors' receiver CPU per body (mean). */
  bracketFetchRecvUs: number;
  /** The cold node-fetch floor run just before and just after the drain: the geometric mean of their rates. */
  bracketFetchRate: number;
  /** Client + receiver CPU per body: the drain's, and the bracketing node-fetch floors' (mean). */
  drainMachineUs: number;
  bracketFetchMachineUs: number;
  drainRecvUs: number;
  floorRecvUs: number;
  eventsMs: number;
  bodiesMs: number;
  /** Client CPU per body on the main thread (NaN off Linux): the drain's, the bracketing node-fetch floors' (mean), the cold http.request floor's. */
  drainMainUs: number;
  bracketFetchMainUs: number;
  coldFloorMainUs: number;
}

async function main(): Promise<RunFigures> {
  const artifacts = corpusArtifacts(COUNT);
  const ctx: CommitContext = { team_slug: 'local', project_slug: 'bench', repo_slug: 'bench/bench', git_branch: 'main', head_commit_sha: '0'.repeat(40) };
  const bytes = artifacts.reduce((s, a) => s + a.size_bytes, 0);
  console.log(`bodies: ${artifacts.length} (${(bytes / 1e6).toFixed(1)} MB), concurrency ${CONCURRENCY}`);

  // kitty-sync drain
  const recvA = await startReceiver();
  await postEvents(recvA.url, await warmUpEvents(artifacts, ctx));
  const stateDir = mkdtempSync(path.join(tmpdir(), 'ks-bench-state-'));
  await withQueue({ stateDir }, (q) => q.enqueue(artifacts, ctx));
  const transport = new Transport({ serverUrl: recvA.url, token: null, maxSockets: CONCURRENCY });
  // Notes when the last events batch came back, to split the run into its events and bodies phases.
  let eventsDoneAt = 0;
  const timed: DrainTransport = {
    pushContent: (req, signal) => transport.pushContent(req, signal),
    sendEvents: async (events, signal) => {
      const r = await transport.sendEvents(events, signal);
      eventsDoneAt = performance.now();
      return r;
    },
  };
  // node-fetch and the agent load before the clock starts, as the floors import node-fetch before
  // theirs, and as sync and the hook load them while Git is read.
  await transport.warm();
  // The cold node-fetch floor runs just before the drain and again just after it, and the drain is
  // compared with both: a shared machine's speed drifts over the seconds between runs, and a floor on
  // one side only takes that drift for the drain's own cost.
  const coldFetchBefore = await runCold('fetch');
  const cpuA0 = childCpuMs(recvA.child);
  const self0 = selfCpuMs();
  const threads0 = threadCpuSince();
  const t0 = performance.now();
  const stopProfile = await profileIfAsked();
  const report = await drain({ stateDir, transport: timed, budgetMs: null, concurrency: CONCURRENCY });
  const drainMs = performance.now() - t0;
  await stopProfile();
  const drainSelfCpu = selfCpuMs() - self0;
  const drainThreads = threads0();
  const drainRecvCpu = childCpuMs(recvA.child) - cpuA0;
  transport.close();
  const uploaded = report.outcomes.filter((o) => o.status === 'uploaded').length;
  if (uploaded !== artifacts.length) throw new Error(`drain: ${uploaded}/${artifacts.length} uploaded (stop: ${report.stop})`);
  const coldFetch = await runCold('fetch');

  // The floors: the same requests, index events sent first (untimed) so every POST is a 201.
  const floorState = mkdtempSync(path.join(tmpdir(), 'ks-bench-floor-'));
  const events = await withQueue({ stateDir: floorState }, async (q) => {
    q.enqueue(artifacts, ctx);
    return q.readyEvents(artifacts.length * 2);
  });
  const indexedReceiver = async (): Promise<Awaited<ReturnType<typeof startReceiver>>> => {
    const recv = await startReceiver();
    const t2 = new Transport({ serverUrl: recv.url, token: null });
    for (let i = 0; i < events.length; i += 500) await t2.sendEvents(events.slice(i, i + 500).map((e) => e.envelope));
    t2.close();
    return recv;
  };
  const recvB = await indexedReceiver();
  const requests = pushRequests(artifacts);
  const cpuB0 = childCpuMs(recvB.child);
  const self1 = selfCpuMs();
  const floorMs = await floor(recvB.url, requests);
  const floorSelfCpu = selfCpuMs() - self1;
  const floorRecvCpu = childCpuMs(recvB.child) - cpuB0;
  const recvC = await indexedReceiver();
  const cpuC0 = childCpuMs(recvC.child);
  const self2 = selfCpuMs();
  const stopFloorProfile = await profileIfAsked('KS_BENCH_PROFILE_FETCH');
  const fetchFloorMs = await nodeFetchFloor(recvC.url, requests);
  await stopFloorProfile();
  const fetchFloorSelfCpu = selfCpuMs() - self2;
  const fetchFloorRecvCpu = childCpuMs(recvC.child) - cpuC0;
  const recvD = await indexedReceiver();
  const self3 = selfCpuMs();
  const stopTransportProfile = await profileIfAsked('KS_BENCH_PROFILE_TRANSPORT');
  const transportMs = await transportOnly(recvD.url, requests);
  await stopTransportProfile();
  const transportSelfCpu = selfCpuMs() - self3;

  // The same two floors again, each in a fresh process: cold, as the drain is (the ones above ran
  // in this process after the drain, on code the drain had already warmed up).
  const coldFloor = await runCold('floor');
  const coldWire = await runCold('wire');

  const drainRate = artifacts.length / (drainMs / 1000);
  const floorRate = artifacts.length / (floorMs / 1000);
  const fetchFloorRate = artifacts.length / (fetchFloorMs / 1000);
  const bodiesMs = drainMs - (eventsDoneAt - t0);
  const pct = (cpu: number, ms: number) => `${((cpu / ms) * 100).toFixed(0)} %`;
  console.log(
    `kitty-sync drain: ${drainMs.toFixed(0)} ms total (events ${(eventsDoneAt - t0).toFixed(0)} ms + bodies ${bodiesMs.toFixed(0)} ms) -> ${drainRate.toFixed(0)} bodies/s (events sent: ${report.events.sent})`,
  );
  console.log(
    `  cpu: drain process ${drainSelfCpu.toFixed(0)} ms (${pct(drainSelfCpu, drainMs)}), receiver ${drainRecvCpu.toFixed(0)} ms (${pct(drainRecvCpu, drainMs)}); per body: ${((drainSelfCpu / artifacts.length) * 1000).toFixed(0)} µs client, ${((drainRecvCpu / artifacts.length) * 1000).toFixed(0)} µs receiver`,
  );
  console.log(`floor (http.request keep-alive, bodies only): ${floorMs.toFixed(0)} ms -> ${floorRate.toFixed(0)} bodies/s`);
  console.log(
    `  cpu: floor client ${floorSelfCpu.toFixed(0)} ms (${pct(floorSelfCpu, floorMs)}), receiver ${floorRecvCpu.toFixed(0)} ms (${pct(floorRecvCpu, floorMs)}); per body: ${((floorSelfCpu / artifacts.length) * 1000).toFixed(0)} µs client, ${((floorRecvCpu / artifacts.length) * 1000).toFixed(0)} µs receiver`,
  );
  console.log(
    `node-fetch floor (bare node-fetch, keep-alive, bodies only): ${fetchFloorMs.toFixed(0)} ms -> ${fetchFloorRate.toFixed(0)} bodies/s = ${((fetchFloorRate / floorRate) * 100).toFixed(0)} % of the floor`,
  );
  console.log(
    `  cpu: node-fetch floor client ${fetchFloorSelfCpu.toFixed(0)} ms (${pct(fetchFloorSelfCpu, fetchFloorMs)}), receiver ${fetchFloorRecvCpu.toFixed(0)} ms (${pct(fetchFloorRecvCpu, fetchFloorMs)}); per body: ${((fetchFloorSelfCpu / artifacts.length) * 1000).toFixed(0)} µs client, ${((fetchFloorRecvCpu / artifacts.length) * 1000).toFixed(0)} µs receiver`,
  );
  console.log(`drain / floor: ${((drainRate / floorRate) * 100).toFixed(0)} %   (targets: >= 3000 bodies/s, >= 60 %); drain / node-fetch floor: ${((drainRate / fetchFloorRate) * 100).toFixed(0)} %`);
  console.log(
    `Transport.pushContent alone (stored bytes, no queue, no drain): ${transportMs.toFixed(0)} ms -> ${(artifacts.length / (transportMs / 1000)).toFixed(0)} bodies/s; cpu per body ${((transportSelfCpu / artifacts.length) * 1000).toFixed(0)} µs client`,
  );
  const perBody = (ms: number) => (ms / artifacts.length) * 1000;
  const coldStats = (r: ColdFigures) => `${r.ms.toFixed(0)} ms -> ${(artifacts.length / (r.ms / 1000)).toFixed(0)} bodies/s; cpu per body ${perBody(r.cpuMs).toFixed(0)} µs client`;
  const coldLine = (name: string, r: ColdFigures) => `${name}: ${coldStats(r)}`;
  console.log(`cold (fresh process each, as the drain): ${coldLine('http.request floor', coldFloor)}; ${coldLine('node-fetch floor', coldFetch)}`);
  console.log(`wire floor (cold; bare node-fetch sending the index events too, as 047 asks): ${coldLine('wire floor', coldWire)}; drain / wire floor ${((coldWire.ms / drainMs) * 100).toFixed(0)} %`);
  // The two node-fetch floors around the drain: wall time by geometric mean, CPU by mean.
  const bracketMs = Math.sqrt(coldFetchBefore.ms * coldFetch.ms);
  const bracketRecvMs = (coldFetchBefore.recvCpuMs + coldFetch.recvCpuMs) / 2;
  const bracketMachineMs = (coldFetchBefore.cpuMs + coldFetch.cpuMs) / 2 + bracketRecvMs;
  const drainMachineMs = drainSelfCpu + drainRecvCpu;
  console.log(
    `  receiver cpu per body: drain ${perBody(drainRecvCpu).toFixed(0)} µs, wire floor ${perBody(coldWire.recvCpuMs).toFixed(0)} µs, node-fetch floors ${perBody(bracketRecvMs).toFixed(0)} µs (what 047's index events cost the receiver: wire floor - node-fetch floors)`,
  );
  console.log(
    `cold node-fetch floor just before the drain: ${coldStats(coldFetchBefore)}; just after: ${coldStats(coldFetch)}; drain / both (geometric mean) ${((bracketMs / drainMs) * 100).toFixed(0)} % (target >= 90 %)`,
  );
  console.log(
    `  by the machine's cpu (client + receiver) per body: drain ${perBody(drainMachineMs).toFixed(0)} µs, the bracketing node-fetch floors ${perBody(bracketMachineMs).toFixed(0)} µs -> ${((bracketMachineMs / drainMachineMs) * 100).toFixed(0)} %`,
  );
  const mainUs = (t: ThreadCpu | null): number => (t ? perBody(t.mainMs) : NaN);
  const otherUs = (t: ThreadCpu | null): number => (t ? perBody(t.otherMs) : NaN);
  const bracketMainUs = (mainUs(coldFetchBefore.threads) + mainUs(coldFetch.threads)) / 2;
  const bracketOtherUs = (otherUs(coldFetchBefore.threads) + otherUs(coldFetch.threads)) / 2;
  console.log(
    `  client cpu per body by thread, main + the rest (V8's optimizing compiler and GC helpers, libuv's pool): drain ${mainUs(drainThreads).toFixed(0)} + ${otherUs(drainThreads).toFixed(0)} µs, the bracketing node-fetch floors ${bracketMainUs.toFixed(0)} + ${bracketOtherUs.toFixed(0)} µs, the cold http.request floor ${mainUs(coldFloor.threads).toFixed(0)} + ${otherUs(coldFloor.threads).toFixed(0)} µs`,
  );
  console.log(
    `vs the cold floors: drain / node-fetch floor (after) ${((drainMs > 0 ? coldFetch.ms / drainMs : 0) * 100).toFixed(0)} % (target >= 90 %); drain client cpu ${(drainSelfCpu / coldFloor.cpuMs).toFixed(2)}x the http.request floor's (target <= 2x)`,
  );
  console.log(
    `client cpu per body: drain ${((drainSelfCpu / floorSelfCpu) * 100).toFixed(0)} % of the http.request floor's (target <= 200 %), node-fetch floor ${((fetchFloorSelfCpu / floorSelfCpu) * 100).toFixed(0)} %`,
  );
  console.log(
    `load average after the run: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (2 cores: the ratios, measured in the same run, are what to compare)`,
  );
  console.log(`peak RSS of this process: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);

  for (const r of [recvA, recvB, recvC, recvD]) await stopReceiver(r);
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(floorState, { recursive: true, force: true });
  return {
    drainRate,
    floorRate,
    ratio: drainRate / floorRate,
    fetchFloorRate,
    drainClientUs: perBody(drainSelfCpu),
    floorClientUs: perBody(floorSelfCpu),
    fetchFloorClientUs: perBody(fetchFloorSelfCpu),
    transportClientUs: perBody(transportSelfCpu),
    coldFloorRate: artifacts.length / (coldFloor.ms / 1000),
    coldFetchRate: artifacts.length / (coldFetch.ms / 1000),
    coldFloorClientUs: perBody(coldFloor.cpuMs),
    coldFetchClientUs: perBody(coldFetch.cpuMs),
    coldWireRate: artifacts.length / (coldWire.ms / 1000),
    coldWireClientUs: perBody(coldWire.cpuMs),
    coldWireRecvUs: perBody(coldWire.recvCpuMs),
    bracketFetchRecvUs: perBody(bracketRecvMs),
    bracketFetchRate: artifacts.length / (bracketMs / 1000),
    drainMachineUs: perBody(drainMachineMs),
    bracketFetchMachineUs: perBody(bracketMachineMs),
    drainRecvUs: perBody(drainRecvCpu),
    floorRecvUs: perBody(floorRecvCpu),
    eventsMs: eventsDoneAt - t0,
    bodiesMs,
    drainMainUs: mainUs(drainThreads),
    bracketFetchMainUs: bracketMainUs,
    coldFloorMainUs: mainUs(coldFloor.threads),
  };
}

/**
 * KS_BENCH_ONLY=floor|fetch|wire: one floor alone in this (fresh, cold) process, as the drain always runs
 * cold. The receiver is indexed with plain http.request so node-fetch stays cold until timed.
 * Prints one JSON line: { ms, cpuMs, recvCpuMs, threads } (the client's CPU, its split by thread, and its receiver's CPU while timed).
 */
async function coldOnly(variant: string): Promise<ColdFigures> {
  const artifacts = corpusArtifacts(COUNT);
  const ctx: CommitContext = { team_slug: 'local', project_slug: 'bench', repo_slug: 'bench/bench', git_branch: 'main', head_commit_sha: '0'.repeat(40) };
  const state = mkdtempSync(path.join(tmpdir(), 'ks-bench-cold-'));
  const events = await withQueue({ stateDir: state }, async (q) => {
    q.enqueue(artifacts, ctx);
    return q.readyEvents(artifacts.length * 2);
  });
  const recv = await startReceiver();
  const requests = pushRequests(artifacts);
  const envelopes = events.map((e) => e.envelope);
  // The wire floor times its own events: only another project's are indexed beforehand (warmUp).
  // The other floors post bodies only, so their bodies' events are indexed first.
  await postEvents(recv.url, variant === 'wire' ? await warmUpEvents(artifacts, ctx) : envelopes);
  const timed = variant === 'wire' ? () => wireFloor(recv.url, envelopes, requests) : variant === 'fetch' ? () => nodeFetchFloor(recv.url, requests) : () => floor(recv.url, requests);
  const r0 = childCpuMs(recv.child);
  const c0 = selfCpuMs();
  const threads0 = threadCpuSince();
  const stopProfile = variant === 'wire' ? async () => undefined : await profileIfAsked(variant === 'fetch' ? 'KS_BENCH_PROFILE_COLD_FETCH' : 'KS_BENCH_PROFILE_COLD_FLOOR');
  const ms = await timed();
  const cpuMs = selfCpuMs() - c0;
  const threads = threads0();
  const recvCpuMs = childCpuMs(recv.child) - r0;
  await stopProfile();
  await stopReceiver(recv);
  rmSync(state, { recursive: true, force: true });
  return { ms, cpuMs, recvCpuMs, threads };
}

/** Runs `variant` in a fresh process (coldOnly). */
function runCold(variant: 'floor' | 'fetch' | 'wire'): Promise<ColdFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(COUNT), String(CONCURRENCY), '1'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, KS_BENCH_ONLY: variant, KS_BENCH_PROFILE: '', KS_BENCH_PROFILE_FETCH: '', KS_BENCH_PROFILE_TRANSPORT: '' },
    });
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => (buf += c.toString()));
    // 'close': the child's output is all read (at 'exit' it may not be).
    child.on('close', (code) => {
      const line = buf.split('\n').find((l) => l.startsWith(JSON_MARK));
      if (code !== 0 || !line) reject(new Error(`cold ${variant} run exited ${code}`));
      else resolve(JSON.parse(line.slice(JSON_MARK.length)) as ColdFigures);
    });
  });
}

/** Runs this script RUNS times, one fresh process each, and prints the medians. */
async function runMany(): Promise<void> {
  const results: RunFigures[] = [];
  const steals: (number | null)[] = [];
  for (let i = 0; i < RUNS; i++) {
    console.log(`--- run ${i + 1}/${RUNS}`);
    const steal = stealSince();
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(COUNT), String(CONCURRENCY), '1'], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, KS_BENCH_CHILD: '1' },
      });
      let buf = '';
      child.stdout!.on('data', (c: Buffer) => (buf += c.toString()));
      child.on('close', (code) => (code === 0 ? resolve(buf) : reject(new Error(`bench run exited ${code}`))));
    });
    const line = out.split('\n').find((l) => l.startsWith(JSON_MARK));
    process.stdout.write(
      out
        .split('\n')
        .filter((l) => !l.startsWith(JSON_MARK))
        .join('\n'),
    );
    if (!line) throw new Error('bench run printed no result');
    results.push(JSON.parse(line.slice(JSON_MARK.length)) as RunFigures);
    steals.push(steal());
    console.log(`hypervisor steal during this run: ${formatSteal(steals[i])}`);
  }
  const med = (pick: (r: RunFigures) => number): number => median(results.map(pick));
  const all = (pick: (r: RunFigures) => number, digits = 0) => results.map((r) => pick(r).toFixed(digits)).join(' / ');
  console.log(`=== ${RUNS} runs (each: ${all((r) => r.ratio * 100)} %); hypervisor steal per run: ${steals.map(formatSteal).join(' / ')}`);
  console.log(
    `median drain ${med((r) => r.drainRate).toFixed(0)} bodies/s (events ${med((r) => r.eventsMs).toFixed(0)} ms, bodies ${med((r) => r.bodiesMs).toFixed(0)} ms), floor ${med((r) => r.floorRate).toFixed(0)} bodies/s, ratio ${(med((r) => r.ratio) * 100).toFixed(0)} %; node-fetch floor ${med((r) => r.fetchFloorRate).toFixed(0)} bodies/s (${(med((r) => r.fetchFloorRate / r.floorRate) * 100).toFixed(0)} % of the floor)`,
  );
  console.log(
    `median cpu per body: drain client ${med((r) => r.drainClientUs).toFixed(0)} µs (receiver ${med((r) => r.drainRecvUs).toFixed(0)} µs), floor client ${med((r) => r.floorClientUs).toFixed(0)} µs (receiver ${med((r) => r.floorRecvUs).toFixed(0)} µs), node-fetch floor client ${med((r) => r.fetchFloorClientUs).toFixed(0)} µs, Transport.pushContent alone ${med((r) => r.transportClientUs).toFixed(0)} µs`,
  );
  console.log(
    `median drain / node-fetch floor ${(med((r) => r.drainRate / r.fetchFloorRate) * 100).toFixed(0)} % (each: ${all((r) => (r.drainRate / r.fetchFloorRate) * 100)} %; target >= 90 %); drain client cpu / http.request floor's ${med((r) => r.drainClientUs / r.floorClientUs).toFixed(2)}x (each: ${all((r) => r.drainClientUs / r.floorClientUs, 2)}; target <= 2x)`,
  );
  console.log(
    `median vs the cold floors (fresh process each): node-fetch floor ${med((r) => r.coldFetchRate).toFixed(0)} bodies/s (${med((r) => r.coldFetchClientUs).toFixed(0)} µs cpu/body), http.request floor ${med((r) => r.coldFloorRate).toFixed(0)} bodies/s (${med((r) => r.coldFloorClientUs).toFixed(0)} µs cpu/body); drain / cold node-fetch floor ${(med((r) => r.drainRate / r.coldFetchRate) * 100).toFixed(0)} % (each: ${all((r) => (r.drainRate / r.coldFetchRate) * 100)} %); drain client cpu / cold http.request floor's ${med((r) => r.drainClientUs / r.coldFloorClientUs).toFixed(2)}x (each: ${all((r) => r.drainClientUs / r.coldFloorClientUs, 2)}); load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `median vs the cold node-fetch floor run just before and just after each drain: drain / their geometric mean ${(med((r) => r.drainRate / r.bracketFetchRate) * 100).toFixed(0)} % (each: ${all((r) => (r.drainRate / r.bracketFetchRate) * 100)} %; target >= 90 %); by the machine's cpu (client + receiver) per body ${(med((r) => r.bracketFetchMachineUs / r.drainMachineUs) * 100).toFixed(0)} % (each: ${all((r) => (r.bracketFetchMachineUs / r.drainMachineUs) * 100)} %; drain ${med((r) => r.drainMachineUs).toFixed(0)} µs, floor ${med((r) => r.bracketFetchMachineUs).toFixed(0)} µs)`,
  );
  console.log(
    `median vs the wire floor (cold, index events included): ${med((r) => r.coldWireRate).toFixed(0)} bodies/s (${med((r) => r.coldWireClientUs).toFixed(0)} µs cpu/body); drain / wire floor ${(med((r) => r.drainRate / r.coldWireRate) * 100).toFixed(0)} % (each: ${all((r) => (r.drainRate / r.coldWireRate) * 100)} %); wire floor / cold node-fetch floor ${(med((r) => r.coldWireRate / r.coldFetchRate) * 100).toFixed(0)} %; receiver cpu per body: drain ${med((r) => r.drainRecvUs).toFixed(0)} µs, wire floor ${med((r) => r.coldWireRecvUs).toFixed(0)} µs, node-fetch floors ${med((r) => r.bracketFetchRecvUs).toFixed(0)} µs`,
  );
  console.log(
    `median client cpu per body on the main thread (the rest is V8's compiler, GC helpers, libuv's pool): drain ${med((r) => r.drainMainUs).toFixed(0)} µs, the bracketing node-fetch floors ${med((r) => r.bracketFetchMainUs).toFixed(0)} µs (drain / them ${med((r) => r.drainMainUs / r.bracketFetchMainUs).toFixed(2)}x), the cold http.request floor ${med((r) => r.coldFloorMainUs).toFixed(0)} µs (drain / it ${med((r) => r.drainMainUs / r.coldFloorMainUs).toFixed(2)}x; node-fetch floors / it ${med((r) => r.bracketFetchMainUs / r.coldFloorMainUs).toFixed(2)}x)`,
  );
}

if (process.env.KS_BENCH_ONLY) console.log(JSON_MARK + JSON.stringify(await coldOnly(process.env.KS_BENCH_ONLY)));
else if (RUNS > 1) await runMany();
else {
  const figures = await main();
  if (process.env.KS_BENCH_CHILD) console.log(JSON_MARK + JSON.stringify(figures));
}
