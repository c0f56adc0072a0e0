// 047's events in the spool/pack queue (schema v4): an Indexed event for every indexed file (with a
// body or not) and one snapshot per feature, stored as opaque envelopes with a supersede key and an
// identity. What is queued twice, what replaces what, and what a v3 queue becomes.
import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dbPath, readQueue, withQueue, type StoredEvent } from '../../lib/queue/queue.js';
import { MIGRATIONS, SCHEMA_VERSION, setMeta, supersedeKey } from '../../lib/queue/schema.js';
import { artifactKey } from '../../lib/contract/namespace.js';
import type { EligibleArtifact, FeatureIndex } from '../../lib/types.js';
import { artifact, CTX, namespace } from '../support/artifacts.js';
import { buildCapture } from '../../lib/queue/capture.js';
import { writePackSync } from '../../lib/queue/pack.js';
import { openSqlJs, v1Database } from '../support/queue-v1.js';

function tmpState(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-events-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'state');
}

/** The feature index of these files (all indexed; the snapshot sums them up). */
function indexOf(files: EligibleArtifact[]): FeatureIndex {
  return {
    namespace: files[0].namespace,
    manifest_known: true,
    artifacts: files.map((f) => ({
      artifact_path: f.artifact_path,
      content_hash: f.content_hash,
      size_bytes: f.size_bytes,
      artifact_key: f.artifact_key,
      artifact_class: f.artifact_class,
      wp_id: f.wp_id,
      step_id: f.step_id,
      required_status: f.required_status,
    })),
  };
}

/** Each event as "<path>@<first hash digits>" or "snapshot:<parity digits>", in sending order. */
function shape(events: StoredEvent[]): string[] {
  return events.map((e) =>
    e.envelope.event_type === 'MissionDossierArtifactIndexed'
      ? `${e.envelope.payload.relative_path}@${e.envelope.payload.content_hash_sha256.slice(0, 6)}`
      : `snapshot:${e.envelope.payload.parity_hash_sha256.slice(0, 6)}`,
  );
}

const pendingEvents = (stateDir: string) => readQueue({ stateDir }, (q) => q.readyEvents(100, { force: true }));

test('a body, an indexed file without one, then the snapshot; the same capture again adds nothing', async (t) => {
  const stateDir = tmpState(t);
  const spec = artifact('spec.md', 'spec v1');
  const big = artifact('research/big.csv', 'too big to upload, still indexed');
  const first = await withQueue({ stateDir }, (q) => q.enqueue([spec], CTX, [indexOf([spec, big])]));
  t.like(first, { added: 1, duplicate: 0 });
  const events = await pendingEvents(stateDir);
  t.deepEqual(shape(events).slice(0, 2), [`spec.md@${spec.content_hash.slice(0, 6)}`, `research/big.csv@${big.content_hash.slice(0, 6)}`]);
  t.is(events[2].envelope.event_type, 'MissionDossierSnapshotComputed', 'the snapshot follows the events it sums up');
  t.is(events.length, 3);
  // The lamport clock is the queue's, in merge order.
  t.deepEqual(
    events.map((e) => e.envelope.lamport_clock),
    [1, 2, 3],
  );

  const again = await withQueue({ stateDir }, (q) => q.enqueue([spec], CTX, [indexOf([spec, big])]));
  t.like(again, { added: 0, duplicate: 1, superseded: 0 });
  t.deepEqual(shape(await pendingEvents(stateDir)), shape(events), 'nothing queued twice, the snapshot included');
});

test('a changed file without a body replaces its older unsent event, and a new snapshot replaces the old one (and comes last)', async (t) => {
  const stateDir = tmpState(t);
  const spec = artifact('spec.md', 'spec v1');
  const v1 = artifact('research/big.csv', 'big v1');
  const v2 = artifact('research/big.csv', 'big v2');
  await withQueue({ stateDir }, (q) => q.enqueue([spec], CTX, [indexOf([spec, v1])]));
  const before = await pendingEvents(stateDir);
  await withQueue({ stateDir }, (q) => q.enqueue([], CTX, [indexOf([spec, v2])]));
  const after = await pendingEvents(stateDir);
  t.deepEqual(shape(after).slice(0, 2), [`spec.md@${spec.content_hash.slice(0, 6)}`, `research/big.csv@${v2.content_hash.slice(0, 6)}`]);
  t.is(after.length, 3);
  t.is(after[2].envelope.event_type, 'MissionDossierSnapshotComputed');
  t.not(shape(after)[2], shape(before)[2], 'the snapshot now sums up v2');
});

