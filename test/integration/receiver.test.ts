import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { FaultInjector, parseLatency } from '../../server/faults.js';
import { artifactPathProblem } from '../../lib/contract/namespace.js';
import { Transport } from '../../lib/delivery/transport.js';
import type { IndexEvent, NamespaceRef } from '../../lib/types.js';
import { indexEvent, pushRequest, sha256, spawnReceiver, startTestReceiver, testNamespace, type TestReceiver } from '../support/receiver.js';

const PUSH = '/api/dossier/push-content/';
const EVENTS = '/api/v1/events/batch/';

type Teardown = { teardown(fn: () => unknown): void };

async function receiver(t: Teardown, opts: Parameters<typeof startTestReceiver>[0] = {}): Promise<TestReceiver> {
  const r = await startTestReceiver(opts);
  t.teardown(() => r.close());
  return r;
}

/** Raw POST with the platform fetch (independent of lib/transport.ts). */
async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const payload = typeof body === 'string' ? body : body instanceof Uint8Array ? new Uint8Array(body) : JSON.stringify(body);
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: payload });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function sendEvents(url: string, events: unknown[], headers: Record<string, string> = {}) {
  return post(`${url}${EVENTS}`, gzipSync(JSON.stringify({ events })), { 'Content-Encoding': 'gzip', ...headers });
}

/** A receiver with `spec.md` of a fresh namespace indexed. */
async function indexed(t: Teardown, opts: Parameters<typeof startTestReceiver>[0] = {}) {
  const r = await receiver(t, opts);
  const ns = testNamespace();
  const res = await sendEvents(r.url, [indexEvent(ns, 'spec.md', 'x')], opts.token ? { Authorization: `Bearer ${opts.token}` } : {});
  if (res.status !== 200) throw new Error(`indexing: ${res.status}`);
  return { r, ns };
}

// ---- push-content validation ----

test('push-content: invalid bodies are 400 with a specific error', async (t) => {
  const { r, ns } = await indexed(t);
  const good = pushRequest(ns, 'spec.md', '# hi\n');
  const cases: [string, unknown, string][] = [
    ['not json', '{oops', 'invalid_json'],
    ['array', [good], 'invalid_json'],
    ['path traversal', { ...good, artifact_path: '../other/spec.md' }, 'invalid_artifact_path'],
    ['inner traversal', { ...good, artifact_path: 'research/../../x.md' }, 'invalid_artifact_path'],
    ['absolute path', { ...good, artifact_path: '/etc/passwd' }, 'invalid_artifact_path'],
    ['backslash', { ...good, artifact_path: 'research\\a.md' }, 'invalid_artifact_path'],
    ['empty path', { ...good, artifact_path: '' }, 'invalid_artifact_path'],
    ['hash mismatch', { ...good, content_hash: sha256('other') }, 'content_hash_mismatch'],
    ['uppercase hash', { ...good, content_hash: good.content_hash.toUpperCase() }, 'invalid_content_hash'],
    ['hash algorithm', { ...good, hash_algorithm: 'md5' }, 'unsupported_hash_algorithm'],
    ['uuid without dashes', { ...good, project_uuid: good.project_uuid.replaceAll('-', '') }, 'invalid_namespace'],
    ['hidden slug', { ...good, feature_slug: '.git' }, 'invalid_namespace'],
    ['slug with a slash', { ...good, feature_slug: 'a/b' }, 'invalid_namespace'],
    ['mission_slug differs', { ...good, mission_slug: 'research' }, 'invalid_mission_slug'],
    ['empty branch', { ...good, target_branch: '' }, 'invalid_namespace'],
    ['missing manifest_version', { ...good, manifest_version: undefined }, 'invalid_namespace'],
    ['body not a string', { ...good, content_body: 42 }, 'invalid_content_body'],
  ];
  for (const [name, body, error] of cases) {
    const res = await post(`${r.url}${PUSH}`, body);
    t.is(res.status, 400, name);
    t.is(res.json.error, error, name);
    t.is(typeof res.json.detail, 'string', name);
  }
  t.is(r.stats().stored, 0);
  t.is(r.stats().client_errors, cases.length);
});

