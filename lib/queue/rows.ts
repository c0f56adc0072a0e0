// Row access by column name. Every SELECT names its columns (aliases where two tables share a
// name), and rows come back as objects keyed by those names, so no code depends on a column's
// position. The names are read once per prepared statement (statements are cached), so a row costs
// one small object, not a column-name lookup each. Body tasks and events come as one JSON value
// (JsonRead), whose names and values are listed side by side.
import type { BindParams, Database, SqlValue, Statement } from 'sql.js';
import type { NamespaceRef } from '../types.js';
import type { BodyTask } from './types.js';

/** A row keyed by its SELECT's column names; K lists the names the caller reads. */
export type Row<K extends string = string> = Record<K, SqlValue>;

export const HASH_RE = /^[0-9a-f]{64}$/;
export const OID_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** A blob as lowercase hex; a value read through Sql.allJson is that text already. */
export const hexOf = (v: SqlValue): string => (typeof v === 'string' ? v : Buffer.from(v as Uint8Array).toString('hex'));
export const bytesOf = (hex: string): Uint8Array => Buffer.from(hex, 'hex');
export const str = (v: SqlValue): string | null => (v === null || v === undefined ? null : String(v));
export const numOrNull = (v: SqlValue): number | null => (v === null || v === undefined ? null : Number(v));

function named<K extends string>(cols: readonly string[], values: SqlValue[]): Row<K> {
  const row: Record<string, SqlValue> = {};
  for (let i = 0; i < cols.length; i++) row[cols[i]] = values[i];
  return row as Row<K>;
}

/** The rows of a one-off query (migrations: no statement worth caching), keyed by column name. */
export function queryRows<K extends string>(db: Database, sql: string): Row<K>[] {
  const res = db.exec(sql)[0];
  return res ? res.values.map((v) => named<K>(res.columns, v)) : [];
}

/** Prepared statements (cached per SQL text) with their column names, and the transaction helper. */
export class Sql {
  private readonly stmts = new Map<string, { stmt: Statement; cols: string[] }>();

  constructor(readonly db: Database) {}

  private prepared(sql: string): { stmt: Statement; cols: string[] } {
    let p = this.stmts.get(sql);
    if (!p) {
      const stmt = this.db.prepare(sql);
      p = { stmt, cols: stmt.getColumnNames() };
      this.stmts.set(sql, p);
    }
    return p;
  }

  all<K extends string>(sql: string, params: BindParams = []): Row<K>[] {
    const { stmt, cols } = this.prepared(sql);
    stmt.bind(params);
    const rows: Row<K>[] = [];
    try {
      while (stmt.step()) rows.push(named<K>(cols, stmt.get()));
    } finally {
      stmt.reset();
    }
    return rows;
  }

  one<K extends string>(sql: string, params: BindParams = []): Row<K> | undefined {
    const { stmt, cols } = this.prepared(sql);
    stmt.bind(params);
    try {
      return stmt.step() ? named<K>(cols, stmt.get()) : undefined;
    } finally {
      stmt.reset();
    }
  }

  /** The single value a scalar query (COUNT, EXISTS, MIN…) returns, or undefined without a row. */
  value(sql: string, params: BindParams = []): SqlValue | undefined {
    const { stmt } = this.prepared(sql);
    stmt.bind(params);
    try {
      return stmt.step() ? stmt.get()[0] : undefined;
    } finally {
      stmt.reset();
    }
  }

  /**
   * all(), with the rows built inside SQLite as one JSON array (see JsonRead): one string crosses
   * out of sql.js instead of one value per column (a drain's 2,000 events or bodies: about a third
   * less CPU for the read). `params` are the condition's; the row limit is appended.
   */
  allJson<K extends string>(read: JsonRead<K>, where: string, params: SqlValue[], limit: number): Row<K>[] {
    const rows = JSON.parse(String(this.value(read.sql(where), [...params, limit]) ?? '[]')) as SqlValue[][];
    return rows.map((values) => named<K>(read.cols, values));
  }

  count(sql: string, params: BindParams = []): number {
    return Number(this.value(sql, params) ?? 0);
  }

  /** Runs a change; returns how many rows it changed. */
  run(sql: string, params: BindParams = []): number {
    this.prepared(sql).stmt.run(params);
    return this.db.getRowsModified();
  }

  lastInsertId(): number {
    return Number(this.value('SELECT last_insert_rowid()'));
  }

  transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN');
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  free(): void {
    for (const p of this.stmts.values()) p.stmt.free();
    this.stmts.clear();
  }
}

// --- the shared SELECTs and their decoders ---------------------------------------------------------

export type NsCol = 'project_uuid' | 'feature_slug' | 'target_branch' | 'mission_key' | 'manifest_version';
/** The five namespace columns of `namespaces n`, under their own names. */
export const NS_COLS = 'n.project_uuid, n.feature_slug, n.target_branch, n.mission_key, n.manifest_version';

export function nsOf(r: Row<NsCol>): NamespaceRef {
  return {
    project_uuid: String(r.project_uuid),
    feature_slug: String(r.feature_slug),
    target_branch: String(r.target_branch),
    mission_key: String(r.mission_key),
    manifest_version: String(r.manifest_version),
  };
}

/** A body task with its namespace, the event it waits for (null once that was sent), and where its body is. */
export type BodyCol = 'seq' | 'created_at' | 'artifact_path' | 'content_hash' | 'size_bytes' | 'retry_count' | 'next_attempt_at' | 'last_error' | 'ns_id' | 'event_id' | 'pack_name' | 'off' | 'oid' | 'pack_id';
export type BodyRow = Row<BodyCol>;

