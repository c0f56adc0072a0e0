import test from 'ava';
import { isoTimestamp } from '../../lib/collect/events.js';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dbPath, pendingMarkerPath, readBody, readQueue, withQueue, type QueueOptions } from '../../lib/queue/queue.js';
import { SCHEMA_VERSION } from '../../lib/queue/schema.js';
import { artifact, CTX, namespace, sha256, indexed } from '../support/artifacts.js';
import { openSqlJs, v1Database } from '../support/queue-v1.js';

function tmpState(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-queue-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'state');
}

function clock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** Pack files in the spool directory (issue 11: bodies live in packs, not one file each). */
const packFiles = (stateDir: string): string[] =>
  existsSync(path.join(stateDir, 'spool'))
    ? readdirSync(path.join(stateDir, 'spool'))
        .filter((f) => f.endsWith('.ksp'))
        .sort()
    : [];

test('enqueue adds one body task and one index event per artifact, persisted with bodies in one pack beside the db', async (t) => {
  const stateDir = tmpState(t);
  const spec = artifact('spec.md', '# Spec\n');
  const plan = artifact('plan.md', '# Plan\n');
  const res = await withQueue({ stateDir }, (q) => q.enqueue([spec, plan], CTX));
  t.deepEqual(res, { added: 2, duplicate: 0, superseded: 0, refused: 0, refusedArtifacts: [] });
  t.true(existsSync(dbPath(stateDir)));
  t.is(statSync(stateDir).mode & 0o777, 0o700);
  t.is(packFiles(stateDir).length, 1, 'one pack for the whole enqueue, not one file per body');
  t.is(statSync(path.join(stateDir, 'spool', packFiles(stateDir)[0])).mode & 0o777, 0o600);
  t.deepEqual(await readBody(stateDir, spec.content_hash), spec.body);
  t.deepEqual(await readBody(stateDir, plan.content_hash), plan.body);
  // Metadata only: the body text is not inside the database file.
  t.false(readFileSync(dbPath(stateDir)).includes(Buffer.from('# Spec')));

  const { bodies, events } = await readQueue({ stateDir }, (q) => ({ bodies: q.readyBodies(10), events: q.readyEvents(10) }));
  t.deepEqual(
    bodies.map((b) => b.artifact_path),
    ['spec.md', 'plan.md'],
  );
  t.deepEqual(bodies[0].namespace, spec.namespace);
  t.is(bodies[0].content_hash, spec.content_hash);
  t.is(bodies[0].size_bytes, spec.size_bytes);
  t.regex(bodies[0].upload_id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  t.is(events.length, 2);
  t.is(bodies[0].event_id, events[0].event_id);
});

test('index event envelope follows SPEC §5.1', async (t) => {
  const stateDir = tmpState(t);
  const c = clock();
  const spec = artifact('spec.md', '# Spec\n', namespace('047-namespace-aware', 'feature/x'));
  await withQueue({ stateDir, now: c.now }, (q) => q.enqueue([spec], CTX));
  const [ev] = await readQueue({ stateDir, now: c.now }, (q) => q.readyEvents(5));
  const e = ev.envelope;
  t.regex(e.event_id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  t.is(e.event_type, 'MissionDossierArtifactIndexed');
  t.is(e.aggregate_type, 'MissionDossier');
  t.is(e.aggregate_id, '047-namespace-aware:input.spec.main');
  t.is(e.timestamp, isoTimestamp(c.now()));
  t.is(e.lamport_clock, 1);
  t.is(e.causation_id, null);
  t.is(e.project_uuid, spec.namespace.project_uuid);
  t.is(e.head_commit_sha, CTX.head_commit_sha);
  t.is(e.git_branch, CTX.git_branch);
  t.is(e.repo_slug, CTX.repo_slug);
  t.is(e.project_slug, CTX.project_slug);
  t.truthy(e.node_id);
  t.deepEqual(e.payload, {
    feature_slug: '047-namespace-aware',
    artifact_key: 'input.spec.main',
    artifact_class: 'input',
    relative_path: 'spec.md',
    content_hash_sha256: spec.content_hash,
    size_bytes: spec.size_bytes,
    wp_id: null,
    step_id: null,
    required_status: 'required',
    namespace: spec.namespace,
  });
});

test('enqueue is idempotent: the same namespace, path and content gives one task and one event', async (t) => {
  const stateDir = tmpState(t);
  const a = artifact('spec.md', 'v1');
  await withQueue({ stateDir }, (q) => q.enqueue([a], CTX));
  const mtime = statSync(dbPath(stateDir)).mtimeMs;
  const res = await withQueue({ stateDir }, (q) => q.enqueue([a, a], CTX));
  t.like(res, { added: 0, duplicate: 2, superseded: 0 });
  const s = await readQueue({ stateDir }, (q) => q.stats());
  t.is(s.pending, 1);
  t.is(s.events_pending, 1);
  t.is(statSync(dbPath(stateDir)).mtimeMs, mtime, 'nothing changed, nothing saved');
});

test('the same content in another namespace (other branch) is its own task', async (t) => {
  const stateDir = tmpState(t);
  const main = artifact('spec.md', 'same', namespace('001-alpha', 'main'));
  const other = artifact('spec.md', 'same', namespace('001-alpha', 'release/2'));
  const res = await withQueue({ stateDir }, (q) => q.enqueue([main, other], CTX));
  t.is(res.added, 2);
  const bodies = await readQueue({ stateDir }, (q) => q.readyBodies(10).map((b) => [b.namespace.target_branch, q.bodyOf(b)?.toString()]));
  t.deepEqual(bodies, [
    ['main', 'same'],
    ['release/2', 'same'],
  ]);
});

test('a newer version supersedes the pending older task and its unsent event; the old pack is collected', async (t) => {
  const stateDir = tmpState(t);
  const v1 = artifact('plan.md', 'version 1');
  const v2 = artifact('plan.md', 'version 2');
  await withQueue({ stateDir }, (q) => q.enqueue([v1], CTX));
  const [firstPack] = packFiles(stateDir);
  const res = await withQueue({ stateDir }, (q) => q.enqueue([v2], CTX));
  t.like(res, { added: 1, superseded: 1, duplicate: 0 });
  const { bodies, events } = await readQueue({ stateDir }, (q) => ({ bodies: q.readyBodies(10), events: q.readyEvents(10) }));
  t.deepEqual(
    bodies.map((b) => b.content_hash),
    [v2.content_hash],
  );
  t.deepEqual(
    events.map((e) => indexed(e).payload.content_hash_sha256),
    [v2.content_hash],
  );
  t.is(packFiles(stateDir).length, 1);
  t.false(packFiles(stateDir).includes(firstPack), 'the pack nothing refers to any more is deleted');
  t.is(await readBody(stateDir, v1.content_hash), null);
});

test('a newer version also supersedes an unsent event whose body task already left', async (t) => {
  const stateDir = tmpState(t);
  const v1 = artifact('plan.md', 'version 1');
  await withQueue({ stateDir }, (q) => q.enqueue([v1], CTX));
  // The body got through (already_exists) before its event did.
  await withQueue({ stateDir }, (q) => q.applyBodyResults(q.readyBodies(5).map((b) => ({ upload_id: b.upload_id, result: { kind: 'delivered' } }))));
  const stranded = await readQueue({ stateDir }, (q) => q.readyEvents(5));
  t.is(stranded.length, 1);
  t.is(indexed(stranded[0]).payload.content_hash_sha256, v1.content_hash, 'a detached event keeps its artifact fields');
  const v2 = artifact('plan.md', 'version 2');
  const res = await withQueue({ stateDir }, (q) => q.enqueue([v2], CTX));
  t.like(res, { added: 1, superseded: 1 });
  const events = await readQueue({ stateDir }, (q) => q.readyEvents(5));
  t.deepEqual(
    events.map((e) => indexed(e).payload.content_hash_sha256),
    [v2.content_hash],
  );
});

test('capacity: beyond it new work is refused and counted; superseding a pending version still works', async (t) => {
  const stateDir = tmpState(t);
  const opts: QueueOptions = { stateDir, capacity: 3 };
  const items = ['a.md', 'b.md', 'c.md', 'd.md', 'e.md'].map((p) => artifact(`research/${p}`));
  const res = await withQueue(opts, (q) => q.enqueue(items, CTX));
  t.like(res, { added: 3, refused: 2 });
  t.deepEqual(
    res.refusedArtifacts.map((r) => r.artifact_path),
    ['research/d.md', 'research/e.md'],
  );
  t.is(res.refusedArtifacts[0].feature_slug, '001-alpha');
  const newer = artifact('research/a.md', 'newer');
  t.like(await withQueue(opts, (q) => q.enqueue([newer], CTX)), { added: 1, superseded: 1, refused: 0 });
  t.is((await readQueue(opts, (q) => q.stats())).pending, 3);
});

test('results: delivered removes, retry backs off (notBefore honoured), released is untouched, dead moves to dead letters', async (t) => {
  const stateDir = tmpState(t);
  const c = clock();
  const opts = { stateDir, now: c.now };
  const items = ['a.md', 'b.md', 'c.md', 'd.md'].map((p) => artifact(`research/${p}`));
  await withQueue(opts, (q) => q.enqueue(items, CTX));
  await withQueue(opts, (q) => q.applyEventResults(q.readyEvents(10).map((e) => ({ event_id: e.event_id, result: { kind: 'delivered' } }))));
  const bodies = await readQueue(opts, (q) => q.readyBodies(10));
  await withQueue(opts, (q) =>
    q.applyBodyResults([
      { upload_id: bodies[0].upload_id, result: { kind: 'delivered' } },
      { upload_id: bodies[1].upload_id, result: { kind: 'retry', error: 'http_503' } },
      { upload_id: bodies[2].upload_id, result: { kind: 'retry', error: 'http_429', notBeforeMs: c.now() + 60_000 } },
      { upload_id: bodies[3].upload_id, result: { kind: 'dead', reason: 'http_400' } },
      { upload_id: '01ARZ3NDEKTSV4RRFFQ69G5FAV', result: { kind: 'delivered' } },
    ]),
  );
  let tasks = await readQueue(opts, (q) => q.readyBodies(10, { force: true }));
  t.deepEqual(
    tasks.map((b) => b.artifact_path),
    ['research/b.md', 'research/c.md'],
  );
  t.like(tasks[0], { retry_count: 1, next_attempt_at: c.now() + 1000, last_error: 'http_503' });
  t.like(tasks[1], { retry_count: 1, next_attempt_at: c.now() + 60_000 });
  const s = await readQueue(opts, (q) => q.stats());
  t.like(s, { pending: 2, ready: 0, backoff: 2, failed: 1, events_pending: 0 });
  t.deepEqual(s.retry_histogram, { '1': 2 });

  // Second failure: 2 s; released: unchanged.
  c.advance(1000);
  await withQueue(opts, (q) => q.applyBodyResults([{ upload_id: tasks[0].upload_id, result: { kind: 'retry', error: 'timeout' } }]));
  await withQueue(opts, (q) => q.applyBodyResults([{ upload_id: tasks[1].upload_id, result: { kind: 'released' } }]));
  tasks = await readQueue(opts, (q) => q.readyBodies(10, { force: true }));
  t.like(tasks[0], { retry_count: 2, next_attempt_at: c.now() + 2000 });
  t.like(tasks[1], { retry_count: 1, next_attempt_at: c.now() - 1000 + 60_000 });

  const dead = await readQueue(opts, (q) => q.deadLetters());
  t.is(dead.length, 1);
  t.like(dead[0], { kind: 'body', artifact_path: 'research/d.md', reason: 'http_400', content_hash: items[3].content_hash });
  t.deepEqual(dead[0].namespace, items[3].namespace);
  // The dead letter keeps its body (retry re-sends it): its pack stays.
  t.deepEqual(await readBody(stateDir, items[3].content_hash), items[3].body);
  t.is(packFiles(stateDir).length, 1);
});

test('a rejected event dead-letters its body task too; retry brings both back with fresh ids', async (t) => {
  const stateDir = tmpState(t);
  const a = artifact('spec.md', 'x');
  await withQueue({ stateDir }, (q) => q.enqueue([a], CTX));
  const [ev] = await readQueue({ stateDir }, (q) => q.readyEvents(5));
  await withQueue({ stateDir }, (q) => q.applyEventResults([{ event_id: ev.event_id, result: { kind: 'dead', reason: 'rejected: bad key' } }]));
  const dead = await readQueue({ stateDir }, (q) => q.deadLetters());
  t.deepEqual(dead.map((d) => [d.kind, d.reason]).sort(), [
    ['body', 'event_rejected: rejected: bad key'],
    ['event', 'rejected: bad key'],
  ]);
  const s = await readQueue({ stateDir }, (q) => q.stats());
  t.like(s, { pending: 0, failed: 1, events_failed: 1 });
  t.false(existsSync(pendingMarkerPath(stateDir)));

  const bodyLetter = dead.find((d) => d.kind === 'body')!;
  const res = await withQueue({ stateDir }, (q) => q.retryDeadLetters([bodyLetter.id, 'nope']));
  t.deepEqual(res, { requeued: 2, superseded: 0, unknown: ['nope'], unavailable: [] });
  const { bodies, events } = await readQueue({ stateDir }, (q) => ({ bodies: q.readyBodies(5), events: q.readyEvents(5) }));
  t.is(bodies.length, 1);
  t.is(events.length, 1);
  t.is(bodies[0].retry_count, 0);
  t.not(events[0].event_id, ev.event_id);
  t.is(indexed(events[0]).payload.content_hash_sha256, a.content_hash);
  t.true(existsSync(pendingMarkerPath(stateDir)));
});

test('retrying a dead letter whose artifact has a newer version does not re-queue it', async (t) => {
  const stateDir = tmpState(t);
  const v1 = artifact('tasks.md', 'old');
  await withQueue({ stateDir }, (q) => q.enqueue([v1], CTX));
  await withQueue({ stateDir }, (q) => q.applyEventResults(q.readyEvents(5).map((e) => ({ event_id: e.event_id, result: { kind: 'delivered' } }))));
  await withQueue({ stateDir }, (q) => q.applyBodyResults(q.readyBodies(5).map((b) => ({ upload_id: b.upload_id, result: { kind: 'dead', reason: 'http_400' } }))));
  const v2 = artifact('tasks.md', 'new');
  await withQueue({ stateDir }, (q) => q.enqueue([v2], CTX));
  // Even once the newer version was delivered, the old one must not come back.
  await withQueue({ stateDir }, (q) => q.applyEventResults(q.readyEvents(5).map((e) => ({ event_id: e.event_id, result: { kind: 'delivered' } }))));
  await withQueue({ stateDir }, (q) => q.applyBodyResults(q.readyBodies(5).map((b) => ({ upload_id: b.upload_id, result: { kind: 'delivered' } }))));
  const res = await withQueue({ stateDir }, (q) => q.retryDeadLetters('all'));
  t.like(res, { requeued: 0, superseded: 1 });
  const s = await readQueue({ stateDir }, (q) => q.stats());
  t.like(s, { pending: 0, failed: 0, events_pending: 0 });
  t.deepEqual(packFiles(stateDir), [], 'nothing references any pack: all collected');
});

test('expireStale dead-letters work past max age or max retries', async (t) => {
  const stateDir = tmpState(t);
  const c = clock();
  const opts = { stateDir, now: c.now };
  await withQueue(opts, (q) => q.enqueue([artifact('research/old.md')], CTX));
  c.advance(10_000);
  await withQueue(opts, (q) => q.enqueue([artifact('research/young.md')], CTX));
  const moved = await withQueue(opts, (q) => q.expireStale({ maxAgeMs: 5_000, maxRetries: 100 }));
  t.is(moved, 2, 'the old event and its body');
  const dead = await readQueue(opts, (q) => q.deadLetters());
  t.deepEqual(dead.map((d) => [d.kind, d.reason, d.artifact_path]).sort(), [
    ['body', 'event_stale_max_age', 'research/old.md'],
    ['event', 'stale_max_age', 'research/old.md'],
  ]);
  t.is(await withQueue(opts, (q) => q.expireStale({ maxAgeMs: 1e9, maxRetries: 0 })), 2);
  t.true((await readQueue(opts, (q) => q.deadLetters())).some((d) => d.reason === 'stale_max_retries'));
});

test('expireStale with everyMs (hooks) looks at most that often; without it, every time', async (t) => {
  const stateDir = tmpState(t);
  const c = clock();
  const opts = { stateDir, now: c.now };
  const hourly = { maxAgeMs: 5_000, maxRetries: 1000, everyMs: 3_600_000 };
  await withQueue(opts, (q) => q.enqueue([artifact('research/first.md')], CTX));
  c.advance(10_000);
  t.is(await withQueue(opts, (q) => q.expireStale(hourly)), 2, 'the first look moves the stale event and body');
  await withQueue(opts, (q) => q.enqueue([artifact('research/second.md')], CTX));
  c.advance(10_000);
  t.is(await withQueue(opts, (q) => q.expireStale(hourly)), 0, 'within the hour: no look, though research/second.md is stale now');
  t.is(await readQueue(opts, (q) => q.stats().pending), 1);
  t.is(await withQueue(opts, (q) => q.expireStale({ maxAgeMs: 5_000, maxRetries: 1000 })), 2, 'a drain without everyMs looks every time');
  await withQueue(opts, (q) => q.enqueue([artifact('research/third.md')], CTX));
  c.advance(3_600_001);
  t.is(await withQueue(opts, (q) => q.expireStale(hourly)), 2, 'past the hour since the last look: it looks again');
});

test('expireStale with sliceRows (hooks) looks in parts, each where the last stopped; a whole look ends one under way', async (t) => {
  const stateDir = tmpState(t);
  const c = clock();
  const opts = { stateDir, now: c.now };
  const parts = { maxAgeMs: 5_000, maxRetries: 1000, everyMs: 3_600_000, sliceRows: 2 };
  const pending = async (): Promise<string[]> => (await readQueue(opts, (q) => q.readyBodies(100))).map((b) => b.artifact_path);
  await withQueue(opts, (q) =>
    q.enqueue(
      ['a', 'b', 'c', 'd', 'e'].map((n) => artifact(`research/${n}.md`)),
      CTX,
    ),
  );
  c.advance(10_000);
  // Each stale artifact moves its event and its body: 2 items.
  t.is(await withQueue(opts, (q) => q.expireStale(parts)), 4, 'the first part: the first two tasks');
  t.deepEqual(await pending(), ['research/c.md', 'research/d.md', 'research/e.md']);
  t.is(await withQueue(opts, (q) => q.expireStale(parts)), 4, 'the next part starts where the last stopped, though within the hour');
  t.is(await withQueue(opts, (q) => q.expireStale(parts)), 2, 'the last part reaches the end: the look is complete');
  await withQueue(opts, (q) => q.enqueue([artifact('research/f.md')], CTX));
  c.advance(10_000);
  t.is(await withQueue(opts, (q) => q.expireStale(parts)), 0, 'within the hour of a complete look: none');
  t.deepEqual(await pending(), ['research/f.md']);
  c.advance(3_600_001);
  await withQueue(opts, (q) =>
    q.enqueue(
      ['g', 'h', 'i'].map((n) => artifact(`research/${n}.md`)),
      CTX,
    ),
  );
  c.advance(10_000);
  t.is(await withQueue(opts, (q) => q.expireStale(parts)), 4, 'past the hour: a new look, in parts again');
  t.is(await withQueue(opts, (q) => q.expireStale({ maxAgeMs: 5_000, maxRetries: 1000 })), 4, "a drain's whole look takes the rest");
  await withQueue(opts, (q) => q.enqueue([artifact('research/j.md')], CTX));
  c.advance(10_000);
  t.is(await withQueue(opts, (q) => q.expireStale(parts)), 0, 'and it ended the look in parts: within the hour, none');
  t.deepEqual(await pending(), ['research/j.md']);
});

test('stats: counts, oldest pending age, per feature, retry histogram', async (t) => {
  const stateDir = tmpState(t);
  const c = clock();
  const opts = { stateDir, now: c.now };
  await withQueue(opts, (q) => q.enqueue([artifact('spec.md', 'a', namespace('001-alpha')), artifact('spec.md', 'b', namespace('002-beta')), artifact('plan.md', 'c', namespace('002-beta'))], CTX));
  c.advance(5000);
  const s = await readQueue(opts, (q) => q.stats());
  t.like(s, { pending: 3, ready: 3, backoff: 0, failed: 0, events_pending: 3, events_ready: 3, oldest_pending_age_ms: 5000 });
  t.deepEqual(s.per_feature, { '001-alpha': { pending: 1, failed: 0 }, '002-beta': { pending: 2, failed: 0 } });
  t.deepEqual(s.retry_histogram, { '0': 3 });
  const empty = await readQueue({ stateDir: path.join(stateDir, 'nowhere') }, (q) => q.stats());
  t.like(empty, { pending: 0, oldest_pending_age_ms: null });
});

test('stats: a body whose index event is in backoff waits for it (not ready), and the error that put it there is reported', async (t) => {
  const stateDir = tmpState(t);
  const c = clock();
  const opts = { stateDir, now: c.now };
  await withQueue(opts, (q) => q.enqueue([artifact('spec.md', 'a', namespace('001-alpha')), artifact('plan.md', 'b', namespace('001-alpha')), artifact('tasks.md', 'c', namespace('002-beta'))], CTX));
  // One event fails (backoff); the other two are delivered, so their bodies are ready on their own.
  await withQueue(opts, (q) => {
    const [first, ...rest] = q.readyEvents(10);
    q.applyEventResults([{ event_id: first.event_id, result: { kind: 'retry', error: 'http_503' } }, ...rest.map((e) => ({ event_id: e.event_id, result: { kind: 'delivered' as const } }))]);
  });
  const s = await readQueue(opts, (q) => q.stats());
  t.like(s, { pending: 3, ready: 2, backoff: 1, waiting_for_events: 1, events_pending: 1, events_ready: 0, events_backoff: 1, last_error: 'http_503', next_attempt_at: null });
  t.deepEqual(await readQueue(opts, (q) => [q.readyBodyCount({ force: false }), q.readyBodyCount({ force: true })]), [2, 3]);
  // Once its event is due again, the body is ready too; nothing is in backoff, so no error is reported.
  c.advance(60_000);
  t.like(await readQueue(opts, (q) => q.stats()), { ready: 3, backoff: 0, waiting_for_events: 0, events_ready: 1, last_error: null });
});

test('pending marker exists exactly while work is pending', async (t) => {
  const stateDir = tmpState(t);
  const marker = pendingMarkerPath(stateDir);
  await withQueue({ stateDir }, (q) => q.stats());
  t.false(existsSync(marker));
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md')], CTX));
  t.true(existsSync(marker));
  await withQueue({ stateDir }, (q) => q.applyEventResults(q.readyEvents(5).map((e) => ({ event_id: e.event_id, result: { kind: 'delivered' } }))));
  t.true(existsSync(marker), 'the body is still pending');
  await withQueue({ stateDir }, (q) => q.applyBodyResults(q.readyBodies(5).map((b) => ({ upload_id: b.upload_id, result: { kind: 'delivered' } }))));
  t.false(existsSync(marker));
  t.deepEqual(packFiles(stateDir), []);
});

test('readQueue never creates files and refuses mutations', async (t) => {
  const stateDir = tmpState(t);
  t.is(await readQueue({ stateDir }, (q) => q.hasPending()), false);
  t.false(existsSync(stateDir));
  await t.throwsAsync(
    readQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md')], CTX)),
    { message: /read-only/ },
  );
  t.false(existsSync(stateDir));
});

test('packs: kept while any task of them is pending, deleted with the last; leftovers of dead writers swept', async (t) => {
  const stateDir = tmpState(t);
  const a = artifact('spec.md', 'same');
  const b = artifact('research/copy.md', 'same');
  await withQueue({ stateDir }, (q) => q.enqueue([a, b], CTX));
  t.is(packFiles(stateDir).length, 1);
  // A temporary spool of a writer that is gone (pid 1's start time never matches this name).
  const deadTemp = path.join(stateDir, 'spool', '.tmp-01ARZ3NDEKTSV4RRFFQ69G5FAV.ksp.1.0');
  writeFileSync(deadTemp, 'partial');
  // One of the two tasks delivered: the pack is still needed.
  const [first] = await readQueue({ stateDir }, (q) => q.readyBodies(1));
  await withQueue({ stateDir }, (q) => q.applyBodyResults([{ upload_id: first.upload_id, result: { kind: 'delivered' } }]));
  t.is(packFiles(stateDir).length, 1);
  t.false(existsSync(deadTemp));
  const [second] = await readQueue({ stateDir }, (q) => q.readyBodies(1));
  await withQueue({ stateDir }, (q) => q.applyEventResults(q.readyEvents(5).map((e) => ({ event_id: e.event_id, result: { kind: 'delivered' } }))));
  await withQueue({ stateDir }, (q) => q.applyBodyResults([{ upload_id: second.upload_id, result: { kind: 'delivered' } }]));
  t.deepEqual(packFiles(stateDir), []);
  t.is(await readBody(stateDir, a.content_hash), null);
  // The dead pack's row goes once its file is gone (a later save), so the packs table stays small.
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('plan.md')], CTX));
  t.is(await readQueue({ stateDir }, (q) => q.packNames().size), 1);
});

