// Spools and packs (issue 11): what one capture (a hook's commits, a `sync`) produced, in ONE file
// written with one write and one fsync and no lock, under `<state>/spool/<id>.ksp`.
//
// A spool becomes a pack once a queue-lock holder has merged it: the queue records the pack in
// its `packs` table in the same save as the tasks it adds, so a spool is merged exactly once (a
// file whose name is already in that table is never merged again). Bodies and index-event
// envelopes stay in the pack; queue rows point at them (offset, length), so the sql.js database
// every hook loads holds only metadata. A pack is deleted once no row refers to it.
//
// Layout:  "KSPACK1\n" | u32le header length | header JSON | data | sha256 of all before (32) |
//          u64le total file length | "KSEND01\n"
// The trailer makes a torn or damaged file detectable: it is never half-merged. The file is written
// under a temporary name and renamed into place, so a merger never sees a spool being written.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, mkdirSync, openSync, promises as fsp, readdirSync, readSync, renameSync, unlinkSync, writevSync } from 'node:fs';
import path from 'node:path';
import { ulid } from 'ulid';
import type { NamespaceRef } from '../types.js';
import { ensureDir, NOFOLLOW, openNoFollow, type Notice } from '../state-fs.js';
import { processStartTime } from './lock.js';

export const SPOOL_DIR = 'spool';
export const PACK_EXT = '.ksp';
const TMP_PREFIX = '.tmp-';
const MAGIC = Buffer.from('KSPACK1\n', 'latin1');
const END = Buffer.from('KSEND01\n', 'latin1');
const TRAILER_BYTES = 32 + 8 + END.length;
/** Sizes of the pieces PackBuilder encodes event envelopes into. */
const EVENT_PIECE_MIN = 64 * 1024;
const EVENT_PIECE_MAX = 1024 * 1024;

/** One body task of a spool. `off` is relative to the data region. */
export interface PackBody {
  ns: NamespaceRef;
  path: string;
  hash: string;
  size: number;
  off: number;
  /** Git blob id of the body, to re-read it if the stored copy turns out damaged (issue 12 §5). */
  oid: string | null;
  /** event_id of the index event that must be accepted before this body is sent. */
  event: string | null;
}

/** One event (Indexed or snapshot): an opaque JSON envelope in the data region, keyed by its event_id. */
export interface PackEvent {
  id: string;
  /** Supersede key: a newer pending event with the same key replaces this one (null: never). */
  key: string | null;
  /** What it says (a content hash, a snapshot's facts): a pending event with the same key and ident makes it a duplicate. */
  ident?: string | null;
  /** A feature's snapshot: a duplicate only when nothing else of its spool was new (it must follow the events it sums up). */
  snapshot?: boolean;
  off: number;
  len: number;
}

export interface PackHeader {
  v: 1;
  id: string;
  /** capture: a hook's or a command's work, merged once; compact: written by a queue-lock holder while compacting. */
  kind: 'capture' | 'compact';
  created_at: number;
  bodies: PackBody[];
  events: PackEvent[];
}

export interface BuiltPack {
  name: string;
  header: PackHeader;
  /** The file's bytes, in pieces (written with one writev). */
  chunks: Buffer[];
  size: number;
}

export function spoolDir(stateDir: string): string {
  return path.join(stateDir, SPOOL_DIR);
}

export function packPath(stateDir: string, name: string): string {
  if (!/^[0-9A-Za-z_-]+\.ksp$/.test(name)) throw new Error(`invalid pack name ${JSON.stringify(name)}`);
  return path.join(spoolDir(stateDir), name);
}

/**
 * Collects the data region: bodies first (their offsets are known as they come), then the event
 * envelopes as one UTF-8 block, encoded as they come into a few large pieces (a Buffer per
 * envelope cost more than the rest).
 */
export class PackBuilder {
  private readonly data: Buffer[] = [];
  private off = 0;
  /** The events block, in pieces (addEvent). */
  private readonly eventPieces: Buffer[] = [];
  private eventPiece: Buffer | null = null;
  private eventPieceUsed = 0;
  private eventsLen = 0;
  readonly bodies: PackBody[] = [];
  readonly events: PackEvent[] = [];

  addBody(b: Omit<PackBody, 'off' | 'size'>, bytes: Buffer): void {
    this.bodies.push({ ns: b.ns, path: b.path, hash: b.hash, oid: b.oid, event: b.event, off: this.off, size: bytes.length });
    this.push(bytes);
  }

