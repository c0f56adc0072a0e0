// The dashboard's reads: projects → features (namespaces) → artifacts → versions, and search.
// Portable SQL over the store's tables (LOWER … LIKE … ESCAPE rather than SQLite's case folding).
import type Database from 'better-sqlite3';
import { SNAPSHOT_COMPUTED, type NamespaceRef } from '../../lib/contract/wire.js';

export interface ProjectRow {
  project_uuid: string;
  project_slug: string | null;
  team_slug: string | null;
  last_seen_ms: number;
  features: number;
}

export interface FeatureRow extends NamespaceRef {
  id: number;
  updated_ms: number;
  indexed: number;
  delivered: number;
  last_received_ms: number | null;
}

export interface ArtifactRow {
  artifact_path: string;
  artifact_key: string;
  artifact_class: string;
  required_status: string;
  index_hash: string;
  index_size: number;
  content_hash: string | null;
  size_bytes: number | null;
  version_count: number | null;
  last_received_ms: number | null;
}

export interface VersionRow {
  seq: number;
  content_hash: string;
  size_bytes: number;
  received_ms: number;
}

export interface SearchHit {
  namespace_id: number;
  feature_slug: string;
  target_branch: string;
  artifact_path: string;
  /** For a text hit: the line around the first match. */
  snippet: string | null;
}

const SEARCH_LIMIT = 100;