test('lamport clock and enqueue order persist across opens', async (t) => {
  const stateDir = tmpState(t);
  for (const p of ['a.md', 'b.md', 'c.md']) await withQueue({ stateDir }, (q) => q.enqueue([artifact(`research/${p}`)], CTX));
  const events = await readQueue({ stateDir }, (q) => q.readyEvents(10));
  t.deepEqual(
    events.map((e) => e.envelope.lamport_clock),
    [1, 2, 3],
  );
  t.is(new Set(events.map((e) => e.envelope.node_id)).size, 1);
});

test('every save writes the whole database, whether its file stayed in place (saved from the bytes it was read from), grew or shrank', async (t) => {
  const stateDir = tmpState(t);
  const SQL = await openSqlJs();
  const check = async (expected: number, step: string) => {
    const db = new SQL.Database(readFileSync(dbPath(stateDir)));
    t.deepEqual(db.exec('PRAGMA integrity_check')[0].values, [['ok']], step);
    db.close();
    t.is((await readQueue({ stateDir }, (q) => q.readyBodies(10_000, { force: true }))).length, expected, step);
  };
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('research/first.md')], CTX));
  await check(1, 'created');
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('research/second.md')], CTX));
  await check(2, 'a small merge: in place');
  const many = Array.from({ length: 600 }, (_, i) => artifact(`research/many-${i}-${'x'.repeat(2000)}.md`, `body ${i}`));
  await withQueue({ stateDir }, (q) => q.enqueue(many, CTX));
  await check(602, 'a large merge: the file grew');
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('research/third.md')], CTX));
  await check(603, 'in place again');
  await withQueue({ stateDir }, (q) => {
    const events = q.readyEvents(10_000, { force: true });
    q.applyEventResults(events.map((e) => ({ event_id: e.event_id, seq: e.seq, result: { kind: 'delivered' as const } })));
    const bodies = q.readyBodies(10_000, { force: true }).filter((b) => b.artifact_path.startsWith('research/many-'));
    q.applyBodyResults(bodies.map((b) => ({ upload_id: b.upload_id, result: { kind: 'delivered' as const } })));
  });
  await check(3, 'most of it delivered: the file shrank');
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('research/fourth.md')], CTX));
  await check(4, 'in place after the shrink');
});

