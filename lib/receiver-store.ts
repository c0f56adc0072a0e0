// What the reference receiver knows, and its persistence under --data:
//   blobs/<hh>/<sha256>   content-addressed bodies (written atomically: temp file + rename)
//   journal.jsonl         append-only record of accepted events and stored bodies;
//                         replayed on start, so a restart keeps the index and every version.
import { existsSync, mkdirSync, openSync, readFileSync, closeSync, renameSync, unlinkSync, writeFileSync, write as fsWrite } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { artifactKey, namespaceKey, pickNamespace } from './namespace.js';
import type { NamespaceRef } from './types.js';

export interface ArtifactVersion {
  content_hash: string;
  size_bytes: number;
  received_at: string;
  /** Global arrival order of stored bodies, 1-based. */
  seq: number;
}

export interface ArtifactRecord {
  namespace: NamespaceRef;
  artifact_path: string;
  latest_hash: string;
  /** Every stored version in arrival order; a repeat of the latest content adds none. */
  versions: ArtifactVersion[];
}

type JournalLine =
  | { t: 'event'; id: string; ns: NamespaceRef; path: string; hash: string; at: number }
  | { t: 'body'; ns: NamespaceRef; path: string; hash: string; size: number; at: number; seq: number };

export type StoreDecision = 'stored' | 'already_exists';

export interface LoadReport {
  events: number;
  bodies: number;
  /** Lines that could not be read (e.g. a torn last line after a crash); skipped. */
  badLines: number;
}

export class ReceiverStore {
  private readonly eventIds = new Set<string>();
  private readonly namespaces = new Set<string>();
  /** artifactKey -> arrival time (ms) of the first event that indexed it. */
  private readonly index = new Map<string, number>();
  private readonly artifacts = new Map<string, ArtifactRecord>();
  private readonly blobs = new Set<string>();
  /** Blob fan-out directories known to exist (saves a mkdir per body). */
  private readonly blobDirs = new Set<string>();
  private seq = 0;
  private fd: number | null = null;
  private pending: { line: string; done: (err: Error | null) => void }[] = [];
  private writing = false;
  readonly loaded: LoadReport = { events: 0, bodies: 0, badLines: 0 };

  constructor(readonly dataDir: string) {}

  private get journalPath(): string {
    return path.join(this.dataDir, 'journal.jsonl');
  }

  private blobPath(hash: string): string {
    return path.join(this.dataDir, 'blobs', hash.slice(0, 2), hash);
  }

  /** Creates the directory and replays the journal. */
  open(): LoadReport {
    mkdirSync(path.join(this.dataDir, 'blobs'), { recursive: true });
    if (existsSync(this.journalPath)) {
      for (const raw of readFileSync(this.journalPath, 'utf8').split('\n')) {
        if (raw.trim() === '') continue;
        let line: JournalLine;
        try {
          line = JSON.parse(raw) as JournalLine;
        } catch {
          this.loaded.badLines++;
          continue;
        }
        if (line.t === 'event') {
          this.applyEvent(line.id, line.ns, line.path, line.at);
          this.loaded.events++;
        } else if (line.t === 'body') {
          this.applyBody(line.ns, line.path, line.hash, line.size, line.at, line.seq);
          this.blobs.add(line.hash);
          this.loaded.bodies++;
        } else {
          this.loaded.badLines++;
        }
      }
    }
    this.fd = openSync(this.journalPath, 'a');
    return this.loaded;
  }

