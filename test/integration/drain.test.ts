// lib/drain.ts against a real queue in a temp state dir and a real receiver over 127.0.0.1
// (a tiny raw node:http server for the §5.2 rows the reference receiver cannot produce).
import test from 'ava';
import { boundFor, timed } from '../support/timing.js';
import type { ExecutionContext } from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { drain, eventBatches, type DrainReport } from '../../lib/delivery/drain.js';
import { acquireLock } from '../../lib/queue/lock.js';
import { dbPath, readQueue, withQueue } from '../../lib/queue/queue.js';
import { Transport } from '../../lib/delivery/transport.js';
import type { EligibleArtifact } from '../../lib/types.js';
import { artifact, CTX, namespace, indexed } from '../support/artifacts.js';
import { deadPort, startTestReceiver, type TestReceiver, type TestReceiverOptions } from '../support/receiver.js';

// ---- helpers -------------------------------------------------------------------------------

function tempStateDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-drain-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function enqueue(stateDir: string, items: EligibleArtifact[]) {
  return withQueue({ stateDir }, (q) => q.enqueue(items, CTX));
}

const bodies = (stateDir: string) => readQueue({ stateDir }, (q) => q.readyBodies(100_000, { force: true }));
const events = (stateDir: string) => readQueue({ stateDir }, (q) => q.readyEvents(100_000, { force: true }));
const dead = (stateDir: string) => readQueue({ stateDir }, (q) => q.deadLetters());
const stats = (stateDir: string) => readQueue({ stateDir }, (q) => q.stats());

function makeTransport(t: ExecutionContext, url: string, token: string | null = null, timeoutMs?: number): Transport {
  const tr = new Transport({ serverUrl: url, token, timeoutMs });
  t.teardown(() => tr.close());
  return tr;
}

async function receiver(t: ExecutionContext, opts: TestReceiverOptions = {}): Promise<TestReceiver> {
  const r = await startTestReceiver(opts);
  t.teardown(() => r.close());
  return r;
}

function several(n: number, prefix = 'research/note'): EligibleArtifact[] {
  return Array.from({ length: n }, (_, i) => artifact(`${prefix}-${i}.md`, `# note ${i}\n`));
}

/** Runs a drain and records the wall-clock window around it (for next_attempt_at bounds). */
async function timedDrain(opts: Parameters<typeof drain>[0]): Promise<{ report: DrainReport; t0: number; t1: number }> {
  const t0 = Date.now();
  const report = await drain(opts);
  return { report, t0, t1: Date.now() };
}

function assertBackoff(t: ExecutionContext, nextAt: number, t0: number, t1: number, ms: number): void {
  t.true(nextAt >= t0 + ms && nextAt <= t1 + ms, `next_attempt_at ${nextAt - t0} ms after start, expected ${ms} ms`);
}

interface RawReply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

/**
 * A loopback test server: `handle` gets each request with its whole body. Returns its base URL;
 * closed (connections too) when the test ends.
 */
async function testServer(t: ExecutionContext, handle: (req: http.IncomingMessage, raw: Buffer, res: http.ServerResponse) => void): Promise<string> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * A minimal server: events are all answered `success`; push-content gets `reply(request)`.
 * Records every push-content request's Authorization header.
 */
async function rawServer(t: ExecutionContext, reply: (req: http.IncomingMessage) => RawReply) {
  const seen = { events: 0, push: 0 };
  const url = await testServer(t, (req, raw, res) => {
    if (req.url === '/api/v1/events/batch/') {
      seen.events++;
      const { events: evs } = JSON.parse(gunzipSync(raw).toString('utf8')) as { events: { event_id: string }[] };
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ results: evs.map((e) => ({ event_id: e.event_id, status: 'success' })) }));
      return;
    }
    seen.push++;
    const r = reply(req);
    res.writeHead(r.status, { 'Content-Type': 'application/json', ...r.headers });
    res.end(r.body ?? '');
  });
  return { url, seen };
}

// ---- the deadline (serial: alone in this worker while the bound is measured) ----------------

test.serial('a server that never answers: the drain returns within budget + 200 ms (scaled by a no-op drain) and loses nothing', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { hang: true, endpoints: ['push-content'] } });
  const transport = makeTransport(t, r.url); // default per-request timeout (10 s) is far beyond the budget
  // The same drain with nothing to send: what this machine, at this moment, needs around the budget.
  const baseline = await timed(() => drain({ stateDir: tempStateDir(t), transport, budgetMs: 1000, concurrency: 4 }));
  await enqueue(stateDir, several(6));
  const { value: report, ms: elapsed } = await timed(() => drain({ stateDir, transport, budgetMs: 1000, concurrency: 4 }));
  t.true(elapsed <= boundFor(1000, baseline.ms), `drain took ${Math.round(elapsed)} ms with a 1000 ms budget (a no-op drain: ${Math.round(baseline.ms)} ms)`);
  t.is(report.stop, 'deadline');
  t.is(r.stats().events.success, 6, 'events were delivered before the bodies hung');
  t.true(r.stats().faults.hang >= 1);
  const left = await bodies(stateDir);
  t.is(left.length, 6);
  // 'released': no penalty for work the deadline cut off.
  for (const b of left) {
    t.is(b.retry_count, 0);
    t.is(b.last_error, null);
  }
  t.true(report.outcomes.every((o) => o.status === 'queued' && o.reason === 'budget_exhausted'));
  t.deepEqual((await dead(stateDir)).length, 0);
});