for (const [name, corrupt] of [
  ['a garbage file', (file: string) => writeFileSync(file, 'this is not a database at all, just some text '.repeat(100))],
  ['a truncated file', (file: string) => writeFileSync(file, readFileSync(file).subarray(0, Math.floor(statSync(file).size / 2) + 100))],
  ['a zero-length file', (file: string) => writeFileSync(file, '')],
  ['a file cut at a page boundary', (file: string) => writeFileSync(file, readFileSync(file).subarray(0, 4096 * 2))],
] as const) {
  test(`corrupt queue (${name}) is moved aside once, a fresh queue starts, the operation succeeds`, async (t) => {
    const stateDir = tmpState(t);
    await withQueue({ stateDir }, (q) =>
      q.enqueue(
        ['a', 'b', 'c', 'd', 'e', 'f'].map((p) => artifact(`research/${p}.md`, p.repeat(3000))),
        CTX,
      ),
    );
    corrupt(dbPath(stateDir));
    const notices: string[] = [];
    // A read-only view tells but moves nothing.
    const seen = await readQueue({ stateDir, onNotice: (m) => notices.push(m) }, (q) => q.stats());
    // The queue file is unreadable, but the captured work is still in its pack: counted as pending.
    t.like(seen, { pending: 6, spools_unmerged: 1 });
    t.is(notices.length, 1);
    t.regex(notices[0], /will be moved aside/);
    notices.length = 0;
    const res = await withQueue({ stateDir, onNotice: (m) => notices.push(m) }, (q) => q.enqueue([artifact('spec.md')], CTX));
    t.is(res.added, 1);
    t.is(notices.length, 1);
    const aside = readdirSync(stateDir).filter((f) => f.startsWith('queue.sqlite.corrupt-'));
    t.is(aside.length, 1);
    t.true(notices[0].includes(dbPath(stateDir)));
    t.true(notices[0].includes(path.join(stateDir, aside[0])));
    // The work of the lost queue is still in its pack: the fresh queue merged it again.
    t.is((await readQueue({ stateDir, onNotice: (m) => notices.push(m) }, (q) => q.stats())).pending, 7);
    t.is(notices.length, 1, 'told once');
  });
}