test('push-content: content over 512 KiB is 413; exactly 512 KiB is stored', async (t) => {
  const { r, ns } = await indexed(t);
  const limit = 'é'.repeat(262_144); // 524,288 UTF-8 bytes
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', limit))).status, 201);
  const over = await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', `${limit}x`));
  t.is(over.status, 413);
  t.is(over.json.error, 'content_too_large');
  const huge = await post(`${r.url}${PUSH}`, 'x'.repeat(5 * 1024 * 1024));
  t.is(huge.status, 413);
  t.is(huge.json.error, 'request_too_large');
});

test('push-content: namespace_not_found (unknown project), index_entry_not_found, stored, already_exists; answers echo the artifact', async (t) => {
  const { r, ns } = await indexed(t);
  // A project becomes known with its first accepted event; only an unknown project is namespace_not_found.
  const unknownProject = await post(`${r.url}${PUSH}`, pushRequest(testNamespace(), 'spec.md', 'x'));
  t.is(unknownProject.status, 404);
  t.is(unknownProject.json.error, 'namespace_not_found');
  // A known project's namespace whose events have not arrived yet: retryable, never a permanent failure.
  const unseenNamespace = await post(`${r.url}${PUSH}`, pushRequest({ ...ns, mission_key: 'research' }, 'spec.md', 'x'));
  t.deepEqual([unseenNamespace.status, unseenNamespace.json.error], [404, 'index_entry_not_found']);
  const notIndexed = await post(`${r.url}${PUSH}`, pushRequest(ns, 'plan.md', 'x'));
  t.deepEqual([notIndexed.status, notIndexed.json.error], [404, 'index_entry_not_found']);
  const stored = await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'x'));
  t.deepEqual([stored.status, stored.json], [201, { status: 'stored', artifact_path: 'spec.md', content_hash: sha256('x') }]);
  const again = await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'x'));
  t.deepEqual([again.status, again.json], [200, { status: 'already_exists', artifact_path: 'spec.md', content_hash: sha256('x') }]);
  const s = r.stats();
  t.like(s, { stored: 1, already_exists: 1, namespace_not_found: 1, index_entry_not_found: 2 });
  t.is(s.requests.push_content, 5);
  t.is(s.requests.events, 1);
});

test('current content follows the index, not body arrival: a late older upload never replaces the newer one', async (t) => {
  const r = await receiver(t);
  const ns = testNamespace();
  const v1 = indexEvent(ns, 'spec.md', 'v1');
  const v2 = indexEvent(ns, 'spec.md', 'v2');
  t.true(v2.lamport_clock > v1.lamport_clock);
  await sendEvents(r.url, [v1, v2]);
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'v2'))).status, 201);
  // v1's upload was slow: it finishes after v2's. It is kept as history, but v2 stays current.
  const late = await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'v1'));
  t.deepEqual([late.status, late.json.status], [201, 'stored']);
  t.is(await r.latestContent(ns, 'spec.md'), 'v2');
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'v1'))).json.status, 'already_exists', 'a retry of the late upload adds nothing');
  const [rec] = r.artifacts();
  t.deepEqual(
    rec.versions.map((v) => [v.content_hash, v.current]),
    [
      [sha256('v2'), true],
      [sha256('v1'), false],
    ],
  );
  // Events too may arrive out of order (a retried batch): one node's lamport clock orders them.
  const other = testNamespace();
  const o1 = indexEvent(other, 'plan.md', 'o1');
  const o2 = indexEvent(other, 'plan.md', 'o2');
  await sendEvents(r.url, [o2]);
  await sendEvents(r.url, [o1]);
  await post(`${r.url}${PUSH}`, pushRequest(other, 'plan.md', 'o2'));
  await post(`${r.url}${PUSH}`, pushRequest(other, 'plan.md', 'o1'));
  t.is(await r.latestContent(other, 'plan.md'), 'o2');
  t.is(r.receiver.artifact(other, 'plan.md')?.index_hash, sha256('o2'));
  // A revert (v1's content indexed again by a newer event) makes it current again.
  await sendEvents(r.url, [indexEvent(ns, 'spec.md', 'v1')]);
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'v1'))).status, 201);
  t.is(await r.latestContent(ns, 'spec.md'), 'v1');
});

