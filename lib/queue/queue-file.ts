// The queue's file on disk: loading sql.js, opening and validating the database bytes, moving a
// corrupt file aside, and writing a new version durably. What the rows mean is queue.ts and its pieces.
import { setFlagsFromString } from 'node:v8';
import { closeSync, constants, lstatSync, openSync, promises as fsp, readdirSync, readFileSync, readSync, renameSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Database, SqlJsStatic } from 'sql.js';
import { ulid } from 'ulid';
import { fsyncDir } from './bodystore.js';
import { NOFOLLOW, readFileNoFollow } from '../state-fs.js';
import { createSchema, getMeta, migrate, SchemaError, schemaVersion, setMeta } from './schema.js';

export const DB_FILE = 'queue.sqlite';

export function dbPath(stateDir: string): string {
  return path.join(stateDir, DB_FILE);
}

// sql.js, loaded lazily once per process (hooks with nothing to do never pay for the wasm).

let sqlPromise: Promise<SqlJsStatic> | null = null;

/**
 * Starts loading sql.js now, so a caller that knows it will need the queue can overlap the
 * wasm compile with other waiting (a hook's git child processes). `compileAll`: every wasm function
 * is compiled at load, on V8's background threads, instead of on its first call on the main thread;
 * for a caller whose main thread stays busy meanwhile (sync's collection: its merge then runs
 * ~40 ms sooner). Not for hooks: their code cache is only accepted under the flags it was made with.
 */
export function preloadQueue(opts: { compileAll?: boolean } = {}): void {
  loadSql(opts).catch(() => undefined);
}

/** sql.js, loaded once; the first call's options hold for the process. */
export function loadSql(opts: { compileAll?: boolean } = {}): Promise<SqlJsStatic> {
  sqlPromise ??= (async () => {
    // Baseline (Liftoff) wasm code only: a hook runs a few statements and exits, so optimizing
    // tier-up compiles are pure cost on its path (measured: first statements 107 ms -> 46 ms).
    setFlagsFromString('--liftoff-only');
    if (opts.compileAll) setFlagsFromString('--no-wasm-lazy-compilation');
    const { default: initSqlJs } = await import('sql.js');
    return initSqlJs({ wasmBinary: sqlWasmBytes() as unknown as ArrayBuffer });
  })();
  sqlPromise.catch(() => {
    sqlPromise = null;
  });
  return sqlPromise;
}

/**
 * The sql.js wasm: beside the bundle (`npm run bundle` copies it there, from the same sql.js as
 * the bundled glue), else from node_modules. Resolving through node_modules costs ~5 ms a hook.
 */
function sqlWasmBytes(): Buffer {
  try {
    return readFileSync(new URL('./sql-wasm.wasm', import.meta.url));
  } catch {
    return readFileSync(createRequire(import.meta.url).resolve('sql.js/dist/sql-wasm.wasm'));
  }
}

// Opening, validation, corruption handling.

/** Cheap structural checks on the raw file; the reason it is not a usable database, or null. */
export function headerProblem(buf: Uint8Array): string | null {
  if (buf.length < 100 || Buffer.from(buf.subarray(0, 16)).toString('latin1') !== 'SQLite format 3\u0000') {
    return 'it is not a SQLite database';
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const rawPageSize = view.getUint16(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) return `its header has an invalid page size ${rawPageSize}`;
  if (buf.length % pageSize !== 0) return `it is truncated (${buf.length} bytes is not a whole number of ${pageSize}-byte pages)`;
  const pages = view.getUint32(28);
  // The in-header size is valid only when the change counter matches "version-valid-for".
  if (pages > 0 && view.getUint32(24) === view.getUint32(92) && pages * pageSize !== buf.length) {
    return `it is truncated (${buf.length} of ${pages * pageSize} bytes)`;
  }
  return null;
}

export function isCorruptionError(err: unknown): boolean {
  return err instanceof Error && /malformed|not a database|SQLITE_CORRUPT|SQLITE_NOTADB|file is encrypted/i.test(err.message);
}

function tune(db: Database): void {
  // The file is written whole by us; SQLite's own journaling of the in-memory copy is wasted work.
  db.exec('PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY;');
}

export interface Opened {
  db: Database;
  /** Needs saving even if nothing else changes (migrated). */
  dirty: boolean;
  /** The save generation of the file read (its header's user_version), or null when there was no file. */
  generation: number | null;
  /** The bytes the database was opened from (QueueStore.exportBytes), or null for a fresh one. */
  image: Buffer | null;
}

/** The save generation kept in a database file's header (SQLite's user_version, offset 60). */
export function generationOf(buf: Uint8Array): number {
  return buf.length >= 100 ? Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).readUInt32BE(60) : 0;
}

export function freshDb(SQL: SqlJsStatic): Database {
  const db = new SQL.Database();
  tune(db);
  createSchema(db, ulid());
  return db;
}

function timestampForName(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('.', '-');
}

export class CorruptQueueError extends Error {}

/** Loads and validates the database; throws CorruptQueueError (with the reason) for an unusable file. */
export function openBuffer(SQL: SqlJsStatic, buf: Buffer): Opened {
  const problem = headerProblem(buf);
  if (problem) throw new CorruptQueueError(problem);
  let db: Database | null = null;
  try {
    db = new SQL.Database(buf);
    tune(db);
    const version = schemaVersion(db);
    let dirty = migrate(db, version);
    if (getMeta(db, 'node_id') === undefined) {
      setMeta(db, 'node_id', ulid());
      dirty = true;
    }
    return { db, dirty, generation: generationOf(buf), image: buf };
  } catch (err) {
    db?.close();
    if (err instanceof SchemaError && !err.corrupt) throw err;
    if (err instanceof SchemaError || isCorruptionError(err)) throw new CorruptQueueError(err instanceof Error ? err.message : String(err));
    throw err;
  }
}

