// DrainSession (lib/delivery/drain.ts): the drain lock and the opening read as one object. Real
// locks and a real queue in a temp state dir, the real receiver over 127.0.0.1; the one transport
// that fails is a stand-in whose events request throws (the drain must still let the lock go).
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { drain, DrainSession, type DrainTransport } from '../../lib/delivery/drain.js';
import { Transport } from '../../lib/delivery/transport.js';
import { withQueue } from '../../lib/queue/queue.js';
import { runSync, type RunInput } from '../../lib/run/pipeline.js';
import { artifact, CTX } from '../support/artifacts.js';
import { holdQueueLock } from '../support/proc.js';
import { startTestReceiver, type TestReceiver } from '../support/receiver.js';

function tempStateDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-session-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function receiver(t: ExecutionContext): Promise<TestReceiver> {
  const r = await startTestReceiver();
  t.teardown(() => r.close());
  return r;
}

function transport(t: ExecutionContext, url: string): Transport {
  const tr = new Transport({ serverUrl: url, token: null });
  t.teardown(() => tr.close());
  return tr;
}

/** Whether another process could take the drain lock now (a session opened and let go at once). */
async function drainLockFree(stateDir: string, tr: DrainTransport): Promise<boolean> {
  const probe = await DrainSession.open(stateDir, tr);
  const free = probe.locked;
  await probe.release();
  return free;
}

const STALE = { maxAgeMs: 7 * 24 * 3600 * 1000, maxRetries: 1000 };

test('a session holds the drain lock from open to release; a second release changes nothing', async (t) => {
  const stateDir = tempStateDir(t);
  const tr = transport(t, 'http://127.0.0.1:9');
  const a = await DrainSession.open(stateDir, tr);
  t.true(a.locked);
  t.false(await drainLockFree(stateDir, tr), 'held while open');
  await a.release();
  t.false(a.locked);
  t.true(await drainLockFree(stateDir, tr), 'free once released');
  const b = await DrainSession.open(stateDir, tr);
  await a.release(); // released already: must not free b's lock
  t.true(b.locked);
  t.false(await drainLockFree(stateDir, tr), 'a late second release of a leaves b holding the lock');
  await b.release();
});

test('no transport: a session takes no lock and its opening read reads no work', async (t) => {
  const stateDir = tempStateDir(t);
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md')], CTX));
  const s = await DrainSession.open(stateDir, null);
  t.false(s.locked);
  const first = await withQueue({ stateDir }, (q) => s.read(q, { stale: STALE }));
  t.is(first.work, null);
  t.is(first.stats?.pending, 1, 'nothing will be sent: the opening read takes the counts for the report');
  t.is(s.first, first);
});

test('drain runs a caller’s session (its lock and opening read) and leaves the release to the caller', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const tr = transport(t, r.url);
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md'), artifact('plan.md')], CTX));
  const s = await DrainSession.open(stateDir, tr);
  const first = await withQueue({ stateDir }, (q) => s.read(q, { progress: true }));
  t.is(first.work?.bodies.length, 2);
  t.is(first.stats, null, 'work to send: the counts wait for the report');
  t.is(first.readyTotal, 2);
  const report = await drain({ stateDir, transport: tr, budgetMs: null, session: s });
  t.is(report.stop, 'done');
  t.is(r.stats().stored, 2);
  t.true(s.locked, 'the drain did not release a session it was given');
  t.false(await drainLockFree(stateDir, tr));
  await s.release();
  t.true(await drainLockFree(stateDir, tr));
});

test("a budgeted run's (a hook's) opening read holds only its first two events batches; the rest goes in later passes of the same run", async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const tr = transport(t, r.url);
  const items = Array.from({ length: 300 }, (_, i) => artifact(`research/note-${i}.md`, `note ${i}\n`));
  await withQueue({ stateDir }, (q) => q.enqueue(items, CTX));
  // Unbudgeted (sync, drain): one pass for all of it.
  const u = await DrainSession.open(stateDir, tr);
  t.is((await withQueue({ stateDir }, (q) => u.read(q, {}))).work?.events.length, 300);
  await u.release();
  const s = await DrainSession.open(stateDir, tr);
  const first = await withQueue({ stateDir }, (q) => s.read(q, { budgeted: true }));
  t.is(first.work?.events.length, 128, '32 + 96: the first two events batches');
  t.is(first.work?.bodies.length, 128, 'and only their bodies');
  const report = await drain({ stateDir, transport: tr, budgetMs: 60_000, session: s });
  await s.release();
  t.is(report.stop, 'done');
  t.is(r.stats().stored, 300, 'the later passes sent the rest within the budget');
});

test('a session without the lock is not used: the drain tries the lock itself', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const tr = transport(t, r.url);
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md')], CTX));
  const other = await DrainSession.open(stateDir, tr);
  const s = await DrainSession.open(stateDir, tr);
  t.false(s.locked);
  const first = await withQueue({ stateDir }, (q) => s.read(q, {}));
  t.is(first.work, null, 'no work is read without the lock');
  t.is((await drain({ stateDir, transport: tr, budgetMs: null, session: s })).stop, 'busy');
  await other.release();
  const report = await drain({ stateDir, transport: tr, budgetMs: null, session: s });
  t.is(report.stop, 'done');
  t.is(r.stats().stored, 1);
  t.true(await drainLockFree(stateDir, tr), 'the drain released the lock it took itself');
});

function input(stateDir: string, tr: DrainTransport, over: Partial<RunInput> = {}): RunInput {
  return {
    stateDir,
    groups: [{ context: CTX, eligible: [artifact('spec.md')], indexes: [] }],
    skipped: [],
    transport: tr,
    budgetMs: null,
    capacity: 1000,
    concurrency: 2,
    stale: STALE,
    ...over,
  };
}

test('runSync lets the drain lock go when its drain throws', async (t) => {
  const stateDir = tempStateDir(t);
  const failing: DrainTransport = {
    pushContent: () => Promise.reject(new Error('not reached')),
    sendEvents: () => Promise.reject(new Error('the transport broke')),
  };
  await t.throwsAsync(runSync(input(stateDir, failing)), { message: 'the transport broke' });
  t.true(await drainLockFree(stateDir, failing));
});

test('runSync lets the drain lock go when the queue is busy (nothing drains in that run)', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const tr = transport(t, r.url);
  await withQueue({ stateDir }, () => undefined); // the state dir and queue exist before another process holds the lock
  await holdQueueLock(t, stateDir);
  const run = await runSync(input(stateDir, tr, { lockWaitMs: 50 }));
  t.not(run.busy, null);
  t.is(run.drain.stop, 'busy');
  t.true(await drainLockFree(stateDir, tr));
});