test('a database from a newer kitty-sync is not thrown away', async (t) => {
  const stateDir = tmpState(t);
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md')], CTX));
  const SQL = await openSqlJs();
  const db = new SQL.Database(readFileSync(dbPath(stateDir)));
  db.run("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
  writeFileSync(dbPath(stateDir), db.export());
  db.close();
  await t.throwsAsync(
    withQueue({ stateDir }, (q) => q.stats()),
    { message: /newer than this kitty-sync understands/ },
  );
  t.true(existsSync(dbPath(stateDir)));
});

test('migrates a version-1 queue to the current schema without losing work', async (t) => {
  const stateDir = tmpState(t);
  const db = await v1Database({ lamport_clock: '7', node_id: 'NODE1', enqueue_seq: '3' });
  const a = artifact('spec.md', 'v1 spec', namespace('001-alpha', 'feature/x'));
  const b = artifact('plan.md', 'v1 plan');
  const envelope = (x: typeof a, lamport: number) => ({
    event_id: `01HEVENT${lamport}`.padEnd(26, '0'),
    event_type: 'MissionDossierArtifactIndexed',
    aggregate_id: `${x.namespace.feature_slug}:${x.artifact_key}`,
    aggregate_type: 'MissionDossier',
    payload: {
      feature_slug: x.namespace.feature_slug,
      artifact_key: x.artifact_key,
      artifact_class: x.artifact_class,
      relative_path: x.artifact_path,
      content_hash_sha256: x.content_hash,
      size_bytes: x.size_bytes,
      wp_id: null,
      step_id: null,
      required_status: x.required_status,
      namespace: x.namespace,
    },
    node_id: 'NODE1',
    lamport_clock: lamport,
    causation_id: null,
    timestamp: new Date(1_700_000_000_000).toISOString(),
    project_uuid: x.namespace.project_uuid,
    project_slug: 'demo',
    git_branch: 'main',
    head_commit_sha: 'b'.repeat(40),
    repo_slug: 'acme/demo',
  });
  const ns = (x: typeof a) => [x.namespace.project_uuid, x.namespace.feature_slug, x.namespace.target_branch, x.namespace.mission_key, x.namespace.manifest_version];
  const ea = envelope(a, 6);
  db.run('INSERT INTO body_tasks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)', ['U1', ...ns(a), 'spec.md', a.content_hash, 'sha256', a.size_bytes, ea.event_id, 1_700_000_000_000, 2, 1_700_000_004_000, 'http_503']);
  db.run('INSERT INTO index_events VALUES (?,?,?,?,?,?,?,?)', [ea.event_id, a.namespace.feature_slug, 'spec.md', JSON.stringify(ea), 1_700_000_000_000, 0, 1_700_000_000_000, null]);
  // An event whose body task was already delivered, and a dead letter.
  const eb = envelope(b, 7);
  db.run('INSERT INTO index_events VALUES (?,?,?,?,?,?,?,?)', [eb.event_id, b.namespace.feature_slug, 'plan.md', JSON.stringify(eb), 1_700_000_000_001, 1, 1_700_000_000_001, 'http_500']);
  db.run('INSERT INTO dead_letters VALUES (?,?,?,?,?,?)', [
    'D1',
    'body',
    'U0',
    JSON.stringify({ namespace: b.namespace, artifact_path: 'tasks.md', content_hash: sha256('t'), retry_count: 4 }),
    'http_400',
    1_699_999_999_000,
  ]);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(dbPath(stateDir), db.export());
  db.close();

  const c = clock(1_700_000_010_000);
  const got = await withQueue({ stateDir, now: c.now }, (q) => ({ stats: q.stats(), bodies: q.readyBodies(10, { force: true }), events: q.readyEvents(10, { force: true }), dead: q.deadLetters() }));
  t.like(got.stats, { pending: 1, events_pending: 2, failed: 1 });
  t.like(got.bodies[0], { artifact_path: 'spec.md', content_hash: a.content_hash, retry_count: 2, last_error: 'http_503', created_at: 1_700_000_000_000 });
  t.deepEqual(got.bodies[0].namespace, a.namespace);
  t.deepEqual(
    got.events.map((e) => [indexed(e).payload.relative_path, e.envelope.lamport_clock, indexed(e).payload.content_hash_sha256]),
    [
      ['spec.md', 6, a.content_hash],
      ['plan.md', 7, b.content_hash],
    ],
  );
  t.is(got.events[0].envelope.head_commit_sha, 'b'.repeat(40));
  t.like(got.dead[0], { id: 'D1', artifact_path: 'tasks.md', reason: 'http_400', retry_count: 4 });

  // Saved as the current version; the clock continues from the migrated value.
  await withQueue({ stateDir, now: c.now }, (q) => q.enqueue([artifact('research/new.md')], CTX));
  const SQL2 = await openSqlJs();
  const after = new SQL2.Database(readFileSync(dbPath(stateDir)));
  t.is(String(after.exec("SELECT value FROM meta WHERE key = 'schema_version'")[0].values[0][0]), String(SCHEMA_VERSION));
  after.close();
  const events = await readQueue({ stateDir }, (q) => q.readyEvents(10, { force: true }));
  t.is(events.at(-1)!.envelope.lamport_clock, 8);
});

test('a save removes temp files left by saves that were killed before their rename', async (t) => {
  const stateDir = tmpState(t);
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md')], CTX));
  const dead = path.join(stateDir, 'queue.sqlite.tmp-12345-abc');
  writeFileSync(dead, 'half a database');
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('plan.md')], CTX));
  t.false(existsSync(dead));
  t.is(await readQueue({ stateDir }, (q) => q.stats().pending), 2);
});