test('namespaces are isolated: two features and two target branches never overwrite each other', async (t) => {
  const r = await receiver(t);
  const a = testNamespace({ feature_slug: '001-a' });
  const b = { ...a, feature_slug: '002-b' };
  const c = { ...a, target_branch: 'feature/x' };
  await sendEvents(
    r.url,
    [a, b, c].map((ns) => indexEvent(ns, 'spec.md', '')),
  );
  for (const [ns, text] of [
    [a, 'A'],
    [b, 'B'],
    [c, 'C'],
  ] as [NamespaceRef, string][]) {
    t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', text))).status, 201);
  }
  t.is(await r.latestContent(a, 'spec.md'), 'A');
  t.is(await r.latestContent(b, 'spec.md'), 'B');
  t.is(await r.latestContent(c, 'spec.md'), 'C');
});

test('versions: history in arrival order; a revert to older content becomes latest again', async (t) => {
  const { r, ns } = await indexed(t);
  for (const text of ['v1', 'v2', 'v1']) t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', text))).status, 201);
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'v1'))).status, 200);
  const [rec] = r.artifacts();
  t.deepEqual(
    rec.versions.map((v) => v.content_hash),
    [sha256('v1'), sha256('v2'), sha256('v1')],
  );
  t.is(rec.latest_hash, sha256('v1'));
  t.true(rec.versions[0].seq < rec.versions[1].seq && rec.versions[1].seq < rec.versions[2].seq);
});

test('concurrent pushes of the same content: one stored, the rest already_exists', async (t) => {
  const { r, ns } = await indexed(t);
  const statuses = await Promise.all(Array.from({ length: 8 }, () => post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'same'))));
  t.deepEqual(statuses.map((s) => s.status).sort(), [200, 200, 200, 200, 200, 200, 200, 201]);
  t.is(r.artifacts()[0].versions.length, 1);
});

// ---- events validation ----

test('events: gzip is required; bad gzip, bad JSON and a missing list are 400', async (t) => {
  const r = await receiver(t);
  const plain = await post(`${r.url}${EVENTS}`, { events: [] });
  t.deepEqual([plain.status, plain.json.error], [400, 'gzip_required']);
  const badGzip = await post(`${r.url}${EVENTS}`, 'not gzip', { 'Content-Encoding': 'gzip' });
  t.deepEqual([badGzip.status, badGzip.json.error], [400, 'invalid_gzip']);
  const badJson = await post(`${r.url}${EVENTS}`, gzipSync('{'), { 'Content-Encoding': 'gzip' });
  t.deepEqual([badJson.status, badJson.json.error], [400, 'invalid_json']);
  const noList = await post(`${r.url}${EVENTS}`, gzipSync('{"event":[]}'), { 'Content-Encoding': 'gzip' });
  t.deepEqual([noList.status, noList.json.error], [400, 'invalid_batch']);
  const brotli = await post(`${r.url}${EVENTS}`, 'x', { 'Content-Encoding': 'br' });
  t.is(brotli.status, 415);
});

