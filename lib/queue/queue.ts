// The durable upload queue (SPEC §6, issue 3): a sql.js database of metadata in the state
// directory, bodies content-addressed beside it (bodystore), every read-modify-write under an
// inter-process lock (lock.ts) with an atomic whole-file save (queue-file.ts). Network I/O never
// happens here: callers read work in one withQueue, send it, then apply the results in another.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BindParams, Database, SqlValue, Statement } from 'sql.js';
import { ulid } from 'ulid';
import { bodyPath, fsyncDir, readBody as readBodyFile, removeBodies, sweepBodies, writeBodies } from './bodystore.js';
import { buildIndexEvent, buildSnapshotEvent, envelopeNodeId, newEventRecord, snapshotFacts, type EventRecord, type SnapshotRecord } from '../collect/events.js';
import { acquireLock, type LockOptions } from './lock.js';
import { namespaceKey, pickNamespace } from '../contract/namespace.js';
import {
  dbPath,
  freshDb,
  isCorruptionError,
  loadSql,
  moveAside,
  openBuffer,
  openForWrite,
  readFileOrNull,
  CorruptQueueError,
  removeDeadTempFiles,
  writeFileDurably,
} from './queue-file.js';
import { backoffMs, MAX_WAIT_MS } from './retry.js';
import { getMeta, SCHEMA_VERSION, setMeta } from './schema.js';
import { decodeId, encodeId, KIND_EVENT, KIND_UPLOAD, nodeBits } from './task-ids.js';
import type { ArtifactClassification, CommitContext, DossierEvent, EligibleArtifact, FeatureIndex, NamespaceRef } from '../types.js';

import { mark } from '../trace.js';
import { DEFAULT_CAPACITY } from '../config.js';
export { dbPath, preloadQueue } from './queue-file.js';

export const LOCK_FILE = 'queue.lock';
export const PENDING_MARKER = 'pending';

export interface QueueOptions {
  stateDir: string;
  /** Maximum number of body tasks; new work beyond it is refused and counted. */
  capacity?: number;
  now?: () => number;
  /** Told once, in one clear sentence, when a corrupt queue file was moved aside. */
  onNotice?: (msg: string) => void;
  lock?: LockOptions;
}

export interface EnqueueResult {
  added: number;
  duplicate: number;
  superseded: number;
  refused: number;
  refusedArtifacts: { feature_slug: string; artifact_path: string; content_hash: string }[];
}

export interface BodyTask {
  upload_id: string;
  namespace: NamespaceRef;
  artifact_path: string;
  content_hash: string;
  hash_algorithm: 'sha256';
  size_bytes: number;
  event_id: string | null;
  created_at: number;
  retry_count: number;
  next_attempt_at: number;
  last_error: string | null;
}

export interface StoredEvent {
  event_id: string;
  envelope: DossierEvent;
  retry_count: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
}

export type TaskResult =
  | { kind: 'delivered' }
  | { kind: 'retry'; error: string; notBeforeMs?: number }
  | { kind: 'released' }
  | { kind: 'dead'; reason: string };

export interface QueueStats {
  /** Body tasks (index events are counted separately in events_*). */
  pending: number;
  /** Bodies a drain can send now: their own time has come and so has their index event's (if unsent). */
  ready: number;
  /** pending - ready: in their own backoff, or waiting for an index event in backoff. */
  backoff: number;
  /** Of `backoff`, bodies whose own time has come but whose index event is still in backoff. */
  waiting_for_events: number;
  /** Body dead letters. */
  failed: number;
  events_pending: number;
  events_ready: number;
  events_backoff: number;
  events_failed: number;
  /** When nothing is ready: the earliest time (epoch ms) something can be sent (at most now + MAX_WAIT_MS); else null. */
  next_attempt_at: number | null;
  /** The latest error of the work in backoff (e.g. connection_refused, http_429), or null. */
  last_error: string | null;
  oldest_pending_age_ms: number | null;
  per_feature: Record<string, { pending: number; failed: number }>;
  /** Body tasks by retry count bucket: "0", "1", "2", "3-4", "5-8", "9-16", "17+". */
  retry_histogram: Record<string, number>;
  capacity: number;
}

export interface DeadLetter {
  id: string;
  kind: 'body' | 'event';
  feature_slug: string;
  artifact_path: string;
  content_hash: string | null;
  reason: string;
  failed_at: number;
  retry_count: number;
  namespace: NamespaceRef | null;
}

export interface RetryResult {
  requeued: number;
  /** Dead letters dropped because a newer version of the artifact was enqueued since. */
  superseded: number;
  unknown: string[];
  /** Body dead letters kept because their body file is gone (cannot be re-sent). */
  unavailable: string[];
}

export function pendingMarkerPath(stateDir: string): string {
  return path.join(stateDir, PENDING_MARKER);
}

// ---------------------------------------------------------------------------------------------
// The queue view.

type Row = SqlValue[];

const HASH_RE = /^[0-9a-f]{64}$/;

const hexOf = (v: SqlValue): string => Buffer.from(v as Uint8Array).toString('hex');
const bytesOf = (hex: string): Uint8Array => Buffer.from(hex, 'hex');
const str = (v: SqlValue): string | null => (v === null || v === undefined ? null : String(v));

