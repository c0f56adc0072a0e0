// Queue database schema and its migrations by version (SPEC §6).
//
// Version 2 (current) keeps rows small because sql.js loads and writes the whole file in every hook
// (bench/queue.ts): namespaces and commit contexts are stored once and referenced by integer id,
// hashes are raw bytes, ids are derived rather than stored, and an index event is a few columns over
// its body task (its envelope is rebuilt on read) instead of a JSON document per row.
import type { Database } from 'sql.js';

export const SCHEMA_VERSION = 3;

export const TABLES = ['meta', 'namespaces', 'contexts', 'body_tasks', 'index_events', 'snapshot_events', 'dead_letters'] as const;

const CURRENT_DDL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS namespaces (
  ns_id INTEGER PRIMARY KEY,
  project_uuid TEXT NOT NULL, feature_slug TEXT NOT NULL, target_branch TEXT NOT NULL,
  mission_key TEXT NOT NULL, manifest_version TEXT NOT NULL,
  UNIQUE (project_uuid, feature_slug, target_branch, mission_key, manifest_version)
);
-- An event envelope's context. A null on the wire (no origin, no branch) is stored as '' so the
-- UNIQUE constraint can find the row again (NULLs are all distinct to it).
CREATE TABLE IF NOT EXISTS contexts (
  ctx_id INTEGER PRIMARY KEY,
  project_slug TEXT NOT NULL, repo_slug TEXT NOT NULL, git_branch TEXT NOT NULL, head_commit_sha TEXT NOT NULL,
  team_slug TEXT NOT NULL DEFAULT 'local',
  UNIQUE (project_slug, repo_slug, git_branch, head_commit_sha, team_slug)
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
-- One row per unsent MissionDossierSnapshotComputed event (one per feature and sync); seq comes from
-- the same counter as index events, so a snapshot is sent after the Indexed events it sums up.
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
CREATE INDEX IF NOT EXISTS snapshot_events_ns ON snapshot_events (ns_id);
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

/** Tables of schema version 1 (see migrations in queue.ts). */
export const V1_TABLES = ['meta', 'body_tasks', 'index_events', 'dead_letters'] as const;

/** Creates the current tables and indexes (used by createSchema and by migrations). */
export function createTables(db: Database): void {
  db.exec(CURRENT_DDL);
}

export class SchemaError extends Error {
  constructor(message: string, readonly corrupt: boolean) {
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
  setMeta(db, 'node_id', nodeId);
  db.exec('COMMIT');
}

/** Version of an existing database; throws SchemaError(corrupt) when it is not a queue database. */
export function schemaVersion(db: Database): number {
  const names = new Set<string>();
  const res = db.exec("SELECT name FROM sqlite_master WHERE type = 'table'");
  for (const row of res[0]?.values ?? []) names.add(String(row[0]));
  if (!names.has('meta')) throw new SchemaError('it has no meta table (not a kitty-sync queue)', true);
  const raw = getMeta(db, 'schema_version');
  const version = Number(raw);
  if (!Number.isInteger(version) || version < 1) throw new SchemaError(`its schema_version ${JSON.stringify(raw)} is invalid`, true);
  if (version > SCHEMA_VERSION) {
    throw new SchemaError(
      `it has schema version ${version}, newer than this kitty-sync understands (${SCHEMA_VERSION}); upgrade kitty-sync`,
      false,
    );
  }
  const required = version === SCHEMA_VERSION ? TABLES : V1_TABLES;
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
  createTables(db);
  let seq = Number(getMeta(db, 'enqueue_seq') ?? 0) || 0;
  const hashBytes = (hex: unknown): Uint8Array => Buffer.from(String(hex), 'hex');
  const nsId = (vals: string[]): number => {
    db.run('INSERT OR IGNORE INTO namespaces (project_uuid, feature_slug, target_branch, mission_key, manifest_version) VALUES (?,?,?,?,?)', vals);
    return Number(scalar(db, 'SELECT ns_id FROM namespaces WHERE project_uuid=? AND feature_slug=? AND target_branch=? AND mission_key=? AND manifest_version=?', vals));
  };
  const nsVals = (ns: Record<string, unknown>): string[] =>
    [ns.project_uuid, ns.feature_slug, ns.target_branch, ns.mission_key, ns.manifest_version].map((v) => String(v ?? ''));

  // Body tasks first, oldest first; remember which seq each v1 event id got.
  const seqByEvent = new Map<string, number>();
  const tasks = db.exec(`SELECT project_uuid, feature_slug, target_branch, mission_key, manifest_version, artifact_path, content_hash,
      size_bytes, event_id, created_at, retry_count, next_attempt_at, last_error FROM v1_body_tasks ORDER BY created_at, upload_id`);
  for (const r of tasks[0]?.values ?? []) {
    const ns = nsId(r.slice(0, 5).map(String));
    const s = ++seq;
    db.run(
      `INSERT OR IGNORE INTO body_tasks (ns_id, artifact_path, content_hash, seq, size_bytes, created_at, retry_count, next_attempt_at, last_error)
       VALUES (?,?,?,?,?,?,?,?,?)`,
      [ns, r[5], hashBytes(r[6]), s, Number(r[7]) || 0, Number(r[9]) || 0, Number(r[10]) || 0, Number(r[11]) || 0, r[12]],
    );
    if (r[8] !== null) seqByEvent.set(String(r[8]), s);
  }

  const events = db.exec('SELECT event_id, envelope, created_at, retry_count, next_attempt_at, last_error FROM v1_index_events ORDER BY created_at, event_id');
  for (const [eventId, envelope, createdAt, retries, next, lastError] of events[0]?.values ?? []) {
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
        s, ctx, String(p.artifact_key), String(p.artifact_class ?? 'other'), (p.wp_id as string | null) ?? null, (p.step_id as string | null) ?? null,
        p.required_status === 'required' ? 1 : 0, Number(env.lamport_clock) || 0, Number(createdAt) || 0,
        Number(retries) || 0, Number(next) || 0, lastError ?? null,
        detached ? ns : null, detached ? String(p.relative_path) : null, detached ? hashBytes(p.content_hash_sha256) : null,
        detached ? Number(p.size_bytes) || 0 : null,
      ],
    );
  }

  const dead = db.exec('SELECT id, kind, ref_id, task, reason, failed_at FROM v1_dead_letters');
  for (const [id, kind, refId, task, reason, failedAt] of dead[0]?.values ?? []) {
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
        String(id), kind === 'event' ? 'event' : 'body', String(refId), ns ? nsId(nsVals(ns)) : null,
        String(ns?.feature_slug ?? ''), String(t.artifact_path ?? ''), typeof t.content_hash === 'string' ? t.content_hash : null,
        String(task), String(reason), Number(failedAt) || 0, Number(t.retry_count) || 0,
      ],
    );
  }

  db.exec('DROP TABLE v1_body_tasks; DROP TABLE v1_index_events; DROP TABLE v1_dead_letters;');
  setMeta(db, 'enqueue_seq', seq);
  if (getMeta(db, 'lamport_clock') === undefined) setMeta(db, 'lamport_clock', 0);
}

/**
 * v3 (047 conformance): envelopes carry team_slug (contexts gain the column, in their unique key)
 * and snapshots are queued in snapshot_events. A database migrated from v1 already has both.
 */
function migrate2to3(db: Database): void {
  const cols = db.exec('PRAGMA table_info(contexts)')[0]?.values.map((r) => String(r[1])) ?? [];
  if (!cols.includes('team_slug')) {
    db.exec('ALTER TABLE contexts RENAME TO v2_contexts');
    createTables(db);
    db.exec(`INSERT INTO contexts (ctx_id, project_slug, repo_slug, git_branch, head_commit_sha, team_slug)
      SELECT ctx_id, project_slug, repo_slug, git_branch, head_commit_sha, 'local' FROM v2_contexts;
      DROP TABLE v2_contexts;`);
  }
  createTables(db);
}

export const MIGRATIONS: Record<number, (db: Database) => void> = { 1: migrate1to2, 2: migrate2to3 };

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
