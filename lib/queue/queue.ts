// The durable upload queue (SPEC §6, issues 3 and 11): a sql.js database of metadata in the state
// directory; bodies and index-event envelopes in packs beside it (pack.ts) that rows point
// into. Captures arrive as spools written without any lock; whoever holds the queue lock merges
// every complete spool, each in one transaction and exactly once (the pack's name is recorded in
// the same save). Every read-modify-write runs under the inter-process lock (lock.ts) with an
// atomic whole-file save that refuses to overwrite a file another process saved meanwhile
// (queue-file.ts). Network I/O never happens here: callers read work in one withQueue, send it,
// then apply the results in another.
//
// This file is the entry points (withQueue, readQueue) and the surface callers get (Queue). The
// work is done by one piece per concern, all sharing one QueueStore (store.ts):
//   merge.ts         captures in: spools and enqueue
//   work.ts          the drain's side: ready work out, results in
//   dead-letters.ts  failed work: dead-lettering, listing, retry, expiry
//   stats.ts         the counts status shows
//   pack-refs.ts     the packs rows point into: reading bodies, collection, compaction
//   rows.ts          row access by column name, the shared SELECTs and their decoders
import { existsSync, mkdirSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Database } from 'sql.js';
import { bodiesDir, sweepBodies } from './bodystore.js';
import { acquireLock, type LockOptions } from './lock.js';
import { listSpool, removeSpoolFile, spoolDir, type BuiltPack, type PackHeader } from './pack.js';
import {
  dbPath,
  freshDb,
  isCorruptionError,
  keepOpen,
  loadSql,
  moveAside,
  openBuffer,
  openForWrite,
  readFileOrNull,
  CorruptQueueError,
  removeDeadTempFiles,
  saveQueueFile,
  takeKept,
  type Opened,
} from './queue-file.js';
import { SCHEMA_VERSION } from './schema.js';
import { fsyncDir } from './bodystore.js';
import { entryKind } from '../state-fs.js';
import { pendingMarkerPath, touchPendingMarker, writePendingMarker, type QueueHold } from './marker.js';
import type { CommitContext, EligibleArtifact, FeatureIndex, NamespaceRef } from '../types.js';
import { DeadLetters } from './dead-letters.js';
import { Merger, mergeSpools } from './merge.js';
import { PackRefs } from './pack-refs.js';
import { HASH_RE } from './rows.js';
import { Stats } from './stats.js';
import { QueueStore, type StoreOptions } from './store.js';
import type { BodyResultRow, BodyTask, CountScope, CountsOf, DeadLetter, EnqueueResult, LeftCounts, MergeReport, QueueStats, RetryResult, StalePolicy, StoredEvent, TaskResult } from './types.js';
import { Work } from './work.js';

import { mark } from '../trace.js';
import { DEFAULT_CAPACITY, DEFAULT_REQUEST_TIMEOUT_MS, SETTLE_MARGIN_MS } from '../config.js';
export { dbPath, preloadQueue } from './queue-file.js';
export { pendingMarkerPath } from './marker.js';
export { COMPACT_MIN_BYTES, readTaskBody } from './pack-refs.js';
export { mergeSpools } from './merge.js';
export type * from './types.js';

export const LOCK_FILE = 'queue.lock';
/**
 * How long after an upload was handed to the network it can no longer be in flight: the transport's
 * request timeout plus its timer cohort window and a margin. See `abandoned` (schema.ts).
 */
export const DEFAULT_SETTLE_MS = DEFAULT_REQUEST_TIMEOUT_MS + SETTLE_MARGIN_MS;

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
  /**
   * `own`'s write (writePack), when it is still going: the spool is merged (and read) from memory
   * even before its file is in place, and the save waits for the write, so no row ever refers to a
   * spool that is not durably on disk. A failed write fails the save: nothing is saved.
   */
  ownWritten?: Promise<unknown>;
}

// ---------------------------------------------------------------------------------------------
// The queue view.

/**
 * An opened, locked, in-memory view of the queue; only valid inside withQueue/readQueue. What
 * callers (drain, pipeline, commands, tests) call: each member hands over to the piece that owns it.
 */