test('events: each envelope is validated; duplicates by event_id; rejected ones do not index', async (t) => {
  const r = await receiver(t);
  const ns = testNamespace();
  const good = indexEvent(ns, 'spec.md', 'a');
  const mutate = (f: (e: IndexEvent) => void): IndexEvent => {
    const e = structuredClone(indexEvent(ns, 'plan.md', 'p'));
    f(e);
    return e;
  };
  const bad: [IndexEvent, RegExp][] = [
    [mutate((e) => ((e as { event_type: string }).event_type = 'SomethingElse')), /unsupported event_type/],
    [mutate((e) => (e.event_id = 'not-a-ulid')), /event_id must be a ULID/],
    [mutate((e) => (e.payload.namespace.project_uuid = 'nope')), /project_uuid/],
    [mutate((e) => (e.payload.relative_path = '/abs.md')), /relative_path must be relative/],
    [mutate((e) => (e.payload.content_hash_sha256 = 'abc')), /content_hash_sha256/],
    [mutate((e) => ((e.payload as { required_status: string }).required_status = 'maybe')), /required_status/],
    [mutate((e) => (e.aggregate_id = 'x')), /aggregate_id/],
    [mutate((e) => (e.payload.feature_slug = '999-other')), /feature_slug differs/],
    [mutate((e) => (e.lamport_clock = -1)), /lamport_clock/],
  ];
  const res = await sendEvents(r.url, [good, ...bad.map(([e]) => e), good]);
  t.is(res.status, 200);
  const results = res.json.results as { event_id: string; status: string; error?: string }[];
  t.is(results.length, bad.length + 2);
  t.deepEqual(results[0], { event_id: good.event_id, status: 'success' });
  bad.forEach(([, re], i) => {
    t.is(results[i + 1].status, 'rejected');
    t.regex(results[i + 1].error ?? '', re);
  });
  t.deepEqual(results[bad.length + 1], { event_id: good.event_id, status: 'duplicate' });
  t.like(r.stats().events, { success: 1, duplicate: 1, rejected: bad.length });
  // plan.md only appeared in rejected events: not indexed.
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'plan.md', 'p'))).json.error, 'index_entry_not_found');
});

test('events: a large batch is applied in parts with other requests let in between, and answered in its own order', async (t) => {
  const r = await receiver(t);
  const ns = testNamespace();
  // What the store is asked to apply, and whether the event loop turned between two parts.
  const log: string[] = [];
  const store = r.receiver.store;
  const record = store.recordEvents.bind(store);
  store.recordEvents = (events, now) => {
    log.push(`part ${events.length}`);
    setImmediate(() => log.push('turn'));
    return record(events, now);
  };
  const sent = Array.from({ length: 130 }, (_, k) => {
    const e = indexEvent(ns, `doc-${k}.md`, `body ${k}`);
    // Every 7th is refused before the store sees it: its answer must still sit at its own place.
    if (k % 7 === 3) e.payload.relative_path = `/abs-${k}.md`;
    return e;
  });
  sent[100] = sent[0]; // a repeat: a duplicate, found in an earlier part
  const res = await sendEvents(r.url, sent);
  t.is(res.status, 200);
  const results = res.json.results as { event_id: string; status: string }[];
  t.deepEqual(
    results.map((x) => x.event_id),
    sent.map((e) => e.event_id),
  );
  sent.forEach((_, k) => t.is(results[k].status, k === 100 ? 'duplicate' : k % 7 === 3 ? 'rejected' : 'success', `event ${k}`));
  const parts = log.filter((l) => l.startsWith('part'));
  t.true(parts.length >= 2, log.join(', '));
  t.true(
    parts.every((p) => Number(p.split(' ')[1]) <= 50),
    log.join(', '),
  );
  // Before every part but the first, the event loop turned (other connections' requests run there).
  log.forEach((l, i) => {
    if (l.startsWith('part') && i > 0) t.is(log[i - 1], 'turn', log.join(', '));
  });
  // The last part was applied too: its documents are indexed.
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'doc-128.md', 'body 128'))).status, 201);
});

test('index lag: an entry is not_found until the lag has passed, then accepted', async (t) => {
  const r = await receiver(t, { faults: { indexLagMs: 60_000 } });
  const ns = testNamespace();
  await sendEvents(r.url, [indexEvent(ns, 'spec.md', 'x')]);
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'x'))).json.error, 'index_entry_not_found');
  // Visibility is "event arrival + lag" at request time, so a shorter lag applies to the waiting entry.
  r.setFaults({ indexLagMs: 150 });
  let status = 404;
  for (let i = 0; i < 250 && status === 404; i++) {
    await new Promise((res) => setTimeout(res, 20));
    status = (await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'x'))).status;
  }
  t.is(status, 201);
});

// ---- token, routes ----

