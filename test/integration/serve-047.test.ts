// `serve` takes what spec-kitty 047's own client sends (issue 10 item 5): requests shaped exactly
// like ../shared/conformance/047/wire.json (its bytes, its headers), null git fields included.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ulid } from 'ulid';
import { PROJECT_ROOT } from '../support/proc.js';
import { startTestReceiver, type TestReceiver } from '../support/receiver.js';

const WIRE_PATH = process.env.KITTY_SYNC_CONFORMANCE ? path.join(process.env.KITTY_SYNC_CONFORMANCE, 'wire.json') : path.resolve(PROJECT_ROOT, '../shared/conformance/047/wire.json');

interface WireRequest {
  url: string;
  headers: Record<string, string>;
  json: Record<string, unknown>;
  artifact_path: string;
}
interface Wire {
  push_content_requests: WireRequest[];
  events_batch_request: { url: string; headers: Record<string, string>; raw_decompressed_body_utf8: string };
}
type Envelope = Record<string, unknown> & { event_id: string; event_type: string; payload: Record<string, unknown> };

const wire = JSON.parse(readFileSync(WIRE_PATH, 'utf8')) as Wire;
const TOKEN = 'golden-token';
const rawEvents = (): Envelope[] => (JSON.parse(wire.events_batch_request.raw_decompressed_body_utf8) as { events: Envelope[] }).events;

/** 047's own headers, minus those fetch computes itself (Content-Length, Connection, encodings it would not apply). */
function headersOf(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (!['content-length', 'connection', 'accept-encoding'].includes(k.toLowerCase())) out[k] = v;
  return out;
}

function pathOf(url: string): string {
  return new URL(url).pathname;
}

async function postEvents(r: TestReceiver, bodyUtf8: string): Promise<{ status: number; results: { event_id: string; status: string; error?: string }[] }> {
  const req = wire.events_batch_request;
  const res = await fetch(`${r.url}${pathOf(req.url)}`, { method: 'POST', headers: headersOf(req.headers), body: gzipSync(Buffer.from(bodyUtf8, 'utf8')) });
  return { status: res.status, results: ((await res.json()) as { results: { event_id: string; status: string; error?: string }[] }).results };
}

async function postBody(r: TestReceiver, req: WireRequest, json: Record<string, unknown> = req.json): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${r.url}${pathOf(req.url)}`, { method: 'POST', headers: headersOf(req.headers), body: JSON.stringify(json) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function receiver(t: { teardown(fn: () => unknown): void }): Promise<TestReceiver> {
  const r = await startTestReceiver({ token: TOKEN });
  t.teardown(() => r.close());
  return r;
}

test("047's events batch, byte for byte: every event accepted; Indexed ones indexed, SnapshotComputed stored", async (t) => {
  const r = await receiver(t);
  const events = rawEvents();
  t.deepEqual([...new Set(events.map((e) => e.event_type))], ['MissionDossierArtifactIndexed', 'MissionDossierSnapshotComputed']);
  const res = await postEvents(r, wire.events_batch_request.raw_decompressed_body_utf8);
  t.is(res.status, 200);
  t.deepEqual(
    res.results,
    events.map((e) => ({ event_id: e.event_id, status: 'success' })),
  );
  const indexed = events.filter((e) => e.event_type === 'MissionDossierArtifactIndexed').length;
  t.like(r.stats().store, { projects: 1, namespaces: 1, events: events.length, index_entries: indexed });
  // The same batch again (047 retries whole batches): every event a duplicate, nothing added.
  const again = await postEvents(r, wire.events_batch_request.raw_decompressed_body_utf8);
  t.true(again.results.every((x) => x.status === 'duplicate'));
  t.is(r.stats().store.events, events.length);
});

test("047's push-content requests (mission_slug included): 201 stored, then 200 already_exists, both echoing path and hash", async (t) => {
  const r = await receiver(t);
  t.is((await postEvents(r, wire.events_batch_request.raw_decompressed_body_utf8)).status, 200);
  t.is(wire.push_content_requests.length, 3);
  for (const req of wire.push_content_requests) {
    t.is(req.json.mission_slug, req.json.mission_key);
    const echo = { artifact_path: req.json.artifact_path, content_hash: req.json.content_hash };
    t.deepEqual(await postBody(r, req), { status: 201, json: { status: 'stored', ...echo } }, req.artifact_path);
    t.deepEqual(await postBody(r, req), { status: 200, json: { status: 'already_exists', ...echo } }, req.artifact_path);
    const ns = {
      project_uuid: req.json.project_uuid,
      feature_slug: req.json.feature_slug,
      target_branch: req.json.target_branch,
      mission_key: req.json.mission_key,
      manifest_version: req.json.manifest_version,
    } as never;
    t.is(await r.latestContent(ns, req.artifact_path), req.json.content_body as string);
  }
  // Without its bearer token, 047's request is refused.
  const [first] = wire.push_content_requests;
  const res = await fetch(`${r.url}${pathOf(first.url)}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(first.json) });
  t.is(res.status, 401);
});