test.serial('hung events endpoint: deadline, events kept without penalty, no body sent', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { hang: true, endpoints: ['events'] } });
  const transport = makeTransport(t, r.url);
  const baseline = await timed(() => drain({ stateDir: tempStateDir(t), transport, budgetMs: 500 }));
  await enqueue(stateDir, several(3));
  const { value: report, ms } = await timed(() => drain({ stateDir, transport, budgetMs: 500 }));
  t.true(ms <= boundFor(500, baseline.ms), `drain took ${Math.round(ms)} ms with a 500 ms budget (a no-op drain: ${Math.round(baseline.ms)} ms)`);
  t.is(report.stop, 'deadline');
  t.is(r.stats().requests.push_content, 0);
  const evs = await events(stateDir);
  t.is(evs.length, 3);
  t.true(evs.every((e) => e.retry_count === 0));
  t.true((await bodies(stateDir)).every((b) => b.retry_count === 0));
});

// ---- SPEC §5.2, one row each, seen through the drain ---------------------------------------

test('201 stored → uploaded, removed from the queue', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const items = several(3);
  await enqueue(stateDir, items);
  const report = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  t.is(report.stop, 'done');
  t.deepEqual(
    report.outcomes.map((o) => o.status),
    ['uploaded', 'uploaded', 'uploaded'],
  );
  t.is(r.stats().stored, 3);
  for (const a of items) t.is(await r.latestContent(a.namespace, a.artifact_path), a.body.toString('utf8'));
  const s = await stats(stateDir);
  t.is(s.pending, 0);
  t.is(s.events_pending, 0);
  t.is(s.failed, 0);
});

test('200 already_exists → already_exists, removed', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const a = artifact('spec.md', '# spec\n');
  await enqueue(stateDir, [a]);
  await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  // The same content again (e.g. after `sync` of an unchanged feature): the server says it has it.
  t.is((await enqueue(stateDir, [a])).added, 1, 'no client-side cache of what the server has');
  const report = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  t.deepEqual(
    report.outcomes.map((o) => [o.artifact_path, o.status]),
    [['spec.md', 'already_exists']],
  );
  t.is(r.stats().already_exists, 1);
  t.is(r.stats().stored, 1);
  t.is((await stats(stateDir)).pending, 0);
});

test('400 → failed, dead-lettered', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { failFirst: 100, failStatus: 400, endpoints: ['push-content'] } });
  await enqueue(stateDir, [artifact('plan.md')]);
  const report = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  t.is(report.outcomes.length, 1);
  t.is(report.outcomes[0].status, 'failed');
  t.regex(report.outcomes[0].reason ?? '', /^http_400/);
  t.is((await stats(stateDir)).pending, 0);
  const d = await dead(stateDir);
  t.deepEqual(
    d.map((x) => [x.kind, x.artifact_path]),
    [['body', 'plan.md']],
  );
  t.regex(d[0].reason, /^http_400/);
});

test('401 on bodies → queued, everything kept, the drain stops after the first 401 and says how to fix the token', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { failFirst: 1000, failStatus: 401, endpoints: ['push-content'] } });
  await enqueue(stateDir, several(12));
  const report = await drain({ stateDir, transport: makeTransport(t, r.url, 'some-token'), budgetMs: null, concurrency: 2 });
  t.is(report.stop, 'unauthorized');
  t.regex(report.message ?? '', /KITTY_SYNC_TOKEN/);
  const sent = r.stats().requests.push_content;
  t.true(sent >= 1 && sent <= 2, `${sent} bodies were sent after a 401 (concurrency 2)`);
  const left = await bodies(stateDir);
  t.is(left.length, 12);
  t.true(
    left.every((b) => b.retry_count === 0),
    'a bad token is not the task’s fault: no backoff',
  );
  t.is((await dead(stateDir)).length, 0);
  t.true(report.outcomes.every((o) => o.status === 'queued'));
});

