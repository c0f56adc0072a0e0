// lib/pipeline.ts runSync: enqueue + drain + one merged outcome per artifact, against a real
// queue in a temp state dir and the real receiver over 127.0.0.1.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { acquireLock } from '../../lib/queue/lock.js';
import { runSync, type RunInput, type RunReport } from '../../lib/run/pipeline.js';
import { readBody, readQueue, withQueue } from '../../lib/queue/queue.js';
import { listSpool } from '../../lib/queue/pack.js';
import { Transport } from '../../lib/delivery/transport.js';
import type { EligibleArtifact, UploadOutcome } from '../../lib/types.js';
import { artifact, CTX, namespace } from '../support/artifacts.js';
import { holdQueueLock } from '../support/proc.js';
import { startTestReceiver, type TestReceiver, type TestReceiverOptions } from '../support/receiver.js';

function tempStateDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-pipeline-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function receiver(t: ExecutionContext, opts: TestReceiverOptions = {}): Promise<TestReceiver> {
  const r = await startTestReceiver(opts);
  t.teardown(() => r.close());
  return r;
}

function transport(t: ExecutionContext, url: string, token: string | null = null): Transport {
  const tr = new Transport({ serverUrl: url, token });
  t.teardown(() => tr.close());
  return tr;
}

function input(stateDir: string, eligible: EligibleArtifact[], over: Partial<RunInput> = {}): RunInput {
  return {
    stateDir,
    groups: [{ context: CTX, eligible, indexes: [] }],
    skipped: [],
    transport: null,
    budgetMs: null,
    capacity: 1000,
    concurrency: 4,
    stale: { maxAgeMs: 7 * 24 * 3600 * 1000, maxRetries: 1000 },
    ...over,
  };
}

const statusOf = (outcomes: UploadOutcome[]) => outcomes.map((o) => [o.artifact_path, o.status, o.reason]);

/** The run drained to the end, the receiver stored `stored` bodies, and nothing is left queued. */
async function assertAllDelivered(t: ExecutionContext, run: RunReport, r: TestReceiver, stateDir: string, stored: number): Promise<void> {
  t.is(run.drain.stop, 'done');
  t.is(r.stats().stored, stored);
  const s = await stats(stateDir);
  t.is(s.pending + s.events_pending, 0);
}
const stats = (stateDir: string) => readQueue({ stateDir }, (q) => q.stats());

const SKIPPED: UploadOutcome = { feature_slug: '001-alpha', artifact_path: 'meta.json', content_hash: null, status: 'skipped', reason: 'unsupported_surface' };

test('all delivered: one outcome per artifact (skipped ones included), queue empty', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const items = [artifact('spec.md'), artifact('plan.md'), artifact('research/a.md')];
  const run = await runSync(input(stateDir, items, { skipped: [SKIPPED], transport: transport(t, r.url) }));
  t.deepEqual(statusOf(run.outcomes), [
    ['meta.json', 'skipped', 'unsupported_surface'],
    ['spec.md', 'uploaded', null],
    ['plan.md', 'uploaded', null],
    ['research/a.md', 'uploaded', null],
  ]);
  t.deepEqual(
    run.outcomes.slice(1).map((o) => o.size_bytes),
    items.map((a) => a.size_bytes),
  );
  t.deepEqual(run.enqueue, { added: 3, duplicate: 0, superseded: 0, refused: 0 });
  await assertAllDelivered(t, run, r, stateDir, 3);
});

test('no server configured: every eligible artifact is queued (no_server_configured) and kept', async (t) => {
  const stateDir = tempStateDir(t);
  const run = await runSync(input(stateDir, [artifact('spec.md'), artifact('plan.md')], { skipped: [SKIPPED] }));
  t.deepEqual(statusOf(run.outcomes), [
    ['meta.json', 'skipped', 'unsupported_surface'],
    ['spec.md', 'queued', 'no_server_configured'],
    ['plan.md', 'queued', 'no_server_configured'],
  ]);
  const s = await stats(stateDir);
  t.is(s.pending, 2);
  t.is(s.events_pending, 2);
});

