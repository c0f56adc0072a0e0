// Queue database schema and its migrations by version (SPEC §6).
//
// Rows stay small because sql.js loads and writes the whole file in every hook (bench/queue.ts):
// namespaces are stored once and referenced by integer id, hashes are raw bytes, upload ids are
// derived rather than stored. Version 4 (issue 11) keeps bodies and event envelopes in packs
// (pack.ts) that rows point into, records which packs (merged spools) exist, and remembers
// abandoned uploads for re-confirmation. Versions 2 and 3 rebuilt an event from columns (v3 added
// 047's team_slug and snapshots); v4 treats every event as an opaque envelope keyed by its event_id.
// Version 5 (current, issue 16) stores each body task's path and hash once (body_tasks).
import { hash } from 'node:crypto';
import type { Database } from 'sql.js';
import { buildIndexEvent, buildSnapshotEvent, envelopeNodeId, snapshotUuid, type EventRecord, type SnapshotRecord } from '../collect/events.js';
import { artifactKey, namespaceKey } from '../contract/namespace.js';
import { nsOf, queryRows, type NsCol, type Row } from './rows.js';
import { encodeId, KIND_EVENT, nodeBits } from './task-ids.js';

/** A v2/v3 commit context's columns (contexts c). */
type CtxCol = 'project_slug' | 'repo_slug' | 'git_branch' | 'head_commit_sha' | 'team_slug';

export const SCHEMA_VERSION = 5;

/** An event's supersede key or identity as stored (index_events.skey, ident): 52 bits of its SHA-256, a safe integer. */
export function supersedeKey(key: string): number {
  return Number.parseInt(hash('sha256', key, 'hex').slice(0, 13), 16);
}

/** A body task's lookup key as stored (body_tasks.akey): its namespace id and path, hashed like supersedeKey. */
export function bodyKey(nsId: number, artifactPath: string): number {
  return supersedeKey(`${nsId}\u0000${artifactPath}`);
}

export const TABLES = ['meta', 'namespaces', 'packs', 'body_tasks', 'index_events', 'dead_letters', 'abandoned'] as const;
const V2_TABLES = ['meta', 'namespaces', 'contexts', 'body_tasks', 'index_events', 'dead_letters'] as const;
const V3_TABLES = [...V2_TABLES, 'snapshot_events'] as const;