test('token: API and data endpoints need it; /__stats does not', async (t) => {
  const token = 'serve-token-xyz';
  const { r, ns } = await indexed(t, { token });
  const body = pushRequest(ns, 'spec.md', 'x');
  t.is((await post(`${r.url}${PUSH}`, body)).status, 401);
  t.is((await post(`${r.url}${PUSH}`, body, { Authorization: 'Bearer wrong' })).status, 401);
  t.is((await post(`${r.url}${PUSH}`, body, { Authorization: token })).status, 401);
  t.is((await sendEvents(r.url, [])).status, 401);
  t.is((await post(`${r.url}${PUSH}`, body, { Authorization: `Bearer ${token}` })).status, 201);
  t.is((await fetch(`${r.url}/__artifacts`)).status, 401);
  t.is((await fetch(`${r.url}/__artifacts`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
  t.is((await fetch(`${r.url}/__stats`)).status, 200);
  t.is(r.stats().unauthorized, 5);
});

test('unknown routes are 404 not_found; wrong methods 405', async (t) => {
  const r = await receiver(t);
  const res = await post(`${r.url}/api/nothing/`, {});
  t.deepEqual([res.status, res.json.error], [404, 'not_found']);
  t.is((await fetch(`${r.url}${PUSH}`)).status, 405);
  t.is(r.stats().requests.other, 1);
});

test('admin endpoints: /__artifacts, /__blobs, /__faults', async (t) => {
  const { r, ns } = await indexed(t);
  await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'blob text'));
  const list = (await (await fetch(`${r.url}/__artifacts`)).json()) as { artifacts: { artifact_path: string; latest_hash: string }[]; index_entries: number };
  t.is(list.artifacts[0].artifact_path, 'spec.md');
  t.is(list.index_entries, 1);
  t.is(await (await fetch(`${r.url}/__blobs/${sha256('blob text')}`)).text(), 'blob text');
  t.is((await fetch(`${r.url}/__blobs/${sha256('nothing')}`)).status, 404);
  const set = await post(`${r.url}/__faults`, { failFirst: 1, failStatus: 502 });
  t.is(set.status, 200);
  t.is(set.json.failStatus, 502);
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'y'))).status, 502);
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'y'))).status, 201);
  t.is((await post(`${r.url}/__faults`, { failRate: 2 })).status, 400);
  t.is((await post(`${r.url}/__faults`, { bogus: true })).status, 400);
  t.is((await post(`${r.url}/__faults`, { reset: true })).json.failStatus, 503);
  t.is(r.stats().faults.fail, 1);
});

test('faults can be limited to one endpoint', async (t) => {
  const r = await receiver(t, { faults: { failRate: 1, failStatus: 500, endpoints: ['push-content'] } });
  const ns = testNamespace();
  t.is((await sendEvents(r.url, [indexEvent(ns, 'spec.md', 'x')])).status, 200);
  t.is((await post(`${r.url}${PUSH}`, pushRequest(ns, 'spec.md', 'x'))).status, 500);
});

// ---- persistence ----

test('a restart keeps the index, seen events, projects and every stored version (SQLite in --data, WAL)', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ks-persist-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const ns = testNamespace();
  const ev = indexEvent(ns, 'spec.md', 'x');
  const first = await startTestReceiver({ dataDir });
  await sendEvents(first.url, [ev, indexEvent(ns, 'plan.md', 'p')]);
  await post(`${first.url}${PUSH}`, pushRequest(ns, 'spec.md', 'one'));
  await post(`${first.url}${PUSH}`, pushRequest(ns, 'spec.md', 'two'));
  await first.close();
  t.true(existsSync(path.join(dataDir, 'serve.db')));

  const second = await startTestReceiver({ dataDir });
  t.teardown(() => second.close());
  t.deepEqual(second.stats().loaded, { events: 2, bodies: 2 });
  t.like(second.stats().store, { projects: 1, namespaces: 1, index_entries: 2, artifact_count: 1, events: 2 });
  t.is(second.receiver.store.db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(await second.latestContent(ns, 'spec.md'), 'two');
  t.deepEqual(
    second.artifacts()[0].versions.map((v) => v.content_hash),
    [sha256('one'), sha256('two')],
  );
  t.deepEqual((await sendEvents(second.url, [ev])).json.results, [{ event_id: ev.event_id, status: 'duplicate' }]);
  t.is((await post(`${second.url}${PUSH}`, pushRequest(ns, 'spec.md', 'two'))).status, 200);
  t.is((await post(`${second.url}${PUSH}`, pushRequest(ns, 'plan.md', 'p'))).status, 201);
  t.is(second.artifacts().find((a) => a.artifact_path === 'plan.md')?.versions[0].seq, 3);
  // The project is still known: another of its namespaces is retryable, not namespace_not_found.
  t.is((await post(`${second.url}${PUSH}`, pushRequest({ ...ns, target_branch: 'other' }, 'spec.md', 'x'))).json.error, 'index_entry_not_found');
});