  /**
   * `off` is relative to the events block until build() places it after the bodies. The envelope is
   * encoded at once into the block's current piece: its text is garbage by the next event, where
   * keeping every text for one join and one encode cost a backfill (2,500 events) ~25 ms and ~5 MB
   * more fresh memory. An event never spans two pieces (the store reads one from its piece alone).
   */
  addEvent(id: string, key: string | null, ident: string | null, envelope: unknown, opts: { snapshot?: boolean } = {}): void {
    const text = JSON.stringify(envelope);
    const len = Buffer.byteLength(text, 'utf8');
    if (this.eventPiece === null || this.eventPieceUsed + len > this.eventPiece.length) {
      this.closeEventPiece();
      // 64 KB first (a hook's capture), then twice the last up to 1 MB, or the event's own size.
      const last = this.eventPiece?.length ?? 0;
      this.eventPiece = Buffer.allocUnsafe(Math.max(len, last === 0 ? EVENT_PIECE_MIN : Math.min(2 * last, EVENT_PIECE_MAX)));
      this.eventPieceUsed = 0;
    }
    this.eventPiece.write(text, this.eventPieceUsed, 'utf8');
    this.eventPieceUsed += len;
    this.events.push({ id, key, ident, ...(opts.snapshot ? { snapshot: true } : {}), off: this.eventsLen, len });
    this.eventsLen += len;
  }

  /** The events block's full pieces; the current one is added by build(). */
  private closeEventPiece(): void {
    if (this.eventPiece && this.eventPieceUsed > 0) this.eventPieces.push(this.eventPiece.subarray(0, this.eventPieceUsed));
  }

  /** Copies an item verbatim (compaction). Returns its new offset. */
  addRaw(bytes: Buffer): number {
    const at = this.off;
    this.push(bytes);
    return at;
  }

  private push(bytes: Buffer): void {
    this.data.push(bytes);
    this.off += bytes.length;
  }

  get empty(): boolean {
    return this.bodies.length === 0 && this.events.length === 0 && this.off === 0;
  }

  build(kind: PackHeader['kind'], now = Date.now()): BuiltPack {
    const id = ulid(now);
    if (this.eventsLen > 0) {
      const eventsAt = this.off;
      for (const e of this.events) e.off += eventsAt;
      this.closeEventPiece();
      for (const piece of this.eventPieces) this.push(piece);
      this.eventPieces.length = 0;
      this.eventPiece = null;
      this.eventsLen = 0;
    }
    const header: PackHeader = { v: 1, id, kind, created_at: now, bodies: this.bodies, events: this.events };
    const head = Buffer.from(JSON.stringify(header), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(head.length);
    const chunks = [MAGIC, len, head, ...this.data];
    const hash = createHash('sha256');
    let size = 0;
    for (const c of chunks) {
      hash.update(c);
      size += c.length;
    }
    const trailer = Buffer.alloc(TRAILER_BYTES);
    hash.digest().copy(trailer, 0);
    size += TRAILER_BYTES;
    trailer.writeBigUInt64LE(BigInt(size), 32);
    END.copy(trailer, 40);
    chunks.push(trailer);
    return { name: `${id}${PACK_EXT}`, header, chunks, size };
  }
}

/**
 * Writes a pack: a temporary file (named after this process, so a dead writer's leftover can be
 * told from a live one's), one writev, one fsync, then a rename into place. The rename's directory
 * entry is made durable by whoever saves the queue next (it fsyncs the spool directory first).
 * Asynchronous: a drain may be waiting on sockets meanwhile (see writePackSync for compaction).
 */
export async function writePack(stateDir: string, pack: BuiltPack, notice: Notice): Promise<string> {
  const { final, tmp } = packTarget(stateDir, pack, notice);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
    // libuv writes every buffer (it loops over IOV_MAX-sized groups and short writes).
    const { bytesWritten } = await fh.writev(pack.chunks);
    // A short write to a regular file: the disk is full or a file-size limit (ulimit -f) was reached.
    if (bytesWritten !== pack.size) throw Object.assign(new Error(`short write of the capture spool ${final}: ${bytesWritten} of ${pack.size} bytes`), { code: 'EFBIG', path: final });
    await fh.sync();
    await fh.close();
    fh = undefined;
    renameSync(tmp, final);
  } catch (err) {
    await fh?.close().catch(() => undefined);
    try {
      unlinkSync(tmp);
    } catch {
      /* never created */
    }
    throw err;
  }
  return final;
}

/** writePack, synchronously (compaction runs inside a queue transaction). */
export function writePackSync(stateDir: string, pack: BuiltPack, notice: Notice): string {
  const { final, tmp } = packTarget(stateDir, pack, notice);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
  try {
    try {
      let chunks = pack.chunks;
      let left = pack.size;
      // writev may write less than asked: continue where it stopped.
      while (left > 0) {
        let n = writevSync(fd, chunks);
        left -= n;
        if (left === 0) break;
        const rest: Buffer[] = [];
        for (const c of chunks) {
          if (n >= c.length) n -= c.length;
          else {
            rest.push(n > 0 ? c.subarray(n) : c);
            n = 0;
          }
        }
        chunks = rest;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, final);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created */
    }
    throw err;
  }
  return final;
}

