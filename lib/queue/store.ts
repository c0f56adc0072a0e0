// The state every piece of an open queue shares: the database (through Sql), the session's counters
// (Lamport clock, enqueue seq), which packs and v2 body files lost a reference, and the row
// operations more than one piece needs (namespaces, inserting and removing tasks and events, reading
// an event's envelope). The pieces (merge, work, dead letters, stats, pack refs) each take this.
import { isAscii } from 'node:buffer';
import type { Database, SqlValue } from 'sql.js';
import { namespaceKey } from '../contract/namespace.js';
import type { DossierEvent, NamespaceRef } from '../types.js';
import { PackReader, type BuiltPack, type PackEvent } from './pack.js';
import { backoffMs, MAX_WAIT_MS } from './retry.js';
import { BODY_KEYS_JSON, bytesOf, EVENT_KEYS_JSON, hexOf, NS_COLS, nsOf, OID_RE, SEQ_IN, Sql, str, type EventRow, type JsonRead, type NsCol, type Row } from './rows.js';
import { generationOf } from './queue-file.js';
import { bodyKey, getMeta, setMeta, supersedeKey } from './schema.js';
import { decodeId, IdEncoder, KIND_UPLOAD, nodeBits } from './task-ids.js';

export interface StoreOptions {
  now: () => number;
  capacity: number;
  readonly: boolean;
  stateDir: string;
  settleMs: number;
  notice?: (m: string) => void;
  /** The file's bytes the database was opened from (exportBytes may return them), or null. */
  image?: Buffer | null;
}

/** An event's supersede key and identity as stored (52-bit hashes; see index_events in schema.ts). */
export function eventKeys(ev: Pick<PackEvent, 'key' | 'ident'> | undefined): { skey: number | null; ident: number | null } {
  return { skey: ev?.key ? supersedeKey(ev.key) : null, ident: ev?.ident ? supersedeKey(ev.ident) : null };
}

/** Free pages a save keeps in the file (see exportBytes): what a few hooks' merges need. */
const SLACK_PAGES = 32;

export class QueueStore {
  readonly sql: Sql;
  private readonly nsIds = new Map<string, number>();
  /** Namespaces by id (rows are never deleted nor changed, so an id always names the same one). */
  private readonly nsById = new Map<number, NamespaceRef>();
  /** Something changed: the queue is saved at the end of withQueue. */
  changed = false;
  /** Packs that lost a reference in this session: candidates for collection (or compaction) at the save. */
  readonly touchedPacks = new Set<number>();
  /** Packs enqueued in this session, readable before their file is written (a caller may enqueue, then read). */
  readonly fresh = new Map<string, BuiltPack>();
  /** Rows now refer to a pack not referred to before (merged, enqueued, compacted): its directory entry must be durable. */
  newPackRefs = false;
  /** Events found unreadable (and, in a writable view, dead-lettered with their bodies) in this session. */
  unreadableEvents = 0;
  private reader: PackReader | null = null;
  private lamport: number;
  /**
   * The latest clock a save of this queue has seen (meta clock_high; null: none recorded, a queue
   * saved by an older version). Every wait a run stores is at most MAX_WAIT_MS past its own clock,
   * so while the clock is not behind this mark no stored wait is further ahead than now + MAX_WAIT_MS.
   */
  clockHigh: number | null;
  /** The last enqueue seq handed out (nextSeq). */
  seq: number;
  private readonly node: number;
  private readonly uploadIds: IdEncoder;

  constructor(
    private readonly db: Database,
    readonly opts: StoreOptions,
  ) {
    this.sql = new Sql(db);
    this.lamport = Number(getMeta(db, 'lamport_clock') ?? 0) || 0;
    this.seq = Number(getMeta(db, 'enqueue_seq') ?? 0) || 0;
    const clockHigh = Number(getMeta(db, 'clock_high'));
    this.clockHigh = Number.isFinite(clockHigh) ? clockHigh : null;
    this.node = nodeBits(getMeta(db, 'node_id') ?? 'unknown');
    this.uploadIds = new IdEncoder(this.node, KIND_UPLOAD);
  }