test('another drainer running: enqueued and reported queued (another_drain_running)', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const lock = await acquireLock(path.join(stateDir, 'drain'), path.join(stateDir, 'drain.lock'));
  t.teardown(() => lock.release());
  const run = await runSync(input(stateDir, [artifact('spec.md')], { transport: transport(t, r.url) }));
  t.deepEqual(statusOf(run.outcomes), [['spec.md', 'queued', 'another_drain_running']]);
  t.is(r.stats().requests.events + r.stats().requests.push_content, 0);
  t.is((await stats(stateDir)).pending, 1);
});

test('older queued work replayed by the run is reported after this run’s artifacts', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const old = artifact('tasks.md', '# from an offline commit\n', namespace('002-beta'));
  await withQueue({ stateDir }, (q) => q.enqueue([old], CTX));
  const run = await runSync(input(stateDir, [artifact('spec.md')], { transport: transport(t, r.url) }));
  t.deepEqual(
    run.outcomes.map((o) => [o.feature_slug, o.artifact_path, o.status]),
    [
      ['001-alpha', 'spec.md', 'uploaded'],
      ['002-beta', 'tasks.md', 'uploaded'],
    ],
  );
});

test('queue full: the refused artifact is failed (queue_full) with a clear notice; the others are kept', async (t) => {
  const stateDir = tempStateDir(t);
  const notices: string[] = [];
  const run = await runSync(input(stateDir, [artifact('spec.md'), artifact('plan.md'), artifact('tasks.md')], { capacity: 2, onNotice: (m) => notices.push(m) }));
  t.deepEqual(statusOf(run.outcomes), [
    ['spec.md', 'queued', 'no_server_configured'],
    ['plan.md', 'queued', 'no_server_configured'],
    ['tasks.md', 'failed', 'queue_full'],
  ]);
  t.is(run.enqueue.refused, 1);
  t.true(notices.some((n) => /queue is full/.test(n) && /capacity 2/.test(n)));
  t.is((await stats(stateDir)).pending, 2);
});

test('events endpoint down: artifacts queued (index_events_pending), no body sent', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { failFirst: 1, failStatus: 503, endpoints: ['events'] } });
  const run = await runSync(input(stateDir, [artifact('spec.md'), artifact('plan.md')], { transport: transport(t, r.url) }));
  t.deepEqual(statusOf(run.outcomes), [
    ['spec.md', 'queued', 'index_events_pending'],
    ['plan.md', 'queued', 'index_events_pending'],
  ]);
  t.is(r.stats().requests.push_content, 0);
  t.regex(run.drain.message ?? '', /index events could not be delivered/);
});

test("a hook's run (counts: 'left') reports only what is left, and the same numbers as the full counts", async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { failFirst: 2, failStatus: 503, endpoints: ['events'] } });
  const first = await runSync({ ...input(stateDir, [artifact('spec.md'), artifact('plan.md')], { transport: transport(t, r.url) }), counts: 'left' });
  t.deepEqual(first.drain.stats, { pending: 2, events_pending: 2 });
  // Forced past the backoff, the second run fails too (the full counts from the same queue agree).
  const second = await runSync({ ...input(stateDir, [artifact('tasks.md')], { transport: transport(t, r.url), force: true }), counts: 'left' });
  t.is(second.drain.stop, 'events_failed');
  const full = await stats(stateDir);
  t.deepEqual(second.drain.stats, { pending: full.pending, events_pending: full.events_pending });
  t.is(full.pending, 3);
  // Without `counts`, a run reports the full counts.
  const third = await runSync(input(stateDir, [], { transport: transport(t, r.url), force: true }));
  t.like(third.drain.stats, { pending: 0, events_pending: 0, failed: 0 });
});