function packTarget(stateDir: string, pack: BuiltPack, notice: Notice): { final: string; tmp: string } {
  const dir = spoolDir(stateDir);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  ensureDir(dir, notice);
  return { final: packPath(stateDir, pack.name), tmp: path.join(dir, `${TMP_PREFIX}${pack.name}.${process.pid}.${processStartTime(process.pid) ?? '0'}`) };
}

export class PackError extends Error {}

export interface OpenedPack {
  header: PackHeader;
  /** Absolute file offset of the data region. */
  base: number;
  size: number;
}

/** Reads and fully verifies a pack (magic, length, checksum, header); throws PackError saying what is wrong. */
export function readPack(file: string, notice: Notice): OpenedPack {
  const fd = openNoFollow(file, constants.O_RDONLY, 0o600, notice);
  let buf: Buffer;
  try {
    const size = fstatSync(fd).size;
    buf = Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    buf = buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
  return verifyPack(buf);
}

/**
 * Only the header of a pack (no checksum check): what `status` counts for a spool not merged yet.
 * Null when it cannot be read.
 */
export function readPackHeader(file: string): PackHeader | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const head = Buffer.alloc(MAGIC.length + 4);
    if (readSync(fd, head, 0, head.length, 0) !== head.length || !head.subarray(0, MAGIC.length).equals(MAGIC)) return null;
    const len = head.readUInt32LE(MAGIC.length);
    const json = Buffer.alloc(len);
    if (readSync(fd, json, 0, len, head.length) !== len) return null;
    const header = JSON.parse(json.toString('utf8')) as PackHeader;
    return Array.isArray(header?.bodies) && Array.isArray(header.events) ? header : null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

export function verifyPack(buf: Buffer): OpenedPack {
  if (buf.length < MAGIC.length + 4 + TRAILER_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new PackError('it is not a kitty-sync spool');
  const end = buf.length - TRAILER_BYTES;
  if (!buf.subarray(buf.length - END.length).equals(END)) throw new PackError('it is truncated (no end marker)');
  if (Number(buf.readBigUInt64LE(end + 32)) !== buf.length) throw new PackError('its length does not match its trailer');
  const sum = createHash('sha256').update(buf.subarray(0, end)).digest();
  if (!sum.equals(buf.subarray(end, end + 32))) throw new PackError('its checksum does not match (damaged)');
  const headLen = buf.readUInt32LE(MAGIC.length);
  const base = MAGIC.length + 4 + headLen;
  if (base > end) throw new PackError('its header length is out of range');
  let header: PackHeader;
  try {
    header = JSON.parse(buf.subarray(MAGIC.length + 4, base).toString('utf8')) as PackHeader;
  } catch {
    throw new PackError('its header is not valid JSON');
  }
  if (header?.v !== 1 || !Array.isArray(header.bodies) || !Array.isArray(header.events)) throw new PackError('its header has an unknown version or shape');
  const dataLen = end - base;
  for (const b of header.bodies) if (!(b.off >= 0 && b.size >= 0 && b.off + b.size <= dataLen)) throw new PackError('a body lies outside the data');
  for (const e of header.events) if (!(e.off >= 0 && e.len >= 0 && e.off + e.len <= dataLen)) throw new PackError('an event lies outside the data');
  return { header, base, size: buf.length };
}

/** The absolute offset of the data region for a header built in this process. */
export function baseOf(pack: BuiltPack): number {
  return pack.chunks[0].length + pack.chunks[1].length + pack.chunks[2].length;
}

/** How much a pack read fetches at once: the items a drain reads next usually follow (enqueue order = pack order). */
const READ_AHEAD = 256 * 1024;

/**
 * Reads items out of packs by (name, absolute offset, length), keeping each pack open while used.
 * Missing packs read as null. Call close() when done.
 * Items are read through a window of READ_AHEAD bytes per pack: a drain reads thousands of events and
 * bodies that lie next to each other, and one pread per item was most of its opening read. An item is
 * returned as a view of its window (no copy); the window lives as long as any of its items.
 * Packs built in this process (`built`) are read from memory: their file may still be being written,
 * and their items are the very buffers the capture was built from.
 */
export class PackReader {
  private readonly fds = new Map<string, number | null>();
  private readonly windows = new Map<string, { start: number; bytes: Buffer }>();
  /** Where each piece (chunk) of a built pack starts in its file. */
  private readonly pieceStarts = new Map<string, number[]>();

  constructor(
    private readonly stateDir: string,
    private readonly notice?: Notice,
    private readonly built: ReadonlyMap<string, BuiltPack> = new Map(),
  ) {}

  /** Whether `name` is a pack built in this process (read from memory). */
  inMemory(name: string | null): boolean {
    return name !== null && this.built.has(name);
  }

  read(name: string, off: number, len: number): Buffer | null {
    const mine = this.built.get(name);
    if (mine) return this.readBuilt(name, mine, off, len);
    const w = this.windows.get(name);
    if (w && off >= w.start && off + len <= w.start + w.bytes.length) return w.bytes.subarray(off - w.start, off - w.start + len);
    let fd = this.fds.get(name);
    if (fd === undefined) {
      try {
        fd = openNoFollow(packPath(this.stateDir, name), constants.O_RDONLY, 0o600, this.notice);
      } catch {
        fd = null;
      }
      this.fds.set(name, fd);
    }
    if (fd === null) return null;
    const want = Math.max(len, READ_AHEAD);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    try {
      while (got < want) {
        const n = readSync(fd, buf, got, want - got, off + got);
        if (n === 0) break;
        got += n;
      }
    } catch {
      return null;
    }
    if (got < len) return null;
    // A window past the file's end holds only what was there.
    this.windows.set(name, { start: off, bytes: buf.subarray(0, got) });
    return buf.subarray(0, len);
  }

  /**
   * Where the run of bytes that `read` can return as one view, without copying, ends: the end of the
   * piece holding `off` in a pack built in this process; a file's bytes are read as asked (Infinity).
   */
  viewEnd(name: string, off: number): number {
    const mine = this.built.get(name);
    if (!mine) return Infinity;
    const { chunk, start } = this.pieceAt(name, mine, off);
    return start + chunk.length;
  }

  /** The piece of a built pack that holds `off` (the last one starting at or before it), and where it starts. */
  private pieceAt(name: string, pack: BuiltPack, off: number): { chunk: Buffer; start: number } {
    let starts = this.pieceStarts.get(name);
    if (!starts) {
      starts = [];
      let at = 0;
      for (const c of pack.chunks) {
        starts.push(at);
        at += c.length;
      }
      this.pieceStarts.set(name, starts);
    }
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= off) lo = mid;
      else hi = mid - 1;
    }
    return { chunk: pack.chunks[lo], start: starts[lo] };
  }

  /** An item of a built pack: a view of the piece it lies in (an event, a body), else of the joined pack. */
  private readBuilt(name: string, pack: BuiltPack, off: number, len: number): Buffer | null {
    const { chunk, start } = this.pieceAt(name, pack, off);
    const at = off - start;
    if (at >= 0 && at + len <= chunk.length) return chunk.subarray(at, at + len);
    // Across pieces (compaction copies raw ranges): the whole pack, joined once and kept as a window.
    let w = this.windows.get(name);
    if (!w) this.windows.set(name, (w = { start: 0, bytes: Buffer.concat(pack.chunks, pack.size) }));
    return off >= 0 && off + len <= w.bytes.length ? w.bytes.subarray(off, off + len) : null;
  }

  close(): void {
    for (const fd of this.fds.values()) if (fd !== null) closeSync(fd);
    this.fds.clear();
    this.windows.clear();
  }
}