test('a pack that cannot be written: the enqueue fails, no row is saved, nothing is left running', async (t) => {
  const stateDir = tmpState(t);
  const spec = artifact('spec.md', '# Spec\n');
  const plan = artifact('plan.md', '# Plan\n');
  await withQueue({ stateDir }, (q) => q.enqueue([plan], CTX));
  const before = readFileSync(dbPath(stateDir));
  await t.throwsAsync(
    withQueue({ stateDir }, async (q) => {
      q.enqueue([spec], CTX);
      // A directory where the new pack's name belongs: its rename into place fails (also for root).
      const name = q.packNames();
      const mine = [...name.keys()].find((n) => !packFiles(stateDir).includes(n))!;
      mkdirSync(path.join(stateDir, 'spool', mine));
      writeFileSync(path.join(stateDir, 'spool', mine, 'x'), 'occupied');
      return q.stats();
    }),
    { message: /ENOTEMPTY|EISDIR|EEXIST/ },
  );
  t.deepEqual(readFileSync(dbPath(stateDir)), before);
  t.deepEqual(await readQueue({ stateDir }, (q) => q.readyBodies(10).map((b) => b.artifact_path)), ['plan.md']);
});

test('what an enqueue added is readable in the same session, before its pack is on disk', async (t) => {
  const stateDir = tmpState(t);
  const spec = artifact('spec.md', '# Spec\n');
  const seen = await withQueue({ stateDir }, (q) => {
    q.enqueue([spec], CTX);
    const [b] = q.readyBodies(5);
    return { events: q.readyEvents(5).map((e) => indexed(e).payload.relative_path), body: q.bodyOf(b)?.toString() };
  });
  t.deepEqual(seen, { events: ['spec.md'], body: '# Spec\n' });
  t.is(await readQueue({ stateDir }, (q) => q.stats().events_pending), 1, 'and nothing was dead-lettered for it');
});