export class Queue {
  private readonly store: QueueStore;
  private readonly merger: Merger;
  private readonly work: Work;
  private readonly letters: DeadLetters;
  private readonly counts: Stats;
  private readonly packs: PackRefs;
  /** What withQueue's spool merge did before `fn` ran. */
  lastMerge: MergeReport | null = null;

  constructor(db: Database, opts: StoreOptions) {
    this.store = new QueueStore(db, opts);
    this.merger = new Merger(this.store);
    this.letters = new DeadLetters(this.store);
    this.work = new Work(this.store, this.letters);
    this.counts = new Stats(this.store);
    this.packs = new PackRefs(this.store);
  }

  // --- the session ----------------------------------------------------------------------------

  get dirty(): boolean {
    return this.store.changed;
  }

  markDirty(): void {
    this.store.changed = true;
  }

  get stateDir(): string {
    return this.store.stateDir;
  }

  get capacity(): number {
    return this.store.opts.capacity;
  }

  /** Packs that lost a reference in this session: candidates for collection (or compaction) at the save. */
  get touchedPacks(): ReadonlySet<number> {
    return this.store.touchedPacks;
  }

  /** Rows now refer to a pack not referred to before (merged, enqueued, compacted): its directory entry must be durable. */
  get newPackRefs(): boolean {
    return this.store.newPackRefs;
  }

  /** Events found unreadable (and, in a writable view, dead-lettered with their bodies) in this session. */
  get unreadableEvents(): number {
    return this.store.unreadableEvents;
  }

  // --- captures in (merge.ts) -----------------------------------------------------------------

  enqueue(items: EligibleArtifact[], ctx: CommitContext, indexes: FeatureIndex[] = []): EnqueueResult {
    return this.merger.enqueue(items, ctx, indexes);
  }

  mergePack(name: string, header: PackHeader, base: number, size: number): MergeReport {
    return this.merger.mergePack(name, header, base, size);
  }

  /** Resolves when every pack written by `enqueue` is durably on disk; rejects if a write failed. */
  packsWritten(): Promise<unknown> {
    return this.merger.packsWritten();
  }

  /** See QueueOptions.ownWritten. */
  awaitOwnWrite(pack: BuiltPack, written: Promise<unknown>): void {
    this.merger.awaitWrite(pack, written);
  }

  hasPack(name: string): boolean {
    return this.store.hasPack(name);
  }

  // --- the drain's work and results (work.ts) -------------------------------------------------

  readyEvents(limit: number, opts: { force?: boolean } = {}): StoredEvent[] {
    return this.work.readyEvents(limit, opts);
  }

  readyBodies(limit: number, opts: { force?: boolean } = {}): BodyTask[] {
    return this.work.readyBodies(limit, opts);
  }

  recordAbandonedUploads(list: { namespace: NamespaceRef; artifact_path: string; content_hash: string; startedAt: number }[]): void {
    this.work.recordAbandonedUploads(list);
  }

  clampWaits(maxWaitMs?: number): number {
    return this.work.clampWaits(maxWaitMs);
  }

  applyEventResults(results: { event_id: string; result: TaskResult; seq?: number }[]): void {
    this.work.applyEventResults(results);
  }

  applyBodyResults(results: BodyResultRow[]): void {
    this.work.applyBodyResults(results);
  }

  // --- dead letters (dead-letters.ts) ---------------------------------------------------------

  expireStale(policy: StalePolicy): number {
    return this.letters.expireStale(policy);
  }

  deadLetters(): DeadLetter[] {
    return this.letters.list();
  }

  retryDeadLetters(ids: string[] | 'all'): RetryResult {
    return this.letters.retry(ids);
  }

  // --- counts (stats.ts) ----------------------------------------------------------------------

  stats(): QueueStats {
    return this.counts.stats();
  }

  /** What is left: two counts, not stats()'s scans. */
  left(): LeftCounts {
    return this.counts.left();
  }

  /** The counts a run's report asks for (see CountScope). */
  countsFor<S extends CountScope>(scope: S): CountsOf<S> {
    return (scope === 'left' ? this.counts.left() : this.counts.stats()) as CountsOf<S>;
  }

  /** What the pending marker records: until when the queue is held (marker.ts). */
  hold(): QueueHold {
    return this.counts.hold();
  }

  hasPending(): boolean {
    return this.counts.hasPending();
  }

