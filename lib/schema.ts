// Queue database schema and its migrations by version (SPEC §6).
//
// Version 2 (current) keeps rows small because sql.js loads and writes the whole file in every hook:
// namespaces and commit contexts are stored once and referenced by integer id, an index event is
// stored as columns (its envelope is rebuilt on read) instead of a JSON document per row, and `seq`
// (a global enqueue sequence) is the integer primary key, so "oldest first" is a rowid scan.
import type { Database } from 'sql.js';

export const SCHEMA_VERSION = 2;

export const TABLES = ['meta', 'namespaces', 'contexts', 'body_tasks', 'index_events', 'dead_letters', 'latest_versions'] as const;

const CURRENT_DDL = `
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
-- One row per pending body upload. The five namespace fields live in namespaces (ns_id), so the
-- unique key (five namespace fields, artifact_path, content_hash) is UNIQUE (ns_id, artifact_path, content_hash).
CREATE TABLE IF NOT EXISTS body_tasks (
  seq INTEGER PRIMARY KEY,
  upload_id TEXT NOT NULL UNIQUE,
  ns_id INTEGER NOT NULL REFERENCES namespaces (ns_id),
  artifact_path TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  hash_algorithm TEXT NOT NULL DEFAULT 'sha256',
  size_bytes INTEGER NOT NULL,
  event_id TEXT,
  created_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  UNIQUE (ns_id, artifact_path, content_hash)
);
CREATE INDEX IF NOT EXISTS body_tasks_next ON body_tasks (next_attempt_at);
-- One row per unsent MissionDossierArtifactIndexed event; seq equals its body task's seq.
CREATE TABLE IF NOT EXISTS index_events (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  ns_id INTEGER NOT NULL REFERENCES namespaces (ns_id),
  ctx_id INTEGER NOT NULL REFERENCES contexts (ctx_id),
  artifact_path TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  artifact_key TEXT NOT NULL,
  artifact_class TEXT NOT NULL,
  wp_id TEXT,
  step_id TEXT,
  required_status TEXT NOT NULL,
  lamport_clock INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS index_events_next ON index_events (next_attempt_at);
-- Permanently failed work: the whole task as JSON (few rows), why, and when.
CREATE TABLE IF NOT EXISTS dead_letters (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('body', 'event')),
  ref_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  feature_slug TEXT NOT NULL,
  artifact_path TEXT NOT NULL,
  content_hash TEXT,
  task TEXT NOT NULL,
  reason TEXT NOT NULL,
  failed_at INTEGER NOT NULL,
  retry_count INTEGER NOT NULL DEFAULT 0
);
-- The newest version ever enqueued per artifact: an older version is never delivered after it.
CREATE TABLE IF NOT EXISTS latest_versions (
  ns_id INTEGER NOT NULL,
  artifact_path TEXT NOT NULL,
  seq INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  PRIMARY KEY (ns_id, artifact_path)
) WITHOUT ROWID;
`;

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

const V1_TABLES = ['meta', 'body_tasks', 'index_events', 'dead_letters'] as const;

/**
 * v1 stored the five namespace fields on every body task and each event's whole envelope as JSON.
 * v2 normalizes both (see the header comment) and adds per-artifact version tracking.
 */