test('delivering every queued event empties the events table at once; an event queued, in backoff or superseding one meanwhile stays', async (t) => {
  const files = (n: number, v = 'a') => Array.from({ length: n }, (_, i) => artifact(`doc-${i}.md`, `${v} ${i}`));
  const deliverAll = (q: Parameters<Parameters<typeof withQueue>[1]>[0], events: { event_id: string; seq: number }[]) =>
    q.applyEventResults(events.map((e) => ({ event_id: e.event_id, seq: e.seq, result: { kind: 'delivered' as const } })));
  const left = (stateDir: string) =>
    readQueue({ stateDir }, (q) =>
      q.readyEvents(100, { force: true }).map((e) => e.envelope.payload.feature_slug + ':' + ('relative_path' in e.envelope.payload ? e.envelope.payload.relative_path : 'snapshot')),
    );

  // Everything delivered: no event left, the bodies are ready, and the pack goes once they are delivered.
  const all = tmpState(t);
  await withQueue({ stateDir: all }, (q) => q.enqueue(files(40), CTX));
  await withQueue({ stateDir: all }, (q) => deliverAll(q, q.readyEvents(100)));
  t.deepEqual(await left(all), []);
  t.like(await readQueue({ stateDir: all }, (q) => q.stats()), { pending: 40, ready: 40, events_pending: 0 });
  await withQueue({ stateDir: all }, (q) => q.applyBodyResults(q.readyBodies(100).map((b) => ({ upload_id: b.upload_id, result: { kind: 'delivered' } }))));
  t.deepEqual(packFiles(all), []);

  // An event queued after the read, and one in backoff (not read): both stay.
  const more = tmpState(t);
  await withQueue({ stateDir: more }, (q) => q.enqueue([artifact('late.md', 'backoff')], CTX));
  await withQueue({ stateDir: more }, (q) => q.applyEventResults(q.readyEvents(5).map((e) => ({ event_id: e.event_id, seq: e.seq, result: { kind: 'retry' as const, error: 'http_503' } }))));
  await withQueue({ stateDir: more }, (q) => q.enqueue(files(40), CTX));
  await withQueue({ stateDir: more }, (q) => {
    const read = q.readyEvents(100);
    q.enqueue([artifact('new.md', 'queued meanwhile')], CTX);
    deliverAll(q, read);
  });
  t.deepEqual((await left(more)).sort(), ['001-alpha:late.md', '001-alpha:new.md'].sort());

  // A newer version of a file replaced its event after the read: the newer event stays.
  const newer = tmpState(t);
  await withQueue({ stateDir: newer }, (q) => q.enqueue(files(40), CTX));
  await withQueue({ stateDir: newer }, (q) => {
    const read = q.readyEvents(100);
    q.enqueue([artifact('doc-7.md', 'b 7')], CTX);
    deliverAll(q, read);
  });
  t.deepEqual(await left(newer), ['001-alpha:doc-7.md']);
  const [kept] = await readQueue({ stateDir: newer }, (q) => q.readyEvents(5, { force: true }));
  t.true(kept.envelope.event_type === 'MissionDossierArtifactIndexed' && kept.envelope.payload.content_hash_sha256 === artifact('doc-7.md', 'b 7').content_hash, 'the newer version');
});

