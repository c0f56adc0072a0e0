// The durable upload queue (SPEC §6, issues 3 and 11): a sql.js database of metadata in the state
// directory; bodies and index-event envelopes in packs beside it (lib/pack.ts) that rows point
// into. Captures arrive as spools written without any lock; whoever holds the queue lock merges
// every complete spool, each in one transaction and exactly once (the pack's name is recorded in
// the same save). Every read-modify-write runs under the inter-process lock (lock.ts) with an
// atomic whole-file save that refuses to overwrite a file another process saved meanwhile
// (queue-file.ts). Network I/O never happens here: callers read work in one withQueue, send it,
// then apply the results in another.
import { existsSync, mkdirSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { BindParams, Database, SqlValue, Statement } from 'sql.js';
import { ulid } from 'ulid';
import { bodiesDir, readBody as readLegacyBody, sweepBodies } from './bodystore.js';
import { buildCapture } from './capture.js';
import { buildIndexEvent, buildSnapshotEvent, type EventRecord, type SnapshotRecord } from '../collect/events.js';
import { acquireLock, type LockOptions } from './lock.js';
import { namespaceKey, pickNamespace } from '../contract/namespace.js';
import { baseOf, listSpool, packPath, PackBuilder, PackError, PackReader, readPack, readPackHeader, removeSpoolFile, spoolDir, writePack, writePackSync, type BuiltPack, type OpenedPack, type PackEvent, type PackHeader } from './pack.js';
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
  saveQueueFile,
} from './queue-file.js';
import { backoffMs, MAX_WAIT_MS } from './retry.js';
import { getMeta, SCHEMA_VERSION, setMeta, snapshotKey, supersedeKey } from './schema.js';
import { fsyncDir } from './bodystore.js';
import { ensureDir, entryKind, moveAside as moveEntryAside } from '../state-fs.js';
import { pendingMarkerPath, touchPendingMarker, writePendingMarker, type QueueHold } from './marker.js';
import { decodeId, encodeId, KIND_UPLOAD, nodeBits } from './task-ids.js';
import type { CommitContext, DossierEvent, EligibleArtifact, FeatureIndex, NamespaceRef } from '../types.js';

import { mark } from '../trace.js';
import { DEFAULT_CAPACITY, DEFAULT_REQUEST_TIMEOUT_MS, SETTLE_MARGIN_MS } from '../config.js';
export { dbPath, preloadQueue } from './queue-file.js';
export { pendingMarkerPath } from './marker.js';

export const LOCK_FILE = 'queue.lock';
/**
 * How long after an upload was handed to the network it can no longer be in flight: the transport's
 * request timeout plus its timer cohort window and a margin. See `abandoned` (schema.ts).
 */
export const DEFAULT_SETTLE_MS = DEFAULT_REQUEST_TIMEOUT_MS + SETTLE_MARGIN_MS;
/** Packs at least this big whose live items are under a quarter of them are compacted by drains. */
export const COMPACT_MIN_BYTES = 1024 * 1024;

export interface QueueOptions {
  stateDir: string;
  /** Maximum number of body tasks; new work beyond it is refused and counted. */
  capacity?: number;
  now?: () => number;
  /** Told, in one clear sentence each, about a corrupt queue file moved aside, damaged spools, foreign entries. */
  onNotice?: (msg: string) => void;
  lock?: LockOptions;
  /** See DEFAULT_SETTLE_MS (the request timeout plus a margin). */
  settleMs?: number;
  /** Set by a drain holding the drain lock: packs mostly consumed may be compacted (nobody else reads them). */
  compact?: boolean;
  /** A spool this process just wrote (merged from memory instead of being read back and verified). */
  own?: BuiltPack;
}

export interface EnqueueResult {
  added: number;
  duplicate: number;
  superseded: number;
  refused: number;
  refusedArtifacts: { feature_slug: string; artifact_path: string; content_hash: string }[];
}

export interface MergeReport extends EnqueueResult {
  /** Spools merged in this transaction. */
  spools: number;
  /** Events queued without a body of their own (Indexed events of files not uploaded, snapshots). */
  events: number;
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
  /** Where the body is: a pack and the absolute offset in it, or null (a v2 file bodies/<hash>). */
  pack: string | null;
  off: number | null;
  /** Git blob id, to re-read a damaged body (issue 12 §5). */
  oid: string | null;
}

export interface StoredEvent {
  event_id: string;
  /** The row, for a cheap lookup when its result is applied (event_id is not indexed). */
  seq: number;
  envelope: DossierEvent;
  retry_count: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
}

/** A body's result as the drain reports it: when its request started and which artifact version it was. */
export interface BodyResultRow {
  upload_id: string;
  result: TaskResult;
  startedAt?: number;
  key?: { namespace: NamespaceRef; artifact_path: string; content_hash: string };
}

export type TaskResult =
  | { kind: 'delivered' }
  /** abandoned: the request went out and got no answer (timeout, reset): the server may still apply it. */
  | { kind: 'retry'; error: string; notBeforeMs?: number; abandoned?: boolean }
  | { kind: 'released'; abandoned?: boolean }
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
  /** Captures (spools) written while the queue was busy and not merged yet: their work is not counted above. */
  spools_unmerged: number;
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
  /** Body dead letters kept because their stored body is gone or damaged (cannot be re-sent). */
  unavailable: string[];
}


// ---------------------------------------------------------------------------------------------
// The queue view.

type Row = SqlValue[];

const HASH_RE = /^[0-9a-f]{64}$/;
const OID_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

const hexOf = (v: SqlValue): string => Buffer.from(v as Uint8Array).toString('hex');
const bytesOf = (hex: string): Uint8Array => Buffer.from(hex, 'hex');
const str = (v: SqlValue): string | null => (v === null || v === undefined ? null : String(v));
const numOrNull = (v: SqlValue): number | null => (v === null || v === undefined ? null : Number(v));

