// Issue 12 item 3: unbounded waits. A server may ask for a wait (Retry-After, retry_after), but never
// for more than an hour; a stored next attempt further ahead than now + 1 h (clock skew when it was
// stored, or an older kitty-sync that stored Infinity) is brought back to now + 1 h.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { drain } from '../../lib/delivery/drain.js';
import { dbPath, readQueue, withQueue } from '../../lib/queue/queue.js';
import { MAX_WAIT_MS } from '../../lib/queue/retry.js';
import { retryAfter } from '../../lib/delivery/responses.js';
import { Transport } from '../../lib/delivery/transport.js';
import { artifact, CTX } from '../support/artifacts.js';
import { openSqlJs } from '../support/queue-v1.js';

const HOUR = 3_600_000;
const YEAR = 365 * 24 * HOUR;

function stateDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-retrycap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Events: success. Bodies: 429 with the given Retry-After header. */
async function rateLimitingServer(t: ExecutionContext, retryAfterHeader: string, body = ''): Promise<string> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/api/v1/events/batch/') {
        const { events } = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')) as { events: { event_id: string }[] };
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ results: events.map((e) => ({ event_id: e.event_id, status: 'success' })) }));
        return;
      }
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': retryAfterHeader });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('retryAfter: what a server may ask for is capped at one hour, Infinity included; NaN is no answer', (t) => {
  t.is(MAX_WAIT_MS, HOUR);
  t.is(retryAfter(null, '99999999999'), HOUR);
  t.is(retryAfter(null, '9'.repeat(400)), HOUR, 'a number too large for a double (Infinity) is capped');
  t.is(retryAfter({ retry_after: 1e308 }, null), HOUR, 'seconds that overflow as milliseconds are capped');
  t.is(retryAfter({ retry_after: 'Infinity' }, null), HOUR);
  t.is(retryAfter({ retry_after: 'NaN' }, null), undefined);
  t.is(retryAfter(null, new Date(Date.now() + YEAR).toUTCString()), HOUR, 'an HTTP date a year ahead is capped');
  t.is(retryAfter(null, '30'), 30_000, 'ordinary waits are kept');
});

test('a drain answered Retry-After: 99999999999 stores a next attempt at most one hour ahead', async (t) => {
  const dir = stateDir(t);
  const url = await rateLimitingServer(t, '99999999999', JSON.stringify({ retry_after: 1e308 }));
  await withQueue({ stateDir: dir }, (q) => q.enqueue([artifact('spec.md')], CTX));
  const transport = new Transport({ serverUrl: url, token: null });
  t.teardown(() => transport.close());
  const report = await drain({ stateDir: dir, transport, budgetMs: null });
  const t1 = Date.now();
  t.deepEqual(
    report.outcomes.map((o) => [o.status, o.reason]),
    [['queued', 'http_429']],
  );
  const [b] = await readQueue({ stateDir: dir }, (q) => q.readyBodies(10, { force: true }));
  t.true(Number.isFinite(b.next_attempt_at));
  t.true(b.next_attempt_at <= t1 + HOUR, `next attempt ${b.next_attempt_at - t1} ms ahead`);
  t.true(b.next_attempt_at >= t1 + HOUR - 60_000, 'the capped wait is still honoured');
});

test('a next attempt stored a year ahead (clock skew) is brought back to one hour by the next run; then it is sent', async (t) => {
  const dir = stateDir(t);
  const now = Date.now();
  // The failure happened on a clock a year fast: body and event were both put off for a year (and a bit).
  await withQueue({ stateDir: dir, now: () => now + YEAR }, (q) => {
    q.enqueue([artifact('spec.md')], CTX);
    const [e] = q.readyEvents(10, { force: true });
    const [b] = q.readyBodies(10, { force: true });
    q.applyEventResults([{ event_id: e.event_id, result: { kind: 'retry', error: 'http_503' } }]);
    q.applyBodyResults([{ upload_id: b.upload_id, result: { kind: 'retry', error: 'http_503' } }]);
  });
  const before = await readQueue({ stateDir: dir }, (q) => q.readyBodies(10, { force: true }));
  t.true(before[0].next_attempt_at > now + YEAR, 'stored a year ahead');

  // Any run (here a drain with no server) brings it back within the cap.
  await drain({ stateDir: dir, transport: null, budgetMs: null });
  const t1 = Date.now();
  const [b] = await readQueue({ stateDir: dir }, (q) => q.readyBodies(10, { force: true }));
  const [e] = await readQueue({ stateDir: dir }, (q) => q.readyEvents(10, { force: true }));
  t.true(b.next_attempt_at <= t1 + HOUR, `body ${Math.round((b.next_attempt_at - t1) / HOUR)} h ahead`);
  t.true(e.next_attempt_at <= t1 + HOUR, `event ${Math.round((e.next_attempt_at - t1) / HOUR)} h ahead`);
  // An hour later both are ready.
  const later = await readQueue({ stateDir: dir, now: () => t1 + HOUR + 1000 }, (q) => ({ b: q.readyBodies(10).length, e: q.readyEvents(10).length }));
  t.deepEqual(later, { b: 1, e: 1 });
});

/** Edits the queue file as another program would (sql.js on the bytes), keeping its save generation. */
async function editQueueFile(dir: string, sql: string[]): Promise<void> {
  const SQL = await openSqlJs();
  const db = new SQL.Database(readFileSync(dbPath(dir)));
  for (const s of sql) db.run(s);
  writeFileSync(dbPath(dir), db.export());
  db.close();
}

test('an uncapped wait in a queue an older version saved (no clock mark) is brought back to one hour by the next run', async (t) => {
  const dir = stateDir(t);
  await withQueue({ stateDir: dir }, (q) => q.enqueue([artifact('spec.md')], CTX));
  await editQueueFile(dir, [`UPDATE body_tasks SET next_attempt_at = ${Number.MAX_SAFE_INTEGER}`, "DELETE FROM meta WHERE key = 'clock_high'"]);
  // A run that only merges keeps the queue unmarked: the wait is still there for the drain to find.
  await withQueue({ stateDir: dir }, (q) => q.enqueue([artifact('plan.md')], CTX));
  await drain({ stateDir: dir, transport: null, budgetMs: null });
  const t1 = Date.now();
  const waits = await readQueue({ stateDir: dir }, (q) => q.readyBodies(10, { force: true }).map((b) => b.next_attempt_at));
  t.is(waits.length, 2);
  for (const w of waits) t.true(w <= t1 + HOUR, `${Math.round((w - t1) / HOUR)} h ahead`);
});

test('while the clock has not gone back, the opening read does not scan for waits past the cap: none can have been stored', async (t) => {
  const dir = stateDir(t);
  await withQueue({ stateDir: dir }, (q) => q.enqueue([artifact('spec.md')], CTX));
  const SQL = await openSqlJs();
  const db = new SQL.Database(readFileSync(dbPath(dir)));
  const mark = Number(db.exec("SELECT value FROM meta WHERE key = 'clock_high'")[0]?.values[0]?.[0]);
  db.close();
  t.true(mark > 0 && mark <= Date.now(), 'every save records the clock it saw');
  // A wait past the cap that no run of this version can store (the mark says the clock never went back) is not looked for.
  await editQueueFile(dir, [`UPDATE body_tasks SET next_attempt_at = ${Number.MAX_SAFE_INTEGER}`]);
  await drain({ stateDir: dir, transport: null, budgetMs: null });
  const [b] = await readQueue({ stateDir: dir }, (q) => q.readyBodies(10, { force: true }));
  t.is(b.next_attempt_at, Number.MAX_SAFE_INTEGER);
});
