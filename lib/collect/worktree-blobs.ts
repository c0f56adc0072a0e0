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
 * Files up to this size are read whole into one scratch buffer, which tells their size without an
 * fstat (Node 20 builds a Stats object with four Dates for each: ~15 µs a file, ~20 ms of a
 * backfill's ~130 ms of reading the corpus's 1,476 files, measured alone); larger ones are sized by
 * fstat first. 256 KB holds all but a few of a feature's documents.
 */
const SCRATCH_BYTES = 256 * 1024;
/** Room left before the bytes in the scratch, so that git's object header can go in front of them. */
const HEADER_ROOM = 32;
let scratch: Buffer | null = null;

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
    const whole = givenSize === null ? (readSmall(fd) ?? readSized(fd, null)) : readSized(fd, givenSize);
    // One one-shot hash of git's object header and the bytes gives the blob id (crypto.hash: a
    // fraction of createHash's cost per call); whatever the file was, only the committed bytes pass.
    return whole !== null && hash(algorithm, whole.withHeader, 'hex') === objectId ? whole.bytes : null;
  } catch {
    return null; // a directory (EISDIR), a FIFO with nothing to read yet (EAGAIN), an I/O error
  } finally {
    closeSync(fd);
  }
}

/** A file's bytes in a buffer that starts with git's object header (`blob <size>\0`). */
interface WithHeader {
  withHeader: Buffer;
  bytes: Buffer;
}

/**
 * The whole file if it fits the scratch buffer (read to its end, so its size is what was read),
 * else null. No kind check is needed: a device that never ends fills the scratch and goes to
 * readSized's, and anything else that reads is held to the blob id like a file.
 */
function readSmall(fd: number): WithHeader | null {
  scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  let n = 0;
  for (;;) {
    const got = readSync(fd, scratch, HEADER_ROOM + n, SCRATCH_BYTES - HEADER_ROOM - n, null);
    if (got === 0) break;
    n += got;
    if (n === SCRATCH_BYTES - HEADER_ROOM) return null;
  }
  const whole = withHeader(n);
  scratch.copy(whole.bytes, 0, HEADER_ROOM, HEADER_ROOM + n);
  return whole;
}

/** The whole file, sized by fstat, if it is a regular file of `givenSize` bytes (null: any size); else null. */
function readSized(fd: number, givenSize: number | null): WithHeader | null {
  const st = fstatSync(fd);
  const size = st.size;
  if (!st.isFile() || (givenSize !== null && size !== givenSize)) return null;
  const whole = withHeader(size);
  for (let filled = 0; filled < size;) {
    // At explicit positions: readSmall may have read the first part already.
    const n = readSync(fd, whole.bytes, filled, size - filled, filled);
    if (n === 0) return null; // shrank meanwhile
    filled += n;
  }
  return whole;
}

/** A buffer for `size` bytes with git's object header written in front of them. */
function withHeader(size: number): WithHeader {
  const header = `blob ${size}\0`;
  const buf = Buffer.allocUnsafe(header.length + size);
  buf.write(header, 0, 'latin1');
  return { withHeader: buf, bytes: buf.subarray(header.length) };
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