/** A version-4-shaped UUID derived from an event id, so a stored snapshot keeps one snapshot_id across resends. */
function snapshotUuid(eventId: string): string {
  const h = createHash('sha256').update(eventId).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[parseInt(h[16], 16) & 3]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function histogramBucket(n: number): string {
  if (n <= 2) return String(n);
  if (n <= 4) return '3-4';
  if (n <= 8) return '5-8';
  if (n <= 16) return '9-16';
  return '17+';
}

const NS_COLS = 'n.project_uuid, n.feature_slug, n.target_branch, n.mission_key, n.manifest_version';

function nsFromRow(r: Row, i: number): NamespaceRef {
  return {
    project_uuid: String(r[i]),
    feature_slug: String(r[i + 1]),
    target_branch: String(r[i + 2]),
    mission_key: String(r[i + 3]),
    manifest_version: String(r[i + 4]),
  };
}

// Columns: 0 seq, 1 created_at, 2-6 namespace, 7 path, 8 hash, 9 size, 10 retry, 11 next, 12 last_error,
// 13 ns_id, 14 created_at of the pending event (null when already sent).
const BODY_SELECT = `SELECT b.seq, b.created_at, ${NS_COLS}, b.artifact_path, b.content_hash, b.size_bytes, b.retry_count,
    b.next_attempt_at, b.last_error, b.ns_id, e.created_at
  FROM body_tasks b JOIN namespaces n ON n.ns_id = b.ns_id LEFT JOIN index_events e ON e.seq = b.seq`;

// Columns: 0 seq, 1 created_at, 2-6 namespace, 7-10 context, 11 path, 12 hash, 13 size, 14 key, 15 class,
// 16 wp, 17 step, 18 required, 19 lamport, 20 retry, 21 next, 22 last_error, 23 ns_id, 24 team_slug.
const EVENT_SELECT = `SELECT e.seq, e.created_at, ${NS_COLS}, c.project_slug, c.repo_slug, c.git_branch, c.head_commit_sha,
    COALESCE(e.artifact_path, b.artifact_path), COALESCE(e.content_hash, b.content_hash), COALESCE(e.size_bytes, b.size_bytes),
    e.artifact_key, e.artifact_class, e.wp_id, e.step_id, e.required, e.lamport_clock, e.retry_count, e.next_attempt_at, e.last_error, n.ns_id,
    c.team_slug
  FROM index_events e LEFT JOIN body_tasks b ON b.seq = e.seq
  JOIN namespaces n ON n.ns_id = COALESCE(e.ns_id, b.ns_id) JOIN contexts c ON c.ctx_id = e.ctx_id`;

// Columns: 0 seq, 1 created_at, 2-6 namespace, 7-10 context, 11 facts, 12 lamport, 13 retry, 14 next, 15 last_error,
// 16 ns_id, 17 team_slug.
const SNAPSHOT_SELECT = `SELECT s.seq, s.created_at, ${NS_COLS}, c.project_slug, c.repo_slug, c.git_branch, c.head_commit_sha,
    s.facts, s.lamport_clock, s.retry_count, s.next_attempt_at, s.last_error, n.ns_id, c.team_slug
  FROM snapshot_events s JOIN namespaces n ON n.ns_id = s.ns_id JOIN contexts c ON c.ctx_id = s.ctx_id`;

/** A context row back to the envelope's values ('' stands for a null on the wire). */
function contextFromRow(r: Row, i: number, team: SqlValue): CommitContext {
  const orNull = (v: SqlValue): string | null => (v === null || v === '' ? null : String(v));
  return { team_slug: String(team ?? 'local'), project_slug: String(r[i]), repo_slug: orNull(r[i + 1]), git_branch: orNull(r[i + 2]), head_commit_sha: orNull(r[i + 3]) };
}

interface EventRow {
  seq: number;
  rec: EventRecord;
  created_at: number;
  retry_count: number;
  next_attempt_at: number;
  last_error: string | null;
}

/** An opened, locked, in-memory view of the queue; only valid inside withQueue/readQueue. */
export class Queue {
  private stmts = new Map<string, Statement>();
  private nsIds = new Map<string, number>();
  private changed = false;
  /** Bodies to write (before the rows are saved), by hash. */
  private readonly pendingBodies = new Map<string, Buffer>();
  /** Body writes started by `enqueue`; the save waits for them before it writes the rows. */
  private bodyWrites: Promise<unknown> = Promise.resolve();
  /** Hashes of body rows removed in this session: candidates for garbage collection after the save. */
  readonly removedHashes = new Set<string>();
  private lamport: number;
  private seq: number;
  readonly nodeId: string;
  private readonly node: number;

  constructor(
    private db: Database,
    private readonly opts: { now: () => number; capacity: number; readonly: boolean; stateDir: string },
  ) {
    this.lamport = Number(getMeta(db, 'lamport_clock') ?? 0) || 0;
    this.seq = Number(getMeta(db, 'enqueue_seq') ?? 0) || 0;
    this.nodeId = getMeta(db, 'node_id') ?? 'unknown';
    this.node = nodeBits(this.nodeId);
  }

  get dirty(): boolean {
    return this.changed;
  }

  markDirty(): void {
    this.changed = true;
  }

  // --- statement helpers ----------------------------------------------------------------------

  private stmt(sql: string): Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  private all(sql: string, params: BindParams = []): Row[] {
    const s = this.stmt(sql);
    s.bind(params);
    const rows: Row[] = [];
    try {
      while (s.step()) rows.push(s.get());
    } finally {
      s.reset();
    }
    return rows;
  }

  private one(sql: string, params: BindParams = []): Row | undefined {
    const s = this.stmt(sql);
    s.bind(params);
    try {
      return s.step() ? s.get() : undefined;
    } finally {
      s.reset();
    }
  }

  private run(sql: string, params: BindParams = []): number {
    this.stmt(sql).run(params);
    return this.db.getRowsModified();
  }

  private count(sql: string, params: BindParams = []): number {
    return Number(this.one(sql, params)?.[0] ?? 0);
  }

  private writable(): void {
    if (this.opts.readonly) throw new Error('this queue view is read-only (readQueue); use withQueue to change the queue');
  }

  private transaction<T>(fn: () => T): T {
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

  private nsId(ns: NamespaceRef): number {
    const key = namespaceKey(ns);
    const cached = this.nsIds.get(key);
    if (cached !== undefined) return cached;
    const vals = [ns.project_uuid, ns.feature_slug, ns.target_branch, ns.mission_key, ns.manifest_version];
    const where = 'project_uuid = ? AND feature_slug = ? AND target_branch = ? AND mission_key = ? AND manifest_version = ?';
    let id = this.one(`SELECT ns_id FROM namespaces WHERE ${where}`, vals)?.[0];
    if (id === undefined) {
      this.run('INSERT INTO namespaces (project_uuid, feature_slug, target_branch, mission_key, manifest_version) VALUES (?,?,?,?,?)', vals);
      id = this.one('SELECT last_insert_rowid()')?.[0];
    }
    this.nsIds.set(key, Number(id));
    return Number(id);
  }

  private ctxId(ctx: CommitContext): number {
    // team_slug: dead letters from before schema v3 have none.
    const vals = [ctx.project_slug, ctx.repo_slug ?? '', ctx.git_branch ?? '', ctx.head_commit_sha ?? '', ctx.team_slug ?? 'local'];
    this.run('INSERT OR IGNORE INTO contexts (project_slug, repo_slug, git_branch, head_commit_sha, team_slug) VALUES (?,?,?,?,?)', vals);
    return Number(
      this.one('SELECT ctx_id FROM contexts WHERE project_slug = ? AND repo_slug = ? AND git_branch = ? AND head_commit_sha = ? AND team_slug = ?', vals)?.[0],
    );
  }

  uploadId(createdAt: number, seq: number): string {
    return encodeId(this.node, KIND_UPLOAD, createdAt, seq);
  }

  eventId(createdAt: number, seq: number): string {
    return encodeId(this.node, KIND_EVENT, createdAt, seq);
  }

  private insertBody(ns: number, artifactPath: string, hash: string, seq: number, size: number, createdAt: number): number {
    return this.run(
      `INSERT OR IGNORE INTO body_tasks (ns_id, artifact_path, content_hash, seq, size_bytes, created_at, retry_count, next_attempt_at, last_error)
       VALUES (?,?,?,?,?,?,0,?,NULL)`,
      [ns, artifactPath, bytesOf(hash), seq, size, createdAt, createdAt],
    );
  }

  /** Inserts an event row; `detached` carries the artifact columns when no body task has this seq. */
  private insertEvent(seq: number, ctxId: number, rec: EventRecord, createdAt: number, detached: { ns: number } | null): void {
    const c = rec.classification;
    this.run(
      `INSERT INTO index_events (seq, ctx_id, artifact_key, artifact_class, wp_id, step_id, required, lamport_clock, created_at,
         retry_count, next_attempt_at, last_error, ns_id, artifact_path, content_hash, size_bytes)
       VALUES (?,?,?,?,?,?,?,?,?,0,?,NULL,?,?,?,?)`,
      [seq, ctxId, c.artifact_key, c.artifact_class, c.wp_id, c.step_id, c.required_status === 'required' ? 1 : 0, rec.lamport_clock, createdAt, createdAt,
        detached?.ns ?? null, detached ? rec.artifact_path : null, detached ? bytesOf(rec.content_hash) : null, detached ? rec.size_bytes : null],
    );
  }

  /** Removes a body task; a still-unsent event of it keeps the artifact columns it needs. */
  private deleteBody(seq: number): void {
    const r = this.one('SELECT ns_id, artifact_path, content_hash, size_bytes FROM body_tasks WHERE seq = ?', [seq]);
    if (!r) return;
    this.run('UPDATE index_events SET ns_id = ?, artifact_path = ?, content_hash = ?, size_bytes = ? WHERE seq = ? AND ns_id IS NULL', [r[0], r[1], r[2], r[3], seq]);
    this.run('DELETE FROM body_tasks WHERE ns_id = ? AND artifact_path = ? AND content_hash = ?', [r[0], r[1], r[2]]);
    this.removedHashes.add(hexOf(r[2]));
  }

  // --- enqueue --------------------------------------------------------------------------------

  /**
   * Adds one body task and one index event per new artifact version, in one transaction.
   * Same namespace+path+hash already pending: `duplicate`. Same namespace+path, other hash pending:
   * the older task and its unsent event are removed (`superseded`). Beyond capacity: `refused`.
   * Then, per feature of `indexes`, an Indexed event for every other indexed file and one snapshot,
   * as 047 emits them (see enqueueIndex).
   */
  enqueue(items: EligibleArtifact[], ctx: CommitContext, indexes: FeatureIndex[] = []): EnqueueResult {
    this.writable();
    const result: EnqueueResult = { added: 0, duplicate: 0, superseded: 0, refused: 0, refusedArtifacts: [] };
    if (items.length === 0 && indexes.length === 0) return result;
    const now = this.opts.now();
    this.transaction(() => {
      let tasks = this.count('SELECT COUNT(*) FROM body_tasks');
      let ctxId: number | null = null;
      for (const item of items) {
        if (!HASH_RE.test(item.content_hash)) throw new Error(`enqueue: ${item.artifact_path}: content_hash must be lowercase hex SHA-256`);
        const ns = this.nsId(item.namespace);
        const pending = this.all('SELECT seq, content_hash FROM body_tasks WHERE ns_id = ? AND artifact_path = ?', [ns, item.artifact_path]);
        if (pending.some((r) => hexOf(r[1]) === item.content_hash)) {
          result.duplicate++;
          continue;
        }
        if (pending.length === 0 && tasks >= this.opts.capacity) {
          result.refused++;
          result.refusedArtifacts.push({ feature_slug: item.namespace.feature_slug, artifact_path: item.artifact_path, content_hash: item.content_hash });
          continue;
        }
        // Older versions: their tasks, their unsent events (also those whose task already left).
        let removed = 0;
        for (const [seq] of pending) {
          removed += this.run('DELETE FROM index_events WHERE seq = ?', [seq]);
          this.deleteBody(Number(seq));
          removed++;
          tasks--;
        }
        removed += this.run('DELETE FROM index_events WHERE ns_id = ? AND artifact_path = ?', [ns, item.artifact_path]);
        if (removed > 0) result.superseded++;
        this.run('UPDATE dead_letters SET superseded = 1 WHERE ns_id = ? AND artifact_path = ? AND superseded = 0', [ns, item.artifact_path]);

        const seq = ++this.seq;
        const rec = newEventRecord(item, ctx, envelopeNodeId(), ++this.lamport, now, this.eventId(now, seq));
        ctxId ??= this.ctxId(ctx);
        this.insertBody(ns, item.artifact_path, item.content_hash, seq, item.size_bytes, now);
        this.insertEvent(seq, ctxId, rec, now, null);
        this.pendingBodies.set(item.content_hash, item.body);
        this.removedHashes.delete(item.content_hash);
        tasks++;
        result.added++;
      }
      for (const index of indexes) if (this.enqueueIndex(index, ctx, now)) this.changed = true;
    });
    if (result.added > 0 || result.superseded > 0) this.changed = true;
    // Bodies go to disk now, under the lock, while the caller's transaction goes on (a hook reads
    // its first work and exports the database meanwhile): their fsyncs are the slowest part.
    if (this.pendingBodies.size) this.startBodyWrites();
    return result;
  }

  /**
   * The rest of a feature's index: an Indexed event (detached: no body task) for each indexed file
   * whose identical event is not already pending, replacing older unsent detached events of that
   * path, then one snapshot replacing an unsent older one of the namespace. Returns whether it added any.
   */
  private enqueueIndex(index: FeatureIndex, ctx: CommitContext, now: number): boolean {
    const ns = this.nsId(index.namespace);
    let ctxId: number | null = null;
    let added = false;
    for (const a of index.artifacts) {
      const hash = bytesOf(a.content_hash);
      // Pending with its body task (enqueued above or earlier), or already detached: nothing to add.
      if (this.one('SELECT 1 FROM body_tasks b JOIN index_events e ON e.seq = b.seq WHERE b.ns_id = ? AND b.artifact_path = ? AND b.content_hash = ?', [ns, a.artifact_path, hash])) continue;
      const detached = this.all('SELECT seq, content_hash FROM index_events WHERE ns_id = ? AND artifact_path = ?', [ns, a.artifact_path]);
      if (detached.some((r) => hexOf(r[1]) === a.content_hash)) continue;
      for (const [seq] of detached) this.run('DELETE FROM index_events WHERE seq = ?', [seq]);
      const seq = ++this.seq;
      const rec = newEventRecord({ ...a, namespace: index.namespace }, ctx, envelopeNodeId(), ++this.lamport, now, this.eventId(now, seq));
      ctxId ??= this.ctxId(ctx);
      this.insertEvent(seq, ctxId, rec, now, { ns });
      added = true;
    }
    const facts = JSON.stringify(snapshotFacts(index));
    const pending = this.all('SELECT seq, facts FROM snapshot_events WHERE ns_id = ?', [ns]);
    if (!added && pending.some((r) => String(r[1]) === facts)) return false;
    for (const [seq] of pending) this.run('DELETE FROM snapshot_events WHERE seq = ?', [seq]);
    ctxId ??= this.ctxId(ctx);
    this.run(
      `INSERT INTO snapshot_events (seq, ns_id, ctx_id, facts, lamport_clock, created_at, retry_count, next_attempt_at, last_error)
       VALUES (?,?,?,?,?,?,0,?,NULL)`,
      [++this.seq, ns, ctxId, facts, ++this.lamport, now, now],
    );
    return true;
  }

  private startBodyWrites(): void {
    const batch = [...this.pendingBodies].map(([hash, body]) => ({ hash, body }));
    this.pendingBodies.clear();
    this.bodyWrites = this.bodyWrites.then(() => writeBodies(this.opts.stateDir, batch));
    // Handled here so a failure before the save awaits it is not an unhandled rejection; the save
    // still sees it (bodiesWritten rejects) and then writes no rows.
    this.bodyWrites.catch(() => undefined);
  }

  /** Resolves when every body enqueued so far is durably on disk; rejects if a write failed. */
  bodiesWritten(): Promise<unknown> {
    if (this.pendingBodies.size) this.startBodyWrites();
    return this.bodyWrites;
  }

  // --- reading work ---------------------------------------------------------------------------

  private eventFromRow(r: Row): EventRow {
    const seq = Number(r[0]);
    const createdAt = Number(r[1]);
    const rec: EventRecord = {
      event_id: this.eventId(createdAt, seq),
      namespace: nsFromRow(r, 2),
      context: contextFromRow(r, 7, r[24]),
      artifact_path: String(r[11]),
      content_hash: hexOf(r[12]),
      size_bytes: Number(r[13]),
      classification: {
        artifact_key: String(r[14]),
        artifact_class: String(r[15]),
        wp_id: str(r[16]),
        step_id: str(r[17]),
        required_status: Number(r[18]) ? 'required' : 'optional',
      } satisfies ArtifactClassification,
      node_id: envelopeNodeId(),
      lamport_clock: Number(r[19]),
      timestamp_ms: createdAt,
    };
    return { seq, rec, created_at: createdAt, retry_count: Number(r[20]), next_attempt_at: Number(r[21]), last_error: str(r[22]) };
  }

  private bodyFromRow(r: Row): BodyTask {
    const seq = Number(r[0]);
    const createdAt = Number(r[1]);
    return {
      upload_id: this.uploadId(createdAt, seq),
      namespace: nsFromRow(r, 2),
      artifact_path: String(r[7]),
      content_hash: hexOf(r[8]),
      hash_algorithm: 'sha256',
      size_bytes: Number(r[9]),
      event_id: r[14] === null ? null : this.eventId(Number(r[14]), seq),
      created_at: createdAt,
      retry_count: Number(r[10]),
      next_attempt_at: Number(r[11]),
      last_error: str(r[12]),
    };
  }

  private snapshotFromRow(r: Row): { seq: number; rec: SnapshotRecord; created_at: number; retry_count: number; next_attempt_at: number; last_error: string | null } {
    const seq = Number(r[0]);
    const createdAt = Number(r[1]);
    const facts = JSON.parse(String(r[11])) as Pick<SnapshotRecord, 'parity_hash_sha256' | 'artifact_counts' | 'completeness_status'>;
    const rec: SnapshotRecord = {
      event_id: this.eventId(createdAt, seq),
      // Derived from the event id: a resend of the same snapshot names the same snapshot.
      snapshot_id: snapshotUuid(this.eventId(createdAt, seq)),
      namespace: nsFromRow(r, 2),
      ...facts,
      context: contextFromRow(r, 7, r[17]),
      node_id: envelopeNodeId(),
      lamport_clock: Number(r[12]),
      timestamp_ms: createdAt,
    };
    return { seq, rec, created_at: createdAt, retry_count: Number(r[13]), next_attempt_at: Number(r[14]), last_error: str(r[15]) };
  }

  /** Unsent events (Indexed and snapshots) whose time has come (all with force), in enqueue order. */
  readyEvents(limit: number, opts: { force?: boolean } = {}): StoredEvent[] {
    const where = opts.force ? '' : 'WHERE e.next_attempt_at <= ?';
    const params = opts.force ? [limit] : [this.opts.now(), limit];
    const indexed = this.all(`${EVENT_SELECT} ${where} ORDER BY e.seq LIMIT ?`, params).map((r) => {
      const { seq, rec, created_at, retry_count, next_attempt_at, last_error } = this.eventFromRow(r);
      return { seq, event: { event_id: rec.event_id, envelope: buildIndexEvent(rec) as DossierEvent, created_at, retry_count, next_attempt_at, last_error } };
    });
    const snapshots = this.all(`${SNAPSHOT_SELECT} ${where.replace('e.', 's.')} ORDER BY s.seq LIMIT ?`, params).map((r) => {
      const { seq, rec, created_at, retry_count, next_attempt_at, last_error } = this.snapshotFromRow(r);
      return { seq, event: { event_id: rec.event_id, envelope: buildSnapshotEvent(rec) as DossierEvent, created_at, retry_count, next_attempt_at, last_error } };
    });
    if (snapshots.length === 0) return indexed.map((x) => x.event);
    return [...indexed, ...snapshots].sort((a, b) => a.seq - b.seq).slice(0, limit).map((x) => x.event);
  }

  /** Body tasks whose time has come (all with force), oldest first. */
  readyBodies(limit: number, opts: { force?: boolean } = {}): BodyTask[] {
    const rows = opts.force
      ? this.all(`${BODY_SELECT} ORDER BY b.seq LIMIT ?`, [limit])
      : this.all(`${BODY_SELECT} WHERE b.next_attempt_at <= ? ORDER BY b.seq LIMIT ?`, [this.opts.now(), limit]);
    return rows.map((r) => this.bodyFromRow(r));
  }

  // --- applying results -----------------------------------------------------------------------

  private nextAttempt(retryCount: number, notBeforeMs?: number): number {
    const now = this.opts.now();
    const at = now + backoffMs(retryCount);
    return notBeforeMs !== undefined && notBeforeMs > at ? Math.min(notBeforeMs, now + MAX_WAIT_MS) : at;
  }

  /**
   * Next attempts stored further ahead than now + maxWaitMs (a clock that was fast then, or an
   * uncapped wait stored by an older version) are brought back to now + maxWaitMs: nothing is parked
   * for longer than that. Returns how many rows changed.
   */
  clampWaits(maxWaitMs: number = MAX_WAIT_MS): number {
    this.writable();
    const limit = this.opts.now() + maxWaitMs;
    let n = 0;
    for (const table of ['body_tasks', 'index_events'] as const) n += this.run(`UPDATE ${table} SET next_attempt_at = ? WHERE next_attempt_at > ?`, [limit, limit]);
    if (n) this.changed = true;
    return n;
  }

  /** The seq of a pending event/body named by `id`, or null (unknown, or a stale id of a re-queued row). */
  private seqOf(kind: number, id: string): number | null {
    const d = decodeId(this.node, kind, id);
    if (!d) return null;
    const tables = kind === KIND_EVENT ? (['index_events', 'snapshot_events'] as const) : (['body_tasks'] as const);
    for (const table of tables) {
      const r = this.one(`SELECT created_at FROM ${table} WHERE seq = ?`, [d.seq]);
      if (r) return Number(r[0]) === d.createdAt ? d.seq : null;
    }
    return null;
  }

  /** Which table holds the pending event `seq`. */
  private eventTable(seq: number): 'index_events' | 'snapshot_events' {
    return this.one('SELECT 1 FROM snapshot_events WHERE seq = ?', [seq]) ? 'snapshot_events' : 'index_events';
  }

  private deadLetterBody(seq: number, reason: string): boolean {
    const r = this.one(`${BODY_SELECT} WHERE b.seq = ?`, [seq]);
    if (!r) return false;
    const task = this.bodyFromRow(r);
    this.run(
      `INSERT INTO dead_letters (id, kind, ref_id, seq, ns_id, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count)
       VALUES (?, 'body', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [ulid(), task.upload_id, seq, r[13], task.namespace.feature_slug, task.artifact_path, task.content_hash, JSON.stringify(task), reason, this.opts.now(), task.retry_count],
    );
    this.deleteBody(seq);
    // Its body file stays: the dead letter references it (retry re-sends it).
    this.removedHashes.delete(task.content_hash);
    return true;
  }

  private deadLetterEvent(seq: number, reason: string): boolean {
    if (this.eventTable(seq) === 'snapshot_events') return this.deadLetterSnapshot(seq, reason);
    const r = this.one(`${EVENT_SELECT} WHERE e.seq = ?`, [seq]);
    if (!r) return false;
    const { rec, created_at, retry_count, last_error } = this.eventFromRow(r);
    this.run(
      `INSERT INTO dead_letters (id, kind, ref_id, seq, ns_id, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count)
       VALUES (?, 'event', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [ulid(), rec.event_id, seq, r[23], rec.namespace.feature_slug, rec.artifact_path, rec.content_hash,
        JSON.stringify({ ...rec, created_at, retry_count, last_error }), reason, this.opts.now(), retry_count],
    );
    this.run('DELETE FROM index_events WHERE seq = ?', [seq]);
    return true;
  }

  private deadLetterSnapshot(seq: number, reason: string): boolean {
    const r = this.one(`${SNAPSHOT_SELECT} WHERE s.seq = ?`, [seq]);
    if (!r) return false;
    const { rec, created_at, retry_count, last_error } = this.snapshotFromRow(r);
    this.run(
      `INSERT INTO dead_letters (id, kind, ref_id, seq, ns_id, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count)
       VALUES (?, 'event', ?, ?, ?, ?, '', NULL, ?, ?, ?, ?)`,
      [ulid(), rec.event_id, seq, r[16], rec.namespace.feature_slug, JSON.stringify({ snapshot: rec, created_at, retry_count, last_error }), reason, this.opts.now(), retry_count],
    );
    this.run('DELETE FROM snapshot_events WHERE seq = ?', [seq]);
    return true;
  }

  /** Records what happened to sent events. A 'dead' event also dead-letters its body task. Unknown ids are ignored. */
  applyEventResults(results: { event_id: string; result: TaskResult }[]): void {
    this.writable();
    this.transaction(() => {
      for (const { event_id, result } of results) {
        const seq = this.seqOf(KIND_EVENT, event_id);
        if (seq === null || result.kind === 'released') continue;
        this.changed = true;
        const table = this.eventTable(seq);
        if (result.kind === 'delivered') {
          this.run(`DELETE FROM ${table} WHERE seq = ?`, [seq]);
        } else if (result.kind === 'retry') {
          this.run(`UPDATE ${table} SET retry_count = retry_count + 1, last_error = ? WHERE seq = ?`, [result.error, seq]);
          const n = this.count(`SELECT retry_count FROM ${table} WHERE seq = ?`, [seq]);
          this.run(`UPDATE ${table} SET next_attempt_at = ? WHERE seq = ?`, [this.nextAttempt(n, result.notBeforeMs), seq]);
        } else {
          this.deadLetterEvent(seq, result.reason);
          // Without its index entry the body would only ever get index_entry_not_found.
          this.deadLetterBody(seq, `event_rejected: ${result.reason}`);
        }
      }
    });
  }

  /** Records what happened to sent bodies. Unknown ids (superseded meanwhile) are ignored. */
  applyBodyResults(results: { upload_id: string; result: TaskResult }[]): void {
    this.writable();
    this.transaction(() => {
      for (const { upload_id, result } of results) {
        const seq = this.seqOf(KIND_UPLOAD, upload_id);
        if (seq === null || result.kind === 'released') continue;
        this.changed = true;
        if (result.kind === 'delivered') {
          this.deleteBody(seq);
        } else if (result.kind === 'retry') {
          const n = this.count('SELECT retry_count FROM body_tasks WHERE seq = ?', [seq]) + 1;
          this.run('UPDATE body_tasks SET retry_count = ?, next_attempt_at = ?, last_error = ? WHERE seq = ?', [n, this.nextAttempt(n, result.notBeforeMs), result.error, seq]);
        } else {
          this.deadLetterBody(seq, result.reason);
        }
      }
    });
  }

  /** Moves work older than maxAgeMs or tried maxRetries times to the dead letters. Returns how many items moved. */
  expireStale(policy: { maxAgeMs: number; maxRetries: number }): number {
    this.writable();
    const cutoff = this.opts.now() - policy.maxAgeMs;
    let moved = 0;
    this.transaction(() => {
      for (const table of ['index_events', 'snapshot_events', 'body_tasks'] as const) {
        const rows = this.all(`SELECT seq, created_at < ? FROM ${table} WHERE created_at < ? OR retry_count >= ?`, [cutoff, cutoff, policy.maxRetries]);
        for (const [seq, old] of rows) {
          const reason = Number(old) ? 'stale_max_age' : 'stale_max_retries';
          if (table === 'snapshot_events') {
            if (this.deadLetterSnapshot(Number(seq), reason)) moved++;
          } else if (table === 'index_events') {
            if (this.deadLetterEvent(Number(seq), reason)) moved++;
            // The body cannot be accepted without its index entry either.
            if (this.deadLetterBody(Number(seq), `event_${reason}`)) moved++;
          } else if (this.deadLetterBody(Number(seq), reason)) {
            moved++;
          }
        }
      }
    });
    if (moved) this.changed = true;
    return moved;
  }

  // --- inspection -----------------------------------------------------------------------------

  stats(): QueueStats {
    const now = this.opts.now();
    const pending = this.count('SELECT COUNT(*) FROM body_tasks');
    // A body goes only with or after its own index event (drain.readReadyWork), so it counts as ready
    // only when that event is ready too.
    const ownTime = this.count('SELECT COUNT(*) FROM body_tasks WHERE next_attempt_at <= ?', [now]);
    const ready = this.count(
      'SELECT COUNT(*) FROM body_tasks b LEFT JOIN index_events e ON e.seq = b.seq WHERE b.next_attempt_at <= ? AND (e.seq IS NULL OR e.next_attempt_at <= ?)',
      [now, now],
    );
    const eventsPending = this.count('SELECT (SELECT COUNT(*) FROM index_events) + (SELECT COUNT(*) FROM snapshot_events)');
    const eventsReady = this.count(
      'SELECT (SELECT COUNT(*) FROM index_events WHERE next_attempt_at <= ?) + (SELECT COUNT(*) FROM snapshot_events WHERE next_attempt_at <= ?)',
      [now, now],
    );
    let nextAttemptAt: number | null = null;
    if (ready === 0 && eventsReady === 0 && pending + eventsPending > 0) {
      const next = this.one(
        'SELECT MIN(m) FROM (SELECT MIN(next_attempt_at) AS m FROM index_events UNION ALL SELECT MIN(next_attempt_at) FROM snapshot_events UNION ALL SELECT MIN(b.next_attempt_at) FROM body_tasks b WHERE NOT EXISTS (SELECT 1 FROM index_events e WHERE e.seq = b.seq))',
      )?.[0];
      if (next !== null && next !== undefined) nextAttemptAt = Math.min(Number(next), now + MAX_WAIT_MS);
    }
    const lastError = this.one(
      'SELECT last_error FROM (SELECT last_error, next_attempt_at FROM index_events WHERE next_attempt_at > ? AND last_error IS NOT NULL UNION ALL SELECT last_error, next_attempt_at FROM body_tasks WHERE next_attempt_at > ? AND last_error IS NOT NULL) ORDER BY next_attempt_at DESC LIMIT 1',
      [now, now],
    )?.[0];
    const perFeature: QueueStats['per_feature'] = {};
    const feature = (slug: string) => (perFeature[slug] ??= { pending: 0, failed: 0 });
    for (const [slug, n] of this.all('SELECT n.feature_slug, COUNT(*) FROM body_tasks b JOIN namespaces n ON n.ns_id = b.ns_id GROUP BY n.feature_slug')) {
      feature(String(slug)).pending = Number(n);
    }
    let failed = 0;
    for (const [slug, n] of this.all("SELECT feature_slug, COUNT(*) FROM dead_letters WHERE kind = 'body' GROUP BY feature_slug")) {
      feature(String(slug)).failed = Number(n);
      failed += Number(n);
    }
    const histogram: Record<string, number> = {};
    for (const [retries, n] of this.all('SELECT retry_count, COUNT(*) FROM body_tasks GROUP BY retry_count')) {
      const b = histogramBucket(Number(retries));
      histogram[b] = (histogram[b] ?? 0) + Number(n);
    }
    const oldest = this.one(
      'SELECT MIN(m) FROM (SELECT MIN(created_at) AS m FROM body_tasks UNION ALL SELECT MIN(created_at) FROM index_events UNION ALL SELECT MIN(created_at) FROM snapshot_events)',
    )?.[0];
    return {
      pending,
      ready,
      backoff: pending - ready,
      waiting_for_events: ownTime - ready,
      failed,
      events_pending: eventsPending,
      events_ready: eventsReady,
      events_backoff: eventsPending - eventsReady,
      events_failed: this.count("SELECT COUNT(*) FROM dead_letters WHERE kind = 'event'"),
      next_attempt_at: nextAttemptAt,
      last_error: lastError === null || lastError === undefined ? null : String(lastError),
      oldest_pending_age_ms: oldest === null || oldest === undefined ? null : Math.max(0, now - Number(oldest)),
      per_feature: perFeature,
      retry_histogram: histogram,
      capacity: this.opts.capacity,
    };
  }

  deadLetters(): DeadLetter[] {
    return this.all('SELECT id, kind, feature_slug, artifact_path, content_hash, reason, failed_at, retry_count, task FROM dead_letters ORDER BY failed_at, id').map((r) => {
      let namespace: NamespaceRef | null = null;
      try {
        const t = JSON.parse(String(r[8])) as { namespace?: NamespaceRef };
        namespace = t.namespace ? pickNamespace(t.namespace) : null;
      } catch {
        namespace = null;
      }
      return {
        id: String(r[0]),
        kind: r[1] === 'event' ? 'event' : 'body',
        feature_slug: String(r[2]),
        artifact_path: String(r[3]),
        content_hash: str(r[4]),
        reason: String(r[5]),
        failed_at: Number(r[6]),
        retry_count: Number(r[7]),
        namespace,
      };
    });
  }

  /**
   * Puts dead letters back in the queue (fresh retry count, ready now, new ids). The body and the
   * event of one artifact version go back together. A dead letter whose artifact had a newer
   * version enqueued since is dropped and counted as superseded: an older version is never re-sent.
   */
  retryDeadLetters(ids: string[] | 'all'): RetryResult {
    this.writable();
    const out: RetryResult = { requeued: 0, superseded: 0, unknown: [], unavailable: [] };
    const now = this.opts.now();
    this.transaction(() => {
      const cols = 'SELECT id, kind, seq, artifact_path, content_hash, task, superseded FROM dead_letters';
      let rows: Row[];
      if (ids === 'all') {
        rows = this.all(`${cols} ORDER BY seq, kind`);
      } else {
        rows = [];
        const chosen = new Set<string>();
        for (const id of new Set(ids)) {
          const r = this.one(`${cols} WHERE id = ?`, [id]);
          if (!r) {
            out.unknown.push(id);
            continue;
          }
          chosen.add(id);
          rows.push(r);
        }
        // Bring the partner (same artifact version, other kind) along.
        for (const r of [...rows]) {
          if (Number(r[2]) <= 0) continue;
          for (const p of this.all(`${cols} WHERE seq = ? AND kind <> ?`, [r[2], r[1]])) {
            if (!chosen.has(String(p[0]))) {
              chosen.add(String(p[0]));
              rows.push(p);
            }
          }
        }
        // Bodies before events, so an event finds its body task and needs no copied columns.
        rows.sort((x, y) => Number(x[2]) - Number(y[2]) || String(x[1]).localeCompare(String(y[1])));
      }
      const newSeq = new Map<number, number>();
      for (const [id, kind, seqV, artifactPath, hash, taskJson, superseded] of rows) {
        let task: Record<string, unknown> | null = null;
        try {
          task = JSON.parse(String(taskJson)) as Record<string, unknown>;
        } catch {
          task = null;
        }
        const snap = task?.snapshot as SnapshotRecord | undefined;
        if (kind === 'event' && snap?.namespace && snap.context) {
          const ns = this.nsId(pickNamespace(snap.namespace));
          const facts = JSON.stringify({ parity_hash_sha256: snap.parity_hash_sha256, artifact_counts: snap.artifact_counts, completeness_status: snap.completeness_status });
          if (Number(superseded) || this.one('SELECT 1 FROM snapshot_events WHERE ns_id = ?', [ns])) {
            out.superseded++;
          } else {
            this.run(
              `INSERT INTO snapshot_events (seq, ns_id, ctx_id, facts, lamport_clock, created_at, retry_count, next_attempt_at, last_error)
               VALUES (?,?,?,?,?,?,0,?,NULL)`,
              [++this.seq, ns, this.ctxId(snap.context), facts, ++this.lamport, now, now],
            );
            out.requeued++;
          }
          this.run('DELETE FROM dead_letters WHERE id = ?', [id]);
          continue;
        }
        const nsRef = task?.namespace as NamespaceRef | undefined;
        if (!task || !nsRef || typeof hash !== 'string' || !HASH_RE.test(hash)) {
          out.unavailable.push(String(id));
          continue;
        }
        const ns = this.nsId(pickNamespace(nsRef));
        const newerPending = this.one('SELECT 1 FROM body_tasks WHERE ns_id = ? AND artifact_path = ? AND content_hash <> ?', [ns, artifactPath, bytesOf(hash)]);
        if (Number(superseded) || newerPending) {
          this.run('DELETE FROM dead_letters WHERE id = ?', [id]);
          if (kind === 'body') this.removedHashes.add(hash);
          out.superseded++;
          continue;
        }
        if (kind === 'body' && !existsSync(bodyPath(this.opts.stateDir, hash))) {
          out.unavailable.push(String(id));
          continue;
        }
        // One fresh seq per artifact version, shared by its body and event.
        const oldSeq = Number(seqV);
        let seq = oldSeq > 0 ? newSeq.get(oldSeq) : undefined;
        if (seq === undefined) {
          seq = ++this.seq;
          if (oldSeq > 0) newSeq.set(oldSeq, seq);
        }
        if (kind === 'body') {
          this.insertBody(ns, String(artifactPath), hash, seq, Number(task.size_bytes) || 0, now);
        } else {
          const rec = task as unknown as EventRecord;
          if (!rec.context || !rec.classification) {
            out.unavailable.push(String(id));
            continue;
          }
          const hasBody = !!this.one('SELECT 1 FROM body_tasks WHERE seq = ?', [seq]);
          const full: EventRecord = { ...rec, artifact_path: String(artifactPath), content_hash: hash, lamport_clock: ++this.lamport };
          this.insertEvent(seq, this.ctxId(rec.context), full, now, hasBody ? null : { ns });
        }
        this.run('DELETE FROM dead_letters WHERE id = ?', [id]);
        out.requeued++;
      }
    });
    if (out.requeued || out.superseded) this.changed = true;
    return out;
  }

  hasPending(): boolean {
    return !!this.one('SELECT EXISTS (SELECT 1 FROM body_tasks) OR EXISTS (SELECT 1 FROM index_events) OR EXISTS (SELECT 1 FROM snapshot_events)')?.[0];
  }

  /** Of `hashes`, those some row (task or dead letter) still needs. One scan, not one per hash. */
  referencedBodies(hashes: Iterable<string>): Set<string> {
    const wanted = [...new Set(hashes)].filter((h) => HASH_RE.test(h));
    const found = new Set<string>();
    for (let i = 0; i < wanted.length; i += 200) {
      const chunk = wanted.slice(i, i + 200);
      const marks = chunk.map(() => '?').join(',');
      const rows = this.db.exec(
        `SELECT DISTINCT lower(hex(content_hash)) FROM body_tasks WHERE content_hash IN (${marks})
         UNION SELECT content_hash FROM dead_letters WHERE kind = 'body' AND content_hash IN (${marks})`,
        [...chunk.map(bytesOf), ...chunk],
      );
      for (const [h] of rows[0]?.values ?? []) found.add(String(h));
    }
    return found;
  }

  /** No body row at all: every body file is an orphan. */
  hasNoBodyRows(): boolean {
    return !this.one("SELECT EXISTS (SELECT 1 FROM body_tasks) OR EXISTS (SELECT 1 FROM dead_letters WHERE kind = 'body')")?.[0];
  }

  // --- persistence (used by withQueue) --------------------------------------------------------

  freeStatements(): void {
    for (const s of this.stmts.values()) s.free();
    this.stmts.clear();
  }

  /** Serializes the database (meta counters included), compacting it when much of it is free pages. */
  exportBytes(): Uint8Array {
    setMeta(this.db, 'lamport_clock', this.lamport);
    setMeta(this.db, 'enqueue_seq', this.seq);
    this.freeStatements();
    const free = Number(this.db.exec('PRAGMA freelist_count')[0]?.values[0]?.[0] ?? 0);
    const pages = Number(this.db.exec('PRAGMA page_count')[0]?.values[0]?.[0] ?? 0);
    // A drained queue would otherwise keep its peak size on disk, loaded by every hook.
    if (free > 256 && free * 4 > pages) this.db.exec('VACUUM');
    return this.db.export();
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points.

function resolved(opts: QueueOptions) {
  return {
    now: opts.now ?? Date.now,
    capacity: opts.capacity ?? DEFAULT_CAPACITY,
  };
}

async function save(q: Queue, stateDir: string): Promise<void> {
  await q.bodiesWritten();
  const pending = q.hasPending();
  const noBodyRows = q.hasNoBodyRows();
  const marker = pendingMarkerPath(stateDir);
  // Created before the save: a crash in between leaves a harmless extra marker, never a missing one.
  if (pending && !existsSync(marker)) writeFileSync(marker, '', { mode: 0o600 });
  const bytes = q.exportBytes();
  removeDeadTempFiles(stateDir);
  await writeFileDurably(dbPath(stateDir), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  await fsyncDir(stateDir);
  if (!pending) {
    try {
      unlinkSync(marker);
    } catch {
      /* not there */
    }
  }
  // Collect bodies no row needs any more: a full sweep when nothing references any body (cheap then,
  // and it also removes leftovers of killed writers), else just the hashes this session removed.
  if (noBodyRows) await sweepBodies(stateDir, new Set());
  else if (q.removedHashes.size) {
    const keep = q.referencedBodies(q.removedHashes);
    await removeBodies(stateDir, q.removedHashes, (h) => keep.has(h));
  }
}

/**
 * lock → load (re-read under the lock) → fn → save atomically if anything changed → unlock.
 * If the database turns out corrupt while fn runs, it is moved aside and fn runs once more on a
 * fresh queue, so fn must only act through `q`.
 */
export async function withQueue<T>(opts: QueueOptions, fn: (q: Queue) => T | Promise<T>): Promise<T> {
  const { now, capacity } = resolved(opts);
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const SQL = await loadSql();
  mark('queue: sql.js ready');
  const file = dbPath(opts.stateDir);
  const lock = await acquireLock(file, path.join(opts.stateDir, LOCK_FILE), opts.lock);
  mark('queue: locked');
  try {
    for (let attempt = 0; ; attempt++) {
      const { db, dirty } = await openForWrite(SQL, opts, now());
      const q = new Queue(db, { now, capacity, readonly: false, stateDir: opts.stateDir });
      if (dirty) q.markDirty();
      try {
        mark('queue: read');
        const result = await fn(q);
        if (q.dirty) {
          const compromised = lock.compromised();
          if (compromised) throw new Error(`the queue lock was lost (${compromised.message}); nothing was saved`);
          await save(q, opts.stateDir);
          mark('queue: saved');
        }
        return result;
      } catch (err) {
        if (attempt > 0 || !isCorruptionError(err) || !existsSync(file)) throw err;
        await moveAside(opts.stateDir, err instanceof Error ? err.message : String(err), now(), opts.onNotice);
      } finally {
        // Body writes still running (fn failed before the save) end before the lock is released.
        await q.bodiesWritten().catch(() => undefined);
        q.freeStatements();
        db.close();
      }
    }
  } finally {
    await lock.release();
  }
}

/** Loads the queue without the lock and never writes or creates anything (status, failed). */
export async function readQueue<T>(opts: QueueOptions, fn: (q: Queue) => T): Promise<T> {
  const { now, capacity } = resolved(opts);
  const SQL = await loadSql();
  const buf = await readFileOrNull(dbPath(opts.stateDir));
  let db: Database;
  if (buf === null) {
    db = freshDb(SQL);
  } else {
    try {
      db = openBuffer(SQL, buf).db; // a migration happens in memory only
    } catch (err) {
      if (!(err instanceof CorruptQueueError)) throw err;
      opts.onNotice?.(
        `the queue file ${dbPath(opts.stateDir)} could not be read (${err.message}); it will be moved aside by the next command that changes the queue. Showing an empty queue.`,
      );
      db = freshDb(SQL);
    }
  }
  const q = new Queue(db, { now, capacity, readonly: true, stateDir: opts.stateDir });
  try {
    return fn(q);
  } finally {
    q.freeStatements();
    db.close();
  }
}

/** The stored body of a task, or null when it is gone (e.g. collected after a newer version superseded it). */
export function readBody(stateDir: string, contentHash: string): Buffer | null {
  return readBodyFile(stateDir, contentHash);
}

export { SCHEMA_VERSION };