test('bad token: artifacts queued (unauthorized), message says how to fix it, nothing dead-lettered', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { token: 'right' });
  const run = await runSync(input(stateDir, [artifact('spec.md')], { transport: transport(t, r.url, 'wrong') }));
  t.deepEqual(statusOf(run.outcomes), [['spec.md', 'queued', 'unauthorized']]);
  t.regex(run.drain.message ?? '', /KITTY_SYNC_TOKEN/);
  const s = await stats(stateDir);
  t.is(s.pending, 1);
  t.is(s.failed, 0);
});

test('an artifact whose index event is rejected ends failed, not queued', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const bad = artifact('spec.md', '# x\n', { ...namespace('003-gamma'), project_uuid: 'not-a-uuid' });
  const run = await runSync(input(stateDir, [bad, artifact('plan.md')], { transport: transport(t, r.url) }));
  t.deepEqual(
    run.outcomes.map((o) => [o.feature_slug, o.artifact_path, o.status]),
    [
      ['003-gamma', 'spec.md', 'failed'],
      ['001-alpha', 'plan.md', 'uploaded'],
    ],
  );
  t.regex(run.outcomes[0].reason ?? '', /^event_rejected/);
  t.is(run.outcomes.length, 2, 'exactly one outcome per artifact');
  t.is((await stats(stateDir)).failed, 1);
});

test('two versions of one artifact in one run (pre-push of two refs): one outcome, the newer one delivered', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const v1 = artifact('spec.md', '# v1\n');
  const v2 = artifact('spec.md', '# v2\n');
  const run = await runSync({
    ...input(stateDir, [], { transport: transport(t, r.url) }),
    groups: [
      { context: CTX, eligible: [v1], indexes: [] },
      { context: { ...CTX, head_commit_sha: 'b'.repeat(40) }, eligible: [v2], indexes: [] },
    ],
  });
  t.deepEqual(
    run.outcomes.map((o) => [o.content_hash, o.status]),
    [[v2.content_hash, 'uploaded']],
  );
  t.deepEqual(
    r.artifacts()[0].versions.map((v) => v.content_hash),
    [v2.content_hash],
  );
});

test('writeWhileMerging (sync): the spool is merged while it is written; delivered, or durably queued with no server', async (t) => {
  const stateDir = tempStateDir(t);
  const items = [artifact('spec.md'), artifact('plan.md')];
  const queued = await runSync(input(stateDir, items, { writeWhileMerging: true }));
  t.deepEqual(statusOf(queued.outcomes), [
    ['spec.md', 'queued', 'no_server_configured'],
    ['plan.md', 'queued', 'no_server_configured'],
  ]);
  t.deepEqual(queued.enqueue, { added: 2, duplicate: 0, superseded: 0, refused: 0 });
  t.is(listSpool(stateDir).packs.length, 1, 'the spool is on disk when the run returns');
  t.deepEqual(await readBody(stateDir, items[0].content_hash), items[0].body);
  // A later run sends what it left, from the file.
  const r = await receiver(t);
  const run = await runSync(input(stateDir, [artifact('tasks.md')], { transport: transport(t, r.url), writeWhileMerging: true }));
  await assertAllDelivered(t, run, r, stateDir, 3);
});

test('writeWhileMerging with the queue held by another process: the capture is durable in its spool when the run returns', async (t) => {
  const stateDir = tempStateDir(t);
  const holder = await holdQueueLock(t, stateDir);
  const run = await runSync(input(stateDir, [artifact('spec.md')], { writeWhileMerging: true, lockWaitMs: 50 }));
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  t.truthy(run.busy);
  t.deepEqual(statusOf(run.outcomes), [['spec.md', 'queued', 'queue_busy']]);
  t.is(listSpool(stateDir).packs.length, 1);
  t.like(await withQueue({ stateDir }, (q) => q.lastMerge), { spools: 1, added: 1 });
});