test('an unchanged feature whose Indexed event was delivered re-queues it, and its snapshot is sent again after it', async (t) => {
  const stateDir = tmpState(t);
  const spec = artifact('spec.md', 'spec v1');
  const plan = artifact('plan.md', 'plan v1');
  await withQueue({ stateDir }, (q) => q.enqueue([], CTX, [indexOf([spec, plan])]));
  // plan's event is delivered; spec's and the snapshot stay pending.
  await withQueue({ stateDir }, (q) => {
    const planEvent = q.readyEvents(10).find((e) => e.envelope.event_type === 'MissionDossierArtifactIndexed' && e.envelope.payload.relative_path === 'plan.md')!;
    q.applyEventResults([{ event_id: planEvent.event_id, seq: planEvent.seq, result: { kind: 'delivered' } }]);
  });
  await withQueue({ stateDir }, (q) => q.enqueue([], CTX, [indexOf([spec, plan])]));
  const s = shape(await pendingEvents(stateDir));
  t.is(s.length, 3);
  t.is(s.filter((x) => x.startsWith('spec.md@')).length, 1, "spec's identical event is not queued twice");
  t.true(s[2].startsWith('snapshot:'), 'the snapshot was re-queued behind the re-queued plan.md event');
});

test('a dead-lettered snapshot goes back on retry, unless a newer snapshot of its feature is pending', async (t) => {
  const stateDir = tmpState(t);
  const spec = artifact('spec.md', 'spec v1');
  await withQueue({ stateDir }, (q) => q.enqueue([], CTX, [indexOf([spec])]));
  await withQueue({ stateDir }, (q) => {
    const snap = q.readyEvents(10).find((e) => e.envelope.event_type === 'MissionDossierSnapshotComputed')!;
    q.applyEventResults([{ event_id: snap.event_id, seq: snap.seq, result: { kind: 'dead', reason: 'http_400' } }]);
  });
  t.deepEqual(shape(await pendingEvents(stateDir)), [`spec.md@${spec.content_hash.slice(0, 6)}`]);
  const back = await withQueue({ stateDir }, (q) => q.retryDeadLetters('all'));
  t.like(back, { requeued: 1, superseded: 0 });
  const events = await pendingEvents(stateDir);
  t.is(events.at(-1)!.envelope.event_type, 'MissionDossierSnapshotComputed');

  // Dead again, then a newer capture of the feature: the old letter is superseded, not re-sent.
  await withQueue({ stateDir }, (q) => {
    const snap = q.readyEvents(10).find((e) => e.envelope.event_type === 'MissionDossierSnapshotComputed')!;
    q.applyEventResults([{ event_id: snap.event_id, seq: snap.seq, result: { kind: 'dead', reason: 'http_400' } }]);
  });
  const spec2 = artifact('spec.md', 'spec v2');
  await withQueue({ stateDir }, (q) => q.enqueue([spec2], CTX, [indexOf([spec2])]));
  const again = await withQueue({ stateDir }, (q) => q.retryDeadLetters('all'));
  t.like(again, { requeued: 0, superseded: 1 });
  t.is((await pendingEvents(stateDir)).filter((e) => e.envelope.event_type === 'MissionDossierSnapshotComputed').length, 1);
});

/** A v1 queue migrated step by step to schema `version` (as that version wrote it), holding namespace `ns` as ns_id 1. */
async function olderQueue(version: number, lamport: string, ns: ReturnType<typeof namespace>) {
  const db = await v1Database({ lamport_clock: lamport, node_id: 'NODE1', enqueue_seq: '0' });
  for (let v = 1; v < version; v++) {
    db.exec('BEGIN');
    MIGRATIONS[v](db);
    setMeta(db, 'schema_version', v + 1);
    db.exec('COMMIT');
  }
  db.run('INSERT INTO namespaces (ns_id, project_uuid, feature_slug, target_branch, mission_key, manifest_version) VALUES (1,?,?,?,?,?)', [
    ns.project_uuid,
    ns.feature_slug,
    ns.target_branch,
    ns.mission_key,
    ns.manifest_version,
  ]);
  return db;
}