  /** Bodies a drain would send now (all pending with force): a progress bar's total, without the full counts. */
  readyBodyCount(opts: { force: boolean }): number {
    return this.counts.readyBodyCount(opts.force);
  }

  // --- packs (pack-refs.ts) -------------------------------------------------------------------

  packNames(): Map<string, { id: number; dead: boolean }> {
    return this.packs.packNames();
  }

  forgetPacks(ids: number[]): void {
    this.packs.forgetPacks(ids);
  }

  hasLegacyBodies(): boolean {
    return this.packs.hasLegacyBodies();
  }

  collectPacks(compact: boolean): string[] {
    return this.packs.collectPacks(compact);
  }

  storedBody(contentHash: string): Buffer | null {
    return this.packs.storedBody(contentHash);
  }

  bodyOf(task: Pick<BodyTask, 'pack' | 'off' | 'size_bytes' | 'content_hash'>): Buffer | null {
    return this.packs.bodyOf(task);
  }

  // --- persistence (used by withQueue) --------------------------------------------------------

  freeStatements(): void {
    this.store.freeStatements();
  }

  exportBytes(generation: number): Uint8Array {
    return this.store.exportBytes(generation);
  }
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

/** Saves the queue; returns the generation written and the bytes (the database's own image when it needs no export). */
async function save(q: Queue, opts: QueueOptions, generation: number | null): Promise<{ generation: number; bytes: Uint8Array }> {
  const stateDir = opts.stateDir;
  await q.packsWritten();
  const doomed = q.collectPacks(opts.compact === true);
  const pending = q.hasPending();
  const marker = pendingMarkerPath(stateDir);
  // Created before the save: a crash in between leaves a harmless extra marker, never a missing one.
  if (pending) writePendingMarker(stateDir, q.hold(), opts.onNotice);
  // The directory entries of packs this save starts referring to (renamed in by their writers,
  // without a directory fsync) are made durable before the rows that point at them.
  if (q.newPackRefs && entryKind(spoolDir(stateDir)) === 'dir') await fsyncDir(spoolDir(stateDir));
  const next = ((generation ?? 0) + 1) % 0x7fffffff;
  const bytes = q.exportBytes(next);
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
  return { generation: next, bytes };
}

let lastSave: number | null = null;

/**
 * How long this process's last queue save took (ms), null before its first: a budgeted drain
 * expects its closing transaction, a save of the same queue, to take about as long.
 */
export function lastSaveMs(): number | null {
  return lastSave;
}

/**
 * lock → load (re-read under the lock; the database this process last saved is kept instead while it
 * is still the file on disk) → merge complete spools → fn → save atomically if anything changed →
 * unlock. If the database turns out corrupt while fn runs, it is moved aside and fn runs once more on
 * a fresh queue, so fn must only act through `q`.
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
      // This process's own last save, still the file on disk, needs no loading (queue-file.ts keepOpen).
      const { db, dirty, generation, image } = (attempt === 0 ? takeKept(file) : null) ?? (await openForWrite(SQL, opts, now()));
      let saved: Opened | null = null;
      const q = new Queue(db, { now, capacity, readonly: false, stateDir: opts.stateDir, settleMs, notice: opts.onNotice, image });
      if (dirty) q.markDirty();
      if (opts.own && opts.ownWritten) q.awaitOwnWrite(opts.own, opts.ownWritten);
      try {
        mark('queue: read');
        q.lastMerge = mergeSpools(q, { own: opts.own, ownInFlight: opts.ownWritten !== undefined, notice: opts.onNotice });
        mark('queue: spools merged');
        const result = await fn(q);
        if (q.dirty || q.touchedPacks.size > 0) {
          const compromised = lock.compromised();
          if (compromised) throw new Error(`the queue lock was lost (${compromised.message}); nothing was saved`);
          const saveBegan = performance.now();
          const done = await save(q, opts, generation);
          lastSave = performance.now() - saveBegan;
          // The image stays the database's own bytes only when the save wrote it as is (no export).
          saved = { db, dirty: false, generation: done.generation, image: image !== null && done.bytes === image ? image : null };
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
        if (saved) keepOpen(file, saved);
        else db.close();
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
      opts.onNotice?.(`the queue file ${dbPath(opts.stateDir)} could not be read (${err.message}); it will be moved aside by the next command that changes the queue. Showing an empty queue.`);
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