/** An event's supersede key and identity as stored (52-bit hashes; see index_events in schema.ts). */
function eventKeys(ev: Pick<PackEvent, 'key' | 'ident'> | undefined): { skey: number | null; ident: number | null } {
  return { skey: ev?.key ? supersedeKey(ev.key) : null, ident: ev?.ident ? supersedeKey(ev.ident) : null };
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
// 13 ns_id, 14 event_id of the pending event (null when already sent), 15 pack name, 16 off, 17 oid, 18 pack_id.
const BODY_SELECT = `SELECT b.seq, b.created_at, ${NS_COLS}, b.artifact_path, b.content_hash, b.size_bytes, b.retry_count,
    b.next_attempt_at, b.last_error, b.ns_id, e.event_id, p.name, b.off, b.oid, b.pack_id
  FROM body_tasks b JOIN namespaces n ON n.ns_id = b.ns_id LEFT JOIN index_events e ON e.seq = b.seq LEFT JOIN packs p ON p.pack_id = b.pack_id`;

// Columns: 0 seq, 1 event_id, 2 created_at, 3 pack name, 4 off, 5 len, 6 envelope, 7 lamport, 8 retry, 9 next, 10 last_error, 11 skey, 12 ident.
const EVENT_SELECT = `SELECT e.seq, e.event_id, e.created_at, p.name, e.off, e.len, e.envelope, e.lamport_clock, e.retry_count, e.next_attempt_at,
    e.last_error, e.skey, e.ident
  FROM index_events e LEFT JOIN packs p ON p.pack_id = e.pack_id`;

/** An opened, locked, in-memory view of the queue; only valid inside withQueue/readQueue. */
export class Queue {
  private stmts = new Map<string, Statement>();
  private nsIds = new Map<string, number>();
  private changed = false;
  /** Packs written by `enqueue` in this session; the save waits for them before it writes the rows. */
  private packWrites: Promise<unknown> = Promise.resolve();
  /** Packs that lost a reference in this session: candidates for collection (or compaction) at the save. */
  readonly touchedPacks = new Set<number>();
  /** v2 body files (bodies/<hash>) whose rows left in this session. */
  readonly removedLegacy = new Set<string>();
  private reader: PackReader | null = null;
  /** Packs enqueued in this session, readable before their file is written (a caller may enqueue, then read). */
  private readonly fresh = new Map<string, BuiltPack | Buffer>();
  /** Events found unreadable (and, in a writable view, dead-lettered with their bodies) in this session. */
  unreadableEvents = 0;
  /** What withQueue's spool merge did before `fn` ran. */
  lastMerge: MergeReport | null = null;
  /** Rows now refer to a pack not referred to before (merged, enqueued, compacted): its directory entry must be durable. */
  newPackRefs = false;
  private lamport: number;
  private seq: number;
  readonly nodeId: string;
  private readonly node: number;

  constructor(
    private db: Database,
    private readonly opts: { now: () => number; capacity: number; readonly: boolean; stateDir: string; settleMs: number; notice?: (m: string) => void },
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

  get stateDir(): string {
    return this.opts.stateDir;
  }

  get capacity(): number {
    return this.opts.capacity;
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

  uploadId(createdAt: number, seq: number): string {
    return encodeId(this.node, KIND_UPLOAD, createdAt, seq);
  }

  private packReader(): Pick<PackReader, 'read'> {
    this.reader ??= new PackReader(this.opts.stateDir, this.opts.notice);
    const reader = this.reader;
    return {
      read: (name, off, len) => {
        const mine = this.fresh.get(name);
        if (mine === undefined) return reader.read(name, off, len);
        const bytes = Buffer.isBuffer(mine) ? mine : Buffer.concat(mine.chunks, mine.size);
        this.fresh.set(name, bytes);
        return off + len <= bytes.length ? Buffer.from(bytes.subarray(off, off + len)) : null;
      },
    };
  }

  private insertBody(
    ns: number,
    artifactPath: string,
    hash: string,
    seq: number,
    size: number,
    createdAt: number,
    loc: { packId: number | null; off: number | null; oid: string | null },
    nextAttemptAt = createdAt,
  ): number {
    return this.run(
      `INSERT OR IGNORE INTO body_tasks (ns_id, artifact_path, content_hash, seq, size_bytes, created_at, retry_count, next_attempt_at, last_error, pack_id, off, oid)
       VALUES (?,?,?,?,?,?,0,?,NULL,?,?,?)`,
      [ns, artifactPath, bytesOf(hash), seq, size, createdAt, nextAttemptAt, loc.packId, loc.off, loc.oid && OID_RE.test(loc.oid) ? bytesOf(loc.oid) : null],
    );
  }

  /** An event row; its envelope is in a pack (packId, off, len) or inline. */
  private insertEvent(
    seq: number,
    eventId: string,
    keys: { skey: number | null; ident: number | null },
    createdAt: number,
    where: { packId: number; off: number; len: number } | { envelope: string },
  ): void {
    const inPack = 'packId' in where;
    this.run(
      `INSERT INTO index_events (seq, event_id, skey, ident, pack_id, off, len, envelope, lamport_clock, created_at, retry_count, next_attempt_at, last_error)
       VALUES (?,?,?,?,?,?,?,?,?,?,0,?,NULL)`,
      [seq, eventId, keys.skey, keys.ident, inPack ? where.packId : null, inPack ? where.off : null, inPack ? where.len : null, inPack ? null : where.envelope, ++this.lamport, createdAt, createdAt],
    );
  }

  /** Remembers an upload that may still land on the server until `until`. */
  private recordAbandoned(ns: SqlValue, artifactPath: SqlValue, hash: SqlValue, until: number): void {
    this.run(
      'INSERT INTO abandoned (ns_id, artifact_path, content_hash, until) VALUES (?,?,?,?) ON CONFLICT DO UPDATE SET until = max(until, excluded.until)',
      [ns, artifactPath, hash, until],
    );
  }

  /** Removes a body task (its pack may become collectable). */
  private deleteBody(seq: number): void {
    const r = this.one('SELECT ns_id, artifact_path, content_hash, pack_id FROM body_tasks WHERE seq = ?', [seq]);
    if (!r) return;
    this.run('DELETE FROM body_tasks WHERE ns_id = ? AND artifact_path = ? AND content_hash = ?', [r[0], r[1], r[2]]);
    if (r[3] === null) this.removedLegacy.add(hexOf(r[2]));
    else this.touchedPacks.add(Number(r[3]));
  }

  private deleteEvents(where: 'seq' | 'skey', value: SqlValue): number {
    const rows = this.all(`SELECT seq, pack_id FROM index_events WHERE ${where} = ?`, [value]);
    for (const [seq, packId] of rows) {
      this.run('DELETE FROM index_events WHERE seq = ?', [seq]);
      if (packId !== null) this.touchedPacks.add(Number(packId));
    }
    return rows.length;
  }

  // --- capture: spools and enqueue ----------------------------------------------------------------

  /**
   * Adds one body task and one index event per new artifact version, then, per feature of
   * `indexes`, an Indexed event for every other indexed file and one snapshot, as 047 emits them;
   * all in one transaction (a pack is written for them; the save waits for it). See mergePack for
   * duplicates, supersedes and capacity. The hooks capture through spools (mergeSpools); this is
   * the same merge for a caller that already holds the lock.
   */
  enqueue(items: EligibleArtifact[], ctx: CommitContext, indexes: FeatureIndex[] = []): EnqueueResult {
    this.writable();
    const pack = buildCapture([{ context: ctx, eligible: items, indexes }], this.opts.now());
    if (!pack) return { added: 0, duplicate: 0, superseded: 0, refused: 0, refusedArtifacts: [] };
    const wasChanged = this.changed;
    const result = this.mergePack(pack.name, pack.header, baseOf(pack), pack.size);
    if (result.added === 0 && result.superseded === 0 && result.events === 0) {
      // Nothing new: no pack to write, nothing to save.
      const id = Number(this.one('SELECT pack_id FROM packs WHERE name = ?', [pack.name])?.[0]);
      this.run('DELETE FROM packs WHERE pack_id = ?', [id]);
      this.touchedPacks.delete(id);
      this.changed = wasChanged;
      const { spools: _s, events: _e, ...rest } = result;
      return rest;
    }
    this.fresh.set(pack.name, pack);
    // Written now, under the lock, while the caller's transaction goes on; the save awaits it.
    this.packWrites = this.packWrites.then(() => writePack(this.opts.stateDir, pack, this.opts.notice));
    this.packWrites.catch(() => undefined);
    const { spools: _s, events: _e, ...rest } = result;
    return rest;
  }

  /** Resolves when every pack written by `enqueue` is durably on disk; rejects if a write failed. */
  packsWritten(): Promise<unknown> {
    return this.packWrites;
  }

  /** Whether a pack of this name was merged already (exactly once: its tasks are in this queue, or were). */
  hasPack(name: string): boolean {
    return !!this.one('SELECT 1 FROM packs WHERE name = ?', [name]);
  }

  /**
   * Merges one spool's tasks and events in one transaction and records the pack, so the same spool
   * is never merged twice. Offsets in the header are relative to the data region at `base`.
   * A body: same namespace+path+hash already pending: `duplicate`. Same namespace+path, other hash
   * pending: the older task and its unsent events are removed (`superseded`). Beyond capacity:
   * `refused`. An event without a body (047 indexes every file, and sums each feature up in a
   * snapshot): skipped when an identical one is pending, else it replaces older unsent ones of its
   * key; a snapshot is skipped only when nothing else of the spool was new, so that it always
   * follows the events it sums up.
   */
  mergePack(name: string, header: PackHeader, base: number, size: number): MergeReport {
    this.writable();
    const result: MergeReport = { added: 0, duplicate: 0, superseded: 0, refused: 0, refusedArtifacts: [], spools: 0, events: 0 };
    if (this.hasPack(name)) return result;
    const now = this.opts.now();
    this.transaction(() => {
      this.run('INSERT INTO packs (name, size, created_at, dead) VALUES (?,?,?,0)', [name, size, now]);
      const packId = Number(this.one('SELECT last_insert_rowid()')?.[0]);
      result.spools = 1;
      this.newPackRefs = true;
      if (header.kind !== 'capture') return;
      const events = new Map(header.events.map((e) => [e.id, e]));
      const handled = new Set<string>();
      let tasks = this.count('SELECT COUNT(*) FROM body_tasks');
      for (const b of header.bodies) {
        if (b.event) handled.add(b.event);
        if (!HASH_RE.test(b.hash)) throw new PackError(`${b.path}: content_hash must be lowercase hex SHA-256`);
        const ns = this.nsId(pickNamespace(b.ns));
        const pending = this.all('SELECT seq, content_hash FROM body_tasks WHERE ns_id = ? AND artifact_path = ?', [ns, b.path]);
        if (pending.some((r) => hexOf(r[1]) === b.hash)) {
          result.duplicate++;
          continue;
        }
        if (pending.length === 0 && tasks >= this.opts.capacity) {
          result.refused++;
          result.refusedArtifacts.push({ feature_slug: b.ns.feature_slug, artifact_path: b.path, content_hash: b.hash });
          continue;
        }
        // Older versions: their tasks and unsent events (also those whose task already left).
        let removed = 0;
        for (const [seq] of pending) {
          removed += this.deleteEvents('seq', seq);
          this.deleteBody(Number(seq));
          removed++;
          tasks--;
        }
        const ev = b.event ? events.get(b.event) : undefined;
        const keys = eventKeys(ev);
        if (keys.skey !== null) removed += this.deleteEvents('skey', keys.skey);
        if (removed > 0) result.superseded++;
        this.run('UPDATE dead_letters SET superseded = 1 WHERE ns_id = ? AND artifact_path = ? AND superseded = 0', [ns, b.path]);

        const seq = ++this.seq;
        this.insertBody(ns, b.path, b.hash, seq, b.size, now, { packId, off: base + b.off, oid: b.oid });
        if (ev) this.insertEvent(seq, ev.id, keys, now, { packId, off: base + ev.off, len: ev.len });
        tasks++;
        result.added++;
      }
      // Events with no body task of their own: Indexed events of files not uploaded, snapshots.
      let newEvents = 0;
      for (const ev of header.events) {
        if (handled.has(ev.id)) continue;
        const keys = eventKeys(ev);
        if (keys.skey !== null) {
          const identical = keys.ident !== null && this.count('SELECT EXISTS (SELECT 1 FROM index_events WHERE skey = ? AND ident = ?)', [keys.skey, keys.ident]) === 1;
          // A snapshot counts as new when anything else of this spool was (even of another feature: a spare resend is harmless).
          if (identical && (!ev.snapshot || result.added + newEvents === 0)) continue;
          // Older unsent events of the key, except one that a pending body (another version) waits for.
          for (const [seq] of this.all('SELECT seq FROM index_events e WHERE skey = ? AND NOT EXISTS (SELECT 1 FROM body_tasks b WHERE b.seq = e.seq)', [keys.skey])) {
            this.deleteEvents('seq', seq);
          }
        }
        this.insertEvent(++this.seq, ev.id, keys, now, { packId, off: base + ev.off, len: ev.len });
        result.events++;
        if (!ev.snapshot) newEvents++;
      }
      // Nothing of it needed (all duplicates): collectable at once.
      this.touchedPacks.add(packId);
    });
    this.changed = true;
    return result;
  }

  // --- reading work ---------------------------------------------------------------------------

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
      event_id: str(r[14]),
      created_at: createdAt,
      retry_count: Number(r[10]),
      next_attempt_at: Number(r[11]),
      last_error: str(r[12]),
      pack: str(r[15]),
      off: numOrNull(r[16]),
      oid: r[17] === null || r[17] === undefined ? null : hexOf(r[17]),
    };
  }

  /** The envelope of an event row (from its pack or inline), with this queue's Lamport clock; null if unreadable. */
  private envelopeOf(r: Row): DossierEvent | null {
    let text: string | null = str(r[6]);
    if (text === null) {
      const name = str(r[3]);
      const bytes = name === null ? null : this.packReader().read(name, Number(r[4]), Number(r[5]));
      text = bytes === null ? null : bytes.toString('utf8');
    }
    if (text === null) return null;
    try {
      const env = JSON.parse(text) as DossierEvent & Record<string, unknown>;
      if (env === null || typeof env !== 'object' || env.event_id !== String(r[1])) return null;
      // The clock belongs to the queue (ticked as events are merged), not to the capture that wrote the envelope.
      env.lamport_clock = Number(r[7]);
      return env;
    } catch {
      return null;
    }
  }

  /** Unsent events (Indexed and snapshots) whose time has come (all with force), in enqueue order. An unreadable one is dead-lettered (writable views). */
  readyEvents(limit: number, opts: { force?: boolean } = {}): StoredEvent[] {
    const rows = opts.force
      ? this.all(`${EVENT_SELECT} ORDER BY e.seq LIMIT ?`, [limit])
      : this.all(`${EVENT_SELECT} WHERE e.next_attempt_at <= ? ORDER BY e.seq LIMIT ?`, [this.opts.now(), limit]);
    const out: StoredEvent[] = [];
    for (const r of rows) {
      const envelope = this.envelopeOf(r);
      if (envelope === null) {
        this.unreadableEvents++;
        if (!this.opts.readonly) {
          this.transaction(() => {
            this.deadLetterEvent(Number(r[0]), 'local_event_corrupt: its stored envelope is missing or damaged');
            this.deadLetterBody(Number(r[0]), 'local_event_corrupt: its index event could not be read; run `kitty-sync sync <feature>`');
          });
          this.changed = true;
        }
        continue;
      }
      out.push({ event_id: String(r[1]), seq: Number(r[0]), envelope, created_at: Number(r[2]), retry_count: Number(r[8]), next_attempt_at: Number(r[9]), last_error: str(r[10]) });
    }
    return out;
  }

  /** Body tasks whose time has come (all with force), oldest first. */
  readyBodies(limit: number, opts: { force?: boolean } = {}): BodyTask[] {
    const rows = opts.force
      ? this.all(`${BODY_SELECT} ORDER BY b.seq LIMIT ?`, [limit])
      : this.all(`${BODY_SELECT} WHERE b.next_attempt_at <= ? ORDER BY b.seq LIMIT ?`, [this.opts.now(), limit]);
    return rows.map((r) => this.bodyFromRow(r));
  }

  /**
   * Remembers uploads that were handed to the network by a drain that then died (its in-flight
   * journal, lib/inflight.ts): each may still land on the server until `startedAt + settle`.
   */
  recordAbandonedUploads(list: { namespace: NamespaceRef; artifact_path: string; content_hash: string; startedAt: number }[]): void {
    this.writable();
    if (list.length === 0) return;
    this.transaction(() => {
      for (const u of list) {
        if (!HASH_RE.test(u.content_hash)) continue;
        this.recordAbandoned(this.nsId(pickNamespace(u.namespace)), u.artifact_path, bytesOf(u.content_hash), u.startedAt + this.opts.settleMs);
      }
    });
    this.changed = true;
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

  /** The seq of a pending body named by `id`, or null (unknown, or a stale id of a re-queued row). */
  private seqOf(kind: number, id: string): number | null {
    const d = decodeId(this.node, kind, id);
    if (!d) return null;
    const r = this.one('SELECT created_at FROM body_tasks WHERE seq = ?', [d.seq]);
    return r && Number(r[0]) === d.createdAt ? d.seq : null;
  }

  private eventSeq(eventId: string, seq?: number): number | null {
    if (seq !== undefined) return this.one('SELECT event_id FROM index_events WHERE seq = ?', [seq])?.[0] === eventId ? seq : null;
    const r = this.one('SELECT seq FROM index_events WHERE event_id = ?', [eventId]);
    return r ? Number(r[0]) : null;
  }

  private deadLetterBody(seq: number, reason: string): boolean {
    const r = this.one(`${BODY_SELECT} WHERE b.seq = ?`, [seq]);
    if (!r) return false;
    const task = this.bodyFromRow(r);
    this.run(
      `INSERT INTO dead_letters (id, kind, ref_id, seq, ns_id, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count, pack_id, off, len)
       VALUES (?, 'body', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [ulid(), task.upload_id, seq, r[13], task.namespace.feature_slug, task.artifact_path, task.content_hash, JSON.stringify(task), reason, this.opts.now(), task.retry_count,
        r[18], task.off, task.size_bytes],
    );
    this.deleteBody(seq);
    // Its stored body stays: the dead letter refers to it (retry re-sends it).
    this.removedLegacy.delete(task.content_hash);
    return true;
  }

  /** Dead-letters an event; its envelope is copied into the letter, so the letter pins no pack. */
  private deadLetterEvent(seq: number, reason: string): boolean {
    const r = this.one(`${EVENT_SELECT} WHERE e.seq = ?`, [seq]);
    if (!r) return false;
    const envelope = this.envelopeOf(r);
    const body = this.one(`SELECT ${NS_COLS}, b.artifact_path, b.content_hash, b.ns_id FROM body_tasks b JOIN namespaces n ON n.ns_id = b.ns_id WHERE b.seq = ?`, [seq]);
    const payload = (envelope?.payload ?? {}) as unknown as Record<string, unknown>;
    const feature = body ? String(body[1]) : typeof payload.feature_slug === 'string' ? payload.feature_slug : '';
    const artifactPath = body ? String(body[5]) : typeof payload.relative_path === 'string' ? payload.relative_path : '';
    const hash = body ? hexOf(body[6]) : typeof payload.content_hash_sha256 === 'string' ? payload.content_hash_sha256 : null;
    const nsRef = body ? nsFromRow(body, 0) : ((payload.namespace as NamespaceRef | undefined) ?? null);
    this.run(
      `INSERT INTO dead_letters (id, kind, ref_id, seq, ns_id, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count)
       VALUES (?, 'event', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [ulid(), String(r[1]), seq, body ? body[7] : nsRef ? this.nsId(pickNamespace(nsRef)) : null, feature, artifactPath, hash,
        JSON.stringify({ event_id: String(r[1]), skey: numOrNull(r[11]), ident: numOrNull(r[12]), envelope, namespace: nsRef, created_at: Number(r[2]), retry_count: Number(r[8]), last_error: str(r[10]) }),
        reason, this.opts.now(), Number(r[8])],
    );
    this.deleteEvents('seq', seq);
    return true;
  }

  /** Records what happened to sent events. A 'dead' event also dead-letters its body task. Unknown ids are ignored. */
  applyEventResults(results: { event_id: string; result: TaskResult; seq?: number }[]): void {
    this.writable();
    this.transaction(() => {
      for (const { event_id, result, seq: known } of results) {
        const seq = this.eventSeq(event_id, known);
        if (seq === null || result.kind === 'released') continue;
        this.changed = true;
        if (result.kind === 'delivered') {
          this.deleteEvents('seq', seq);
        } else if (result.kind === 'retry') {
          this.run('UPDATE index_events SET retry_count = retry_count + 1, last_error = ? WHERE seq = ?', [result.error, seq]);
          const n = this.count('SELECT retry_count FROM index_events WHERE seq = ?', [seq]);
          this.run('UPDATE index_events SET next_attempt_at = ? WHERE seq = ?', [this.nextAttempt(n, result.notBeforeMs), seq]);
        } else {
          this.deadLetterEvent(seq, result.reason);
          // Without its index entry the body would only ever get index_entry_not_found.
          this.deadLetterBody(seq, `event_rejected: ${result.reason}`);
        }
      }
    });
  }

  /**
   * Records what happened to sent bodies. Unknown ids (superseded meanwhile) are ignored, except that
   * an abandoned upload is remembered even then (it may still land). A delivery that an abandoned
   * upload of another version of the artifact could still overtake (its in-flight window ends after
   * this delivery began) is scheduled once more for after that window: a re-confirmation (issue 11 §4).
   */
  applyBodyResults(results: BodyResultRow[]): void {
    this.writable();
    const now = this.opts.now();
    this.transaction(() => {
      // Abandoned uploads whose window closed long ago can no longer matter to any attempt.
      if (this.count('SELECT EXISTS (SELECT 1 FROM abandoned WHERE until < ?)', [now - this.opts.settleMs])) {
        this.run('DELETE FROM abandoned WHERE until < ?', [now - this.opts.settleMs]);
        this.changed = true;
      }
      for (const { upload_id, result, startedAt, key } of results) {
        const abandoned = (result.kind === 'retry' || result.kind === 'released') && result.abandoned === true && startedAt !== undefined;
        if (abandoned && key && HASH_RE.test(key.content_hash)) {
          this.recordAbandoned(this.nsId(pickNamespace(key.namespace)), key.artifact_path, bytesOf(key.content_hash), startedAt + this.opts.settleMs);
          this.changed = true;
        }
        const seq = this.seqOf(KIND_UPLOAD, upload_id);
        if (seq === null || result.kind === 'released') continue;
        this.changed = true;
        if (result.kind === 'delivered') {
          const r = this.one('SELECT ns_id, artifact_path, content_hash, pack_id, off, oid, size_bytes FROM body_tasks WHERE seq = ?', [seq]);
          if (!r) continue;
          const overtaking = this.one('SELECT max(until) FROM abandoned WHERE ns_id = ? AND artifact_path = ? AND content_hash <> ? AND until > ?', [r[0], r[1], r[2], startedAt ?? 0])?.[0];
          this.run('DELETE FROM abandoned WHERE ns_id = ? AND artifact_path = ? AND content_hash = ?', [r[0], r[1], r[2]]);
          this.deleteBody(seq);
          if (overtaking !== null && overtaking !== undefined) {
            // Same content again, no index event (its entry exists), once the older request is surely over.
            this.run(
              `INSERT OR IGNORE INTO body_tasks (ns_id, artifact_path, content_hash, seq, size_bytes, created_at, retry_count, next_attempt_at, last_error, pack_id, off, oid)
               VALUES (?,?,?,?,?,?,0,?,'reconfirm_after_abandoned_upload',?,?,?)`,
              [r[0], r[1], r[2], ++this.seq, r[6], now, Math.max(now, Number(overtaking)), r[3], r[4], r[5]],
            );
            if (r[3] !== null) this.touchedPacks.delete(Number(r[3]));
            else this.removedLegacy.delete(hexOf(r[2]));
          }
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
      for (const table of ['index_events', 'body_tasks'] as const) {
        const rows = this.all(`SELECT seq, created_at < ? FROM ${table} WHERE created_at < ? OR retry_count >= ?`, [cutoff, cutoff, policy.maxRetries]);
        for (const [seq, old] of rows) {
          const reason = Number(old) ? 'stale_max_age' : 'stale_max_retries';
          if (table === 'index_events') {
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

  /**
   * The counts. Captures still waiting in spools (their writer could not merge them: another process
   * held the queue, or its budget ran out) are pending work too: their bodies and events are counted
   * as pending and ready (from the spool's header), and spools_unmerged says how many spools.
   */
  stats(): QueueStats {
    const s = this.queueStats();
    for (const name of listSpool(this.opts.stateDir).packs) {
      if (this.hasPack(name)) continue;
      const header = readPackHeader(packPath(this.opts.stateDir, name));
      if (header?.kind !== 'capture') continue;
      s.spools_unmerged++;
      s.pending += header.bodies.length;
      s.ready += header.bodies.length;
      s.events_pending += header.events.length;
      s.events_ready += header.events.length;
      for (const b of header.bodies) {
        const f = (s.per_feature[b.ns.feature_slug] ??= { pending: 0, failed: 0 });
        f.pending++;
      }
    }
    return s;
  }

  private queueStats(): QueueStats {
    const now = this.opts.now();
    const pending = this.count('SELECT COUNT(*) FROM body_tasks');
    // A body goes only with or after its own index event (drain.readReadyWork), so it counts as ready
    // only when that event is ready too.
    const ownTime = this.count('SELECT COUNT(*) FROM body_tasks WHERE next_attempt_at <= ?', [now]);
    const ready = this.count(
      'SELECT COUNT(*) FROM body_tasks b LEFT JOIN index_events e ON e.seq = b.seq WHERE b.next_attempt_at <= ? AND (e.seq IS NULL OR e.next_attempt_at <= ?)',
      [now, now],
    );
    const eventsPending = this.count('SELECT COUNT(*) FROM index_events');
    const eventsReady = this.count('SELECT COUNT(*) FROM index_events WHERE next_attempt_at <= ?', [now]);
    let nextAttemptAt: number | null = null;
    if (ready === 0 && eventsReady === 0 && pending + eventsPending > 0) {
      const next = this.one(
        'SELECT MIN(m) FROM (SELECT MIN(next_attempt_at) AS m FROM index_events UNION ALL SELECT MIN(b.next_attempt_at) FROM body_tasks b WHERE NOT EXISTS (SELECT 1 FROM index_events e WHERE e.seq = b.seq))',
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
    const oldest = this.one('SELECT MIN(m) FROM (SELECT MIN(created_at) AS m FROM body_tasks UNION ALL SELECT MIN(created_at) FROM index_events)')?.[0];
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
      spools_unmerged: 0,
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
   * A body whose stored copy is gone or was found damaged stays a dead letter (`unavailable`):
   * `kitty-sync sync <feature>` captures it again from Git.
   */
  retryDeadLetters(ids: string[] | 'all'): RetryResult {
    this.writable();
    const out: RetryResult = { requeued: 0, superseded: 0, unknown: [], unavailable: [] };
    const now = this.opts.now();
    this.transaction(() => {
      const cols = 'SELECT d.id, d.kind, d.seq, d.artifact_path, d.content_hash, d.task, d.superseded, d.pack_id, d.off, p.name, d.reason FROM dead_letters d LEFT JOIN packs p ON p.pack_id = d.pack_id';
      let rows: Row[];
      if (ids === 'all') {
        rows = this.all(`${cols} ORDER BY d.seq, d.kind`);
      } else {
        rows = [];
        const chosen = new Set<string>();
        for (const id of new Set(ids)) {
          const r = this.one(`${cols} WHERE d.id = ?`, [id]);
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
          for (const p of this.all(`${cols} WHERE d.seq = ? AND d.kind <> ?`, [r[2], r[1]])) {
            if (!chosen.has(String(p[0]))) {
              chosen.add(String(p[0]));
              rows.push(p);
            }
          }
        }
        // Bodies before events, so an event finds its body task.
        rows.sort((x, y) => Number(x[2]) - Number(y[2]) || String(x[1]).localeCompare(String(y[1])));
      }
      const newSeq = new Map<number, number>();
      for (const [id, kind, seqV, artifactPath, hash, taskJson, superseded, packId, off, packName, reason] of rows) {
        let task: Record<string, unknown> | null = null;
        try {
          task = JSON.parse(String(taskJson)) as Record<string, unknown>;
        } catch {
          task = null;
        }
        const nsRef = task?.namespace as NamespaceRef | undefined;
        // A snapshot's letter names no file: it goes back unless a newer snapshot of its feature is pending.
        const snapshotSkey = kind === 'event' && task && hash === null ? letterSnapshotKey(task) : null;
        if (task && snapshotSkey !== null) {
          const envelope = letterEnvelope(task);
          if (Number(superseded) || !envelope || this.one('SELECT 1 FROM index_events WHERE skey = ?', [snapshotSkey])) {
            out.superseded++;
          } else {
            const eventId = ulid(now);
            envelope.event_id = eventId;
            this.insertEvent(++this.seq, eventId, { skey: snapshotSkey, ident: typeof task.ident === 'number' ? task.ident : null }, now, { envelope: JSON.stringify(envelope) });
            out.requeued++;
          }
          this.run('DELETE FROM dead_letters WHERE id = ?', [id]);
          continue;
        }
        if (!task || !nsRef || typeof hash !== 'string' || !HASH_RE.test(hash)) {
          out.unavailable.push(String(id));
          continue;
        }
        const ns = this.nsId(pickNamespace(nsRef));
        const newerPending = this.one('SELECT 1 FROM body_tasks WHERE ns_id = ? AND artifact_path = ? AND content_hash <> ?', [ns, artifactPath, bytesOf(hash)]);
        if (Number(superseded) || newerPending) {
          this.run('DELETE FROM dead_letters WHERE id = ?', [id]);
          if (kind === 'body') {
            if (packId !== null) this.touchedPacks.add(Number(packId));
            else this.removedLegacy.add(hash);
          }
          out.superseded++;
          continue;
        }
        if (kind === 'body') {
          const stored = packId !== null ? packName !== null && existsSync(packPath(this.opts.stateDir, String(packName))) : existsSync(path.join(bodiesDir(this.opts.stateDir), hash));
          if (!stored || String(reason).startsWith('local_body_corrupt')) {
            out.unavailable.push(String(id));
            continue;
          }
        }
        // One fresh seq per artifact version, shared by its body and event.
        const oldSeq = Number(seqV);
        let seq = oldSeq > 0 ? newSeq.get(oldSeq) : undefined;
        if (seq === undefined) {
          seq = ++this.seq;
          if (oldSeq > 0) newSeq.set(oldSeq, seq);
        }
        if (kind === 'body') {
          const oid = typeof task.oid === 'string' ? task.oid : null;
          this.insertBody(ns, String(artifactPath), hash, seq, Number(task.size_bytes) || 0, now, { packId: numOrNull(packId), off: numOrNull(off), oid });
          if (packId !== null) this.touchedPacks.delete(Number(packId));
        } else {
          const envelope = letterEnvelope(task);
          if (!envelope) {
            out.unavailable.push(String(id));
            continue;
          }
          // A fresh event id: the server may remember the refused one.
          const eventId = ulid(now);
          envelope.event_id = eventId;
          this.insertEvent(seq, eventId, { skey: typeof task.skey === 'number' ? task.skey : null, ident: typeof task.ident === 'number' ? task.ident : null }, now, { envelope: JSON.stringify(envelope) });
        }
        this.run('DELETE FROM dead_letters WHERE id = ?', [id]);
        out.requeued++;
      }
    });
    if (out.requeued || out.superseded) this.changed = true;
    return out;
  }

  /**
   * What the pending marker records (marker.ts). The queue is held when index events wait in backoff
   * (they fail only as a batch: the server was unreachable or failing) and nothing can be sent
   * before the earliest next attempt.
   */
  hold(): QueueHold {
    const now = this.opts.now();
    const [events, firstEvent] = this.one('SELECT COUNT(*), MIN(next_attempt_at) FROM index_events') ?? [0, null];
    const info = { pending: this.count('SELECT COUNT(*) FROM body_tasks'), events_pending: Number(events), last_error: null as string | null };
    if (Number(events) === 0 || Number(firstEvent) <= now) return { hold_until: 0, ...info };
    // Bodies whose event already went are not held by the events' backoff.
    const firstBody = this.one('SELECT MIN(b.next_attempt_at) FROM body_tasks b WHERE NOT EXISTS (SELECT 1 FROM index_events e WHERE e.seq = b.seq)')?.[0];
    const until = Math.min(Number(firstEvent), firstBody === null || firstBody === undefined ? Infinity : Number(firstBody));
    if (until <= now) return { hold_until: 0, ...info };
    info.last_error = str(this.one('SELECT last_error FROM index_events WHERE last_error IS NOT NULL ORDER BY next_attempt_at DESC LIMIT 1')?.[0] ?? null);
    return { hold_until: Math.min(until, now + MAX_WAIT_MS), ...info };
  }

  hasPending(): boolean {
    return !!this.one('SELECT EXISTS (SELECT 1 FROM body_tasks) OR EXISTS (SELECT 1 FROM index_events)')?.[0];
  }

  /** Some row still uses a v2 body file (bodies/<hash>). */
  hasLegacyBodies(): boolean {
    return !!this.one("SELECT EXISTS (SELECT 1 FROM body_tasks WHERE pack_id IS NULL) OR EXISTS (SELECT 1 FROM dead_letters WHERE kind = 'body' AND pack_id IS NULL)")?.[0];
  }

  /** Packs known to this queue by name: live ones and dead ones whose file may still exist. */
  packNames(): Map<string, { id: number; dead: boolean }> {
    const m = new Map<string, { id: number; dead: boolean }>();
    for (const [id, name, dead] of this.all('SELECT pack_id, name, dead FROM packs')) m.set(String(name), { id: Number(id), dead: Number(dead) === 1 });
    return m;
  }

  /** Forgets dead packs whose files are gone. */
  forgetPacks(ids: number[]): void {
    if (ids.length === 0) return;
    this.transaction(() => {
      for (const id of ids) this.run('DELETE FROM packs WHERE pack_id = ? AND dead = 1', [id]);
    });
    this.changed = true;
  }

  private refBytes(packId: number): number {
    return this.count(
      `SELECT (SELECT COALESCE(SUM(size_bytes), 0) FROM body_tasks WHERE pack_id = ?1) + (SELECT COALESCE(SUM(len), 0) FROM index_events WHERE pack_id = ?1)
        + (SELECT COALESCE(SUM(len), 0) FROM dead_letters WHERE pack_id = ?1)`,
      [packId],
    );
  }

  private refCount(packId: number): number {
    return this.count(
      `SELECT EXISTS (SELECT 1 FROM body_tasks WHERE pack_id = ?1) OR EXISTS (SELECT 1 FROM index_events WHERE pack_id = ?1)
        OR EXISTS (SELECT 1 FROM dead_letters WHERE pack_id = ?1)`,
      [packId],
    );
  }

  /**
   * Marks the touched packs nobody refers to any more as dead (their files go after the save) and,
   * when compacting is allowed, copies the few live items of a mostly consumed big pack into a
   * small new one, so a dead letter or a long-pending body never pins a large pack. Returns the
   * names of the packs to delete after the save.
   */
  collectPacks(compact: boolean): string[] {
    if (this.touchedPacks.size === 0) return [];
    const doomed: string[] = [];
    this.transaction(() => {
      for (const id of this.touchedPacks) {
        const p = this.one('SELECT name, size, dead FROM packs WHERE pack_id = ?', [id]);
        if (!p || Number(p[2]) === 1) continue;
        if (this.refCount(id) === 0) {
          this.run('UPDATE packs SET dead = 1 WHERE pack_id = ?', [id]);
          doomed.push(String(p[0]));
          continue;
        }
        if (compact && Number(p[1]) >= COMPACT_MIN_BYTES && this.refBytes(id) * 4 < Number(p[1]) && this.compactPack(id, String(p[0]))) {
          this.run('UPDATE packs SET dead = 1 WHERE pack_id = ?', [id]);
          doomed.push(String(p[0]));
        }
      }
    });
    this.touchedPacks.clear();
    if (doomed.length) this.changed = true;
    return doomed;
  }

  /** Copies the live items of a pack into a new 'compact' pack (written and fsynced now) and repoints the rows. */
  private compactPack(id: number, name: string): boolean {
    const items: { table: string; key: string; keyVal: SqlValue; off: number; len: number }[] = [];
    for (const [seq, off, size] of this.all('SELECT seq, off, size_bytes FROM body_tasks WHERE pack_id = ?', [id])) items.push({ table: 'body_tasks', key: 'seq', keyVal: seq, off: Number(off), len: Number(size) });
    for (const [seq, off, len] of this.all('SELECT seq, off, len FROM index_events WHERE pack_id = ?', [id])) items.push({ table: 'index_events', key: 'seq', keyVal: seq, off: Number(off), len: Number(len) });
    for (const [did, off, len] of this.all('SELECT id, off, len FROM dead_letters WHERE pack_id = ?', [id])) items.push({ table: 'dead_letters', key: 'id', keyVal: did, off: Number(off), len: Number(len) });
    const b = new PackBuilder();
    const placed: number[] = [];
    for (const it of items) {
      const bytes = this.packReader().read(name, it.off, it.len);
      if (bytes === null) return false; // unreadable: leave everything where it is
      placed.push(b.addRaw(bytes));
    }
    const pack = b.build('compact', this.opts.now());
    writePackSync(this.opts.stateDir, pack, this.opts.notice);
    const base = baseOf(pack);
    this.run('INSERT INTO packs (name, size, created_at, dead) VALUES (?,?,?,0)', [pack.name, pack.size, this.opts.now()]);
    this.newPackRefs = true;
    const newId = Number(this.one('SELECT last_insert_rowid()')?.[0]);
    items.forEach((it, i) => this.run(`UPDATE ${it.table} SET pack_id = ?, off = ? WHERE ${it.key} = ?`, [newId, base + placed[i], it.keyVal]));
    return true;
  }

  /** The stored body of any task or body dead letter with this hash, or null. */
  storedBody(contentHash: string): Buffer | null {
    const r =
      this.one('SELECT p.name, b.off, b.size_bytes FROM body_tasks b LEFT JOIN packs p ON p.pack_id = b.pack_id WHERE b.content_hash = ? LIMIT 1', [bytesOf(contentHash)]) ??
      this.one("SELECT p.name, d.off, d.len FROM dead_letters d LEFT JOIN packs p ON p.pack_id = d.pack_id WHERE d.kind = 'body' AND d.content_hash = ? LIMIT 1", [contentHash]);
    if (!r) return null;
    return this.bodyOf({ pack: str(r[0]), off: numOrNull(r[1]), size_bytes: Number(r[2]), content_hash: contentHash });
  }

  /** The stored body of a task, or null when it is gone or unreadable (verify its hash before use). */
  bodyOf(task: Pick<BodyTask, 'pack' | 'off' | 'size_bytes' | 'content_hash'>): Buffer | null {
    return readTaskBody(this.opts.stateDir, task, this.packReader());
  }

  // --- persistence (used by withQueue) --------------------------------------------------------

  freeStatements(): void {
    for (const s of this.stmts.values()) s.free();
    this.stmts.clear();
    this.reader?.close();
    this.reader = null;
  }

  /** Serializes the database (meta counters included), compacting it when much of it is free pages. */
  exportBytes(generation: number): Uint8Array {
    setMeta(this.db, 'lamport_clock', this.lamport);
    setMeta(this.db, 'enqueue_seq', this.seq);
    // The header's user_version is the save generation (queue-file.ts checks it before replacing the file).
    this.db.exec(`PRAGMA user_version = ${generation | 0}`);
    this.freeStatements();
    const free = Number(this.db.exec('PRAGMA freelist_count')[0]?.values[0]?.[0] ?? 0);
    const pages = Number(this.db.exec('PRAGMA page_count')[0]?.values[0]?.[0] ?? 0);
    // A drained queue would otherwise keep its peak size on disk, loaded by every hook.
    if (free > 256 && free * 4 > pages) this.db.exec('VACUUM');
    return this.db.export();
  }
}

/** The envelope kept in an event dead letter (v4), or rebuilt from an older letter's record (v3 kept a snapshot as `snapshot`). */
function letterEnvelope(task: Record<string, unknown>): (DossierEvent & Record<string, unknown>) | null {
  const env = task.envelope;
  if (env && typeof env === 'object') return { ...(env as DossierEvent) } as DossierEvent & Record<string, unknown>;
  const snap = task.snapshot as SnapshotRecord | undefined;
  if (snap?.namespace && snap.context) return buildSnapshotEvent({ ...snap, context: { ...snap.context, team_slug: snap.context.team_slug ?? 'local' } }) as DossierEvent & Record<string, unknown>;
  const rec = task as unknown as EventRecord;
  if (rec.context && rec.classification && rec.namespace && typeof rec.artifact_path === 'string') {
    return buildIndexEvent({ ...rec, context: { ...rec.context, team_slug: rec.context.team_slug ?? 'local' }, content_hash: String(rec.content_hash) }) as DossierEvent & Record<string, unknown>;
  }
  return null;
}

/** The supersede key (stored form) of a snapshot's dead letter, or null when the letter is not a snapshot's. */
function letterSnapshotKey(task: Record<string, unknown>): number | null {
  const env = task.envelope as { event_type?: string } | undefined;
  if (env?.event_type === 'MissionDossierSnapshotComputed' && typeof task.skey === 'number') return task.skey;
  const snap = task.snapshot as SnapshotRecord | undefined;
  return snap?.namespace ? supersedeKey(snapshotKey(pickNamespace(snap.namespace))) : null;
}

/** A task's stored body (pack or v2 file), or null when gone or unreadable. */
export function readTaskBody(stateDir: string, task: Pick<BodyTask, 'pack' | 'off' | 'size_bytes' | 'content_hash'>, reader?: Pick<PackReader, 'read'>): Buffer | null {
  if (task.pack === null || task.off === null) {
    try {
      return readLegacyBody(stateDir, task.content_hash);
    } catch {
      return null;
    }
  }
  if (reader) return reader.read(task.pack, task.off, task.size_bytes);
  const own = new PackReader(stateDir);
  try {
    return own.read(task.pack, task.off, task.size_bytes);
  } finally {
    own.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Merging spools.

/**
 * Merges every complete spool in the spool directory that this queue has not merged yet, oldest
 * first, each in its own transaction. A damaged one (torn by a power loss, altered) is never merged:
 * it is moved aside with a notice. Leftovers are tidied: temporary files of dead writers, files of
 * dead packs, and compaction output that never made it into a save.
 */
export function mergeSpools(q: Queue, opts: { own?: BuiltPack; notice?: (m: string) => void } = {}): MergeReport {
  const total: MergeReport = { added: 0, duplicate: 0, superseded: 0, refused: 0, refusedArtifacts: [], spools: 0, events: 0 };
  const stateDir = q.stateDir;
  const kind = entryKind(spoolDir(stateDir));
  if (kind === null) return total;
  if (kind !== 'dir') {
    // A link or file in its place is never listed through: moved aside, a fresh directory made.
    ensureDir(spoolDir(stateDir), opts.notice);
    return total;
  }
  const listing = listSpool(stateDir);
  for (const t of listing.deadTemps) removeSpoolFile(stateDir, t);
  const known = q.packNames();
  const present = new Set(listing.packs);
  const gone = [...known].filter(([name, p]) => p.dead && !present.has(name)).map(([, p]) => p.id);
  q.forgetPacks(gone);
  for (const name of listing.packs) {
    const k = known.get(name);
    if (k?.dead) {
      removeSpoolFile(stateDir, name); // collected, but the process died before deleting the file
      continue;
    }
    if (k) continue;
    let opened: OpenedPack;
    if (opts.own && opts.own.name === name) {
      opened = { header: opts.own.header, base: baseOf(opts.own), size: opts.own.size };
    } else {
      try {
        opened = readPack(packPath(stateDir, name), opts.notice);
      } catch (err) {
        if (!(err instanceof PackError)) throw err;
        const file = packPath(stateDir, name);
        moveEntryAside(file, `a damaged spool (${err.message}); it was not merged. Run \`kitty-sync sync --all\` to capture its documents again`, opts.notice);
        continue;
      }
    }
    if (opened.header.kind === 'compact') {
      removeSpoolFile(stateDir, name); // a compaction whose save never happened: its items are still in their old pack
      continue;
    }
    const r = q.mergePack(name, opened.header, opened.base, opened.size);
    total.added += r.added;
    total.duplicate += r.duplicate;
    total.superseded += r.superseded;
    total.refused += r.refused;
    total.refusedArtifacts.push(...r.refusedArtifacts);
    total.spools += r.spools;
    total.events += r.events;
  }
  if (total.refused > 0) {
    opts.notice?.(`the queue is full (capacity ${q.capacity}): ${total.refused} artifact(s) were not queued; run \`kitty-sync drain\` and commit or \`kitty-sync sync\` again`);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Entry points.

function resolved(opts: QueueOptions) {
  return {
    now: opts.now ?? Date.now,
    capacity: opts.capacity ?? DEFAULT_CAPACITY,
    settleMs: opts.settleMs ?? DEFAULT_SETTLE_MS,
  };
}

async function save(q: Queue, opts: QueueOptions, generation: number | null): Promise<void> {
  const stateDir = opts.stateDir;
  await q.packsWritten();
  const doomed = q.collectPacks(opts.compact === true);
  const pending = q.hasPending();
  const marker = pendingMarkerPath(stateDir);
  // Written before the save: a crash in between leaves a harmless extra marker, never a missing one.
  if (pending) writePendingMarker(stateDir, q.hold(), opts.onNotice);
  // The directory entries of packs this save starts referring to (renamed in by their writers,
  // without a directory fsync) are made durable before the rows that point at them.
  if (q.newPackRefs && entryKind(spoolDir(stateDir)) === 'dir') await fsyncDir(spoolDir(stateDir));
  const bytes = q.exportBytes(((generation ?? 0) + 1) % 0x7fffffff);
  removeDeadTempFiles(stateDir);
  await saveQueueFile(dbPath(stateDir), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), generation);
  await fsyncDir(stateDir);
  for (const name of doomed) removeSpoolFile(stateDir, name);
  if (!pending) {
    try {
      unlinkSync(marker);
    } catch {
      /* not there */
    }
    // A spool written after this merge's listing must still make the next hook start Node.
    if (listSpool(stateDir).packs.some((n) => !q.hasPack(n))) touchPendingMarker(stateDir, opts.onNotice);
  }
  // v2 body files: collected once no row uses any.
  // Only a real directory: a link there is never followed (its files are not ours to delete).
  if (entryKind(bodiesDir(stateDir)) === 'dir' && !q.hasLegacyBodies()) {
    await sweepBodies(stateDir, new Set());
    try {
      rmSync(bodiesDir(stateDir), { recursive: false });
    } catch {
      /* not empty (foreign files) or gone */
    }
  }
}

/**
 * lock → load (re-read under the lock) → merge complete spools → fn → save atomically if anything
 * changed → unlock. If the database turns out corrupt while fn runs, it is moved aside and fn runs
 * once more on a fresh queue, so fn must only act through `q`.
 */
export async function withQueue<T>(opts: QueueOptions, fn: (q: Queue) => T | Promise<T>): Promise<T> {
  const { now, capacity, settleMs } = resolved(opts);
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const SQL = await loadSql();
  mark('queue: sql.js ready');
  const file = dbPath(opts.stateDir);
  const lock = await acquireLock(file, path.join(opts.stateDir, LOCK_FILE), { onNotice: opts.onNotice, ...opts.lock });
  mark('queue: locked');
  try {
    for (let attempt = 0; ; attempt++) {
      const { db, dirty, generation } = await openForWrite(SQL, opts, now());
      const q = new Queue(db, { now, capacity, readonly: false, stateDir: opts.stateDir, settleMs, notice: opts.onNotice });
      if (dirty) q.markDirty();
      try {
        mark('queue: read');
        q.lastMerge = mergeSpools(q, { own: opts.own, notice: opts.onNotice });
        mark('queue: spools merged');
        const result = await fn(q);
        if (q.dirty || q.touchedPacks.size > 0) {
          const compromised = lock.compromised();
          if (compromised) throw new Error(`the queue lock was lost (${compromised.message}); nothing was saved`);
          await save(q, opts, generation);
          mark('queue: saved');
        }
        return result;
      } catch (err) {
        if (attempt > 0 || !isCorruptionError(err) || !existsSync(file)) throw err;
        await moveAside(opts.stateDir, err instanceof Error ? err.message : String(err), now(), opts.onNotice);
      } finally {
        // Pack writes still running (fn failed before the save) end before the lock is released.
        await q.packsWritten().catch(() => undefined);
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
  const { now, capacity, settleMs } = resolved(opts);
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
  const q = new Queue(db, { now, capacity, readonly: true, stateDir: opts.stateDir, settleMs, notice: opts.onNotice });
  try {
    return fn(q);
  } finally {
    q.freeStatements();
    db.close();
  }
}

/**
 * The stored body with this content hash, from any task or dead letter that has one, or null (tests
 * and tools; the drain reads a task's own body with readTaskBody).
 */
export async function readBody(stateDir: string, contentHash: string): Promise<Buffer | null> {
  if (!HASH_RE.test(contentHash)) return null;
  return readQueue({ stateDir }, (q) => q.storedBody(contentHash));
}

export { SCHEMA_VERSION };