test('close() ends hung requests too', async (t) => {
  const r = await startTestReceiver({ faults: { hang: true } });
  const pending = fetch(`${r.url}${PUSH}`, { method: 'POST', body: '{}' }).then(
    () => 'answered',
    () => 'closed',
  );
  while (r.stats().faults.hang === 0) await new Promise((res) => setTimeout(res, 5));
  await r.close();
  t.is(await pending, 'closed');
});

// ---- pure helpers ----

test('artifactPathProblem and fault helpers', (t) => {
  t.is(artifactPathProblem('tasks/WP01-x.md'), null);
  t.is(artifactPathProblem('contracts/api.yaml'), null);
  for (const bad of ['..', 'a/../b', '/a', 'a\\b', 'a//b', './a', '', 'a/']) t.not(artifactPathProblem(bad), null, bad);
  t.deepEqual(parseLatency('0-50'), { min: 0, max: 50 });
  t.deepEqual(parseLatency('20'), { min: 20, max: 20 });
  t.throws(() => parseLatency('50-10'));
  t.throws(() => parseLatency('fast'));
  const seq = [0.05, 0.5, 0.3];
  let i = 0;
  const f = new FaultInjector({ dropRate: 0.1, failRate: 0.9, failStatus: 500, latencyMs: { min: 10, max: 20 } }, () => seq[i++ % seq.length]);
  t.deepEqual(f.decide('push-content'), { kind: 'drop' }); // 0.05 < 0.1
  t.deepEqual(f.decide('events'), { kind: 'fail', status: 500 }); // 0.5: no drop; 0.3 < 0.9: fail
  f.set({ endpoints: ['events'] });
  t.deepEqual(f.decide('push-content'), { kind: 'none' });
  t.throws(() => f.set({ dropRate: -1 }));
});

// ---- the CLI process ----

test('kitty-sync serve as a child process: prints its URL, serves, persists, stops on SIGTERM', async (t) => {
  const token = 'child-token-abc';
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ks-serve-child-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const child = await spawnReceiver({ token, dataDir, args: ['--latency-ms', '0-2'] });
  t.teardown(() => child.stop());
  t.regex(child.output().stdout, new RegExp(`^kitty-sync serve: listening on http://127\\.0\\.0\\.1:\\d+ \\(data: ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)\n$`));
  const transport = new Transport({ serverUrl: child.url, token });
  t.teardown(() => transport.close());
  const ns = testNamespace();
  t.is((await transport.sendEvents([indexEvent(ns, 'spec.md', 'x')])).kind, 'results');
  t.deepEqual(await transport.pushContent(pushRequest(ns, 'spec.md', 'child body')), { kind: 'stored' });
  t.like(await child.stats(), { stored: 1 });
  await child.setFaults({ failFirst: 1, failStatus: 503 });
  t.is((await transport.pushContent(pushRequest(ns, 'spec.md', 'child body'))).kind, 'retry');
  t.is(await child.stop({ keepData: true }), 0);
  t.regex(child.output().stderr, /stopped/);
  t.false(child.output().stdout.includes(token) || child.output().stderr.includes(token));

  const again = await spawnReceiver({ token, dataDir });
  t.teardown(() => again.stop());
  const [rec] = await again.artifacts();
  t.is(rec.latest_hash, sha256('child body'));
  t.regex(again.output().stderr, /loaded 1 events and 1 bodies/);
});