test('ready work is read back exactly as stored: a non-ASCII path, an error with quotes and a newline, a body with and one without its Git blob id', async (t) => {
  const stateDir = tmpState(t);
  const c = clock();
  const opts = { stateDir, now: c.now };
  const oid = 'b'.repeat(40);
  const named = { ...artifact('Entwürfe/día "1".md', 'ü'), object_id: oid };
  const plain = artifact('plain.md', 'p');
  await withQueue(opts, (q) => q.enqueue([named, plain], CTX));
  const error = 'http_500: "bad"\nsecond line \\ end';
  await withQueue(opts, (q) => {
    const [first, second] = q.readyEvents(10);
    q.applyEventResults([
      { event_id: first.event_id, seq: first.seq, result: { kind: 'retry', error } },
      { event_id: second.event_id, seq: second.seq, result: { kind: 'delivered' } },
    ]);
  });
  c.advance(60 * 60_000);
  const { events, bodies } = await readQueue(opts, (q) => ({ events: q.readyEvents(10), bodies: q.readyBodies(10) }));
  t.like(events[0], { retry_count: 1, last_error: error });
  t.true(events[0].envelope.event_type === 'MissionDossierArtifactIndexed' && events[0].envelope.payload.relative_path === named.artifact_path);
  t.deepEqual(
    bodies.map((b) => [b.artifact_path, b.content_hash, b.size_bytes, b.oid, b.event_id === null]),
    [
      [named.artifact_path, named.content_hash, named.size_bytes, oid, false],
      [plain.artifact_path, plain.content_hash, plain.size_bytes, null, true],
    ],
  );
  t.deepEqual(bodies[0].namespace, named.namespace);
  t.regex(bodies[0].pack ?? '', /\.ksp$/);
});

