// Content-addressed artifact bodies beside the queue database: `bodies/<sha256>`.
// Bodies stay out of the sql.js database so every hook loads and writes only metadata (issue 3 §4).
// Identical content is stored once, whatever namespace references it.
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';

const HASH_RE = /^[0-9a-f]{64}$/;
const TMP_PREFIX = '.tmp-';
const WRITE_PARALLELISM = 8;

export function bodiesDir(stateDir: string): string {
  return path.join(stateDir, 'bodies');
}

export function bodyPath(stateDir: string, contentHash: string): string {
  if (!HASH_RE.test(contentHash)) throw new Error(`invalid content hash ${JSON.stringify(contentHash)}`);
  return path.join(bodiesDir(stateDir), contentHash);
}

/** fsyncs a directory so a rename or unlink in it survives a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some platforms/filesystems refuse fsync on directories; the rename itself is still atomic.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

async function writeOne(stateDir: string, hash: string, body: Buffer): Promise<boolean> {
  const final = bodyPath(stateDir, hash);
  // A file under its final name is complete: it is only ever renamed into place after fsync.
  if (await exists(final)) return false;
  await writeDurably(path.join(bodiesDir(stateDir), `${TMP_PREFIX}${hash}`), final, body);
  return true;
}

/**
 * Writes `bytes` to a fresh temp file (`tmpBase` plus a unique suffix), fsyncs it and renames it
 * over `file`: a crash leaves the old file or the new one, never a torn one. The temp file is
 * removed when anything fails. The caller fsyncs the directory when the rename must be durable.
 */
export async function writeDurably(tmpBase: string, file: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${tmpBase}-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.unlink(tmp).catch(() => undefined);
    // A write through a file handle (ENOSPC, EFBIG) names no path: say which file it was.
    if (err instanceof Error) (err as NodeJS.ErrnoException).path ??= file;
    throw err;
  }
}

/**
 * Durably stores bodies (deduplicated by hash) and fsyncs the directory once, so they exist on disk
 * before the queue rows that reference them are saved. Returns how many files were newly written.
 */
export async function writeBodies(stateDir: string, bodies: Iterable<{ hash: string; body: Buffer }>): Promise<number> {
  const unique = new Map<string, Buffer>();
  for (const b of bodies) if (!unique.has(b.hash)) unique.set(b.hash, b.body);
  if (unique.size === 0) return 0;
  await fsp.mkdir(bodiesDir(stateDir), { recursive: true, mode: 0o700 });
  const items = [...unique];
  let written = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const [hash, body] = items[next++];
      if (await writeOne(stateDir, hash, body)) written++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(WRITE_PARALLELISM, items.length) }, worker));
  if (written > 0) await fsyncDir(bodiesDir(stateDir));
  return written;
}

/**
 * The stored body, or null when no file holds that hash (e.g. collected after another process
 * delivered it). Synchronous on purpose: bodies are at most 512 KiB, and each async fs step costs a
 * thread-pool round trip that, in bench/drain, took ~300 µs of main-thread time per body.
 */
export function readBody(stateDir: string, contentHash: string): Buffer | null {
  try {
    return readFileSync(bodyPath(stateDir, contentHash));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Removes the given body files unless `isReferenced` says a row still needs them. Call under the queue lock. */
export async function removeBodies(stateDir: string, hashes: Iterable<string>, isReferenced: (hash: string) => boolean): Promise<number> {
  let removed = 0;
  for (const hash of new Set(hashes)) {
    if (!HASH_RE.test(hash) || isReferenced(hash)) continue;
    try {
      await fsp.unlink(bodyPath(stateDir, hash));
      removed++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}

/**
 * Removes every body file (and temporary leftover of a killed writer) not in `keep`. Lists the whole
 * directory, so callers run it only when that is cheap (e.g. the queue just became empty). Call under
 * the queue lock: body files are only written under it, so an unreferenced file is an orphan.
 */
export async function sweepBodies(stateDir: string, keep: ReadonlySet<string>): Promise<number> {
  let names: string[];
  try {
    names = await fsp.readdir(bodiesDir(stateDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let removed = 0;
  for (const name of names) {
    if (keep.has(name)) continue;
    if (!HASH_RE.test(name) && !name.startsWith(TMP_PREFIX)) continue; // not ours: leave it
    try {
      await fsp.unlink(path.join(bodiesDir(stateDir), name));
      removed++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return removed;
}
