// A committed blob's bytes taken from the work tree when the file there hashes to the blob's id
// (git's own diff reuses work-tree files the same way). After a commit, or in any repository whose
// features are not being edited, the files match: reading them costs a fraction of having git
// inflate each object (a loose object is one open and one zlib stream per file; bench/backfill:
// ~0.4 s of git for the 72-feature corpus). The id check makes the bytes exactly the committed ones
// whatever the file is (edited, filtered, a symlink elsewhere): on any difference the caller asks git.
import { hash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';

/** Opening must never block (a FIFO where the blob was checked out): only regular files are read. */
const NONBLOCK = constants.O_NONBLOCK ?? 0;

/**
 * The bytes of blob `objectId` if `<root>/<repoPath>` holds exactly them; null otherwise (missing,
 * another kind of file, another size or content, unreadable). Never throws. `size`: the blob's, when
 * known (a file of another size is not read); null: the file's (the blob id covers the size too).
 * The bytes come back as a view of a buffer that starts with git's object header.
 */
export function readBlobFromWorkTree(root: string, repoPath: string, objectId: string, givenSize: number | null): Buffer | null {
  const algorithm = objectId.length === 64 ? 'sha256' : objectId.length === 40 ? 'sha1' : null;
  if (algorithm === null) return null;
  let fd: number;
  try {
    fd = openSync(path.join(root, repoPath), constants.O_RDONLY | NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    const size = st.size;
    if (!st.isFile() || (givenSize !== null && size !== givenSize)) return null;
    // The file is read in after git's object header, so one one-shot hash of the whole gives the blob
    // id (crypto.hash: a fraction of createHash's cost per call) and the bytes need no copy.
    const header = `blob ${size}\0`;
    const whole = Buffer.allocUnsafe(header.length + size);
    whole.write(header, 0, 'latin1');
    for (let filled = 0; filled < size;) {
      const n = readSync(fd, whole, header.length + filled, size - filled, null);
      if (n === 0) return null; // shrank meanwhile
      filled += n;
    }
    return hash(algorithm, whole, 'hex') === objectId ? whole.subarray(header.length) : null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** How long reading runs before it lets the event loop turn (timers included). */
const SLICE_MS = 8;

/**
 * Reads work-tree copies one after another (synchronous reads: a fraction of the cost of promise
 * file handles per file), letting the event loop turn every SLICE_MS. A hook reading thousands of
 * files must still see its deadline timer fire, to hand the capture to a background process in
 * time (issue 11 §2); each turn also lets the callers' hashing and checks run.
 */
export class WorkTreeReader {
  private readonly jobs: { path: string; objectId: string; size: number | null; done: (b: Buffer | null) => void }[] = [];
  private next = 0;
  private running = false;

  constructor(private readonly root: string) {}

  /** readBlobFromWorkTree for this work tree, in turn. */
  read(repoPath: string, objectId: string, size: number | null): Promise<Buffer | null> {
    return new Promise((done) => {
      this.jobs.push({ path: repoPath, objectId, size, done });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.next < this.jobs.length) {
        const until = performance.now() + SLICE_MS;
        while (this.next < this.jobs.length && performance.now() < until) {
          const job = this.jobs[this.next];
          this.jobs[this.next++] = undefined as never; // done with: let its buffer go with the caller
          job.done(readBlobFromWorkTree(this.root, job.path, job.objectId, job.size));
        }
        // setImmediate, not a microtask: the loop goes round, through its timers.
        if (this.next < this.jobs.length) await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.jobs.length = 0;
      this.next = 0;
      this.running = false;
    }
  }
}
