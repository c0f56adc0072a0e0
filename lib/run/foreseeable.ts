// Failures the user can foresee and fix (a full disk, a read-only or unwritable state directory, a
// file where a directory should be, a lock another process holds): one line naming the path and the
// remedy instead of "unexpected error" and a stack. Anything else is not foreseeable (null).
import { statSync } from 'node:fs';
import path from 'node:path';
import { firstLine } from '../errors.js';

const FS_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS', 'EACCES', 'EPERM', 'ENOTDIR']);

interface Found {
  code: string;
  /** The path the failing call was about, when any error of the chain says. */
  file: string | null;
}

/** The one-line description of a foreseeable failure, or null. */
export function describeForeseeable(err: unknown): string | null {
  const top = firstLine(err);
  const lock = chain(err).find((e) => e.name === 'LockTimeoutError') as (Error & { lockPath?: string }) | undefined;
  if (lock?.lockPath) {
    return `${firstLine(lock)}. If no other kitty-sync (a hook, a drain) is running, remove the stale lock (rm -r '${lock.lockPath}') and run the command again`;
  }
  const found = findFsError(err);
  if (!found) return null;
  const { code, file } = found;
  const where = file && !top.includes(file) ? `${file}: ${top}` : top;
  const dir = file ? path.dirname(file) : null;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return `${where}; the disk${dir ? ` holding ${dir}` : ''} is full: free some space (or set KITTY_SYNC_HOME to a directory on another disk) and run the command again; nothing queued was lost`;
    case 'EFBIG':
      return `${where}; a file-size limit (ulimit -f) or a full disk stopped the write: raise the limit or free some space and run the command again; nothing queued was lost`;
    case 'EROFS':
      return `${where}; ${dir ?? 'the state directory'} is on a read-only file system: make it writable, or set KITTY_SYNC_HOME to a writable directory`;
    case 'EACCES':
    case 'EPERM':
      return `${where}; permission denied: fix the owner or permissions of ${dir ?? 'the state directory'}, or set KITTY_SYNC_HOME to a directory you can write`;
    case 'ENOTDIR': {
      const blocker = file ? blockingFile(file) : null;
      return blocker
        ? `${where}; ${blocker} is a file where kitty-sync needs a directory: move it aside (mv '${blocker}' '${blocker}.aside') and run the command again`
        : `${where}; part of that path is a file where kitty-sync needs a directory: move it aside and run the command again`;
    }
    default:
      return null;
  }
}

function chain(err: unknown): Error[] {
  const out: Error[] = [];
  let e: unknown = err;
  while (e instanceof Error && out.length < 8) {
    out.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

function findFsError(err: unknown): Found | null {
  const errors = chain(err);
  const hit = errors.find((e) => FS_CODES.has(String((e as NodeJS.ErrnoException).code)));
  if (!hit) return null;
  // EPERM/EACCES without a path come from elsewhere (signals, sockets): not about our files.
  const file = errors.map((e) => (e as NodeJS.ErrnoException).path).find((p): p is string => typeof p === 'string') ?? null;
  const code = String((hit as NodeJS.ErrnoException).code);
  if ((code === 'EPERM' || code === 'EACCES') && !file) return null;
  return { code, file };
}

/** `file` or its deepest existing ancestor that is not a directory (what ENOTDIR tripped over). */
function blockingFile(file: string): string | null {
  for (let p = file; p !== path.dirname(p); p = path.dirname(p)) {
    try {
      if (!statSync(p).isDirectory()) return p;
    } catch {
      // Not there: look further up.
    }
  }
  return null;
}
