// Exclusive inter-process locks on the state directory (queue.lock, drain.lock; SPEC §6, issue 11).
//
// A lock is a directory holding one `owner` file (host, boot id, pid, the pid's start time, a
// nonce). It is created whole: a temporary directory with the owner file is renamed into place,
// so a lock never exists without its owner. Staleness is decided by whether the holder is alive
// (same host and boot: /proc/<pid>/stat still shows that pid with that start time), never by age
// alone: a holder that is slow (a big save, a starved machine) keeps its lock. Only a lock from
// another host, whose liveness cannot be checked, falls back to its age.
//
// Why not proper-lockfile (used before): its staleness is the lock's mtime, refreshed by a timer,
// so a live holder whose event loop is blocked loses its lock (seen under load: two processes
// held the queue at once); an owner file inside its lock directory trips its mtime check; and a
// dangling symlink at the lock path made it wait for the whole timeout. No maintained npm lock
// library checks the holder's liveness without native code (fs-ext/flock).
//
// Anything else at a lock path (a symlink, a regular file, a directory that is not a lock) was not
// made by kitty-sync: it is renamed aside at once with one clear line, and the lock is taken.
import { closeSync, constants, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { entryKind, moveAside, NOFOLLOW, type Notice } from '../state-fs.js';

export interface LockOptions {
  /** A lock held from another host (whose liveness cannot be checked) counts as abandoned after this long. */
  staleMs?: number;
  /** Give up waiting for the lock after this long (0: one try). */
  timeoutMs?: number;
  /** Told, in one line each, about foreign entries moved aside and dead holders' locks broken. */
  onNotice?: Notice;
}

export interface HeldLock {
  /** Non-null when the lock is no longer ours (broken by another process): do not save then. */
  compromised(): Error | null;
  release(): Promise<void>;
}

export interface LockOwner {
  host: string;
  boot: string;
  pid: number;
  /** The pid's start time in clock ticks since boot (/proc/<pid>/stat field 22); '' where unknown. */
  start: string;
  nonce: string;
  /** When the lock was taken (ms since the epoch). */
  at: number;
}

export const DEFAULT_LOCK_STALE_MS = 5 * 60_000;
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
const OWNER_FILE = 'owner';
/** A directory with no owner at all (an older kitty-sync's lock) is judged by age: it has nothing else. */
const OWNERLESS_STALE_MS = 10_000;

export class LockTimeoutError extends Error {
  constructor(
    readonly lockPath: string,
    waitedMs: number,
    readonly holder: LockOwner | null = null,
  ) {
    super(`the lock ${lockPath} is held by another kitty-sync process${holder ? ` (pid ${holder.pid})` : ''} (waited ${waitedMs} ms); try again`);
    this.name = 'LockTimeoutError';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// --- who is alive ---------------------------------------------------------------------------------

/** Start time of a process (clock ticks since boot), or null when there is no such process or no /proc. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Field 2 (comm) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

let self: Omit<LockOwner, 'nonce' | 'at'> | null = null;

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

function selfIdentity(): Omit<LockOwner, 'nonce' | 'at'> {
  self ??= { host: os.hostname(), boot: bootId(), pid: process.pid, start: processStartTime(process.pid) ?? '' };
  return self;
}

/** true: alive; false: certainly gone; null: cannot tell (another host). */
export function holderAlive(o: LockOwner): boolean | null {
  const me = selfIdentity();
  if (o.host !== me.host) return null;
  if (o.boot && me.boot && o.boot !== me.boot) return false; // the machine rebooted since
  if (o.pid === me.pid) return o.start === me.start; // a lock of this very process (or of an earlier one with our pid)
  const start = processStartTime(o.pid);
  if (start !== null) return o.start === '' || start === o.start; // same pid, other start time: pid reused
  try {
    process.kill(o.pid, 0);
    return true; // no /proc (or hidden) yet the pid exists: assume it is the holder
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// --- the lock directory ----------------------------------------------------------------------------

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.host !== 'string' || typeof o.nonce !== 'string' || !Number.isInteger(o.pid) || (o.pid as number) <= 0) return null;
    return { host: o.host, boot: String(o.boot ?? ''), pid: o.pid as number, start: String(o.start ?? ''), nonce: o.nonce, at: Number(o.at) || 0 };
  } catch {
    return null;
  }
}

/** The owner recorded in lock directory `dir`: an owner, 'none' (no owner file), or 'foreign' (unreadable or not ours). */
function readOwner(dir: string): LockOwner | 'none' | 'foreign' {
  let fd: number;
  try {
    fd = openSync(path.join(dir, OWNER_FILE), constants.O_RDONLY | NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'none' : 'foreign';
  }
  try {
    return parseOwner(readFileSync(fd, 'utf8')) ?? 'foreign';
  } catch {
    return 'foreign';
  } finally {
    closeSync(fd);
  }
}

/** The legacy owner file beside a lock directory of kitty-sync before issue 11 (`<lock>-owner`: host, pid, nonce). */
function legacyOwner(lockPath: string): LockOwner | null {
  try {
    const [host, pid, nonce] = readFileSync(`${lockPath}-owner`, 'utf8').split('\n');
    const n = Number(pid);
    return host && Number.isInteger(n) && n > 0 && nonce ? { host, boot: '', pid: n, start: '', nonce, at: 0 } : null;
  } catch {
    return null;
  }
}

function uniqueSuffix(): string {
  return `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Creates the lock with its owner in one rename; false when something is already at `lockPath`. */
function tryCreate(lockPath: string, owner: LockOwner): boolean {
  // rename(2) would replace an empty directory (an older kitty-sync's lock): only try on a free path.
  if (entryKind(lockPath) !== null) return false;
  const tmp = `${lockPath}.new-${owner.nonce}`;
  mkdirSync(tmp, { mode: 0o700 });
  try {
    const fd = openSync(path.join(tmp, OWNER_FILE), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
    try {
      writeSync(fd, JSON.stringify(owner));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, lockPath);
    return true;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'ENOTDIR' || code === 'EISDIR') return false;
    throw err;
  }
}

/**
 * Moves a dead holder's lock out of the way. The rename is atomic, so of several processes breaking
 * the same lock one succeeds; if what it moved is not the lock it judged (the path was taken over in
 * between), it is put back when the path is still free.
 */
function breakLock(lockPath: string, judged: LockOwner | 'none'): void {
  const grave = `${lockPath}.stale-${uniqueSuffix()}`;
  try {
    renameSync(lockPath, grave);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = readOwner(grave);
  const same = judged === 'none' ? moved === 'none' : typeof moved === 'object' && moved.nonce === judged.nonce;
  if (same) {
    rmSync(grave, { recursive: true, force: true });
    return;
  }
  try {
    if (entryKind(lockPath) === null) renameSync(grave, lockPath);
  } catch {
    /* the path was taken again: the moved holder's save is refused by its generation check */
  }
}

type Verdict = { kind: 'retry' } | { kind: 'held'; owner: LockOwner | null };

/** Looks at what occupies `lockPath` and clears it when it is foreign or its holder is dead. */
function inspect(lockPath: string, staleMs: number, notice: Notice): Verdict {
  let st;
  try {
    st = lstatSync(lockPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'retry' };
    throw err;
  }
  if (!st.isDirectory()) {
    const what = st.isSymbolicLink() ? 'a symbolic link, not a kitty-sync lock' : st.isFile() ? 'a regular file, not a kitty-sync lock' : 'not a kitty-sync lock';
    moveAside(lockPath, what, notice);
    return { kind: 'retry' };
  }
  const owner = readOwner(lockPath);
  if (owner === 'foreign') {
    moveAside(lockPath, 'a directory that is not a kitty-sync lock (no valid owner file)', notice);
    return { kind: 'retry' };
  }
  if (owner === 'none') {
    let entries: string[];
    try {
      entries = readdirSync(lockPath);
    } catch {
      return { kind: 'retry' };
    }
    if (entries.length > 0) {
      moveAside(lockPath, `a directory that is not a kitty-sync lock (it holds ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''})`, notice);
      return { kind: 'retry' };
    }
    // An empty directory: the lock of a kitty-sync from before this lock format, maybe still running.
    const legacy = legacyOwner(lockPath);
    const alive = legacy ? holderAlive(legacy) : null;
    if (alive === true) return { kind: 'held', owner: legacy };
    if (alive === false || Date.now() - st.mtimeMs > OWNERLESS_STALE_MS) {
      breakLock(lockPath, 'none');
      return { kind: 'retry' };
    }
    return { kind: 'held', owner: legacy };
  }
  const alive = holderAlive(owner);
  if (alive === true || (alive === null && Date.now() - owner.at <= staleMs)) return { kind: 'held', owner };
  breakLock(lockPath, owner);
  return { kind: 'retry' };
}

/**
 * Takes the exclusive lock `lockPath` (guarding `_target`, kept for the callers' clarity); waits
 * with jitter up to timeoutMs while a live process holds it.
 */
export async function acquireLock(_target: string, lockPath: string, opts: LockOptions = {}): Promise<HeldLock> {
  const staleMs = opts.staleMs ?? DEFAULT_LOCK_STALE_MS;
  const timeoutMs = Math.max(0, opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  mkdirSync(path.dirname(lockPath), { recursive: true, mode: 0o700 });
  const started = Date.now();
  const me = selfIdentity();
  for (let attempt = 0; ; attempt++) {
    const owner: LockOwner = { ...me, nonce: uniqueSuffix(), at: Date.now() };
    if (tryCreate(lockPath, owner)) return held(lockPath, owner);
    const verdict = inspect(lockPath, staleMs, opts.onNotice);
    if (verdict.kind === 'retry') {
      if (attempt < 20) continue;
      // Something keeps reappearing at the path: treat it as held rather than spin.
    }
    const waited = Date.now() - started;
    if (waited >= timeoutMs) throw new LockTimeoutError(lockPath, waited, verdict.kind === 'held' ? verdict.owner : null);
    // Short jittered waits: holders keep the queue lock only for a load-mutate-save.
    await sleep(Math.min(5 + Math.random() * 20 * Math.min(attempt + 1, 5), 120, Math.max(1, timeoutMs - waited)));
  }
}

function held(lockPath: string, owner: LockOwner): HeldLock {
  let released = false;
  return {
    compromised: () => {
      const now = readOwner(lockPath);
      return typeof now === 'object' && now.nonce === owner.nonce ? null : new Error(`the lock ${lockPath} was taken over by another process`);
    },
    release: async () => {
      if (released) return;
      released = true;
      const now = readOwner(lockPath);
      if (typeof now !== 'object' || now.nonce !== owner.nonce) return; // not ours any more: leave it
      // Renamed first, so the path is free at once (a process killed mid-removal leaves only litter).
      const grave = `${lockPath}.released-${owner.nonce}`;
      try {
        renameSync(lockPath, grave);
      } catch {
        return;
      }
      rmSync(grave, { recursive: true, force: true });
    },
  };
}

/** Runs `fn` while holding the lock; always releases. */
export async function withLock<T>(target: string, lockPath: string, fn: (lock: HeldLock) => Promise<T>, opts?: LockOptions): Promise<T> {
  const lock = await acquireLock(target, lockPath, opts);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}

/** Whether a live process holds `lockPath` now (no waiting, nothing changed). */
export function lockHolder(lockPath: string): LockOwner | null {
  if (entryKind(lockPath) !== 'dir') return null;
  const o = readOwner(lockPath);
  return typeof o === 'object' && holderAlive(o) !== false ? o : null;
}