  now(): number {
    return this.opts.now();
  }

  get stateDir(): string {
    return this.opts.stateDir;
  }

  writable(): void {
    if (this.opts.readonly) throw new Error('this queue view is read-only (readQueue); use withQueue to change the queue');
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** Whether a pack of this name was merged already (exactly once: its tasks are in this queue, or were). */
  hasPack(name: string): boolean {
    return this.sql.value('SELECT 1 FROM packs WHERE name = ?', [name]) !== undefined;
  }

  nsId(ns: NamespaceRef): number {
    const key = namespaceKey(ns);
    const cached = this.nsIds.get(key);
    if (cached !== undefined) return cached;
    const vals = [ns.project_uuid, ns.feature_slug, ns.target_branch, ns.mission_key, ns.manifest_version];
    const where = 'project_uuid = ? AND feature_slug = ? AND target_branch = ? AND mission_key = ? AND manifest_version = ?';
    let id = this.sql.value(`SELECT ns_id FROM namespaces WHERE ${where}`, vals);
    if (id === undefined) {
      this.sql.run('INSERT INTO namespaces (project_uuid, feature_slug, target_branch, mission_key, manifest_version) VALUES (?,?,?,?,?)', vals);
      id = this.sql.lastInsertId();
    }
    this.nsIds.set(key, Number(id));
    return Number(id);
  }

  /** The namespace of an id (tasks of one namespace share one frozen object). */
  namespaceOf(nsId: number): NamespaceRef {
    let ns = this.nsById.get(nsId);
    if (ns === undefined) {
      const r = this.sql.one<NsCol>(`SELECT ${NS_COLS} FROM namespaces n WHERE n.ns_id = ?`, [nsId]);
      if (!r) throw new Error(`queue: no namespace ${nsId} (the database is inconsistent)`);
      ns = Object.freeze(nsOf(r));
      this.nsById.set(nsId, ns);
    }
    return ns;
  }

  uploadId(createdAt: number, seq: number): string {
    return this.uploadIds.id(createdAt, seq);
  }

  /** Reads pack bytes; packs enqueued in this session are read from memory (their file may still be being written). */
  packReader(): Pick<PackReader, 'read' | 'viewEnd'> {
    return (this.reader ??= new PackReader(this.opts.stateDir, this.opts.notice, this.fresh));
  }

  /**
   * Adds a body task, unless the same version (namespace, path, hash) is pending already; returns
   * whether it was added. `lastError` says why a re-queued task waits.
   */
  insertBody(...args: Parameters<QueueStore['addBody']>): boolean {
    const [ns, artifactPath, hash] = args;
    if (this.bodyVersions(ns, artifactPath).some((r) => hexOf(r.content_hash) === hash)) return false;
    this.addBody(...args);
    return true;
  }

  /** Adds a body task the caller knows is not pending (it has just read or removed the artifact's versions). */
  addBody(
    ns: number,
    artifactPath: string,
    hash: string,
    seq: number,
    size: number,
    createdAt: number,
    loc: { packId: number | null; off: number | null; oid: string | null },
    nextAttemptAt = createdAt,
    lastError: string | null = null,
  ): void {
    this.sql.run(
      `INSERT INTO body_tasks (seq, akey, ns_id, artifact_path, content_hash, size_bytes, created_at, retry_count, next_attempt_at, last_error, pack_id, off, oid)
       VALUES (?,?,?,?,?,?,?,0,?,?,?,?,?)`,
      [seq, bodyKey(ns, artifactPath), ns, artifactPath, bytesOf(hash), size, createdAt, nextAttemptAt, lastError, loc.packId, loc.off, loc.oid && OID_RE.test(loc.oid) ? bytesOf(loc.oid) : null],
    );
  }

  /** The pending body tasks of an artifact (any version), found through their hashed key. */
  bodyVersions(ns: number, artifactPath: string): Row<'seq' | 'content_hash'>[] {
    return this.sql.all<'seq' | 'content_hash'>('SELECT seq, content_hash FROM body_tasks WHERE akey = ? AND ns_id = ? AND artifact_path = ?', [bodyKey(ns, artifactPath), ns, artifactPath]);
  }

  /** An event row; its envelope is in a pack (packId, off, len) or inline. */
  insertEvent(seq: number, eventId: string, keys: { skey: number | null; ident: number | null }, createdAt: number, where: { packId: number; off: number; len: number } | { envelope: string }): void {
    const inPack = 'packId' in where;
    this.sql.run(
      `INSERT INTO index_events (seq, event_id, skey, ident, pack_id, off, len, envelope, lamport_clock, created_at, retry_count, next_attempt_at, last_error)
       VALUES (?,?,?,?,?,?,?,?,?,?,0,?,NULL)`,
      [seq, eventId, keys.skey, keys.ident, inPack ? where.packId : null, inPack ? where.off : null, inPack ? where.len : null, inPack ? null : where.envelope, ++this.lamport, createdAt, createdAt],
    );
  }

  /** Remembers an upload that may still land on the server until `until`. */
  recordAbandoned(ns: SqlValue, artifactPath: SqlValue, hash: SqlValue, until: number): void {
    this.sql.run('INSERT INTO abandoned (ns_id, artifact_path, content_hash, until) VALUES (?,?,?,?) ON CONFLICT DO UPDATE SET until = max(until, excluded.until)', [ns, artifactPath, hash, until]);
  }

  /** Removes a body task (its pack may become collectable). */
  deleteBody(seq: number): void {
    const r = this.sql.one<'seq' | 'pack_id'>('SELECT seq, pack_id FROM body_tasks WHERE seq = ?', [seq]);
    if (r) this.deleteBodyRow(r);
  }

  /** Removes the body task of a row already read (one statement); its pack may become collectable. */
  deleteBodyRow(r: { seq: SqlValue; pack_id: SqlValue }): void {
    this.sql.run('DELETE FROM body_tasks WHERE seq = ?', [r.seq]);
    if (r.pack_id !== null) this.touchedPacks.add(Number(r.pack_id));
  }

  /**
   * Removes the body tasks of delivered uploads with two statements in all (their rows read as one
   * JSON value, one DELETE), not two per body, doing for each what deleteBodyRow does. Ids that name
   * no pending task (unknown, or a stale id of a re-queued row) are skipped. Returns how many went.
   */
  deleteDeliveredBodies(uploadIds: string[]): number {
    const createdAt = new Map<number, number>();
    for (const id of uploadIds) {
      const d = decodeId(this.node, KIND_UPLOAD, id);
      if (d) createdAt.set(d.seq, d.createdAt);
    }
    return this.deleteBySeq('body_tasks', BODY_KEYS_JSON, createdAt, (r) => createdAt.get(Number(r.seq)) === Number(r.created_at));
  }

  /**
   * Removes delivered events (seq → event_id) with two statements in all, whatever else is queued.
   * A row that no longer holds its event (a newer one superseded it meanwhile) stays. Returns how many went.
   */
  deleteDeliveredEvents(delivered: ReadonlyMap<number, string>): number {
    return this.deleteBySeq('index_events', EVENT_KEYS_JSON, delivered, (r) => delivered.get(Number(r.seq)) === r.event_id);
  }

  /**
   * The rows of `table` whose seq is a key of `wanted` and that `still` accepts, read as one JSON value
   * and deleted with one statement; their packs may become collectable. Returns how many went.
   */
  private deleteBySeq<K extends string>(
    table: 'body_tasks' | 'index_events',
    read: JsonRead<K | 'seq' | 'pack_id'>,
    wanted: ReadonlyMap<number, unknown>,
    still: (r: Row<K | 'seq' | 'pack_id'>) => boolean,
  ): number {
    if (wanted.size === 0) return 0;
    const gone = this.sql.allJson(read, SEQ_IN, [JSON.stringify([...wanted.keys()])], wanted.size).filter(still);
    if (gone.length === 0) return 0;
    this.sql.run(`DELETE FROM ${table} ${SEQ_IN}`, [JSON.stringify(gone.map((r) => Number(r.seq)))]);
    for (const r of gone) if (r.pack_id !== null) this.touchedPacks.add(Number(r.pack_id));
    return gone.length;
  }

  /**
   * The row of the pending body task an upload id names, read in one statement (a drain applies
   * thousands of results: statements per body are its cost), or null (unknown, or a stale id of a
   * re-queued row).
   */
  bodyRowOf(uploadId: string): BodyResultRowData | null {
    const d = decodeId(this.node, KIND_UPLOAD, uploadId);
    if (!d) return null;
    const r = this.sql.one<keyof BodyResultRowData>('SELECT seq, created_at, ns_id, artifact_path, content_hash, pack_id, off, oid, size_bytes, retry_count FROM body_tasks WHERE seq = ?', [d.seq]);
    return r && Number(r.created_at) === d.createdAt ? r : null;
  }

  deleteEvents(where: 'seq' | 'skey', value: SqlValue): number {
    const rows = this.sql.all<'seq' | 'pack_id'>(`SELECT seq, pack_id FROM index_events WHERE ${where} = ?`, [value]);
    for (const { seq, pack_id } of rows) {
      this.sql.run('DELETE FROM index_events WHERE seq = ?', [seq]);
      if (pack_id !== null) this.touchedPacks.add(Number(pack_id));
    }
    return rows.length;
  }

  eventSeq(eventId: string, seq?: number): number | null {
    if (seq !== undefined) return this.sql.value('SELECT event_id FROM index_events WHERE seq = ?', [seq]) === eventId ? seq : null;
    const found = this.sql.value('SELECT seq FROM index_events WHERE event_id = ?', [eventId]);
    return found !== undefined ? Number(found) : null;
  }

  /** The envelope of an event row (from its pack or inline), with this queue's Lamport clock; null if unreadable. */
  envelopeOf(r: EventRow): DossierEvent | null {
    let text: string | null = str(r.envelope);
    if (text === null) {
      const name = str(r.pack_name);
      const bytes = name === null ? null : this.packReader().read(name, Number(r.off), Number(r.len));
      text = bytes === null ? null : bytes.toString('utf8');
    }
    return text === null ? null : parseEnvelope(text, r);
  }

  /**
   * envelopeOf for many rows. Rows whose envelopes lie back to back in one pack (a capture's events,
   * read in enqueue order) are read as one block; an ASCII block (where a byte offset is a character
   * offset) is decoded once and each envelope parsed from its slice of that string, otherwise each
   * is decoded from its range of the block. A drain's 2,000 events: one read, not 2,000 views.
   */
  envelopesOf(rows: EventRow[]): (DossierEvent | null)[] {
    const out: (DossierEvent | null)[] = [];
    for (let i = 0; i < rows.length;) {
      const name = str(rows[i].pack_name);
      const start = Number(rows[i].off);
      let end = start + Number(rows[i].len);
      let j = i + 1;
      if (name !== null && str(rows[i].envelope) === null) {
        // A pack built in this process is read as views of its pieces: a run stops at its piece's end.
        const limit = this.packReader().viewEnd(name, start);
        while (j < rows.length && str(rows[j].envelope) === null && str(rows[j].pack_name) === name && Number(rows[j].off) === end && end + Number(rows[j].len) <= limit) end += Number(rows[j++].len);
      }
      const bytes = j - i > 1 ? this.packReader().read(name!, start, end - start) : null;
      if (bytes === null) {
        for (; i < j; i++) out.push(this.envelopeOf(rows[i]));
        continue;
      }
      const block = isAscii(bytes) ? bytes.toString('latin1') : null;
      for (; i < j; i++) {
        const at = Number(rows[i].off) - start;
        const to = at + Number(rows[i].len);
        out.push(parseEnvelope(block === null ? bytes.toString('utf8', at, to) : block.slice(at, to), rows[i]));
      }
    }
    return out;
  }

  nextAttempt(retryCount: number, notBeforeMs?: number): number {
    const now = this.opts.now();
    const at = now + backoffMs(retryCount);
    return notBeforeMs !== undefined && notBeforeMs > at ? Math.min(notBeforeMs, now + MAX_WAIT_MS) : at;
  }

  freeStatements(): void {
    this.sql.free();
    this.reader?.close();
    this.reader = null;
  }

  /** A value of the meta table (schema.ts getMeta). */
  meta(key: string): string | undefined {
    return getMeta(this.db, key);
  }

  /** Sets a value of the meta table; it is saved only if the session saves for another reason (mark `changed` to force it). */
  setMeta(key: string, value: string | number): void {
    setMeta(this.db, key, value);
  }

  /** Serializes the database (meta counters included), compacting it when much of it is free pages. */
  exportBytes(generation: number): Uint8Array {
    this.freeStatements();
    let free = this.pragma('freelist_count');
    // A drained queue would otherwise keep its peak size on disk, loaded by every hook.
    if (free > 256 && free * 4 > this.pragma('page_count')) {
      this.db.exec('VACUUM');
      free = 0;
    }
    // Free pages left for the next merge: growing the file instead copies all of it in sql.js's
    // in-memory file system (measured: 12 ms of a hook with 10k tasks pending, 130 ms with 100k).
    if (free < SLACK_PAGES / 2) {
      this.db.exec('BEGIN');
      this.db.run("INSERT INTO meta (key, value) VALUES ('slack', zeroblob(?))", [(SLACK_PAGES - free) * this.pragma('page_size')]);
      this.db.run("DELETE FROM meta WHERE key = 'slack'");
      this.db.exec('COMMIT');
    }
    setMeta(this.db, 'lamport_clock', this.lamport);
    setMeta(this.db, 'enqueue_seq', this.seq);
    // Without a mark (an older queue), none is made until clampWaits has scanned (work.ts).
    if (this.clockHigh !== null) {
      this.clockHigh = Math.max(this.clockHigh, this.now());
      setMeta(this.db, 'clock_high', this.clockHigh);
    }
    // The header's user_version is the save generation (queue-file.ts checks it before replacing
    // the file). Written last, alone: see below.
    this.db.exec(`PRAGMA user_version = ${generation | 0}`);
    // sql.js's in-memory file starts as a view of the bytes it was opened from, and stays one until
    // it is resized (then it is a copy, for good). So when those bytes hold this generation, written
    // last, and are the database's size, they are the database: no export (a page-by-page copy into
    // a new buffer, the largest cost of a hook's save: 24 ms with 10k tasks pending, 200 with 100k).
    const image = this.opts.image;
    if (image && image.length === this.pragma('page_count') * this.pragma('page_size') && generationOf(image) === (generation | 0)) return image;
    return this.db.export();
  }

  private pragma(name: string): number {
    return Number(this.db.exec(`PRAGMA ${name}`)[0]?.values[0]?.[0] ?? 0);
  }
}

/** A body task's row as applying a result needs it. */
export type BodyResultRowData = Record<'seq' | 'created_at' | 'ns_id' | 'artifact_path' | 'content_hash' | 'pack_id' | 'off' | 'oid' | 'size_bytes' | 'retry_count', SqlValue>;

/** An envelope's stored text as this queue sends it (its own Lamport clock); null if it is not the row's event. */
function parseEnvelope(text: string, r: EventRow): DossierEvent | null {
  try {
    const env = JSON.parse(text) as DossierEvent & Record<string, unknown>;
    if (env === null || typeof env !== 'object' || env.event_id !== String(r.event_id)) return null;
    // The clock belongs to the queue (ticked as events are merged), not to the capture that wrote the envelope.
    env.lamport_clock = Number(r.lamport_clock);
    return env;
  } catch {
    return null;
  }
}