export interface SpoolListing {
  /** Complete spool/pack files (name order = creation order). */
  packs: string[];
  /** Temporary files of writers that are gone (safe to delete under the queue lock). */
  deadTemps: string[];
}

/** Lists the spool directory. A temporary file whose writer (pid + start time) is alive is left alone. */
export function listSpool(stateDir: string): SpoolListing {
  let names: string[];
  try {
    names = readdirSync(spoolDir(stateDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return { packs: [], deadTemps: [] };
    throw err;
  }
  const packs: string[] = [];
  const deadTemps: string[] = [];
  for (const n of names) {
    if (n.startsWith(TMP_PREFIX)) {
      const m = /\.(\d+)\.(\d+)$/.exec(n);
      const alive = m ? writerAlive(Number(m[1]), m[2]) : false;
      if (!alive) deadTemps.push(n);
    } else if (n.endsWith(PACK_EXT) && /^[0-9A-Za-z_-]+\.ksp$/.test(n)) {
      packs.push(n);
    }
  }
  packs.sort();
  return { packs, deadTemps };
}

/** The writer of a temporary file is alive: same pid and start time (or, without /proc, the pid exists). */
function writerAlive(pid: number, start: string): boolean {
  const now = processStartTime(pid);
  if (now !== null) return start !== '0' && now === start;
  if (start !== '0') return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function removeSpoolFile(stateDir: string, name: string): void {
  try {
    unlinkSync(path.join(spoolDir(stateDir), name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
