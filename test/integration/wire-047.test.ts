// The requests a real `kitty-sync sync` sends, captured on loopback, field by field against the
// requests spec-kitty 047 sends for the same feature (../shared/conformance/047/wire.json): names,
// order, types and formats, and every non-volatile value.
import test from 'ava';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { cleanEnv, cli, PROJECT_ROOT } from '../support/proc.js';
import { commitAll, copyCorpusFeatures, gitOk, makeRepo } from '../support/git.js';

const CONFORMANCE = process.env.KITTY_SYNC_CONFORMANCE ?? path.resolve(PROJECT_ROOT, '../shared/conformance/047');
const wire = JSON.parse(readFileSync(path.join(CONFORMANCE, 'wire.json'), 'utf8')) as {
  feature_slug: string;
  repo: { branch: string; origin: string; origin_HEAD: string; config_yaml_before: string };
  push_content_requests: { artifact_path: string; headers: Record<string, string>; json: Record<string, unknown> }[];
  push_content_field_order: string[];
  envelope_field_order: string[];
  payload_field_order: string[];
  events_batch_request: { headers: Record<string, string>; raw_decompressed_body_utf8: string };
};
const golden = (JSON.parse(wire.events_batch_request.raw_decompressed_body_utf8) as { events: Envelope[] }).events;