test('401 on the events batch (wrong token) → nothing sent after it, events and bodies kept', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { token: 'the-right-token' });
  await enqueue(stateDir, several(3));
  const report = await drain({ stateDir, transport: makeTransport(t, r.url, 'a-wrong-token'), budgetMs: null });
  t.is(report.stop, 'unauthorized');
  t.regex(report.message ?? '', /KITTY_SYNC_TOKEN/);
  t.is(r.stats().requests.events, 1);
  t.is(r.stats().requests.push_content, 0);
  t.true((await events(stateDir)).every((e) => e.retry_count === 0));
  t.is((await bodies(stateDir)).length, 3);
});

// ---- events and bodies overlap (events batch k+1 travels while the bodies of batch k upload) --

type LogEntry = { kind: 'events_in' | 'events_out'; batch: number } | { kind: 'push'; path: string };

/**
 * A server that logs, in order, each events batch's arrival and answer and each push-content
 * arrival; `answerEvents(batch, log)` decides each batch's answer (and may hold it), pushes get 201
 * unless `hangPushes`.
 */
async function orderServer(t: ExecutionContext, answerEvents: (batch: number, log: LogEntry[]) => Promise<RawReply | 'success'>, hangPushes = false) {
  const log: LogEntry[] = [];
  const paths: string[][] = [];
  let pushWaiters: (() => void)[] = [];
  const url = await testServer(t, (req, raw, res) => {
    if (req.url === '/api/v1/events/batch/') {
      const { events: evs } = JSON.parse(gunzipSync(raw).toString('utf8')) as { events: { event_id: string; payload: { relative_path: string } }[] };
      const batch = paths.length;
      paths.push(evs.map((e) => e.payload.relative_path));
      log.push({ kind: 'events_in', batch });
      void answerEvents(batch, log).then((r) => {
        log.push({ kind: 'events_out', batch });
        const reply = r === 'success' ? { status: 200, body: JSON.stringify({ results: evs.map((e) => ({ event_id: e.event_id, status: 'success' })) }) } : r;
        res.writeHead(reply.status, { 'Content-Type': 'application/json' });
        res.end(reply.body ?? '');
      });
      return;
    }
    log.push({ kind: 'push', path: (JSON.parse(raw.toString('utf8')) as { artifact_path: string }).artifact_path });
    const w = pushWaiters;
    pushWaiters = [];
    for (const f of w) f();
    if (hangPushes) return;
    res.writeHead(201, { 'Content-Type': 'application/json' });
    res.end('{"status":"stored"}');
  });
  /** Resolves once `n` pushes arrived (or after `fallbackMs`, so a regression fails instead of hanging). */
  const pushesSeen = async (n: number, fallbackMs = 3000): Promise<void> => {
    const until = Date.now() + fallbackMs;
    while (log.filter((e) => e.kind === 'push').length < n && Date.now() < until) {
      await new Promise<void>((resolve) => {
        pushWaiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  const batchOf = (p: string): number => paths.findIndex((b) => b.includes(p));
  return { url, log, paths, pushesSeen, batchOf };
}

test('events and bodies overlap, yet every body is sent only after its own index event was accepted', async (t) => {
  const stateDir = tempStateDir(t);
  // 250 artifacts: several events batches (a small first one, then growing). The second batch is only
  // answered once bodies have arrived, which can only happen if the bodies of the first overlap it.
  const srv = await orderServer(t, async (batch, log) => {
    if (batch === 1) await srv.pushesSeen(log.filter((e) => e.kind === 'push').length + 5);
    return 'success';
  });
  await enqueue(stateDir, several(250));
  const report = await drain({ stateDir, transport: makeTransport(t, srv.url), budgetMs: null, concurrency: 4 });
  t.is(report.stop, 'done');
  t.is(report.outcomes.filter((o) => o.status === 'uploaded').length, 250);
  t.is(srv.paths.length, eventBatches(Array.from({ length: 251 })).length, '250 Indexed events and one snapshot, in growing batches');
  t.true(srv.paths[0].length < srv.paths[1].length, 'the first batch is the small one');
  const answered = (batch: number) => srv.log.findIndex((e) => e.kind === 'events_out' && e.batch === batch);
  t.true(answered(1) > 0);
  let overlapped = 0;
  srv.log.forEach((e, i) => {
    if (e.kind !== 'push') return;
    const batch = srv.batchOf(e.path);
    t.true(batch >= 0 && answered(batch) >= 0 && answered(batch) < i, `${e.path} was sent before its events batch ${batch} was accepted`);
    if (srv.log.findIndex((x) => x.kind === 'events_in' && x.batch === 1) < i && i < answered(1)) overlapped++;
  });
  t.true(overlapped >= 5, 'bodies of the first batch travel while the second events batch is pending');
  t.is((await stats(stateDir)).pending, 0);
});

test('events batches start small and grow fourfold to a full batch', (t) => {
  const sizes = (n: number) => eventBatches(Array.from({ length: n }, (_, i) => i)).map((b) => b.length);
  t.deepEqual(sizes(0), []);
  t.deepEqual(sizes(20), [20]);
  t.deepEqual(sizes(200), [32, 128, 40]);
  t.deepEqual(sizes(2000), [32, 128, 500, 500, 500, 340]);
  t.deepEqual(
    eventBatches(Array.from({ length: 2000 }, (_, i) => i)).flat(),
    Array.from({ length: 2000 }, (_, i) => i),
    'every event once, in order',
  );
});

test('a long pass writes its results back while it still runs, not only at its end', async (t) => {
  const stateDir = tempStateDir(t);
  await enqueue(stateDir, several(150));
  let pushes = 0;
  let writtenBackMidPass = -1;
  const url = await testServer(t, (req, raw, res) => {
    const reply = (status: number, body: string) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(body);
    };
    if (req.url === '/api/v1/events/batch/') {
      const { events: evs } = JSON.parse(gunzipSync(raw).toString('utf8')) as { events: { event_id: string }[] };
      return reply(200, JSON.stringify({ results: evs.map((e) => ({ event_id: e.event_id, status: 'success' })) }));
    }
    pushes += 1;
    if (pushes !== 140) return reply(201, '{"status":"stored"}');
    // The pass is still running (this answer is held): how many bodies are written back already?
    void (async () => {
      const until = Date.now() + 5000;
      for (;;) {
        const pending = (await stats(stateDir)).pending;
        if (pending <= 50 || Date.now() > until) {
          writtenBackMidPass = 150 - pending;
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      reply(201, '{"status":"stored"}');
    })();
  });
  const report = await drain({ stateDir, transport: makeTransport(t, url), budgetMs: null, concurrency: 4, applyEveryMs: 0 });
  t.is(report.stop, 'done');
  t.true(writtenBackMidPass >= 100, `results written back before the pass ended: ${writtenBackMidPass}`);
  t.is((await stats(stateDir)).pending, 0);
});

test('an events batch failing mid-pass: no body of that batch is sent, its events keep a backoff, nothing new starts', async (t) => {
  const stateDir = tempStateDir(t);
  const srv = await orderServer(t, async (batch) => (batch === 0 ? 'success' : { status: 503, body: '{"error":"busy"}' }));
  await enqueue(stateDir, several(250));
  const report = await drain({ stateDir, transport: makeTransport(t, srv.url), budgetMs: null, concurrency: 4 });
  t.is(report.stop, 'events_failed');
  t.is(srv.paths.length, 2);
  const pushed = srv.log.filter((e): e is { kind: 'push'; path: string } => e.kind === 'push').map((e) => e.path);
  t.true(
    pushed.every((p) => srv.batchOf(p) === 0),
    'only bodies whose events were accepted',
  );
  const failedBatch = new Set(srv.paths[1]);
  const evs = await events(stateDir);
  t.deepEqual(
    new Set(evs.map((e) => indexed(e).payload.relative_path)),
    new Set(
      several(250)
        .map((a) => a.artifact_path)
        .filter((p) => !srv.paths[0].includes(p)),
    ),
    'every event after the accepted batch stays queued',
  );
  const refused = evs.filter((e) => failedBatch.has(indexed(e).payload.relative_path));
  t.is(refused.length, failedBatch.size);
  t.true(refused.every((e) => e.retry_count === 1 && e.last_error === 'http_503: busy'));
  t.true(
    evs.filter((e) => !failedBatch.has(indexed(e).payload.relative_path)).every((e) => e.retry_count === 0 && e.last_error === null),
    'batches never sent keep no penalty',
  );
  const left = await bodies(stateDir);
  t.is(left.length, 250 - pushed.length);
  t.true(
    left.every((b) => b.retry_count === 0),
    'bodies not sent keep no penalty',
  );
  t.deepEqual(report.outcomes.map((o) => o.artifact_path).sort(), [...pushed].sort());
});

test('a 401 on a later events batch aborts the bodies in flight: everything kept, no penalty', async (t) => {
  const stateDir = tempStateDir(t);
  // Pushes are never answered: the drain can only end through the 401 aborting them.
  const srv = await orderServer(
    t,
    async (batch) => {
      if (batch === 0) return 'success';
      await srv.pushesSeen(2);
      return { status: 401, body: '{"error":"unauthorized"}' };
    },
    true,
  );
  await enqueue(stateDir, several(250));
  const report = await drain({ stateDir, transport: makeTransport(t, srv.url), budgetMs: null, concurrency: 4 });
  t.is(report.stop, 'unauthorized');
  t.regex(report.message ?? '', /KITTY_SYNC_TOKEN/);
  t.true(srv.log.filter((e) => e.kind === 'push').length >= 2);
  const left = await bodies(stateDir);
  t.is(left.length, 250);
  t.true(left.every((b) => b.retry_count === 0 && b.last_error === null));
  const evs = await events(stateDir);
  t.is(evs.length, 250 - srv.paths[0].length, 'the refused batch, and those never sent, stay queued');
  t.true(evs.every((e) => e.retry_count === 0));
  t.is((await dead(stateDir)).length, 0);
  t.true(report.outcomes.every((o) => o.status === 'queued'));
});

test('404 index_entry_not_found → queued with backoff, delivered on a later drain once indexed', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { indexLagMs: 60_000 } });
  await enqueue(stateDir, [artifact('spec.md')]);
  const { report, t0, t1 } = await timedDrain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  t.deepEqual(
    report.outcomes.map((o) => [o.status, o.reason]),
    [['queued', 'index_entry_not_found']],
  );
  const [b] = await bodies(stateDir);
  t.is(b.retry_count, 1);
  t.is(b.last_error, 'index_entry_not_found');
  assertBackoff(t, b.next_attempt_at, t0, t1, 1000);
  t.is((await stats(stateDir)).events_pending, 0, 'the event itself was delivered');

  r.setFaults({ indexLagMs: 0 });
  const again = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null, force: true });
  t.deepEqual(
    again.outcomes.map((o) => o.status),
    ['uploaded'],
  );
  t.is((await stats(stateDir)).pending, 0);
});

