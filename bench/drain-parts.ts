// bench/drain-parts: what the drain does per body beyond the node-fetch call, each step timed
// alone on the same 2,000 corpus bodies bench/drain uses (no network): the queue reads and writes
// a drain makes (opening read, result batches, final save), reading the stored bodies, building
// the push-content JSON and the events batches. Prints wall and CPU (all threads) per body.
// Last, the whole drain with a transport that answers at once: everything the drain does per body
// beyond the HTTP call (issue 16: it must cost less than that call; compare with bench/drain's
// node-fetch floor CPU per body). KS_BENCH_PROFILE=file.cpuprofile profiles that drain.
// Run: npm run build && node dist/bench/drain-parts.js [count]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { corpusArtifacts } from './corpus.js';
import { readQueue, withQueue, type BodyTask, type StoredEvent } from '../lib/queue/queue.js';
import { encodeEvents, encodePushContent } from '../lib/delivery/encoding.js';
import { drain, type DrainTransport } from '../lib/delivery/drain.js';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import type { CommitContext } from '../lib/types.js';

const COUNT = Number(process.argv[2] ?? 2000);

const rows: [string, number, number][] = [];
async function timed<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  rows.push([name, ms, (c.user + c.system) / 1000]);
  return r;
}

const artifacts = corpusArtifacts(COUNT);
const ctx: CommitContext = { team_slug: 'local', project_slug: 'bench', repo_slug: 'bench/bench', git_branch: 'main', head_commit_sha: '0'.repeat(40) };
const stateDir = mkdtempSync(path.join(tmpdir(), 'ks-bench-parts-'));
await withQueue({ stateDir }, (q) => q.enqueue(artifacts, ctx));
await timed('queue: empty transaction (lock, load, unlock)', () => withQueue({ stateDir }, () => undefined));
const work = await timed('queue: opening read (clampWaits, readyEvents 2000, readyBodies 2000, stats)', () =>
  withQueue({ stateDir }, (q) => {
    q.clampWaits();
    return { events: q.readyEvents(COUNT * 2), bodies: q.readyBodies(COUNT * 2), stats: q.stats() };
  }),
);
const events: StoredEvent[] = work.events;
const bodies: BodyTask[] = work.bodies;
const batches: Buffer[] = await timed('events: encodeEvents (JSON + gzip), batches of 500', async () => {
  const out: Buffer[] = [];
  for (let i = 0; i < events.length; i += 500) out.push(await encodeEvents(events.slice(i, i + 500).map((e) => e.envelope)));
  return out;
});
void batches;
await timed('queue: applyEventResults (all delivered), one transaction', () =>
  withQueue({ stateDir }, (q) => q.applyEventResults(events.map((e) => ({ event_id: e.event_id, seq: e.seq, result: { kind: 'delivered' as const } })))),
);
const stored: Buffer[] = await timed('bodies: read from their packs (one pread each)', () => readQueue({ stateDir }, (q) => bodies.map((b) => q.bodyOf(b)!)));
await timed('bodies: encodePushContent', () => {
  let n = 0;
  for (let i = 0; i < bodies.length; i++) {
    const b = bodies[i];
    n += encodePushContent({ ...b.namespace, mission_slug: b.namespace.mission_key, artifact_path: b.artifact_path, content_hash: b.content_hash, hash_algorithm: 'sha256', content_body: stored[i] }).length;
  }
  return n;
});
await timed('bodies: JSON.stringify of the decoded request (the floors do this)', () => {
  let n = 0;
  for (let i = 0; i < bodies.length; i++) {
    const b = bodies[i];
    n += Buffer.from(
      JSON.stringify({ ...b.namespace, mission_slug: b.namespace.mission_key, artifact_path: b.artifact_path, content_hash: b.content_hash, hash_algorithm: 'sha256', content_body: stored[i].toString('utf8') }),
    ).length;
  }
  return n;
});
// The same results in one transaction (one save), on a copy of the queue: the per-row share of the above.
const oneState = mkdtempSync(path.join(tmpdir(), 'ks-bench-parts-one-'));
await withQueue({ stateDir: oneState }, (q) => q.enqueue(artifacts, ctx));
const oneBodies = await withQueue({ stateDir: oneState }, (q) => q.readyBodies(COUNT * 2));
await timed('queue: a save of the full queue alone (markDirty, export, write, fsync)', () => withQueue({ stateDir: oneState }, (q) => q.markDirty()));
await timed('queue: applyBodyResults, all in one transaction + one save', () =>
  withQueue({ stateDir: oneState }, (q) => q.applyBodyResults(oneBodies.map((b) => ({ upload_id: b.upload_id, result: { kind: 'delivered' as const } })))),
);
rmSync(oneState, { recursive: true, force: true });
await timed('queue: applyBodyResults, batches of 250 delivered (one transaction + save each)', async () => {
  for (let i = 0; i < bodies.length; i += 250) {
    await withQueue({ stateDir }, (q) => q.applyBodyResults(bodies.slice(i, i + 250).map((b) => ({ upload_id: b.upload_id, result: { kind: 'delivered' as const } }))));
  }
});
await timed('queue: final read (empty queue: readyEvents, readyBodies, stats)', () => withQueue({ stateDir }, (q) => ({ e: q.readyEvents(2000), b: q.readyBodies(2000), s: q.stats() })));

// The whole drain against a transport that answers at once (it still encodes every request, and
// gzips every events batch): the drain's and the queue's own cost per body, without the network.
const drainState = mkdtempSync(path.join(tmpdir(), 'ks-bench-parts-drain-'));
await withQueue({ stateDir: drainState }, (q) => q.enqueue(artifacts, ctx));
const instant: DrainTransport = {
  pushContent: async (req) => {
    encodePushContent(req);
    return { kind: 'stored' };
  },
  sendEvents: async (evs) => {
    await encodeEvents(evs);
    return { kind: 'results', results: evs.map((e) => ({ event_id: e.event_id, status: 'success' as const })) };
  },
};
let session: Session | null = null;
if (process.env.KS_BENCH_PROFILE) {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const report = await timed('the whole drain, with a transport that answers at once (encoding included)', () => drain({ stateDir: drainState, transport: instant, budgetMs: null, concurrency: 8 }));
if (session) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(process.env.KS_BENCH_PROFILE!, JSON.stringify(profile));
}
if (report.outcomes.filter((o) => o.status === 'uploaded').length !== COUNT) throw new Error(`instant drain: ${report.stop}`);
rmSync(drainState, { recursive: true, force: true });

console.log(`drain-parts: ${COUNT} corpus bodies, ${(artifacts.reduce((s, a) => s + a.size_bytes, 0) / 1e6).toFixed(1)} MB; per body = total / ${COUNT}`);
for (const [name, ms, cpu] of rows) {
  console.log(`${ms.toFixed(0).padStart(6)} ms wall ${cpu.toFixed(0).padStart(6)} ms cpu ${((cpu / COUNT) * 1000).toFixed(0).padStart(5)} µs cpu/body  ${name}`);
}
rmSync(stateDir, { recursive: true, force: true });
