// A committed blob's bytes taken from the work tree when the file there hashes to the blob's id
// (git's own diff reuses work-tree files the same way). After a commit, or in any repository whose
// features are not being edited, the files match: reading them costs a fraction of having git
// inflate each object (a loose object is one open and one zlib stream per file; bench/backfill:
// ~0.4 s of git for the 72-feature corpus). The id check makes the bytes exactly the committed ones
// whatever the file is (edited, filtered, a symlink elsewhere): on any difference the caller asks git.
import { createHash } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';

/** Opening must never block (a FIFO where the blob was checked out): only regular files are read. */
const NONBLOCK = constants.O_NONBLOCK ?? 0;

/**
 * The bytes of blob `objectId` (`size` bytes) if `<root>/<repoPath>` holds exactly them; null otherwise
 * (missing, another kind of file, another size or content, unreadable). Never rejects.
 * Asynchronous on purpose: a hook reading thousands of files must still see its deadline pass (its
 * timer has to run) to hand the capture to a background process in time (issue 11 §2).
 */
export async function readBlobFromWorkTree(root: string, repoPath: string, objectId: string, size: number): Promise<Buffer | null> {
  const algorithm = objectId.length === 64 ? 'sha256' : objectId.length === 40 ? 'sha1' : null;
  if (algorithm === null) return null;
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path.join(root, repoPath), constants.O_RDONLY | NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size !== size) return null;
    const bytes = Buffer.allocUnsafe(size);
    for (let filled = 0; filled < size;) {
      const { bytesRead } = await fh.read(bytes, filled, size - filled, null);
      if (bytesRead === 0) return null; // shrank meanwhile
      filled += bytesRead;
    }
    const id = createHash(algorithm).update(`blob ${size}\0`).update(bytes).digest('hex');
    return id === objectId ? bytes : null;
  } catch {
    return null;
  } finally {
    await fh.close().catch(() => undefined);
  }
}