function likePattern(q: string): string {
  return `%${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** An indexed artifact with its current content (if any body arrived): the artifact list and page read the same row. */
const ARTIFACT_ROWS = `SELECT i.artifact_path, i.artifact_key, i.artifact_class, i.required_status, i.content_hash AS index_hash, i.size_bytes AS index_size,
                a.content_hash, b.size_bytes, a.version_count, a.last_received_ms
         FROM index_entries i
         LEFT JOIN artifacts a ON a.namespace_id = i.namespace_id AND a.artifact_path = i.artifact_path
         LEFT JOIN blobs b ON b.content_hash = a.content_hash
         WHERE i.namespace_id = ?`;

export class DashboardQueries {
  constructor(private readonly db: Database.Database) {}

  projects(): ProjectRow[] {
    return this.db
      .prepare(
        `SELECT p.project_uuid, p.project_slug, p.team_slug, p.last_seen_ms, COUNT(n.id) AS features
         FROM projects p LEFT JOIN namespaces n ON n.project_uuid = p.project_uuid
         GROUP BY p.project_uuid, p.project_slug, p.team_slug, p.last_seen_ms
         ORDER BY p.last_seen_ms DESC`,
      )
      .all() as ProjectRow[];
  }

  project(uuid: string): ProjectRow | null {
    return (
      (this.db
        .prepare(
          `SELECT p.project_uuid, p.project_slug, p.team_slug, p.last_seen_ms,
                  (SELECT COUNT(*) FROM namespaces n WHERE n.project_uuid = p.project_uuid) AS features
           FROM projects p WHERE p.project_uuid = ?`,
        )
        .get(uuid) as ProjectRow | undefined) ?? null
    );
  }

  features(projectUuid: string): FeatureRow[] {
    return this.db
      .prepare(
        `SELECT n.id, n.project_uuid, n.feature_slug, n.target_branch, n.mission_key, n.manifest_version, n.updated_ms,
                (SELECT COUNT(*) FROM index_entries i WHERE i.namespace_id = n.id) AS indexed,
                (SELECT COUNT(*) FROM artifacts a WHERE a.namespace_id = n.id) AS delivered,
                (SELECT MAX(a.last_received_ms) FROM artifacts a WHERE a.namespace_id = n.id) AS last_received_ms
         FROM namespaces n WHERE n.project_uuid = ?
         ORDER BY n.feature_slug, n.target_branch, n.mission_key, n.manifest_version`,
      )
      .all(projectUuid) as FeatureRow[];
  }

  feature(id: number): (FeatureRow & { project_slug: string | null }) | null {
    return (
      (this.db
        .prepare(
          `SELECT n.id, n.project_uuid, n.feature_slug, n.target_branch, n.mission_key, n.manifest_version, n.updated_ms, p.project_slug,
                  0 AS indexed, 0 AS delivered, NULL AS last_received_ms
           FROM namespaces n JOIN projects p ON p.project_uuid = n.project_uuid WHERE n.id = ?`,
        )
        .get(id) as (FeatureRow & { project_slug: string | null }) | undefined) ?? null
    );
  }

  artifacts(namespaceId: number): ArtifactRow[] {
    return this.db.prepare(`${ARTIFACT_ROWS} ORDER BY i.artifact_path`).all(namespaceId) as ArtifactRow[];
  }

  artifact(namespaceId: number, artifactPath: string): ArtifactRow | null {
    return (this.db.prepare(`${ARTIFACT_ROWS} AND i.artifact_path = ?`).get(namespaceId, artifactPath) as ArtifactRow | undefined) ?? null;
  }

  versions(namespaceId: number, artifactPath: string): VersionRow[] {
    return this.db.prepare('SELECT seq, content_hash, size_bytes, received_ms FROM versions WHERE namespace_id = ? AND artifact_path = ? ORDER BY seq DESC').all(namespaceId, artifactPath) as VersionRow[];
  }

  version(namespaceId: number, artifactPath: string, seq: number): (VersionRow & { body: string }) | null {
    return (
      (this.db
        .prepare(
          `SELECT v.seq, v.content_hash, v.size_bytes, v.received_ms, b.body FROM versions v JOIN blobs b ON b.content_hash = v.content_hash
           WHERE v.namespace_id = ? AND v.artifact_path = ? AND v.seq = ?`,
        )
        .get(namespaceId, artifactPath, seq) as (VersionRow & { body: string }) | undefined) ?? null
    );
  }

  body(hash: string): string | null {
    const row = this.db.prepare('SELECT body FROM blobs WHERE content_hash = ?').get(hash) as { body: string } | undefined;
    return row ? row.body : null;
  }

  /** The newest MissionDossierSnapshotComputed payload of a namespace, if any. */
  snapshot(namespaceId: number): { payload: Record<string, unknown>; received_ms: number } | null {
    const row = this.db.prepare('SELECT envelope, received_ms FROM events WHERE namespace_id = ? AND event_type = ? ORDER BY seq DESC LIMIT 1').get(namespaceId, SNAPSHOT_COMPUTED) as
      { envelope: string; received_ms: number } | undefined;
    if (!row) return null;
    const env = JSON.parse(row.envelope) as { payload?: Record<string, unknown> };
    return { payload: env.payload ?? {}, received_ms: Number(row.received_ms) };
  }

  /** Artifacts of a project whose path, or whose current text, contains `q` (case-insensitive). */
  search(projectUuid: string, q: string, where: 'path' | 'text'): SearchHit[] {
    const pattern = likePattern(q);
    if (where === 'path') {
      return (
        this.db
          .prepare(
            `SELECT n.id AS namespace_id, n.feature_slug, n.target_branch, i.artifact_path
             FROM index_entries i JOIN namespaces n ON n.id = i.namespace_id
             WHERE n.project_uuid = ? AND LOWER(i.artifact_path) LIKE ? ESCAPE '\\'
             ORDER BY n.feature_slug, n.target_branch, i.artifact_path LIMIT ${SEARCH_LIMIT}`,
          )
          .all(projectUuid, pattern) as Omit<SearchHit, 'snippet'>[]
      ).map((h) => ({ ...h, snippet: null }));
    }
    const rows = this.db
      .prepare(
        `SELECT n.id AS namespace_id, n.feature_slug, n.target_branch, a.artifact_path, b.body
         FROM artifacts a JOIN namespaces n ON n.id = a.namespace_id JOIN blobs b ON b.content_hash = a.content_hash
         WHERE n.project_uuid = ? AND LOWER(b.body) LIKE ? ESCAPE '\\'
         ORDER BY n.feature_slug, n.target_branch, a.artifact_path LIMIT ${SEARCH_LIMIT}`,
      )
      .all(projectUuid, pattern) as (Omit<SearchHit, 'snippet'> & { body: string })[];
    return rows.map(({ body, ...h }) => ({ ...h, snippet: snippetOf(body, q) }));
  }
}

function snippetOf(body: string, q: string): string {
  const at = body.toLowerCase().indexOf(q.toLowerCase());
  if (at < 0) return '';
  const start = body.lastIndexOf('\n', at) + 1;
  let end = body.indexOf('\n', at);
  if (end < 0) end = body.length;
  const line = body.slice(start, end);
  return line.length > 240 ? `${at - start > 100 ? '…' : ''}${line.slice(Math.max(0, at - start - 100), at - start + 140)}…` : line;
}
