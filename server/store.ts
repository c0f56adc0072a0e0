// What the reference receiver knows, in SQLite (better-sqlite3) under --data: <dir>/serve.db.
// WAL mode, one transaction per body and per part of an events batch (server/receiver.ts): a request
// is answered only after its transactions have committed, so a kill -9 loses nothing that was
// acknowledged (WAL with synchronous=NORMAL survives a process crash; an OS crash may lose the last
// transactions).
//
// The SQL is kept portable (PostgreSQL could take the same statements): no rowid, no INSERT OR …,
// no AUTOINCREMENT; upserts are INSERT … ON CONFLICT, new ids come from RETURNING, times are
// milliseconds in BIGINT columns. Only the DDL's `INTEGER PRIMARY KEY` (an identity column in
// PostgreSQL) and the PRAGMAs are SQLite's own. Every per-request statement looks rows up by a
// primary key or an index, so a request costs the same with 10 or 100,000 stored artifacts.
//
// Order: an artifact's current content follows its index, not the arrival order of bodies. Each
// Indexed event has a position (node_id, lamport_clock, arrival seq); `newer()` compares two. A body
// becomes current only if the newest event that indexed its hash is not older than the current
// content's; an older body that arrives late is kept in the history, never made current.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { NAMESPACE_FIELDS, type NamespaceRef } from '../lib/contract/wire.js';
import type { AcceptedEvent } from './validate.js';

export interface ArtifactVersion {
  content_hash: string;
  size_bytes: number;
  received_at: string;
  /** Global arrival order of stored bodies, 1-based. */
  seq: number;
  /** This version is the artifact's current content. */
  current: boolean;
}

export interface ArtifactRecord {
  namespace: NamespaceRef;
  artifact_path: string;
  /** The current content (follows the index). */
  latest_hash: string;
  /** What the newest index event says the content is (a body for it may not have arrived yet). */
  index_hash: string | null;
  /** Every stored version in arrival order; a repeat of the current content adds none. */
  versions: ArtifactVersion[];
}

export type StoreDecision = 'stored' | 'already_exists';

/** Answer to "may this body be stored?" before storing it. */
export type BodyCheck = 'ok' | 'namespace_not_found' | 'index_entry_not_found';

export interface LoadReport {
  events: number;
  bodies: number;
}

export interface StoreCounts {
  projects: number;
  namespaces: number;
  index_entries: number;
  artifact_count: number;
  events: number;
}

/** Position of an event in the order that decides which content is current. */
interface Position {
  node_id: string;
  lamport: number;
  seq: number;
}

/**
 * Is `a` newer than `b`? One node's events are ordered by its lamport clock (they may arrive out of
 * order after retries); events of different nodes, whose clocks are unrelated, by arrival.
 */
export function newer(a: Position, b: Position): boolean {
  if (a.node_id === b.node_id && a.lamport !== b.lamport) return a.lamport > b.lamport;
  return a.seq > b.seq;
}