test('kitty-sync serve: a port in use or bad options exit 2 with a message', async (t) => {
  const r = await receiver(t);
  const err = await t.throwsAsync(spawnReceiver({ port: r.port }));
  t.regex(err?.message ?? '', /exited \(2\)[\s\S]*cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
  const bad = await t.throwsAsync(spawnReceiver({ args: ['--fail-rate', '3'] }));
  t.regex(bad?.message ?? '', /exited \(2\)[\s\S]*failRate must be a number between 0 and 1/);
  // A data directory whose database is not one: named, and nothing overwritten.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ks-serve-garbage-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  writeFileSync(path.join(dataDir, 'serve.db'), 'this is not a database, but somebody may want it back\n'.repeat(100));
  const garbage = await t.throwsAsync(spawnReceiver({ dataDir }));
  t.regex(garbage?.message ?? '', /exited \(2\)[\s\S]*cannot open the database .*serve\.db: file is not a database/);
  t.regex(readFileSync(path.join(dataDir, 'serve.db'), 'utf8'), /^this is not a database/);
});

test('kill -9 while bodies and events are being written: everything acknowledged is there after a restart', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ks-serve-kill-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const child = await spawnReceiver({ dataDir });
  t.teardown(() => child.stop({ signal: 'SIGKILL' }));
  const ns = testNamespace();
  const paths = Array.from({ length: 40 }, (_, i) => `research/note-${i}.md`);
  // Bodies of ~40 KiB so that each transaction has real work to do when the kill lands.
  const filler = 'lorem ipsum dolor sit amet\n'.repeat(1500);
  const contents = paths.flatMap((p) => [1, 2, 3].map((v) => ({ p, text: `# ${p} v${v}\n${filler}` })));
  const indexedPaths = await sendEvents(
    child.url,
    paths.map((p) => indexEvent(ns, p, 'x')),
  );
  t.is(indexedPaths.status, 200);
  const ackedBodies: { p: string; hash: string }[] = [];
  const ackedEvents: string[] = [];
  let killed = false;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (!killed && next < contents.length) {
      const { p, text } = contents[next++];
      try {
        // An event and a body per step, so both tables are being written at the kill.
        const ev = indexEvent(ns, p, text);
        const e = await sendEvents(child.url, [ev]);
        if (e.status === 200 && (e.json.results as { status: string }[])[0].status === 'success') ackedEvents.push(ev.event_id);
        const res = await post(`${child.url}${PUSH}`, pushRequest(ns, p, text));
        if (res.status === 201 || res.status === 200) ackedBodies.push({ p, hash: sha256(text) });
      } catch {
        return; // the connection died with the process
      }
      if (!killed && ackedBodies.length >= 30) {
        killed = true;
        child.child.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  t.true(killed, 'the server was killed mid-run');
  t.is(await child.stop({ keepData: true }), null, 'killed by a signal, not a clean exit');
  t.true(ackedBodies.length >= 30);

  const again = await spawnReceiver({ dataDir });
  t.teardown(() => again.stop());
  const stored = new Map((await again.artifacts()).map((a) => [a.artifact_path, new Set(a.versions.map((v) => v.content_hash))]));
  const lost = ackedBodies.filter(({ p, hash }) => !stored.get(p)?.has(hash));
  t.deepEqual(lost, [], 'every acknowledged body survived');
  for (const { hash } of ackedBodies.slice(0, 5)) t.is((await fetch(`${again.url}/__blobs/${hash}`)).status, 200);
  const resent = await sendEvents(
    again.url,
    ackedEvents.map((id) => ({ ...indexEvent(ns, 'spec.md', 'x'), event_id: id })),
  );
  t.true(
    (resent.json.results as { status: string }[]).every((r) => r.status === 'duplicate'),
    'every acknowledged event survived',
  );
});