test('a body before its events: index_entry_not_found for a known project, namespace_not_found for an unknown one', async (t) => {
  const r = await receiver(t);
  const [req] = wire.push_content_requests;
  const before = await postBody(r, req);
  t.deepEqual([before.status, before.json.error], [404, 'namespace_not_found'], 'no event of this project yet: unknown');
  // Only the snapshot event arrived so far: the project is known, the index still lacks spec.md.
  const snapshot = rawEvents().filter((e) => e.event_type === 'MissionDossierSnapshotComputed');
  t.is((await postEvents(r, JSON.stringify({ events: snapshot }))).results[0].status, 'success');
  const lagging = await postBody(r, req);
  t.deepEqual([lagging.status, lagging.json.error], [404, 'index_entry_not_found'], 'a known project: retryable, not a permanent failure');
  t.is(r.stats().store.index_entries, 0, 'SnapshotComputed is stored, not indexed');
  await postEvents(r, wire.events_batch_request.raw_decompressed_body_utf8);
  t.is((await postBody(r, req)).status, 201);
});

test('null git fields (no remote, git failing), a missing team_slug and MissionDossierArtifactMissing are accepted', async (t) => {
  const r = await receiver(t);
  const events = rawEvents().map((e) => ({ ...e, event_id: ulid(), git_branch: null, head_commit_sha: null, repo_slug: null }));
  const indexedSpec = events.find((e) => e.payload.relative_path === 'spec.md')!;
  const missing: Envelope = {
    ...indexedSpec,
    event_id: ulid(),
    event_type: 'MissionDossierArtifactMissing',
    aggregate_id: `${String(indexedSpec.payload.feature_slug)}:input.plan.main`,
    payload: { feature_slug: indexedSpec.payload.feature_slug, artifact_key: 'input.plan.main', relative_path: 'plan.md', required_status: 'required', namespace: indexedSpec.payload.namespace },
  };
  const noTeam: Envelope = { ...events[0], event_id: ulid() };
  delete noTeam.team_slug;
  const res = await postEvents(r, JSON.stringify({ events: [...events, missing, noTeam] }));
  t.is(res.status, 200);
  t.deepEqual(
    res.results.filter((x) => x.status !== 'success'),
    [],
    'every event accepted',
  );
  t.is(r.stats().store.index_entries, events.filter((e) => e.event_type === 'MissionDossierArtifactIndexed').length, 'only Indexed events feed the index');
  t.is((await postBody(r, wire.push_content_requests[0])).status, 201);
});

test('still refused: a non-dossier event type, a wrong aggregate_id, a git field of the wrong type, an empty team_slug', async (t) => {
  const r = await receiver(t);
  const base = rawEvents()[0];
  const bad: [Envelope, RegExp][] = [
    [{ ...base, event_id: ulid(), event_type: 'WorkPackageStatusChanged' }, /unsupported event_type/],
    [{ ...base, event_id: ulid(), aggregate_id: 'other-feature:input.spec.main' }, /aggregate_id/],
    [{ ...base, event_id: ulid(), git_branch: 42 }, /git_branch must be a string or null/],
    [{ ...base, event_id: ulid(), team_slug: '' }, /team_slug/],
  ];
  const res = await postEvents(r, JSON.stringify({ events: bad.map(([e]) => e) }));
  bad.forEach(([, re], i) => {
    t.is(res.results[i].status, 'rejected');
    t.regex(res.results[i].error ?? '', re);
  });
  t.false(r.receiver.store.knowsProject(String(base.project_uuid)), 'rejected events make no project known');
});