function migrate1to2(db: Database): void {
  db.exec(`
    ALTER TABLE body_tasks RENAME TO v1_body_tasks;
    ALTER TABLE index_events RENAME TO v1_index_events;
    ALTER TABLE dead_letters RENAME TO v1_dead_letters;
  `);
  // v1 had autoindexes only; named indexes of v2 must not collide, so create the v2 tables now.
  db.exec(CURRENT_DDL);
  let seq = Number(getMeta(db, 'enqueue_seq') ?? 0) || 0;

  const nsId = (ns: Record<string, unknown>): number => {
    const vals = [ns.project_uuid, ns.feature_slug, ns.target_branch, ns.mission_key, ns.manifest_version].map((v) => String(v ?? ''));
    db.run('INSERT OR IGNORE INTO namespaces (project_uuid, feature_slug, target_branch, mission_key, manifest_version) VALUES (?,?,?,?,?)', vals);
    return Number(scalar(db, 'SELECT ns_id FROM namespaces WHERE project_uuid=? AND feature_slug=? AND target_branch=? AND mission_key=? AND manifest_version=?', vals));
  };
  const latest = (ns: number, p: string, s: number, hash: string): void => {
    db.run(
      `INSERT INTO latest_versions (ns_id, artifact_path, seq, content_hash) VALUES (?,?,?,?)
       ON CONFLICT (ns_id, artifact_path) DO UPDATE SET seq = excluded.seq, content_hash = excluded.content_hash
       WHERE excluded.seq > latest_versions.seq`,
      [ns, p, s, hash],
    );
  };

  const seqByEvent = new Map<string, number>();
  const tasks = db.exec('SELECT upload_id, project_uuid, feature_slug, target_branch, mission_key, manifest_version, artifact_path, content_hash, hash_algorithm, size_bytes, event_id, created_at, retry_count, next_attempt_at, last_error FROM v1_body_tasks ORDER BY created_at, upload_id');
  for (const r of tasks[0]?.values ?? []) {
    const [uploadId, pu, fs, tb, mk, mv, artifactPath, hash, alg, size, eventId, createdAt, retries, next, lastError] = r;
    const ns = nsId({ project_uuid: pu, feature_slug: fs, target_branch: tb, mission_key: mk, manifest_version: mv });
    seq++;
    db.run(
      `INSERT INTO body_tasks (seq, upload_id, ns_id, artifact_path, content_hash, hash_algorithm, size_bytes, event_id, created_at, retry_count, next_attempt_at, last_error)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
      [seq, uploadId, ns, artifactPath, hash, alg ?? 'sha256', size, eventId, createdAt, retries ?? 0, next ?? createdAt, lastError],
    );
    latest(ns, String(artifactPath), seq, String(hash));
    if (eventId !== null) seqByEvent.set(String(eventId), seq);
  }

  const events = db.exec('SELECT event_id, envelope, created_at, retry_count, next_attempt_at, last_error FROM v1_index_events ORDER BY created_at, event_id');
  for (const [eventId, envelope, createdAt, retries, next, lastError] of events[0]?.values ?? []) {
    // An unparseable envelope cannot be sent anyway; keep it visible as a dead letter instead of failing the migration.
    let env: Record<string, any> | null = null;
    try {
      env = JSON.parse(String(envelope)) as Record<string, any>;
    } catch {
      env = null;
    }
    const p = env?.payload as Record<string, any> | undefined;
    if (!env || !p || typeof p.namespace !== 'object') {
      db.run(
        "INSERT INTO dead_letters (id, kind, ref_id, seq, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count) VALUES (?, 'event', ?, 0, '', '', NULL, ?, 'migration_unreadable_event', ?, 0)",
        [`migrated-${String(eventId)}`, eventId, JSON.stringify({ envelope }), Number(createdAt) || 0],
      );
      continue;
    }
    const ns = nsId(p.namespace as Record<string, unknown>);
    const ctxVals = [env.project_slug, env.repo_slug, env.git_branch, env.head_commit_sha].map((v) => String(v ?? ''));
    db.run('INSERT OR IGNORE INTO contexts (project_slug, repo_slug, git_branch, head_commit_sha) VALUES (?,?,?,?)', ctxVals);
    const ctx = Number(scalar(db, 'SELECT ctx_id FROM contexts WHERE project_slug=? AND repo_slug=? AND git_branch=? AND head_commit_sha=?', ctxVals));
    let s = seqByEvent.get(String(eventId));
    if (s === undefined) {
      s = ++seq;
      latest(ns, String(p.relative_path), s, String(p.content_hash_sha256));
    }
    db.run(
      `INSERT INTO index_events (seq, event_id, ns_id, ctx_id, artifact_path, content_hash, size_bytes, artifact_key, artifact_class, wp_id, step_id, required_status, lamport_clock, created_at, retry_count, next_attempt_at, last_error)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      [
        s, String(eventId), ns, ctx, String(p.relative_path), String(p.content_hash_sha256), Number(p.size_bytes) || 0,
        String(p.artifact_key), String(p.artifact_class ?? 'other'), p.wp_id ?? null, p.step_id ?? null,
        p.required_status === 'required' ? 'required' : 'optional', Number(env.lamport_clock) || 0,
        Number(Date.parse(String(env.timestamp))) || Number(createdAt) || 0, Number(retries) || 0, Number(next) || 0, lastError ?? null,
      ],
    );
  }

  const dead = db.exec('SELECT id, kind, ref_id, task, reason, failed_at FROM v1_dead_letters');
  for (const [id, kind, refId, task, reason, failedAt] of dead[0]?.values ?? []) {
    let t: Record<string, any> = {};
    try {
      t = JSON.parse(String(task)) as Record<string, any>;
    } catch {
      /* keep an empty snapshot; the row stays listable */
    }
    const payload = (t.envelope?.payload ?? {}) as Record<string, any>;
    db.run(
      'INSERT INTO dead_letters (id, kind, ref_id, seq, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
      [
        String(id), kind === 'event' ? 'event' : 'body', String(refId), 0,
        String(t.feature_slug ?? payload.feature_slug ?? ''), String(t.artifact_path ?? payload.relative_path ?? ''),
        t.content_hash ?? payload.content_hash_sha256 ?? null, String(task), String(reason), Number(failedAt) || 0, Number(t.retry_count) || 0,
      ],
    );
  }

  db.exec('DROP TABLE v1_body_tasks; DROP TABLE v1_index_events; DROP TABLE v1_dead_letters;');
  setMeta(db, 'enqueue_seq', seq);
  if (getMeta(db, 'lamport_clock') === undefined) setMeta(db, 'lamport_clock', 0);
}

const MIGRATIONS: Record<number, (db: Database) => void> = { 1: migrate1to2 };

/** Brings a database from `from` to SCHEMA_VERSION, one version per transaction. Returns whether anything ran. */
export function migrate(db: Database, from: number): boolean {
  for (let v = from; v < SCHEMA_VERSION; v++) {
    const step = MIGRATIONS[v];
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