test('404 namespace_not_found → failed, dead-lettered', async (t) => {
  const stateDir = tempStateDir(t);
  const s = await rawServer(t, () => ({ status: 404, body: JSON.stringify({ error: 'namespace_not_found' }) }));
  await enqueue(stateDir, [artifact('spec.md')]);
  const report = await drain({ stateDir, transport: makeTransport(t, s.url), budgetMs: null });
  t.deepEqual(
    report.outcomes.map((o) => [o.status, o.reason]),
    [['failed', 'namespace_not_found']],
  );
  t.is((await stats(stateDir)).pending, 0);
  t.deepEqual(
    (await dead(stateDir)).map((d) => [d.kind, d.reason]),
    [['body', 'namespace_not_found']],
  );
});

test('404 with no parseable error → queued with backoff (conservative)', async (t) => {
  const stateDir = tempStateDir(t);
  const s = await rawServer(t, () => ({ status: 404, body: '<html>Not Found</html>', headers: { 'Content-Type': 'text/html' } }));
  await enqueue(stateDir, [artifact('spec.md')]);
  const { report, t0, t1 } = await timedDrain({ stateDir, transport: makeTransport(t, s.url), budgetMs: null });
  t.is(report.outcomes[0].status, 'queued');
  t.regex(report.outcomes[0].reason ?? '', /^http_404/);
  const [b] = await bodies(stateDir);
  t.is(b.retry_count, 1);
  assertBackoff(t, b.next_attempt_at, t0, t1, 1000);
  t.is((await dead(stateDir)).length, 0);
});