/** The file's bytes or null when missing; a symlink in its place is moved aside, never followed (issue 12 §6). */
export async function readFileOrNull(file: string, notice?: (msg: string) => void): Promise<Buffer | null> {
  return readFileNoFollow(file, notice);
}

export async function moveAside(stateDir: string, reason: string, now: number, onNotice?: (msg: string) => void): Promise<void> {
  const file = dbPath(stateDir);
  const aside = `${file}.corrupt-${timestampForName(now)}`;
  await fsp.rename(file, aside);
  await fsyncDir(stateDir);
  onNotice?.(
    `the queue file ${file} could not be read (${reason}); it was moved to ${aside} for inspection and a fresh queue was started. ` +
      'Work still in its spools is queued again from them now; anything else is re-queued by the next commit or `kitty-sync sync`.',
  );
}

/** Opens the queue for a read-modify-write: a missing file is a fresh queue, a corrupt one is moved aside. */
export async function openForWrite(SQL: SqlJsStatic, opts: { stateDir: string; onNotice?: (msg: string) => void }, now: number): Promise<Opened> {
  const file = dbPath(opts.stateDir);
  const buf = await readFileOrNull(file, opts.onNotice);
  if (buf === null) return { db: freshDb(SQL), dirty: false, generation: null, image: null };
  try {
    return openBuffer(SQL, buf);
  } catch (err) {
    if (!(err instanceof CorruptQueueError)) throw err;
    await moveAside(opts.stateDir, err.message, now, opts.onNotice);
    return { db: freshDb(SQL), dirty: false, generation: null, image: null };
  }
}

// The database this process last saved, kept open for its next transaction.

/** What tells one version of the queue file from another: a save renames a new file into place. */
interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
  generation: number | null;
}

function stampOf(file: string): FileStamp | null {
  const st = lstatSync(file, { throwIfNoEntry: false });
  return st?.isFile() ? { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, generation: currentGeneration(file) } : null;
}

let kept: { file: string; opened: Opened; stamp: FileStamp } | null = null;

/**
 * Keeps a database this process has just saved to `file` (under the queue lock, so the file is its
 * save) open for its next transaction on the same queue: a hook's drain writes its results in a
 * second transaction, and loading a large queue again cost as much as its first load (a 23 MB queue
 * of 100k tasks: ~100 ms). Any database kept before is closed.
 */
export function keepOpen(file: string, opened: Opened): void {
  const stamp = stampOf(file);
  if (kept && kept.opened.db !== opened.db) kept.opened.db.close();
  kept = null;
  if (stamp === null || stamp.generation !== opened.generation) {
    opened.db.close();
    return;
  }
  kept = { file, opened, stamp };
}

/**
 * The database kept for `file` (call under the queue lock), if the file on disk is still the one it
 * saved: same inode, size, modification time and save generation. Otherwise (another process saved
 * since, the file was replaced or removed) it is closed, and null says: load the file.
 */
export function takeKept(file: string): Opened | null {
  const k = kept;
  kept = null;
  if (!k) return null;
  const now = k.file === file ? stampOf(file) : null;
  if (now === null || now.ino !== k.stamp.ino || now.size !== k.stamp.size || now.mtimeMs !== k.stamp.mtimeMs || now.generation !== k.stamp.generation) {
    k.opened.db.close();
    return null;
  }
  // sql.js's export reopens the database, which resets its pragmas.
  tune(k.opened.db);
  return k.opened;
}

/** The queue file was saved by another process since this one read it: nothing was written. */
export class QueueChangedError extends Error {
  override name = 'QueueChangedError';
}

/** The current generation of the file on disk, or null when there is none. */
function currentGeneration(file: string): number | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const head = Buffer.alloc(100);
    const n = readSync(fd, head, 0, 100, 0);
    return generationOf(head.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/**
 * temp file, fsync, generation check, rename: a crash or a full disk leaves the old file or the new
 * one, never a torn one, and the error says so (a full disk must read as "nothing changed", not as
 * a raw errno). The rename happens only if the file on disk is still the one this process read
 * (`expected`: its generation, null for "no file"): even a lock wrongly broken cannot lose an update.
 */
export async function saveQueueFile(file: string, bytes: Buffer, expected: number | null): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    // Asynchronous on purpose: a drain saves while its requests are in flight, and a synchronous
    // fsync would stall every one of them (and any timer) for as long as the disk takes.
    const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const now = currentGeneration(file);
    if (now !== expected) {
      throw new QueueChangedError(
        `the queue ${file} was saved by another process since this one read it (generation ${expected ?? 'none'} -> ${now ?? 'none'}); nothing was saved, and work still in spools is merged by the next run`,
      );
    }
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or renamed */
    }
    if (err instanceof QueueChangedError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new Error(`could not save the queue ${file} (${e.message}); the previous queue file is unchanged`, { cause: err });
  }
}

/** Temp files of saves killed before their rename; only a lock holder writes one, so any found under the lock is dead. */
export function removeDeadTempFiles(stateDir: string): void {
  const prefix = `${DB_FILE}.tmp-`;
  for (const name of readdirSync(stateDir)) {
    if (!name.startsWith(prefix)) continue;
    try {
      unlinkSync(path.join(stateDir, name));
    } catch {
      /* gone already */
    }
  }
}