test('delivered bodies are removed together; a newer version queued meanwhile, and an id this queue never gave, are left alone', async (t) => {
  const stateDir = tmpState(t);
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md', 'v1'), artifact('plan.md', 'p'), artifact('tasks.md', 't')], CTX));
  await withQueue({ stateDir }, (q) => q.applyEventResults(q.readyEvents(10).map((e) => ({ event_id: e.event_id, seq: e.seq, result: { kind: 'delivered' as const } }))));
  await withQueue({ stateDir }, (q) => {
    const read = q.readyBodies(10);
    q.enqueue([artifact('spec.md', 'v2')], CTX);
    q.applyBodyResults([...read.map((b) => ({ upload_id: b.upload_id, result: { kind: 'delivered' as const } })), { upload_id: '01ZZZZZZZZZZZZZZZZZZZZZZZZ', result: { kind: 'delivered' as const } }]);
  });
  const left = await readQueue({ stateDir }, (q) => q.readyBodies(10, { force: true }));
  t.deepEqual(
    left.map((b) => [b.artifact_path, b.content_hash]),
    [['spec.md', artifact('spec.md', 'v2').content_hash]],
  );
  t.is(packFiles(stateDir).length, 1, 'only the newer version still refers to a pack');
});

test('results read from a queue that was since replaced (its seqs reused by other work) remove nothing', async (t) => {
  const stateDir = tmpState(t);
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md', 'old'), artifact('plan.md', 'old')], CTX));
  const old = await readQueue({ stateDir }, (q) => ({ events: q.readyEvents(10), bodies: q.readyBodies(10, { force: true }) }));
  rmSync(stateDir, { recursive: true, force: true });
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('tasks.md', 'new'), artifact('research.md', 'new')], CTX));
  await withQueue({ stateDir }, (q) => {
    q.applyEventResults(old.events.map((e) => ({ event_id: e.event_id, seq: e.seq, result: { kind: 'delivered' as const } })));
    q.applyBodyResults(old.bodies.map((b) => ({ upload_id: b.upload_id, result: { kind: 'delivered' as const } })));
  });
  const now = await readQueue({ stateDir }, (q) => ({ events: q.readyEvents(10, { force: true }), bodies: q.readyBodies(10, { force: true }) }));
  t.deepEqual(
    now.events.map((e) => e.seq),
    old.events.map((e) => e.seq),
    'the same seqs, other events: all still queued',
  );
  t.deepEqual(now.bodies.map((b) => b.artifact_path).sort(), ['research.md', 'tasks.md']);
});