test('429 with retry_after in the body → queued, not retried before that time; force ignores it', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { rateLimitRate: 1, retryAfterSeconds: 30, endpoints: ['push-content'] } });
  await enqueue(stateDir, [artifact('spec.md')]);
  const transport = makeTransport(t, r.url);
  const { report, t0, t1 } = await timedDrain({ stateDir, transport, budgetMs: null });
  t.deepEqual(
    report.outcomes.map((o) => [o.status, o.reason]),
    [['queued', 'http_429']],
  );
  const [b] = await bodies(stateDir);
  assertBackoff(t, b.next_attempt_at, t0, t1, 30_000);

  const early = await drain({ stateDir, transport, budgetMs: null });
  t.is(early.outcomes.length, 0);
  t.is(r.stats().requests.push_content, 1, 'not retried before retry_after');
  const s = await stats(stateDir);
  t.is(s.backoff, 1);
  t.is(s.ready, 0);

  r.setFaults({}, true);
  const forced = await drain({ stateDir, transport, budgetMs: null, force: true });
  t.deepEqual(
    forced.outcomes.map((o) => o.status),
    ['uploaded'],
  );
  t.is(r.stats().requests.push_content, 2);
});

test('429 with only a Retry-After header → the header’s wait is kept', async (t) => {
  const stateDir = tempStateDir(t);
  const s = await rawServer(t, () => ({ status: 429, headers: { 'Retry-After': '45' } }));
  await enqueue(stateDir, [artifact('spec.md')]);
  const { report, t0, t1 } = await timedDrain({ stateDir, transport: makeTransport(t, s.url), budgetMs: null });
  t.is(report.outcomes[0].status, 'queued');
  const [b] = await bodies(stateDir);
  assertBackoff(t, b.next_attempt_at, t0, t1, 45_000);
});