  /** Waits for journal writes, then closes the file. */
  async close(): Promise<void> {
    while (this.writing || this.pending.length > 0) await new Promise((r) => setTimeout(r, 2));
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  hasEvent(eventId: string): boolean {
    return this.eventIds.has(eventId);
  }

  /**
   * A project becomes known with the first accepted event of it: 047's client sends a namespace's
   * events before its bodies, so only a body for a project nobody indexed is namespace_not_found.
   */
  knowsProject(projectUuid: string): boolean {
    for (const key of this.namespaces) if (key.startsWith(`${projectUuid}\u0000`)) return true;
    return false;
  }

  /** Arrival time of the event that indexed (ns, path), or null. */
  indexedAt(ns: NamespaceRef, artifactPath: string): number | null {
    return this.index.get(artifactKey(ns, artifactPath)) ?? null;
  }

  /** Records an accepted event (in memory now; on disk when the returned promise resolves). */
  recordEvent(eventId: string, ns: NamespaceRef, artifactPath: string, hash: string, now = Date.now()): Promise<void> {
    const nsOnly = pickNamespace(ns);
    this.applyEvent(eventId, nsOnly, artifactPath, now);
    return this.append({ t: 'event', id: eventId, ns: nsOnly, path: artifactPath, hash, at: now });
  }

  /**
   * Stores a body: the blob first (so the journal never names a missing file), then the
   * decision against the state at that moment (two concurrent pushes of the same content give one
   * `stored` and one `already_exists`). `already_exists` means the artifact's latest content already has this hash;
   * an older version sent again becomes the latest again (a revert is a real change).
   */
  async storeBody(ns: NamespaceRef, artifactPath: string, hash: string, body: string): Promise<StoreDecision> {
    const key = artifactKey(ns, artifactPath);
    if (this.artifacts.get(key)?.latest_hash === hash) return 'already_exists';
    if (!this.blobs.has(hash)) {
      await this.writeBlob(hash, body);
      this.blobs.add(hash);
    }
    if (this.artifacts.get(key)?.latest_hash === hash) return 'already_exists';
    const now = Date.now();
    const size = Buffer.byteLength(body, 'utf8');
    const nsOnly = pickNamespace(ns);
    const seq = ++this.seq;
    this.applyBody(nsOnly, artifactPath, hash, size, now, seq);
    await this.append({ t: 'body', ns: nsOnly, path: artifactPath, hash, size, at: now, seq });
    return 'stored';
  }

  list(): ArtifactRecord[] {
    return [...this.artifacts.values()].map((a) => ({ ...a, namespace: { ...a.namespace }, versions: a.versions.map((v) => ({ ...v })) }));
  }

  get(ns: NamespaceRef, artifactPath: string): ArtifactRecord | null {
    const a = this.artifacts.get(artifactKey(ns, artifactPath));
    return a ? { ...a, namespace: { ...a.namespace }, versions: a.versions.map((v) => ({ ...v })) } : null;
  }

  /** The stored text of a version, or null if this receiver never stored it. */
  async readBody(hash: string): Promise<string | null> {
    if (!/^[0-9a-f]{64}$/.test(hash) || !this.blobs.has(hash)) return null;
    return readFile(this.blobPath(hash), 'utf8');
  }

  counts(): { namespaces: number; index_entries: number; artifact_count: number; events: number } {
    return { namespaces: this.namespaces.size, index_entries: this.index.size, artifact_count: this.artifacts.size, events: this.eventIds.size };
  }

  private applyEvent(eventId: string, ns: NamespaceRef, artifactPath: string, at: number): void {
    this.eventIds.add(eventId);
    this.namespaces.add(namespaceKey(ns));
    const key = artifactKey(ns, artifactPath);
    if (!this.index.has(key)) this.index.set(key, at);
  }

  private applyBody(ns: NamespaceRef, artifactPath: string, hash: string, size: number, at: number, seq: number): void {
    const key = artifactKey(ns, artifactPath);
    let rec = this.artifacts.get(key);
    if (!rec) {
      rec = { namespace: ns, artifact_path: artifactPath, latest_hash: hash, versions: [] };
      this.artifacts.set(key, rec);
    }
    rec.latest_hash = hash;
    rec.versions.push({ content_hash: hash, size_bytes: size, received_at: new Date(at).toISOString(), seq });
    if (seq > this.seq) this.seq = seq;
  }

  private async writeBlob(hash: string, body: string): Promise<void> {
    const file = this.blobPath(hash);
    const dir = path.dirname(file);
    if (!this.blobDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.blobDirs.add(dir);
    }
    const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    // Synchronous on purpose: bodies are at most 512 KiB, and a thread-pool round trip per file
    // operation cost more than the write itself (measured with bench/drain).
    try {
      writeFileSync(tmp, body, 'utf8');
      renameSync(tmp, file);
    } catch (err) {
      try {
        unlinkSync(tmp);
      } catch {
        /* never created */
      }
      throw err;
    }
  }

  /** Group commit: lines queued while a write is in flight go out together in the next write. */
  private append(line: JournalLine): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ line: `${JSON.stringify(line)}\n`, done: (err) => (err ? reject(err) : resolve()) });
      this.flush();
    });
  }

  private flush(): void {
    if (this.writing || this.pending.length === 0) return;
    if (this.fd === null) {
      const batch = this.pending.splice(0);
      for (const p of batch) p.done(new Error('receiver store is closed'));
      return;
    }
    const batch = this.pending.splice(0);
    const buf = Buffer.from(batch.map((p) => p.line).join(''), 'utf8');
    this.writing = true;
    const fd = this.fd;
    const writeAll = (offset: number): void => {
      fsWrite(fd, buf, offset, buf.length - offset, null, (err, written) => {
        if (!err && offset + written < buf.length) return writeAll(offset + written);
        this.writing = false;
        for (const p of batch) p.done(err ?? null);
        this.flush();
      });
    };
    writeAll(0);
  }
}
