// Exclusive inter-process lock on the queue (SPEC §6): proper-lockfile (mkdir-based, mtime-refreshed,
// stale after `staleMs`) plus an owner file so a lock left by a process that died on this host
// (kill -9 of a hook) is recovered at once instead of after the stale period.
import { chmodSync, mkdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';

export interface LockOptions {
  /** A lock whose mtime was not refreshed for this long is stale (proper-lockfile; minimum 2000). */
  staleMs?: number;
  /** Give up waiting for the lock after this long. */
  timeoutMs?: number;
}

export interface HeldLock {
  /** Set when proper-lockfile noticed another process took the lock over: do not save then. */
  compromised(): Error | null;
  release(): Promise<void>;
}

export const DEFAULT_LOCK_STALE_MS = 5000;
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

export class LockTimeoutError extends Error {
  constructor(readonly lockPath: string, waitedMs: number) {
    super(`the queue lock ${lockPath} is held by another kitty-sync process (waited ${waitedMs} ms); try again`);
    this.name = 'LockTimeoutError';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function ownerPath(lockPath: string): string {
  return `${lockPath}-owner`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(lockPath: string): { host: string; pid: number; nonce: string } | null {
  try {
    const [host, pid, nonce] = readFileSync(ownerPath(lockPath), 'utf8').split('\n');
    const n = Number(pid);
    return host && Number.isInteger(n) && n > 0 && nonce ? { host, pid: n, nonce } : null;
  } catch {
    return null;
  }
}

/**
 * Removes the lock if its recorded owner is a dead process on this host. The owner is read twice
 * (same nonce) right before removal to keep the window for a racing waiter tiny; the residual race
 * is the same class proper-lockfile's own stale removal has.
 */
function breakDeadOwnerLock(lockPath: string): boolean {
  const owner = readOwner(lockPath);
  if (!owner || owner.host !== os.hostname() || owner.pid === process.pid || isAlive(owner.pid)) return false;
  const again = readOwner(lockPath);
  if (!again || again.nonce !== owner.nonce) return false;
  try {
    unlinkSync(ownerPath(lockPath));
    rmdirSync(lockPath);
    return true;
  } catch {
    return false;
  }
}

/** Takes the exclusive lock `lockPath` (a directory) guarding `target`; waits with jitter up to timeoutMs. */
export async function acquireLock(target: string, lockPath: string, opts: LockOptions = {}): Promise<HeldLock> {
  const staleMs = Math.max(opts.staleMs ?? DEFAULT_LOCK_STALE_MS, 2000);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  mkdirSync(path.dirname(lockPath), { recursive: true, mode: 0o700 });
  const started = Date.now();
  let compromisedErr: Error | null = null;
  for (let attempt = 0; ; attempt++) {
    try {
      const release = await lockfile.lock(target, {
        realpath: false,
        lockfilePath: lockPath,
        stale: staleMs,
        retries: 0,
        // The default throws from a timer (crashing the process); record it and refuse to save instead.
        onCompromised: (err) => {
          compromisedErr = err;
        },
      });
      const nonce = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
      try {
        // Owner-only, like the rest of the state dir (proper-lockfile's mkdir takes no mode).
        chmodSync(lockPath, 0o700);
        writeFileSync(ownerPath(lockPath), `${os.hostname()}\n${process.pid}\n${nonce}`, { mode: 0o600 });
      } catch {
        // Without an owner file only the mtime-based stale detection applies: still correct.
      }
      return {
        compromised: () => compromisedErr,
        release: async () => {
          const owner = readOwner(lockPath);
          if (owner?.nonce === nonce) {
            try {
              unlinkSync(ownerPath(lockPath));
            } catch {
              /* already gone */
            }
          }
          try {
            await release();
          } catch {
            // Released already or taken over after a compromise: nothing of ours to remove.
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      if (breakDeadOwnerLock(lockPath)) continue;
      const waited = Date.now() - started;
      if (waited >= timeoutMs) throw new LockTimeoutError(lockPath, waited);
      // Short jittered waits: holders only keep the lock for a load-mutate-save (no network I/O).
      await sleep(Math.min(10 + Math.random() * 20 * Math.min(attempt + 1, 5), 120));
    }
  }
}

/** Runs `fn` while holding the lock; always releases. */
export async function withLock<T>(
  target: string,
  lockPath: string,
  fn: (lock: HeldLock) => Promise<T>,
  opts?: LockOptions,
): Promise<T> {
  const lock = await acquireLock(target, lockPath, opts);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