test('5xx → queued; backoff after the n-th failure is min(2^(n-1), 300) s; each task tried once per run', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { failFirst: 1000, failStatus: 503, endpoints: ['push-content'] } });
  await enqueue(stateDir, [artifact('spec.md')]);
  const transport = makeTransport(t, r.url);
  for (let n = 1; n <= 10; n++) {
    const { report, t0, t1 } = await timedDrain({ stateDir, transport, budgetMs: null, force: true });
    t.is(report.outcomes.length, 1, 'tried exactly once in a forced run');
    t.is(report.outcomes[0].status, 'queued');
    t.regex(report.outcomes[0].reason ?? '', /^http_503/);
    const [b] = await bodies(stateDir);
    t.is(b.retry_count, n);
    assertBackoff(t, b.next_attempt_at, t0, t1, Math.min(2 ** (n - 1), 300) * 1000);
  }
  t.is(r.stats().requests.push_content, 10);
  t.is((await dead(stateDir)).length, 0);
});

test('timeout → queued with backoff', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { hang: true, endpoints: ['push-content'] } });
  await enqueue(stateDir, [artifact('spec.md')]);
  // Long enough for the (answered) events batch on a loaded machine; only the hung body times out.
  const { report, t0, t1 } = await timedDrain({ stateDir, transport: makeTransport(t, r.url, null, 4000), budgetMs: null });
  t.deepEqual(
    report.outcomes.map((o) => [o.status, o.reason]),
    [['queued', 'timeout']],
  );
  const [b] = await bodies(stateDir);
  t.is(b.retry_count, 1);
  assertBackoff(t, b.next_attempt_at, t0, t1, 1000);
});

test('connection reset → queued with backoff', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { dropRate: 1, endpoints: ['push-content'] } });
  await enqueue(stateDir, [artifact('spec.md')]);
  const report = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  t.deepEqual(
    report.outcomes.map((o) => [o.status, o.reason]),
    [['queued', 'connection_reset']],
  );
  t.is((await bodies(stateDir))[0].retry_count, 1);
});

test('connection refused on bodies → queued with backoff', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await startTestReceiver({ faults: { failFirst: 1, failStatus: 503, endpoints: ['push-content'] } });
  await enqueue(stateDir, [artifact('spec.md')]);
  await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null }); // events delivered, body 503
  await r.close();
  const { report, t0, t1 } = await timedDrain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null, force: true });
  t.deepEqual(
    report.outcomes.map((o) => [o.status, o.reason]),
    [['queued', 'connection_refused']],
  );
  const [b] = await bodies(stateDir);
  t.is(b.retry_count, 2);
  assertBackoff(t, b.next_attempt_at, t0, t1, 2000);
});

test('other status (409) → failed, dead-lettered', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { failFirst: 100, failStatus: 409, endpoints: ['push-content'] } });
  await enqueue(stateDir, [artifact('spec.md')]);
  const report = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  t.is(report.outcomes[0].status, 'failed');
  t.regex(report.outcomes[0].reason ?? '', /^http_409/);
  t.deepEqual(
    (await dead(stateDir)).map((d) => d.kind),
    ['body'],
  );
  t.is((await stats(stateDir)).pending, 0);
});

// ---- events before bodies -------------------------------------------------------------------

test('events endpoint 503 → no body is sent in that pass; events kept with backoff, bodies untouched', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { failFirst: 1, failStatus: 503, endpoints: ['events'] } });
  await enqueue(stateDir, several(4));
  const { report, t0, t1 } = await timedDrain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  t.is(report.stop, 'events_failed');
  t.is(r.stats().requests.events, 1);
  t.is(r.stats().requests.push_content, 0);
  t.is(report.outcomes.length, 0);
  const evs = await events(stateDir);
  t.is(evs.length, 4);
  for (const e of evs) {
    t.is(e.retry_count, 1);
    assertBackoff(t, e.next_attempt_at, t0, t1, 1000);
  }
  t.true((await bodies(stateDir)).every((b) => b.retry_count === 0));

  // The next (forced) drain sends the events first, then the bodies.
  const again = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null, force: true });
  t.is(again.stop, 'done');
  t.deepEqual(
    again.outcomes.map((o) => o.status),
    ['uploaded', 'uploaded', 'uploaded', 'uploaded'],
  );
});

test('a body whose index event is still in backoff is not sent before it', async (t) => {
  const stateDir = tempStateDir(t);
  // A 429 asking for a minute: the events stay in backoff however slow this machine is.
  const r = await receiver(t, { faults: { rateLimitRate: 1, retryAfterSeconds: 60, endpoints: ['events'] } });
  await enqueue(stateDir, several(2));
  await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null }); // events now in backoff (60 s)
  const report = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null }); // not forced
  t.is(r.stats().requests.push_content, 0, 'bodies would only earn index_entry_not_found');
  t.is(report.outcomes.length, 0);
  t.true((await bodies(stateDir)).every((b) => b.retry_count === 0));
});