type Envelope = Record<string, unknown> & { event_type: string; payload: Record<string, unknown> };
interface Captured {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A loopback server that records every request and answers as a 047-era server does. */
async function capturingServer(t: { teardown(fn: () => unknown): void }): Promise<{ url: string; requests: Captured[] }> {
  const requests: Captured[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ url: req.url ?? '', headers: req.headers, body });
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/api/v1/events/batch/') {
        const { events } = JSON.parse(gunzipSync(body).toString('utf8')) as { events: Envelope[] };
        res.end(JSON.stringify({ results: events.map((e) => ({ event_id: e.event_id, status: 'success' })) }));
      } else {
        const j = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        res.statusCode = 201;
        res.end(JSON.stringify({ status: 'stored', artifact_path: j.artifact_path, content_hash: j.content_hash }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const FORMATS: Record<string, RegExp> = {
  event_id: /^[0-9A-HJKMNP-TV-Z]{26}$/,
  timestamp: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$/,
  node_id: /^[0-9a-f]{12}$/,
  head_commit_sha: /^[0-9a-f]{40}$/,
  snapshot_id: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
};

test('sync sends what 047 sends: push-content bodies and the events batch, field by field', async (t) => {
  const srv = await capturingServer(t);
  const r = await makeRepo({ uuid: null, files: { '.kittify/config.yaml': wire.repo.config_yaml_before } });
  t.teardown(r.cleanup);
  await copyCorpusFeatures(r, [wire.feature_slug]);
  const sha = await commitAll(r, 'feature');
  const env = cleanEnv();
  await gitOk(r.root, ['remote', 'add', 'origin', wire.repo.origin], env);
  await gitOk(r.root, ['update-ref', wire.repo.origin_HEAD, sha], env);
  await gitOk(r.root, ['symbolic-ref', 'refs/remotes/origin/HEAD', wire.repo.origin_HEAD], env);

  const run = await cli(r.root, ['sync', wire.feature_slug, '--json'], cleanEnv({ KITTY_SYNC_SERVER_URL: srv.url, KITTY_SYNC_TOKEN: 'golden-token' }));
  t.is(run.code, 0, run.stderr);

  // Bodies: exactly 047's JSON (every value, content_body included) in 047's field order.
  const pushes = srv.requests.filter((q) => q.url === '/api/dossier/push-content/');
  const byPath = new Map(pushes.map((q) => [String((JSON.parse(q.body.toString('utf8')) as Record<string, unknown>).artifact_path), q]));
  t.is(pushes.length, 15, 'the 15 eligible files of the feature, as 047 uploads them');
  for (const g of wire.push_content_requests) {
    const q = byPath.get(g.artifact_path);
    if (!q) {
      t.fail(`no push-content for ${g.artifact_path}`);
      continue;
    }
    const json = JSON.parse(q.body.toString('utf8')) as Record<string, unknown>;
    t.deepEqual(Object.keys(json), wire.push_content_field_order, g.artifact_path);
    t.deepEqual(json, g.json, g.artifact_path);
    t.is(q.headers.authorization, g.headers.Authorization);
    t.is(q.headers['content-type'], g.headers['Content-Type']);
  }

  // Events: gzip JSON, 047's envelope and payload field order, types and formats; values equal where not volatile.
  const batches = srv.requests.filter((q) => q.url === '/api/v1/events/batch/');
  t.true(batches.length >= 1);
  for (const q of batches) {
    t.is(q.headers['content-encoding'], 'gzip');
    t.is(q.headers['content-type'], 'application/json');
    t.is(q.headers.authorization, 'Bearer golden-token');
  }
  const sent = batches.flatMap((q) => (JSON.parse(gunzipSync(q.body).toString('utf8')) as { events: Envelope[] }).events);
  t.deepEqual(
    sent.map((e) => e.event_type),
    golden.map((e) => e.event_type),
    'one Indexed per indexed file, then the snapshot',
  );
  const lamports = sent.map((e) => e.lamport_clock as number);
  t.true(
    lamports.every((n, i) => Number.isInteger(n) && (i === 0 || n > lamports[i - 1])),
    'lamport clock rises',
  );
  const key = (e: Envelope) => (e.event_type === 'MissionDossierArtifactIndexed' ? String(e.payload.relative_path) : 'snapshot');
  const mine = new Map(sent.map((e) => [key(e), e]));
  for (const g of golden) {
    const e = mine.get(key(g));
    if (!e) {
      t.fail(`no event for ${key(g)}`);
      continue;
    }
    t.deepEqual(Object.keys(e), wire.envelope_field_order, key(g));
    if (g.event_type === 'MissionDossierArtifactIndexed') t.deepEqual(Object.keys(e.payload), wire.payload_field_order, key(g));
    else t.deepEqual(Object.keys(e.payload), Object.keys(g.payload), key(g));
    for (const [field, value] of Object.entries(g)) {
      if (field in FORMATS) t.regex(String(e[field]), FORMATS[field], `${key(g)}.${field}`);
      else if (field === 'lamport_clock') t.true(Number.isInteger(e[field]));
      else if (field === 'aggregate_id' && g.event_type === 'MissionDossierSnapshotComputed') t.is(e[field], `${wire.feature_slug}:${String(e.payload.snapshot_id)}`);
      else if (field === 'payload' && g.event_type === 'MissionDossierSnapshotComputed') {
        t.regex(String(e.payload.snapshot_id), FORMATS.snapshot_id);
        t.deepEqual({ ...e.payload, snapshot_id: null }, { ...g.payload, snapshot_id: null }, 'snapshot: parity hash, counts, completeness, namespace');
      } else t.deepEqual(e[field], value, `${key(g)}.${field}`);
    }
    t.is(e.head_commit_sha, sha);
  }
});

test('without a remote, on a detached HEAD: repo_slug is null and git_branch is HEAD, as 047 sends them', async (t) => {
  const srv = await capturingServer(t);
  const r = await makeRepo({ uuid: null, files: { '.kittify/config.yaml': wire.repo.config_yaml_before } });
  t.teardown(r.cleanup);
  await copyCorpusFeatures(r, [wire.feature_slug]);
  await commitAll(r, 'feature');
  await gitOk(r.root, ['checkout', '-q', '--detach'], cleanEnv());
  const run = await cli(r.root, ['sync', wire.feature_slug, '--json'], cleanEnv({ KITTY_SYNC_SERVER_URL: srv.url, KITTY_SYNC_TEAM: 'acme' }));
  t.is(run.code, 0, run.stderr);
  const sent = srv.requests.filter((q) => q.url === '/api/v1/events/batch/').flatMap((q) => (JSON.parse(gunzipSync(q.body).toString('utf8')) as { events: Envelope[] }).events);
  t.true(sent.length > 0);
  for (const e of sent) {
    t.is(e.repo_slug, null);
    t.is(e.git_branch, 'HEAD');
    t.is(e.team_slug, 'acme');
  }
});