/** What turns a body row into a task besides its own columns: its upload id and its namespace. */
export interface BodyIds {
  uploadId(createdAt: number, seq: number): string;
  namespaceOf(nsId: number): NamespaceRef;
}

export function bodyOf(r: BodyRow, ids: BodyIds): BodyTask {
  const seq = Number(r.seq);
  const createdAt = Number(r.created_at);
  return {
    upload_id: ids.uploadId(createdAt, seq),
    namespace: ids.namespaceOf(Number(r.ns_id)),
    artifact_path: String(r.artifact_path),
    content_hash: hexOf(r.content_hash),
    hash_algorithm: 'sha256',
    size_bytes: Number(r.size_bytes),
    event_id: str(r.event_id),
    created_at: createdAt,
    retry_count: Number(r.retry_count),
    next_attempt_at: Number(r.next_attempt_at),
    last_error: str(r.last_error),
    pack: str(r.pack_name),
    off: numOrNull(r.off),
    oid: r.oid === null || r.oid === undefined ? null : hexOf(r.oid),
  };
}

/** An event row: its envelope is inline (`envelope`) or `len` bytes at `off` in pack `pack_name`. */
export type EventCol = 'seq' | 'event_id' | 'created_at' | 'pack_name' | 'off' | 'len' | 'envelope' | 'lamport_clock' | 'retry_count' | 'next_attempt_at' | 'last_error' | 'skey' | 'ident';
export type EventRow = Row<EventCol>;

/**
 * A read of many rows as one JSON value (Sql.allJson): each column's name in the row beside the SQL
 * that gives its value, so names and positions cannot drift apart. Blobs are read as hex text (JSON
 * has no bytes), which is what their decoders (hexOf) make of them anyway.
 */
export interface JsonRead<K extends string> {
  readonly cols: readonly K[];
  /** The query for rows matching `where` (a condition on the main table, or ''), in seq order; LIMIT ? is its last parameter. */
  sql(where: string): string;
}

function jsonRead<K extends string>(columns: readonly (readonly [K, string])[], from: (where: string) => string, order: string): JsonRead<K> {
  const values = columns.map(([, v]) => v).join(', ');
  return { cols: columns.map(([k]) => k), sql: (where) => `SELECT json_group_array(json_array(${values}) ORDER BY ${order}) FROM ${from(where)}` };
}

/**
 * Body tasks as the drain and the dead letters read them. The namespace is only its id here
 * (BodyIds.namespaceOf resolves it, once per namespace): a drain's thousands of tasks share a
 * handful of namespaces, so they need not be read, nor kept, row by row.
 */
export const BODIES_JSON = jsonRead<BodyCol>(
  [
    ['seq', 'b.seq'],
    ['created_at', 'b.created_at'],
    ['artifact_path', 'b.artifact_path'],
    ['content_hash', 'lower(hex(b.content_hash))'],
    ['size_bytes', 'b.size_bytes'],
    ['retry_count', 'b.retry_count'],
    ['next_attempt_at', 'b.next_attempt_at'],
    ['last_error', 'b.last_error'],
    ['ns_id', 'b.ns_id'],
    ['event_id', 'e.event_id'],
    ['pack_name', 'p.name'],
    ['off', 'b.off'],
    // hex(NULL) is '', not NULL.
    ['oid', "nullif(lower(hex(b.oid)), '')"],
    ['pack_id', 'b.pack_id'],
  ],
  (where) => `(SELECT * FROM body_tasks ${where} ORDER BY seq LIMIT ?) b LEFT JOIN index_events e ON e.seq = b.seq LEFT JOIN packs p ON p.pack_id = b.pack_id`,
  'b.seq',
);

/** Event rows as the drain and the dead letters read them. */
export const EVENTS_JSON = jsonRead<EventCol>(
  [
    ['seq', 'e.seq'],
    ['event_id', 'e.event_id'],
    ['created_at', 'e.created_at'],
    ['pack_name', 'p.name'],
    ['off', 'e.off'],
    ['len', 'e.len'],
    ['envelope', 'e.envelope'],
    ['lamport_clock', 'e.lamport_clock'],
    ['retry_count', 'e.retry_count'],
    ['next_attempt_at', 'e.next_attempt_at'],
    ['last_error', 'e.last_error'],
    ['skey', 'e.skey'],
    ['ident', 'e.ident'],
  ],
  (where) => `(SELECT * FROM index_events ${where} ORDER BY seq LIMIT ?) e LEFT JOIN packs p ON p.pack_id = e.pack_id`,
  'e.seq',
);

/** Rows whose seq is in a JSON array (the first parameter): for reads and deletes by many seqs at once. */
export const SEQ_IN = 'WHERE seq IN (SELECT value FROM json_each(?))';

/**
 * What removing delivered rows of `table` reads of each: its seq, the column that tells it is still
 * the row the result names (`check`), and its pack (which may become collectable).
 */
function deletionKeys<C extends string>(table: 'index_events' | 'body_tasks', check: C): JsonRead<'seq' | 'pack_id' | C> {
  const cols: (readonly ['seq' | 'pack_id' | C, string])[] = [
    ['seq', 'seq'],
    [check, check],
    ['pack_id', 'pack_id'],
  ];
  return jsonRead(cols, (where) => `(SELECT seq, ${check}, pack_id FROM ${table} ${where} ORDER BY seq LIMIT ?)`, 'seq');
}

/** A delivered event's row still holds that event. */
export const EVENT_KEYS_JSON = deletionKeys('index_events', 'event_id');
/** A delivered body's row is the one its upload id names (same seq and creation time). */
export const BODY_KEYS_JSON = deletionKeys('body_tasks', 'created_at');