test('an event the server rejects → the event and its body are dead-lettered, the body is never sent', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  // Not a UUID: the receiver rejects the index event.
  const badNs = { ...namespace('002-beta'), project_uuid: 'not-a-uuid' };
  const good = artifact('spec.md', '# good\n');
  const bad = artifact('plan.md', '# bad\n', badNs);
  await enqueue(stateDir, [good, bad]);
  const report = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  t.is(report.events.rejected, 1);
  t.is(report.events.delivered, 1);
  t.is(r.stats().requests.push_content, 1, 'only the good body was sent');
  const d = await dead(stateDir);
  t.deepEqual(d.map((x) => [x.kind, x.feature_slug, x.artifact_path]).sort(), [
    ['body', '002-beta', 'plan.md'],
    ['event', '002-beta', 'plan.md'],
  ]);
  t.true(d.every((x) => /rejected/.test(x.reason)));
  // The user is told: the rejected artifact ends as failed, not silently.
  const badOutcome = report.outcomes.find((o) => o.artifact_path === 'plan.md');
  t.is(badOutcome?.status, 'failed');
  t.deepEqual(report.outcomes.find((o) => o.artifact_path === 'spec.md')?.status, 'uploaded');
  const s = await stats(stateDir);
  t.is(s.pending, 0);
  t.is(s.events_pending, 0);
});

test('offline (nothing listening) → events kept with backoff; delivered once the server is up', async (t) => {
  const stateDir = tempStateDir(t);
  const port = await deadPort();
  await enqueue(stateDir, several(2));
  const report = await drain({ stateDir, transport: makeTransport(t, `http://127.0.0.1:${port}`), budgetMs: null });
  t.is(report.stop, 'events_failed');
  t.regex(report.message ?? '', /connection_refused/);
  t.is((await stats(stateDir)).pending, 2);
  const r = await receiver(t, { port });
  const again = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null, force: true });
  t.deepEqual(
    again.outcomes.map((o) => o.status),
    ['uploaded', 'uploaded'],
  );
  t.is((await stats(stateDir)).pending, 0);
});

// ---- supersede, one drainer, no_server, token ------------------------------------------------

test('supersede: a newer version enqueued while an older is pending → only the newer is delivered', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t, { faults: { failFirst: 1, failStatus: 503, endpoints: ['push-content'] } });
  const v1 = artifact('spec.md', '# v1\n');
  const v2 = artifact('spec.md', '# v2\n');
  await enqueue(stateDir, [v1]);
  // v1's event is delivered, its body fails once and waits in backoff.
  await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  t.is((await enqueue(stateDir, [v2])).superseded, 1);
  const report = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null, force: true });
  t.deepEqual(
    report.outcomes.map((o) => [o.content_hash, o.status]),
    [[v2.content_hash, 'uploaded']],
  );
  const [rec] = r.artifacts();
  t.deepEqual(
    rec.versions.map((v) => v.content_hash),
    [v2.content_hash],
    'the older version never reached the server',
  );
  t.is(rec.latest_hash, v2.content_hash);
  t.is((await stats(stateDir)).pending, 0);
});

test('supersede: versions delivered in order never end with an older one latest', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  const versions = ['# a\n', '# b\n', '# c\n'].map((text) => artifact('tasks.md', text));
  // Enqueued back to back without a drain in between: only the last may be sent.
  for (const v of versions) await enqueue(stateDir, [v]);
  await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  const [rec] = r.artifacts();
  t.deepEqual(
    rec.versions.map((v) => v.content_hash),
    [versions[2].content_hash],
  );
});

test('one drainer at a time: a second drain reports busy and leaves the queue untouched', async (t) => {
  const stateDir = tempStateDir(t);
  const r = await receiver(t);
  await enqueue(stateDir, several(3));
  const lock = await acquireLock(path.join(stateDir, 'drain'), path.join(stateDir, 'drain.lock'));
  t.teardown(() => lock.release());
  const before = readFileSync(dbPath(stateDir));
  const report = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null, force: true });
  t.is(report.stop, 'busy');
  t.is(report.outcomes.length, 0);
  t.is(r.stats().requests.events + r.stats().requests.push_content, 0);
  t.true(readFileSync(dbPath(stateDir)).equals(before), 'queue file unchanged');
  await lock.release();
  const after = await drain({ stateDir, transport: makeTransport(t, r.url), budgetMs: null });
  t.is(after.stop, 'done');
  t.is(after.outcomes.length, 3);
});

test('no server configured → nothing sent, work stays queued', async (t) => {
  const stateDir = tempStateDir(t);
  await enqueue(stateDir, several(2));
  const report = await drain({ stateDir, transport: null, budgetMs: null });
  t.is(report.stop, 'no_server');
  t.is(report.stats.pending, 2);
  t.is(report.stats.events_pending, 2);
});