test('a version-3 queue (047 events as columns, a snapshot row, a detached event) migrates (through v4) without losing an event', async (t) => {
  const stateDir = tmpState(t);
  const ns = namespace('002-beta');
  const db = await olderQueue(3, '10', ns);
  db.run("INSERT INTO contexts (ctx_id, project_slug, repo_slug, git_branch, head_commit_sha, team_slug) VALUES (1, 'demo', '', 'main', ?, 'team-x')", ['c'.repeat(40)]);
  const plan = artifact('plan.md', 'plan v3', ns);
  // A detached Indexed event (its body already left), then the feature's snapshot.
  db.run(
    `INSERT INTO index_events (seq, ctx_id, artifact_key, artifact_class, wp_id, step_id, required, lamport_clock, created_at, retry_count, next_attempt_at, last_error,
       ns_id, artifact_path, content_hash, size_bytes) VALUES (1, 1, 'artifact.plan', 'other', NULL, NULL, 0, 9, 1700000000000, 0, 1700000000000, NULL, 1, 'plan.md', ?, ?)`,
    [Buffer.from(plan.content_hash, 'hex'), plan.size_bytes],
  );
  const facts = { parity_hash_sha256: 'f'.repeat(64), artifact_counts: { total: 1, required: 0, required_present: 0, required_missing: 0, optional: 1, optional_present: 1 }, completeness_status: 'complete' };
  db.run("INSERT INTO snapshot_events (seq, ns_id, ctx_id, facts, lamport_clock, created_at, retry_count, next_attempt_at, last_error) VALUES (2, 1, 1, ?, 10, 1700000000000, 3, 1700000000000, 'http_503')", [
    JSON.stringify(facts),
  ]);
  setMeta(db, 'enqueue_seq', 2);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(dbPath(stateDir), db.export());
  db.close();

  const events = await withQueue({ stateDir }, (q) => q.readyEvents(10, { force: true }));
  t.deepEqual(shape(events), [`plan.md@${plan.content_hash.slice(0, 6)}`, `snapshot:${'f'.repeat(6)}`]);
  t.like(events[0].envelope, { team_slug: 'team-x', repo_slug: null, lamport_clock: 9, project_uuid: ns.project_uuid });
  t.like(events[1], { retry_count: 3, last_error: 'http_503' });
  t.like(events[1].envelope, { event_type: 'MissionDossierSnapshotComputed', lamport_clock: 10, team_slug: 'team-x' });
  const after = new (await openSqlJs()).Database(readFileSync(dbPath(stateDir)));
  t.is(String(after.exec("SELECT value FROM meta WHERE key = 'schema_version'")[0].values[0][0]), String(SCHEMA_VERSION));
  t.deepEqual(after.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('snapshot_events', 'contexts')"), [], 'the v3 tables are gone');
  after.close();
  // A newer snapshot of the feature replaces the migrated one (same supersede key).
  await withQueue({ stateDir }, (q) => q.enqueue([], CTX, [indexOf([artifact('plan.md', 'plan v4', ns)])]));
  t.is((await pendingEvents(stateDir)).filter((e) => e.envelope.event_type === 'MissionDossierSnapshotComputed').length, 1);
});

test('a version-4 queue (body tasks keyed by namespace, path and hash) migrates to v5 keeping its tasks, their duplicates and supersedes', async (t) => {
  const stateDir = tmpState(t);
  const ns = namespace('003-gamma');
  const db = await olderQueue(4, '2', ns);
  db.run("INSERT INTO packs (pack_id, name, size, created_at, dead) VALUES (1, 'old.ksp', 100, 1700000000000, 0)");
  const spec = artifact('spec.md', 'spec v4', ns);
  const plan = artifact('plan.md', 'plan v4', ns);
  [spec, plan].forEach((a, i) => {
    const seq = i + 1;
    const eventId = `01HV4EVENT${seq}`.padEnd(26, '0');
    db.run(
      `INSERT INTO body_tasks (ns_id, artifact_path, content_hash, seq, size_bytes, created_at, retry_count, next_attempt_at, last_error, pack_id, off, oid)
       VALUES (1, ?, ?, ?, ?, 1700000000000, ?, 1700000000000, ?, 1, ?, ?)`,
      [a.artifact_path, Buffer.from(a.content_hash, 'hex'), seq, a.size_bytes, i, i ? 'http_503' : null, i * 10, Buffer.from('a'.repeat(40), 'hex')],
    );
    db.run(
      `INSERT INTO index_events (seq, event_id, skey, ident, pack_id, off, len, envelope, lamport_clock, created_at, retry_count, next_attempt_at, last_error)
       VALUES (?, ?, ?, ?, NULL, NULL, NULL, ?, ?, 1700000000000, 0, 1700000000000, NULL)`,
      [
        seq,
        eventId,
        supersedeKey(artifactKey(ns, a.artifact_path)),
        supersedeKey(a.content_hash),
        JSON.stringify({ event_id: eventId, event_type: 'MissionDossierArtifactIndexed', payload: { relative_path: a.artifact_path, content_hash_sha256: a.content_hash } }),
        seq,
      ],
    );
  });
  setMeta(db, 'enqueue_seq', 2);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(dbPath(stateDir), db.export());
  db.close();

  const bodies = await withQueue({ stateDir }, (q) => q.readyBodies(10, { force: true }));
  t.deepEqual(
    bodies.map((b) => [b.artifact_path, b.content_hash, b.retry_count, b.last_error, b.pack, b.off, b.oid, b.event_id]),
    [
      ['spec.md', spec.content_hash, 0, null, 'old.ksp', 0, 'a'.repeat(40), '01HV4EVENT1'.padEnd(26, '0')],
      ['plan.md', plan.content_hash, 1, 'http_503', 'old.ksp', 10, 'a'.repeat(40), '01HV4EVENT2'.padEnd(26, '0')],
    ],
  );
  t.deepEqual(bodies[0].namespace, ns);
  const after = new (await openSqlJs()).Database(readFileSync(dbPath(stateDir)));
  t.is(String(after.exec("SELECT value FROM meta WHERE key = 'schema_version'")[0].values[0][0]), String(SCHEMA_VERSION));
  t.deepEqual(after.exec("SELECT name FROM sqlite_master WHERE name IN ('v4_body_tasks', 'body_tasks_seq')"), [], 'the v4 table and its index are gone');
  after.close();

  // The migrated rows are found by their new key: the same spec is a duplicate, a new plan replaces the old one.
  const res = await withQueue({ stateDir }, (q) => q.enqueue([spec, artifact('plan.md', 'plan v5', ns)], CTX));
  t.like(res, { added: 1, duplicate: 1, superseded: 1 });
  const left = await readQueue({ stateDir }, (q) => q.readyBodies(10, { force: true }));
  t.deepEqual(
    left.map((b) => [b.artifact_path, b.content_hash]),
    [
      ['spec.md', spec.content_hash],
      ['plan.md', artifact('plan.md', 'plan v5', ns).content_hash],
    ],
  );
  t.deepEqual(shape(await pendingEvents(stateDir)), [`spec.md@${spec.content_hash.slice(0, 6)}`, `plan.md@${artifact('plan.md', 'plan v5', ns).content_hash.slice(0, 6)}`]);
});

test('a capture merged into an empty queue gets the rows it gets beside other work: two versions of one file, two indexes of a feature', async (t) => {
  const spec1 = artifact('spec.md', 'spec v1');
  const spec2 = artifact('spec.md', 'spec v2');
  const big1 = artifact('research/big.csv', 'big v1');
  const big2 = artifact('research/big.csv', 'big v2');
  const groups = [
    { context: CTX, eligible: [spec1], indexes: [indexOf([spec1, big1])] },
    { context: { ...CTX, head_commit_sha: 'b'.repeat(40) }, eligible: [spec2], indexes: [indexOf([spec2, big2])] },
  ];
  const other = artifact('tasks.md', 'other feature', namespace('002-beta'));
  const merged = async (withOther: boolean) => {
    const stateDir = tmpState(t);
    if (withOther) await withQueue({ stateDir }, (q) => q.enqueue([other], CTX, [indexOf([other])]));
    writePackSync(stateDir, buildCapture(groups)!, undefined);
    const merge = await withQueue({ stateDir }, (q) => q.lastMerge!);
    const rows = await readQueue({ stateDir }, (q) => ({
      events: shape(q.readyEvents(100, { force: true }).filter((e) => !JSON.stringify(e.envelope).includes('002-beta'))),
      bodies: q.readyBodies(100, { force: true }).map((b) => `${b.namespace.feature_slug}/${b.artifact_path}@${b.content_hash.slice(0, 6)}`),
    }));
    return { merge: { added: merge.added, superseded: merge.superseded, duplicate: merge.duplicate, events: merge.events }, events: rows.events, bodies: rows.bodies.filter((b) => !b.startsWith('002-beta/')) };
  };
  const alone = await merged(false);
  t.deepEqual(alone.bodies, [`001-alpha/spec.md@${spec2.content_hash.slice(0, 6)}`], 'the newer version replaced the older one');
  t.deepEqual(alone, await merged(true));
});