// The tables of versions 4 and 5 but body_tasks.
const SHARED_DDL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS namespaces (
  ns_id INTEGER PRIMARY KEY,
  project_uuid TEXT NOT NULL, feature_slug TEXT NOT NULL, target_branch TEXT NOT NULL,
  mission_key TEXT NOT NULL, manifest_version TEXT NOT NULL,
  UNIQUE (project_uuid, feature_slug, target_branch, mission_key, manifest_version)
);
-- Every merged spool (a pack) by file name: a spool whose name is here is never merged again.
-- dead = 1: no row refers to it any more; the file is deleted after the save and the row once the
-- file is gone (a crash in between must not let the file pass for an unmerged spool).
CREATE TABLE IF NOT EXISTS packs (
  pack_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  dead INTEGER NOT NULL DEFAULT 0
);
-- One row per unsent event, Indexed or snapshot (sent in seq order): its envelope is len bytes at
-- "off" in pack pack_id, or inline (envelope) when it came from elsewhere (an older queue, a dead
-- letter put back). A body task with the same seq waits for this event (no index on event_id or
-- pack_id: drains name events by seq too, and only collection asks by pack; every index is bytes
-- each hook loads). skey: a newer event with the same supersede key (namespace + path, or a
-- feature's snapshot) replaces this one; ident: what it says (content hash, snapshot facts), so an
-- identical one is not queued twice. Both are stored as 52 bits of their SHA-256 (as text, keys
-- with their index more than doubled the file every hook loads).
CREATE TABLE IF NOT EXISTS index_events (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL,
  skey INTEGER,
  ident INTEGER,
  pack_id INTEGER,
  off INTEGER,
  len INTEGER,
  envelope TEXT,
  lamport_clock INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS index_events_skey ON index_events (skey) WHERE skey IS NOT NULL;
-- Permanently failed work: the task as JSON (an event's envelope is copied in), why, and when. A
-- body letter keeps its pack reference (pack_id, off, len) so retry can re-send it. superseded is
-- set when a newer version of the artifact is enqueued: such a letter is never re-queued.
CREATE TABLE IF NOT EXISTS dead_letters (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('body', 'event')),
  ref_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ns_id INTEGER,
  feature_slug TEXT NOT NULL,
  artifact_path TEXT NOT NULL,
  content_hash TEXT,
  task TEXT NOT NULL,
  reason TEXT NOT NULL,
  failed_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  superseded INTEGER NOT NULL DEFAULT 0,
  pack_id INTEGER,
  off INTEGER,
  len INTEGER
);
CREATE INDEX IF NOT EXISTS dead_letters_artifact ON dead_letters (ns_id, artifact_path);
CREATE INDEX IF NOT EXISTS dead_letters_pack ON dead_letters (pack_id) WHERE pack_id IS NOT NULL;
-- Uploads abandoned while possibly still in flight (budget, kill, timeout): until = when that
-- request can no longer be in flight. A newer version of the artifact delivered before then is
-- sent once more after it (issue 11 §4).
CREATE TABLE IF NOT EXISTS abandoned (
  ns_id INTEGER NOT NULL,
  artifact_path TEXT NOT NULL,
  content_hash BLOB NOT NULL,
  until INTEGER NOT NULL,
  PRIMARY KEY (ns_id, artifact_path, content_hash)
) WITHOUT ROWID;
`;

// body_tasks as version 4 had it (migrate3to4 creates it; migrate4to5 replaces it).
const V4_BODY_DDL = `
CREATE TABLE IF NOT EXISTS body_tasks (
  ns_id INTEGER NOT NULL,
  artifact_path TEXT NOT NULL,
  content_hash BLOB NOT NULL,
  seq INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  pack_id INTEGER,
  off INTEGER,
  oid BLOB,
  PRIMARY KEY (ns_id, artifact_path, content_hash)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS body_tasks_seq ON body_tasks (seq, next_attempt_at);
`;

const CURRENT_DDL = `${SHARED_DDL}
-- One row per pending body upload, by seq (its index event's). (five namespace fields via ns_id,
-- artifact_path, content_hash) is unique (store.insertBody checks). The body is size_bytes at
-- "off" in pack pack_id (NULL: a v2 body file bodies/<sha256>). oid: the Git blob id (to re-read a
-- damaged body). akey: 52 bits of the SHA-256 of (ns_id, artifact_path) (bodyKey), the one index,
-- through which a merge finds an artifact's pending versions. v4 keyed the table by that triple
-- and indexed seq: two copies of every path and hash, a quarter of the file every hook loads.
CREATE TABLE IF NOT EXISTS body_tasks (
  seq INTEGER PRIMARY KEY,
  akey INTEGER NOT NULL,
  ns_id INTEGER NOT NULL,
  artifact_path TEXT NOT NULL,
  content_hash BLOB NOT NULL,
  size_bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  pack_id INTEGER,
  off INTEGER,
  oid BLOB
);
CREATE INDEX IF NOT EXISTS body_tasks_akey ON body_tasks (akey);
`;

const V2_DDL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS namespaces (
  ns_id INTEGER PRIMARY KEY,
  project_uuid TEXT NOT NULL, feature_slug TEXT NOT NULL, target_branch TEXT NOT NULL,
  mission_key TEXT NOT NULL, manifest_version TEXT NOT NULL,
  UNIQUE (project_uuid, feature_slug, target_branch, mission_key, manifest_version)
);
CREATE TABLE IF NOT EXISTS contexts (
  ctx_id INTEGER PRIMARY KEY,
  project_slug TEXT NOT NULL, repo_slug TEXT NOT NULL, git_branch TEXT NOT NULL, head_commit_sha TEXT NOT NULL,
  UNIQUE (project_slug, repo_slug, git_branch, head_commit_sha)
);
-- One row per pending body upload, keyed by the unique tuple (five namespace fields via ns_id,
-- artifact_path, content_hash): the table is its own unique index. content_hash is the raw 32-byte
-- SHA-256. upload_id and event_id are not stored: both are ULIDs derived from (created_at, seq).
CREATE TABLE IF NOT EXISTS body_tasks (
  ns_id INTEGER NOT NULL,
  artifact_path TEXT NOT NULL,
  content_hash BLOB NOT NULL,
  seq INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  PRIMARY KEY (ns_id, artifact_path, content_hash)
) WITHOUT ROWID;
-- Oldest-first scans and "ready" counts read only this index.
CREATE UNIQUE INDEX IF NOT EXISTS body_tasks_seq ON body_tasks (seq, next_attempt_at);
-- One row per unsent MissionDossierArtifactIndexed event; seq equals its body task's seq and the
-- artifact columns are taken from that task. They are copied here (ns_id ... size_bytes) only when
-- the task leaves the queue before its event does.
CREATE TABLE IF NOT EXISTS index_events (
  seq INTEGER PRIMARY KEY,
  ctx_id INTEGER NOT NULL,
  artifact_key TEXT NOT NULL,
  artifact_class TEXT NOT NULL,
  wp_id TEXT,
  step_id TEXT,
  required INTEGER NOT NULL,
  lamport_clock INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  ns_id INTEGER,
  artifact_path TEXT,
  content_hash BLOB,
  size_bytes INTEGER
);
CREATE INDEX IF NOT EXISTS index_events_detached ON index_events (ns_id, artifact_path) WHERE ns_id IS NOT NULL;
-- Permanently failed work: the whole task as JSON (few rows), why, and when. superseded is set
-- when a newer version of the artifact is enqueued: such a letter is never re-queued.
CREATE TABLE IF NOT EXISTS dead_letters (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('body', 'event')),
  ref_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ns_id INTEGER,
  feature_slug TEXT NOT NULL,
  artifact_path TEXT NOT NULL,
  content_hash TEXT,
  task TEXT NOT NULL,
  reason TEXT NOT NULL,
  failed_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  superseded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS dead_letters_artifact ON dead_letters (ns_id, artifact_path);
`;

// What version 3 added to version 2 (047: envelopes carry team_slug; snapshots are queued).
const V3_DDL = `
CREATE TABLE IF NOT EXISTS snapshot_events (
  seq INTEGER PRIMARY KEY,
  ns_id INTEGER NOT NULL,
  ctx_id INTEGER NOT NULL,
  facts TEXT NOT NULL,
  lamport_clock INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT
);
`;

/** Tables of schema version 1 (see the migrations below). */
export const V1_TABLES = ['meta', 'body_tasks', 'index_events', 'dead_letters'] as const;

/** Creates the current tables and indexes. */
export function createTables(db: Database): void {
  db.exec(CURRENT_DDL);
}

export class SchemaError extends Error {
  constructor(
    message: string,
    readonly corrupt: boolean,
  ) {
    super(message);
    this.name = 'SchemaError';
  }
}

function scalar(db: Database, sql: string, params: (string | number | null)[] = []): unknown {
  const stmt = db.prepare(sql);
  try {
    stmt.bind(params);
    return stmt.step() ? stmt.get()[0] : undefined;
  } finally {
    stmt.free();
  }
}

export function getMeta(db: Database, key: string): string | undefined {
  const v = scalar(db, 'SELECT value FROM meta WHERE key = ?', [key]);
  return v === undefined || v === null ? undefined : String(v);
}

export function setMeta(db: Database, key: string, value: string | number): void {
  db.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, String(value)]);
}

/** Creates the current schema in an empty database. */
export function createSchema(db: Database, nodeId: string): void {
  db.exec('BEGIN');
  db.exec(CURRENT_DDL);
  setMeta(db, 'schema_version', SCHEMA_VERSION);
  setMeta(db, 'lamport_clock', 0);
  setMeta(db, 'enqueue_seq', 0);
  // No wait is stored yet, so any clock mark holds (QueueStore.clockHigh); saves raise it.
  setMeta(db, 'clock_high', 0);
  setMeta(db, 'node_id', nodeId);
  db.exec('COMMIT');
}

/** Version of an existing database; throws SchemaError(corrupt) when it is not a queue database. */
export function schemaVersion(db: Database): number {
  const names = new Set<string>();
  for (const { name } of queryRows<'name'>(db, "SELECT name FROM sqlite_master WHERE type = 'table'")) names.add(String(name));
  if (!names.has('meta')) throw new SchemaError('it has no meta table (not a kitty-sync queue)', true);
  const raw = getMeta(db, 'schema_version');
  const version = Number(raw);
  if (!Number.isInteger(version) || version < 1) throw new SchemaError(`its schema_version ${JSON.stringify(raw)} is invalid`, true);
  if (version > SCHEMA_VERSION) {
    throw new SchemaError(`it has schema version ${version}, newer than this kitty-sync understands (${SCHEMA_VERSION}); upgrade kitty-sync`, false);
  }
  const required = version >= 4 ? TABLES : version === 3 ? V3_TABLES : version === 2 ? V2_TABLES : V1_TABLES;
  const missing = required.filter((t) => !names.has(t));
  if (missing.length) throw new SchemaError(`tables missing: ${missing.join(', ')}`, true);
  return version;
}

// ---------------------------------------------------------------------------------------------
// Migrations. Each takes a database at version N (inside a transaction) and leaves it at N + 1.

/**
 * v1 stored the five namespace fields and text ids on every body task and each event's whole
 * envelope as JSON. v2 re-keys them (see the header). Ids are derived from (created_at, seq) in v2,
 * so pending work gets new upload/event ids; the server deduplicates index events by content anyway.
 */
function migrate1to2(db: Database): void {
  db.exec(`
    ALTER TABLE body_tasks RENAME TO v1_body_tasks;
    ALTER TABLE index_events RENAME TO v1_index_events;
    ALTER TABLE dead_letters RENAME TO v1_dead_letters;
  `);
  db.exec(V2_DDL);
  let seq = Number(getMeta(db, 'enqueue_seq') ?? 0) || 0;
  const hashBytes = (hex: unknown): Uint8Array => Buffer.from(String(hex), 'hex');
  const nsId = (vals: string[]): number => {
    db.run('INSERT OR IGNORE INTO namespaces (project_uuid, feature_slug, target_branch, mission_key, manifest_version) VALUES (?,?,?,?,?)', vals);
    return Number(scalar(db, 'SELECT ns_id FROM namespaces WHERE project_uuid=? AND feature_slug=? AND target_branch=? AND mission_key=? AND manifest_version=?', vals));
  };
  const nsVals = (ns: Record<string, unknown>): string[] => [ns.project_uuid, ns.feature_slug, ns.target_branch, ns.mission_key, ns.manifest_version].map((v) => String(v ?? ''));

  // Body tasks first, oldest first; remember which seq each v1 event id got.
  const seqByEvent = new Map<string, number>();
  const tasks = queryRows<NsCol | 'artifact_path' | 'content_hash' | 'size_bytes' | 'event_id' | 'created_at' | 'retry_count' | 'next_attempt_at' | 'last_error'>(
    db,
    `SELECT project_uuid, feature_slug, target_branch, mission_key, manifest_version, artifact_path, content_hash,
      size_bytes, event_id, created_at, retry_count, next_attempt_at, last_error FROM v1_body_tasks ORDER BY created_at, upload_id`,
  );
  for (const r of tasks) {
    const ns = nsId([r.project_uuid, r.feature_slug, r.target_branch, r.mission_key, r.manifest_version].map(String));
    const s = ++seq;
    db.run(
      `INSERT OR IGNORE INTO body_tasks (ns_id, artifact_path, content_hash, seq, size_bytes, created_at, retry_count, next_attempt_at, last_error)
       VALUES (?,?,?,?,?,?,?,?,?)`,
      [ns, r.artifact_path, hashBytes(r.content_hash), s, Number(r.size_bytes) || 0, Number(r.created_at) || 0, Number(r.retry_count) || 0, Number(r.next_attempt_at) || 0, r.last_error],
    );
    if (r.event_id !== null) seqByEvent.set(String(r.event_id), s);
  }

  const events = queryRows<'event_id' | 'envelope' | 'created_at' | 'retry_count' | 'next_attempt_at' | 'last_error'>(
    db,
    'SELECT event_id, envelope, created_at, retry_count, next_attempt_at, last_error FROM v1_index_events ORDER BY created_at, event_id',
  );
  for (const { event_id: eventId, envelope, created_at: createdAt, retry_count: retries, next_attempt_at: next, last_error: lastError } of events) {
    let env: { payload?: Record<string, unknown> } & Record<string, unknown> = {};
    try {
      env = JSON.parse(String(envelope)) as typeof env;
    } catch {
      /* handled below */
    }
    const p = env.payload;
    if (!p || typeof p.namespace !== 'object' || p.namespace === null) {
      // Cannot be sent; keep it visible as a dead letter rather than failing the migration.
      db.run(
        `INSERT INTO dead_letters (id, kind, ref_id, seq, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count, superseded)
         VALUES (?, 'event', ?, 0, '', '', NULL, ?, 'migration_unreadable_event', ?, 0, 1)`,
        [`migrated-${String(eventId)}`, String(eventId), JSON.stringify({ envelope }), Number(createdAt) || 0],
      );
      continue;
    }
    const ctxVals = [env.project_slug, env.repo_slug, env.git_branch, env.head_commit_sha].map((v) => String(v ?? ''));
    db.run('INSERT OR IGNORE INTO contexts (project_slug, repo_slug, git_branch, head_commit_sha) VALUES (?,?,?,?)', ctxVals);
    const ctx = Number(scalar(db, 'SELECT ctx_id FROM contexts WHERE project_slug=? AND repo_slug=? AND git_branch=? AND head_commit_sha=?', ctxVals));
    let s = seqByEvent.get(String(eventId));
    // An event whose body task is gone carries the artifact columns itself.
    const detached = s === undefined;
    if (s === undefined) s = ++seq;
    const ns = nsId(nsVals(p.namespace as Record<string, unknown>));
    db.run(
      `INSERT INTO index_events (seq, ctx_id, artifact_key, artifact_class, wp_id, step_id, required, lamport_clock, created_at,
         retry_count, next_attempt_at, last_error, ns_id, artifact_path, content_hash, size_bytes)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      [
        s,
        ctx,
        String(p.artifact_key),
        String(p.artifact_class ?? 'other'),
        (p.wp_id as string | null) ?? null,
        (p.step_id as string | null) ?? null,
        p.required_status === 'required' ? 1 : 0,
        Number(env.lamport_clock) || 0,
        Number(createdAt) || 0,
        Number(retries) || 0,
        Number(next) || 0,
        lastError ?? null,
        detached ? ns : null,
        detached ? String(p.relative_path) : null,
        detached ? hashBytes(p.content_hash_sha256) : null,
        detached ? Number(p.size_bytes) || 0 : null,
      ],
    );
  }

  const dead = queryRows<'id' | 'kind' | 'ref_id' | 'task' | 'reason' | 'failed_at'>(db, 'SELECT id, kind, ref_id, task, reason, failed_at FROM v1_dead_letters');
  for (const { id, kind, ref_id: refId, task, reason, failed_at: failedAt } of dead) {
    let t: Record<string, unknown> = {};
    try {
      t = JSON.parse(String(task)) as Record<string, unknown>;
    } catch {
      /* keep an empty snapshot; the row stays listable */
    }
    const ns = (t.namespace ?? null) as Record<string, unknown> | null;
    db.run(
      `INSERT INTO dead_letters (id, kind, ref_id, seq, ns_id, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count)
       VALUES (?,?,?,0,?,?,?,?,?,?,?,?)`,
      [
        String(id),
        kind === 'event' ? 'event' : 'body',
        String(refId),
        ns ? nsId(nsVals(ns)) : null,
        String(ns?.feature_slug ?? ''),
        String(t.artifact_path ?? ''),
        typeof t.content_hash === 'string' ? t.content_hash : null,
        String(task),
        String(reason),
        Number(failedAt) || 0,
        Number(t.retry_count) || 0,
      ],
    );
  }

  db.exec('DROP TABLE v1_body_tasks; DROP TABLE v1_index_events; DROP TABLE v1_dead_letters;');
  setMeta(db, 'enqueue_seq', seq);
  if (getMeta(db, 'lamport_clock') === undefined) setMeta(db, 'lamport_clock', 0);
}

/**
 * v3 (047 conformance): envelopes carry team_slug (contexts gain the column, in their unique key)
 * and snapshots are queued in snapshot_events.
 */
function migrate2to3(db: Database): void {
  const cols = queryRows<'name'>(db, 'PRAGMA table_info(contexts)').map((c) => String(c.name));
  if (!cols.includes('team_slug')) {
    db.exec(`ALTER TABLE contexts RENAME TO v2_contexts;
      CREATE TABLE contexts (
        ctx_id INTEGER PRIMARY KEY,
        project_slug TEXT NOT NULL, repo_slug TEXT NOT NULL, git_branch TEXT NOT NULL, head_commit_sha TEXT NOT NULL,
        team_slug TEXT NOT NULL DEFAULT 'local',
        UNIQUE (project_slug, repo_slug, git_branch, head_commit_sha, team_slug)
      );
      INSERT INTO contexts (ctx_id, project_slug, repo_slug, git_branch, head_commit_sha, team_slug)
      SELECT ctx_id, project_slug, repo_slug, git_branch, head_commit_sha, 'local' FROM v2_contexts;
      DROP TABLE v2_contexts;`);
  }
  db.exec(V3_DDL);
}

/**
 * v3 -> v4: bodies stay where v3 put them (bodies/<sha256>: pack_id NULL); each pending event
 * (Indexed or snapshot) gets its envelope inline, built once from v3's columns, under the event id
 * v3 derived (so the server still deduplicates an event v3 already sent).
 */
function migrate3to4(db: Database): void {
  db.exec(`
    ALTER TABLE body_tasks ADD COLUMN pack_id INTEGER;
    ALTER TABLE body_tasks ADD COLUMN off INTEGER;
    ALTER TABLE body_tasks ADD COLUMN oid BLOB;
    ALTER TABLE dead_letters ADD COLUMN pack_id INTEGER;
    ALTER TABLE dead_letters ADD COLUMN off INTEGER;
    ALTER TABLE dead_letters ADD COLUMN len INTEGER;
    DROP INDEX IF EXISTS index_events_detached;
    ALTER TABLE index_events RENAME TO v3_index_events;
  `);
  db.exec(SHARED_DDL + V4_BODY_DDL);
  const node = nodeBits(getMeta(db, 'node_id') ?? 'unknown');
  const envelopeNode = envelopeNodeId();
  const orNull = (v: unknown): string | null => (v === null || v === '' ? null : String(v));
  const context = (r: Row<CtxCol>) => ({
    team_slug: String(r.team_slug ?? 'local'),
    project_slug: String(r.project_slug),
    repo_slug: orNull(r.repo_slug),
    git_branch: orNull(r.git_branch),
    head_commit_sha: orNull(r.head_commit_sha),
  });
  const insert = (seq: number, eventId: string, skey: string, ident: string, envelope: unknown, lamport: number, createdAt: number, retry: unknown, next: unknown, lastError: unknown) =>
    db.run(
      `INSERT INTO index_events (seq, event_id, skey, ident, pack_id, off, len, envelope, lamport_clock, created_at, retry_count, next_attempt_at, last_error)
       VALUES (?,?,?,?,NULL,NULL,NULL,?,?,?,?,?,?)`,
      [seq, eventId, supersedeKey(skey), supersedeKey(ident), JSON.stringify(envelope), lamport, createdAt, Number(retry), Number(next), (lastError as string | null) ?? null],
    );
  type QueuedCol = NsCol | CtxCol | 'seq' | 'created_at' | 'lamport_clock' | 'retry_count' | 'next_attempt_at' | 'last_error';
  const indexed = queryRows<QueuedCol | 'artifact_path' | 'content_hash' | 'size_bytes' | 'artifact_key' | 'artifact_class' | 'wp_id' | 'step_id' | 'required'>(
    db,
    `SELECT e.seq, e.created_at, n.project_uuid, n.feature_slug, n.target_branch, n.mission_key, n.manifest_version,
      c.project_slug, c.repo_slug, c.git_branch, c.head_commit_sha, c.team_slug,
      COALESCE(e.artifact_path, b.artifact_path) AS artifact_path, lower(hex(COALESCE(e.content_hash, b.content_hash))) AS content_hash,
      COALESCE(e.size_bytes, b.size_bytes) AS size_bytes,
      e.artifact_key, e.artifact_class, e.wp_id, e.step_id, e.required, e.lamport_clock, e.retry_count, e.next_attempt_at, e.last_error
    FROM v3_index_events e LEFT JOIN body_tasks b ON b.seq = e.seq
    JOIN namespaces n ON n.ns_id = COALESCE(e.ns_id, b.ns_id) JOIN contexts c ON c.ctx_id = e.ctx_id`,
  );
  for (const r of indexed) {
    const seq = Number(r.seq);
    const createdAt = Number(r.created_at);
    const rec: EventRecord = {
      event_id: encodeId(node, KIND_EVENT, createdAt, seq),
      namespace: nsOf(r),
      context: context(r),
      artifact_path: String(r.artifact_path),
      content_hash: String(r.content_hash),
      size_bytes: Number(r.size_bytes),
      classification: {
        artifact_key: String(r.artifact_key),
        artifact_class: String(r.artifact_class),
        wp_id: r.wp_id === null ? null : String(r.wp_id),
        step_id: r.step_id === null ? null : String(r.step_id),
        required_status: Number(r.required) ? 'required' : 'optional',
      },
      node_id: envelopeNode,
      lamport_clock: Number(r.lamport_clock),
      timestamp_ms: createdAt,
    };
    insert(seq, rec.event_id, artifactKey(rec.namespace, rec.artifact_path), rec.content_hash, buildIndexEvent(rec), rec.lamport_clock, createdAt, r.retry_count, r.next_attempt_at, r.last_error);
  }
  const snapshots = queryRows<QueuedCol | 'facts'>(
    db,
    `SELECT s.seq, s.created_at, n.project_uuid, n.feature_slug, n.target_branch, n.mission_key, n.manifest_version,
      c.project_slug, c.repo_slug, c.git_branch, c.head_commit_sha, c.team_slug, s.facts, s.lamport_clock, s.retry_count, s.next_attempt_at, s.last_error
    FROM snapshot_events s JOIN namespaces n ON n.ns_id = s.ns_id JOIN contexts c ON c.ctx_id = s.ctx_id`,
  );
  for (const r of snapshots) {
    const seq = Number(r.seq);
    const createdAt = Number(r.created_at);
    const eventId = encodeId(node, KIND_EVENT, createdAt, seq);
    const facts = JSON.parse(String(r.facts)) as Pick<SnapshotRecord, 'parity_hash_sha256' | 'artifact_counts' | 'completeness_status'>;
    const rec: SnapshotRecord = {
      event_id: eventId,
      snapshot_id: snapshotUuid(eventId),
      namespace: nsOf(r),
      ...facts,
      context: context(r),
      node_id: envelopeNode,
      lamport_clock: Number(r.lamport_clock),
      timestamp_ms: createdAt,
    };
    insert(seq, eventId, snapshotKey(rec.namespace), String(r.facts), buildSnapshotEvent(rec), rec.lamport_clock, createdAt, r.retry_count, r.next_attempt_at, r.last_error);
  }
  db.exec('DROP TABLE v3_index_events; DROP TABLE snapshot_events; DROP TABLE contexts;');
}

/** The supersede key of a feature's snapshot: a newer pending snapshot of the namespace replaces it. */
export function snapshotKey(ns: Parameters<typeof namespaceKey>[0]): string {
  return `snapshot ${namespaceKey(ns)}`;
}

/** v5 keys body tasks by seq and finds them by a hashed (ns_id, artifact_path) (see body_tasks above); the rows are copied as they are. */
function migrate4to5(db: Database): void {
  db.exec('DROP INDEX IF EXISTS body_tasks_seq; ALTER TABLE body_tasks RENAME TO v4_body_tasks;');
  db.exec(CURRENT_DDL);
  const cols = 'seq, ns_id, artifact_path, content_hash, size_bytes, created_at, retry_count, next_attempt_at, last_error, pack_id, off, oid';
  const insert = db.prepare(`INSERT INTO body_tasks (akey, ${cols}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`);
  try {
    for (const r of queryRows<string>(db, `SELECT ${cols} FROM v4_body_tasks ORDER BY seq`)) {
      insert.run([bodyKey(Number(r.ns_id), String(r.artifact_path)), ...cols.split(', ').map((c) => r[c])]);
    }
  } finally {
    insert.free();
  }
  db.exec('DROP TABLE v4_body_tasks');
}

export const MIGRATIONS: Record<number, (db: Database) => void> = { 1: migrate1to2, 2: migrate2to3, 3: migrate3to4, 4: migrate4to5 };

/** Brings a database from `from` to SCHEMA_VERSION, one version per transaction. Returns whether anything ran. */
export function migrate(db: Database, from: number, migrations: Record<number, (db: Database) => void> = MIGRATIONS): boolean {
  for (let v = from; v < SCHEMA_VERSION; v++) {
    const step = migrations[v];
    if (!step) throw new SchemaError(`no migration from schema version ${v}`, false);
    db.exec('BEGIN');
    try {
      step(db);
      setMeta(db, 'schema_version', v + 1);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
  return from < SCHEMA_VERSION;
}