export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS schema_info (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
  project_uuid TEXT PRIMARY KEY,
  project_slug TEXT,
  team_slug TEXT,
  first_seen_ms BIGINT NOT NULL,
  last_seen_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS namespaces (
  id INTEGER PRIMARY KEY,
  project_uuid TEXT NOT NULL REFERENCES projects (project_uuid),
  feature_slug TEXT NOT NULL,
  target_branch TEXT NOT NULL,
  mission_key TEXT NOT NULL,
  manifest_version TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  UNIQUE (project_uuid, feature_slug, target_branch, mission_key, manifest_version)
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  event_type TEXT NOT NULL,
  project_uuid TEXT NOT NULL,
  namespace_id BIGINT REFERENCES namespaces (id),
  artifact_path TEXT,
  content_hash TEXT,
  node_id TEXT NOT NULL,
  lamport_clock BIGINT NOT NULL,
  received_ms BIGINT NOT NULL,
  envelope TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_namespace ON events (namespace_id, event_type, seq);
CREATE TABLE IF NOT EXISTS index_entries (
  namespace_id BIGINT NOT NULL REFERENCES namespaces (id),
  artifact_path TEXT NOT NULL,
  artifact_key TEXT NOT NULL,
  artifact_class TEXT NOT NULL,
  required_status TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  node_id TEXT NOT NULL,
  lamport_clock BIGINT NOT NULL,
  event_seq BIGINT NOT NULL,
  first_indexed_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (namespace_id, artifact_path)
);
CREATE TABLE IF NOT EXISTS indexed_hashes (
  namespace_id BIGINT NOT NULL REFERENCES namespaces (id),
  artifact_path TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  node_id TEXT NOT NULL,
  lamport_clock BIGINT NOT NULL,
  event_seq BIGINT NOT NULL,
  PRIMARY KEY (namespace_id, artifact_path, content_hash)
);
CREATE TABLE IF NOT EXISTS blobs (
  content_hash TEXT PRIMARY KEY,
  size_bytes BIGINT NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
  seq INTEGER PRIMARY KEY,
  namespace_id BIGINT NOT NULL REFERENCES namespaces (id),
  artifact_path TEXT NOT NULL,
  content_hash TEXT NOT NULL REFERENCES blobs (content_hash),
  size_bytes BIGINT NOT NULL,
  received_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_by_artifact ON versions (namespace_id, artifact_path, seq);
CREATE INDEX IF NOT EXISTS versions_by_hash ON versions (namespace_id, artifact_path, content_hash);
CREATE TABLE IF NOT EXISTS artifacts (
  namespace_id BIGINT NOT NULL REFERENCES namespaces (id),
  artifact_path TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  version_seq BIGINT NOT NULL,
  node_id TEXT NOT NULL,
  lamport_clock BIGINT NOT NULL,
  event_seq BIGINT NOT NULL,
  version_count BIGINT NOT NULL,
  last_received_ms BIGINT NOT NULL,
  PRIMARY KEY (namespace_id, artifact_path)
);
`;

interface NamespaceRow extends NamespaceRef {
  id: number;
}

interface IndexRow {
  content_hash: string;
  node_id: string;
  lamport_clock: number;
  event_seq: number;
  first_indexed_ms: number;
}

interface ArtifactRow {
  content_hash: string;
  node_id: string;
  lamport_clock: number;
  event_seq: number;
}

export interface EventOutcome {
  status: 'success' | 'duplicate';
  event_id: string;
}

/** What changed in one request, for live updates. */
export interface Change {
  kind: 'index' | 'body';
  project_uuid: string;
  namespace_id: number;
  artifact_path: string | null;
}

export class ReceiverStore {
  readonly db: Database.Database;
  readonly loaded: LoadReport;
  private counters: StoreCounts;
  private readonly q;

  constructor(readonly dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(path.join(dataDir, 'serve.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.db.prepare('INSERT INTO schema_info (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run('schema_version', String(SCHEMA_VERSION));
    const version = Number((this.db.prepare('SELECT value FROM schema_info WHERE name = ?').get('schema_version') as { value: string }).value);
    if (version !== SCHEMA_VERSION) throw new Error(`${path.join(dataDir, 'serve.db')}: schema version ${version}, this kitty-sync reads ${SCHEMA_VERSION}`);
    const db = this.db;
    this.q = {
      hasEvent: db.prepare('SELECT 1 AS x FROM events WHERE event_id = ?').pluck(),
      hasProject: db.prepare('SELECT 1 AS x FROM projects WHERE project_uuid = ?').pluck(),
      upsertProject: db.prepare(
        `INSERT INTO projects (project_uuid, project_slug, team_slug, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (project_uuid) DO UPDATE SET
           project_slug = COALESCE(excluded.project_slug, projects.project_slug),
           team_slug = COALESCE(excluded.team_slug, projects.team_slug),
           last_seen_ms = excluded.last_seen_ms`,
      ),
      namespaceId: db.prepare('SELECT id FROM namespaces WHERE project_uuid = ? AND feature_slug = ? AND target_branch = ? AND mission_key = ? AND manifest_version = ?').pluck(),
      insertNamespace: db
        .prepare(
          `INSERT INTO namespaces (project_uuid, feature_slug, target_branch, mission_key, manifest_version, created_ms, updated_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        )
        .pluck(),
      touchNamespace: db.prepare('UPDATE namespaces SET updated_ms = ? WHERE id = ?'),
      insertEvent: db
        .prepare(
          `INSERT INTO events (event_id, event_type, project_uuid, namespace_id, artifact_path, content_hash, node_id, lamport_clock, received_ms, envelope)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
        )
        .pluck(),
      indexEntry: db.prepare('SELECT content_hash, node_id, lamport_clock, event_seq, first_indexed_ms FROM index_entries WHERE namespace_id = ? AND artifact_path = ?'),
      insertIndexEntry: db.prepare(
        `INSERT INTO index_entries (namespace_id, artifact_path, artifact_key, artifact_class, required_status, content_hash, size_bytes, node_id, lamport_clock, event_seq, first_indexed_ms, updated_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      updateIndexEntry: db.prepare(
        `UPDATE index_entries SET artifact_key = ?, artifact_class = ?, required_status = ?, content_hash = ?, size_bytes = ?, node_id = ?, lamport_clock = ?, event_seq = ?, updated_ms = ?
         WHERE namespace_id = ? AND artifact_path = ?`,
      ),
      indexedHash: db.prepare('SELECT node_id, lamport_clock, event_seq FROM indexed_hashes WHERE namespace_id = ? AND artifact_path = ? AND content_hash = ?'),
      insertIndexedHash: db.prepare('INSERT INTO indexed_hashes (namespace_id, artifact_path, content_hash, node_id, lamport_clock, event_seq) VALUES (?, ?, ?, ?, ?, ?)'),
      updateIndexedHash: db.prepare('UPDATE indexed_hashes SET node_id = ?, lamport_clock = ?, event_seq = ? WHERE namespace_id = ? AND artifact_path = ? AND content_hash = ?'),
      artifact: db.prepare('SELECT content_hash, node_id, lamport_clock, event_seq FROM artifacts WHERE namespace_id = ? AND artifact_path = ?'),
      insertArtifact: db.prepare(
        `INSERT INTO artifacts (namespace_id, artifact_path, content_hash, version_seq, node_id, lamport_clock, event_seq, version_count, last_received_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)`,
      ),
      makeCurrent: db.prepare(
        `UPDATE artifacts SET content_hash = ?, version_seq = ?, node_id = ?, lamport_clock = ?, event_seq = ?, version_count = version_count + 1, last_received_ms = ?
         WHERE namespace_id = ? AND artifact_path = ?`,
      ),
      addHistory: db.prepare('UPDATE artifacts SET version_count = version_count + 1, last_received_ms = ? WHERE namespace_id = ? AND artifact_path = ?'),
      hasVersion: db.prepare('SELECT 1 AS x FROM versions WHERE namespace_id = ? AND artifact_path = ? AND content_hash = ?').pluck(),
      hasBlob: db.prepare('SELECT 1 AS x FROM blobs WHERE content_hash = ?').pluck(),
      insertBlob: db.prepare('INSERT INTO blobs (content_hash, size_bytes, body) VALUES (?, ?, ?)'),
      insertVersion: db.prepare('INSERT INTO versions (namespace_id, artifact_path, content_hash, size_bytes, received_ms) VALUES (?, ?, ?, ?, ?) RETURNING seq').pluck(),
      blob: db.prepare('SELECT body FROM blobs WHERE content_hash = ?').pluck(),
    };
    const count = (table: string): number => Number(db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get());
    // Counted once here and then kept up to date: COUNT(*) walks the whole table.
    this.counters = {
      projects: count('projects'),
      namespaces: count('namespaces'),
      index_entries: count('index_entries'),
      artifact_count: count('artifacts'),
      events: count('events'),
    };
    this.loaded = { events: this.counters.events, bodies: count('versions') };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  counts(): StoreCounts {
    return { ...this.counters };
  }

  hasEvent(eventId: string): boolean {
    return this.q.hasEvent.get(eventId) !== undefined;
  }

  /** A project becomes known with the first accepted event that names its project_uuid. */
  knowsProject(projectUuid: string): boolean {
    return this.q.hasProject.get(projectUuid) !== undefined;
  }

  namespaceId(ns: NamespaceRef): number | null {
    const id = this.q.namespaceId.get(...NAMESPACE_FIELDS.map((f) => ns[f]));
    return id === undefined ? null : Number(id);
  }

  /** Arrival time (ms) of the first event that indexed (ns, path), or null. */
  indexedAt(ns: NamespaceRef, artifactPath: string): number | null {
    const id = this.namespaceId(ns);
    if (id === null) return null;
    const row = this.q.indexEntry.get(id, artifactPath) as IndexRow | undefined;
    return row ? Number(row.first_indexed_ms) : null;
  }

  /**
   * Applies accepted (validated) events in one transaction: duplicates by event_id are
   * reported, not applied. Returns each event's status and what changed.
   */
  recordEvents(events: AcceptedEvent[], now = Date.now()): { outcomes: EventOutcome[]; changes: Change[] } {
    const outcomes: EventOutcome[] = [];
    const changes: Change[] = [];
    const counters = { ...this.counters };
    // A batch is usually one feature's events: each project and namespace row is written once per batch.
    const projectsSeen = new Set<string>();
    const namespaces = new Map<string, number>();
    this.db.transaction(() => {
      for (const ev of events) {
        const e = ev.envelope;
        if (this.q.hasEvent.get(e.event_id) !== undefined) {
          outcomes.push({ event_id: e.event_id, status: 'duplicate' });
          continue;
        }
        if (!projectsSeen.has(e.project_uuid)) {
          projectsSeen.add(e.project_uuid);
          if (this.q.hasProject.get(e.project_uuid) === undefined) counters.projects++;
          this.q.upsertProject.run(e.project_uuid, e.project_slug ?? null, e.team_slug ?? null, now, now);
        }
        let nsId: number | null = null;
        if (ev.ns) {
          const key = NAMESPACE_FIELDS.map((f) => ev.ns![f]).join('\u0000');
          nsId = namespaces.get(key) ?? null;
          if (nsId === null) {
            nsId = this.ensureNamespace(ev.ns, now, counters);
            this.q.touchNamespace.run(now, nsId);
            namespaces.set(key, nsId);
          }
        }
        const idx = ev.indexed;
        const seq = Number(
          this.q.insertEvent.get(e.event_id, e.event_type, e.project_uuid, nsId, idx ? idx.relative_path : null, idx ? idx.content_hash_sha256 : null, e.node_id, e.lamport_clock, now, JSON.stringify(e)),
        );
        counters.events++;
        outcomes.push({ event_id: e.event_id, status: 'success' });
        if (idx && nsId !== null) {
          this.applyIndexed(nsId, idx, { node_id: e.node_id, lamport: e.lamport_clock, seq }, now, counters);
          changes.push({ kind: 'index', project_uuid: e.project_uuid, namespace_id: nsId, artifact_path: idx.relative_path });
        } else if (nsId !== null) {
          changes.push({ kind: 'index', project_uuid: e.project_uuid, namespace_id: nsId, artifact_path: null });
        }
      }
    })();
    this.counters = counters;
    return { outcomes, changes };
  }

  private ensureNamespace(ns: NamespaceRef, now: number, counters: StoreCounts): number {
    const values = NAMESPACE_FIELDS.map((f) => ns[f]);
    const id = this.q.namespaceId.get(...values);
    if (id !== undefined) return Number(id);
    counters.namespaces++;
    return Number(this.q.insertNamespace.get(...values, now, now));
  }

  private applyIndexed(nsId: number, p: AcceptedEvent['indexed'] & object, pos: Position, now: number, counters: StoreCounts): void {
    const entry = this.q.indexEntry.get(nsId, p.relative_path) as IndexRow | undefined;
    if (!entry) {
      counters.index_entries++;
      this.q.insertIndexEntry.run(nsId, p.relative_path, p.artifact_key, p.artifact_class, p.required_status, p.content_hash_sha256, p.size_bytes, pos.node_id, pos.lamport, pos.seq, now, now);
    } else if (newer(pos, positionOf(entry))) {
      this.q.updateIndexEntry.run(p.artifact_key, p.artifact_class, p.required_status, p.content_hash_sha256, p.size_bytes, pos.node_id, pos.lamport, pos.seq, now, nsId, p.relative_path);
    }
    const known = this.q.indexedHash.get(nsId, p.relative_path, p.content_hash_sha256) as ArtifactRow | undefined;
    if (!known) this.q.insertIndexedHash.run(nsId, p.relative_path, p.content_hash_sha256, pos.node_id, pos.lamport, pos.seq);
    else if (newer(pos, positionOf(known))) this.q.updateIndexedHash.run(pos.node_id, pos.lamport, pos.seq, nsId, p.relative_path, p.content_hash_sha256);
  }

  /** May a body for (ns, path) be stored? (namespace_not_found only for a project never seen.) */
  checkBody(ns: NamespaceRef, artifactPath: string): BodyCheck {
    if (!this.knowsProject(ns.project_uuid)) return 'namespace_not_found';
    return this.indexedAt(ns, artifactPath) === null ? 'index_entry_not_found' : 'ok';
  }

  /**
   * Stores a body in one transaction. `already_exists`: the current content has this hash, or the
   * history already holds this (older) hash. Otherwise a new version; it becomes current unless the
   * index says the current content is newer (a late, older upload).
   */
  storeBody(ns: NamespaceRef, artifactPath: string, hash: string, body: string, now = Date.now()): { decision: StoreDecision; current: boolean; change: Change | null } {
    let added = 0;
    const result = this.db.transaction(() => {
      const nsId = this.namespaceId(ns);
      const entry = nsId === null ? undefined : (this.q.indexEntry.get(nsId, artifactPath) as IndexRow | undefined);
      if (nsId === null || !entry) throw new Error(`storeBody: ${artifactPath} is not indexed`);
      const current = this.q.artifact.get(nsId, artifactPath) as ArtifactRow | undefined;
      if (current?.content_hash === hash) return { decision: 'already_exists' as const, current: true, change: null };
      // An unindexed hash (a client that sends bodies it never indexed) counts as of the index's present.
      const indexedAs = this.q.indexedHash.get(nsId, artifactPath, hash) as ArtifactRow | undefined;
      const pos = positionOf(indexedAs ?? entry);
      const becomesCurrent = !current || !newer(positionOf(current), pos);
      if (!becomesCurrent && this.q.hasVersion.get(nsId, artifactPath, hash) !== undefined) {
        return { decision: 'already_exists' as const, current: false, change: null };
      }
      const size = Buffer.byteLength(body, 'utf8');
      if (this.q.hasBlob.get(hash) === undefined) this.q.insertBlob.run(hash, size, body);
      const seq = Number(this.q.insertVersion.get(nsId, artifactPath, hash, size, now));
      if (!current) {
        this.q.insertArtifact.run(nsId, artifactPath, hash, seq, pos.node_id, pos.lamport, pos.seq, now);
        added = 1;
      } else if (becomesCurrent) this.q.makeCurrent.run(hash, seq, pos.node_id, pos.lamport, pos.seq, now, nsId, artifactPath);
      else this.q.addHistory.run(now, nsId, artifactPath);
      this.q.touchNamespace.run(now, nsId);
      return { decision: 'stored' as const, current: becomesCurrent, change: { kind: 'body' as const, project_uuid: ns.project_uuid, namespace_id: nsId, artifact_path: artifactPath } };
    })();
    this.counters.artifact_count += added;
    return result;
  }

  /** The stored text of a version, or null if this receiver never stored it. */
  readBody(hash: string): string | null {
    if (!/^[0-9a-f]{64}$/.test(hash)) return null;
    const body = this.q.blob.get(hash);
    return typeof body === 'string' ? body : null;
  }

  /** Every artifact with a stored body and its versions (the /__artifacts debug listing). */
  list(): ArtifactRecord[] {
    const rows = this.db
      .prepare(
        `SELECT a.namespace_id, a.artifact_path, a.content_hash, a.version_seq, i.content_hash AS index_hash,
                n.project_uuid, n.feature_slug, n.target_branch, n.mission_key, n.manifest_version
         FROM artifacts a
         JOIN namespaces n ON n.id = a.namespace_id
         LEFT JOIN index_entries i ON i.namespace_id = a.namespace_id AND i.artifact_path = a.artifact_path
         ORDER BY a.namespace_id, a.artifact_path`,
      )
      .all() as (NamespaceRow & { namespace_id: number; artifact_path: string; content_hash: string; version_seq: number; index_hash: string | null })[];
    const versions = this.db.prepare('SELECT namespace_id, artifact_path, content_hash, size_bytes, received_ms, seq FROM versions ORDER BY seq').all() as {
      namespace_id: number;
      artifact_path: string;
      content_hash: string;
      size_bytes: number;
      received_ms: number;
      seq: number;
    }[];
    const byKey = new Map<string, ArtifactRecord>();
    const currentSeq = new Map<string, number>();
    for (const r of rows) {
      const key = `${r.namespace_id}\u0000${r.artifact_path}`;
      byKey.set(key, { namespace: nsOf(r), artifact_path: r.artifact_path, latest_hash: r.content_hash, index_hash: r.index_hash, versions: [] });
      currentSeq.set(key, Number(r.version_seq));
    }
    for (const v of versions) {
      const key = `${v.namespace_id}\u0000${v.artifact_path}`;
      byKey.get(key)?.versions.push(versionOf(v, currentSeq.get(key)));
    }
    return [...byKey.values()];
  }

  get(ns: NamespaceRef, artifactPath: string): ArtifactRecord | null {
    const id = this.namespaceId(ns);
    if (id === null) return null;
    const a = this.db
      .prepare(
        `SELECT a.content_hash, a.version_seq, i.content_hash AS index_hash FROM artifacts a
         LEFT JOIN index_entries i ON i.namespace_id = a.namespace_id AND i.artifact_path = a.artifact_path
         WHERE a.namespace_id = ? AND a.artifact_path = ?`,
      )
      .get(id, artifactPath) as { content_hash: string; version_seq: number; index_hash: string | null } | undefined;
    if (!a) return null;
    return {
      namespace: { ...ns },
      artifact_path: artifactPath,
      latest_hash: a.content_hash,
      index_hash: a.index_hash,
      versions: this.versions(id, artifactPath).map((v) => versionOf(v, Number(a.version_seq))),
    };
  }

  /** The versions of one artifact, in arrival order. */
  versions(namespaceId: number, artifactPath: string): { content_hash: string; size_bytes: number; received_ms: number; seq: number }[] {
    return this.db.prepare('SELECT content_hash, size_bytes, received_ms, seq FROM versions WHERE namespace_id = ? AND artifact_path = ? ORDER BY seq').all(namespaceId, artifactPath) as {
      content_hash: string;
      size_bytes: number;
      received_ms: number;
      seq: number;
    }[];
  }
}

function positionOf(row: { node_id: string; lamport_clock: number; event_seq: number }): Position {
  return { node_id: row.node_id, lamport: Number(row.lamport_clock), seq: Number(row.event_seq) };
}

function nsOf(r: NamespaceRef): NamespaceRef {
  return { project_uuid: r.project_uuid, feature_slug: r.feature_slug, target_branch: r.target_branch, mission_key: r.mission_key, manifest_version: r.manifest_version };
}

function versionOf(v: { content_hash: string; size_bytes: number; received_ms: number; seq: number }, currentSeq: number | undefined): ArtifactVersion {
  return { content_hash: v.content_hash, size_bytes: Number(v.size_bytes), received_at: new Date(Number(v.received_ms)).toISOString(), seq: Number(v.seq), current: Number(v.seq) === currentSeq };
}
