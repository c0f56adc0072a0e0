// File access inside the state directory without following symbolic links (issue 12 §6).
// Everything kitty-sync keeps there (queue, spools/packs, watermarks, log, markers, locks) is
// created by kitty-sync itself, so a symlink or a wrong kind of entry in its place is foreign:
// it is renamed aside (kept for inspection, never followed) with one clear line, and a fresh
// entry is created. The state directory itself may be a link (KITTY_SYNC_HOME is the user's
// choice); only what is inside it is guarded.
import { constants, lstatSync, mkdirSync, openSync, readlinkSync, readSync, closeSync, fstatSync, renameSync, writeSync } from 'node:fs';

/** O_NOFOLLOW where the platform has it (open fails with ELOOP on a symlink). */
export const NOFOLLOW = constants.O_NOFOLLOW ?? 0;

export type Notice = ((message: string) => void) | undefined;

function stamp(): string {
  return `${new Date().toISOString().replace(/[-:]/g, '').replace('.', '-')}-${process.pid}`;
}

/** What is at `p` (no link followed), or null when nothing is. */
export function entryKind(p: string): 'symlink' | 'file' | 'dir' | 'other' | null {
  try {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return 'symlink';
    if (st.isDirectory()) return 'dir';
    if (st.isFile()) return 'file';
    return 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function describe(p: string, kind: string): string {
  if (kind !== 'symlink') return kind === 'file' ? 'a regular file' : kind === 'dir' ? 'a directory' : 'not a regular file or directory';
  let target = '?';
  try {
    target = readlinkSync(p);
  } catch {
    /* raced away */
  }
  return `a symbolic link (to ${target})`;
}

/**
 * Renames `p` to `<p>.moved-aside-<time>-<pid>` and says so. Renaming a symlink moves the link,
 * never its target. Returns the new name.
 */
export function moveAside(p: string, why: string, notice: Notice): string {
  const aside = `${p}.moved-aside-${stamp()}`;
  renameSync(p, aside);
  notice?.(`${p} was ${why}; kitty-sync never follows links or foreign entries in its state directory, so it was moved to ${aside}`);
  return aside;
}

/** `dir` exists as a real directory (0700): a symlink or file in its place is moved aside first. */
export function ensureDir(dir: string, notice: Notice): void {
  const kind = entryKind(dir);
  if (kind === 'dir') return;
  if (kind !== null) moveAside(dir, describe(dir, kind), notice);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || entryKind(dir) !== 'dir') throw err;
  }
}

/**
 * open(2) with O_NOFOLLOW. A symlink (ELOOP) or a directory where a file belongs is moved aside
 * and the open tried once more, so a foreign entry never receives or supplies our data.
 */
export function openNoFollow(file: string, flags: number, mode: number, notice: Notice): number {
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, flags | NOFOLLOW, mode);
      if (!fstatSync(fd).isFile()) {
        closeSync(fd);
        throw Object.assign(new Error(`${file} is not a regular file`), { code: 'EISDIR' });
      }
      return fd;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (attempt > 0 || (code !== 'ELOOP' && code !== 'EISDIR' && code !== 'ENXIO')) throw err;
      const kind = entryKind(file);
      if (kind === null || kind === 'file') throw err;
      moveAside(file, describe(file, kind), notice);
    }
  }
}

/** The whole file, or null when it does not exist; a symlink there is moved aside (and reads as missing). */
export function readFileNoFollow(file: string, notice: Notice): Buffer | null {
  let fd: number;
  try {
    fd = openNoFollow(file, constants.O_RDONLY, 0o600, notice);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** Appends to (creating, 0600) a file without following a link there. */
export function appendNoFollow(file: string, data: string | Buffer, notice: Notice): void {
  const fd = openNoFollow(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600, notice);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
  } finally {
    closeSync(fd);
  }
}

/** Creates an empty file (0600) if missing, without following a link there. */
export function touchNoFollow(file: string, notice: Notice): void {
  closeSync(openNoFollow(file, constants.O_WRONLY | constants.O_CREAT, 0o600, notice));
}