test('the token never reaches the queue files, even when the server echoes it in its errors', async (t) => {
  const stateDir = tempStateDir(t);
  const token = 'ks-TOKEN-d41d8cd98f00b204-secret';
  let n = 0;
  const s = await rawServer(t, (req) => {
    // Alternate a permanent and a retryable failure, both echoing the Authorization header.
    n++;
    const status = n % 2 ? 400 : 503;
    return { status, body: JSON.stringify({ error: 'echo', detail: `got ${req.headers.authorization}` }) };
  });
  await enqueue(stateDir, several(4));
  const report = await drain({ stateDir, transport: makeTransport(t, s.url, token), budgetMs: null, concurrency: 1 });
  t.is(s.seen.push, 4);
  t.true(report.outcomes.some((o) => o.status === 'failed') && report.outcomes.some((o) => o.status === 'queued'));
  t.false(JSON.stringify(report).includes(token));
  t.true(JSON.stringify(report).includes('[redacted]'), 'the echo was there and was redacted');
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(stateDir);
  t.true(files.length >= 2);
  for (const f of files) t.false(readFileSync(f).includes(token), `token found in ${f}`);
});

// ---- strict success (047 conformance, issue 10) ----------------------------------------------

const BAD_2XX: [string, RawReply][] = [
  ['a proxy login page (200 HTML)', { status: 200, body: '<html><body>Sign in to the network</body></html>', headers: { 'Content-Type': 'text/html' } }],
  ['201 {}', { status: 201, body: '{}' }],
  ['200 {"status":"ok"}', { status: 200, body: '{"status":"ok"}' }],
  ['truncated JSON', { status: 201, body: '{"status":"sto' }],
  ['an echo of another path', { status: 201, body: JSON.stringify({ status: 'stored', artifact_path: 'other.md' }) }],
  ['an echo of another hash', { status: 200, body: JSON.stringify({ status: 'already_exists', content_hash: 'f'.repeat(64) }) }],
  ['204 No Content', { status: 204 }],
];
for (const [name, answer] of BAD_2XX) {
  test(`a 2xx that is not the contract's (${name}) → invalid_response, nothing leaves the queue`, async (t) => {
    const stateDir = tempStateDir(t);
    const srv = await rawServer(t, () => answer);
    await enqueue(stateDir, several(3));
    const report = await drain({ stateDir, transport: makeTransport(t, srv.url), budgetMs: null });
    t.is(srv.seen.push, 3);
    t.true(
      report.outcomes.every((o) => o.status === 'queued' && /^invalid_response/.test(o.reason ?? '')),
      JSON.stringify(report.outcomes),
    );
    const left = await bodies(stateDir);
    t.is(left.length, 3, 'every body is still queued');
    t.true(
      left.every((b) => b.retry_count === 1 && /^invalid_response/.test(b.last_error ?? '')),
      'with backoff',
    );
  });
}

for (const status of [410, 412] as const) {
  test(`${status} stops the drain at once, keeps everything, and says what the server answered`, async (t) => {
    const stateDir = tempStateDir(t);
    const srv = await rawServer(t, () => ({ status, body: JSON.stringify({ error: status === 410 ? 'legacy_ingress_retired' : 'protocol_refused' }) }));
    await enqueue(stateDir, several(6));
    const report = await drain({ stateDir, transport: makeTransport(t, srv.url), budgetMs: null, concurrency: 1 });
    t.is(report.stop, 'protocol_refused');
    t.is(srv.seen.push, 1, 'nothing is sent after the first refusal');
    t.regex(report.message ?? '', new RegExp(`${status}.*${status === 410 ? 'legacy_ingress_retired' : 'protocol_refused'}`));
    t.regex(report.message ?? '', /kitty-sync drain/);
    const left = await bodies(stateDir);
    t.is(left.length, 6);
    t.true(
      left.every((b) => b.retry_count === 0),
      'not the task’s fault: no backoff',
    );
    t.is((await dead(stateDir)).length, 0);
  });
}

test('an events answer without a result for some event keeps that event queued (and its body unsent)', async (t) => {
  const stateDir = tempStateDir(t);
  let pushes = 0;
  const url = await testServer(t, (req, raw, res) => {
    if (req.url === '/api/v1/events/batch/') {
      const { events: evs } = JSON.parse(gunzipSync(raw).toString('utf8')) as { events: { event_id: string }[] };
      // Answers for all but the last event.
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ results: evs.slice(0, -1).map((e) => ({ event_id: e.event_id, status: 'success' })) }));
      return;
    }
    pushes++;
    const j = JSON.parse(raw.toString('utf8')) as { artifact_path: string; content_hash: string };
    res.writeHead(201, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ status: 'stored', artifact_path: j.artifact_path, content_hash: j.content_hash }));
  });
  await enqueue(stateDir, several(3));
  await drain({ stateDir, transport: makeTransport(t, url), budgetMs: null });
  t.is(pushes, 2, 'the body whose event got no answer waits');
  const left = await events(stateDir);
  t.is(left.length, 1);
  t.is(left[0].last_error, 'no_result_for_event');
  t.is((await bodies(stateDir)).length, 1);
});
