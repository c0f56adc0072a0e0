// What identifies an artifact on the wire (SPEC §2, §3): the namespace tuple and the artifact
// path, their validation and stable keys. Rules as 047 applies them: any canonical UUID, any
// non-hidden feature directory name. Shared by the client and server/.
import { MAX_ARTIFACT_PATH_CHARS } from './limits.js';
import { NAMESPACE_FIELDS, type NamespaceRef } from './wire.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const NIL_OR_MAX_RE = /^(0{8}-0{4}-0{4}-0{4}-0{12}|f{8}-f{4}-f{4}-f{4}-f{12})$/i;

/** Any canonical (8-4-4-4-12 hex) UUID, whatever its version: the client takes every one as a project uuid, as 047 does. */
export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

/**
 * A canonical 8-4-4-4-12 hex UUID of any version (047 accepts any), except the nil and max UUIDs:
 * placeholders, which would merge every project that carries one into one. What the server accepts.
 */
export function isCanonicalUuid(value: unknown): value is string {
  return typeof value === 'string' && isUuid(value) && !NIL_OR_MAX_RE.test(value);
}

/** Why a feature slug cannot be a directory name under kitty-specs/, or null. */
export function featureSlugProblem(value: string): string | null {
  if (value.startsWith('.')) return 'starts with "." (hidden directories are never features)';
  if (/[/\\\u0000]/.test(value)) return 'contains "/", "\\" or NUL (must be one directory name)';
  if (value.length > 255) return 'is longer than 255 characters';
  return null;
}

/** Every problem with a namespace, as human sentences; empty when valid. */
export function namespaceProblems(ns: Partial<Record<keyof NamespaceRef, unknown>>): string[] {
  const problems: string[] = [];
  for (const field of NAMESPACE_FIELDS) {
    const value = ns[field];
    if (typeof value !== 'string' || value.trim() === '') problems.push(`${field} is missing or empty`);
  }
  if (typeof ns.project_uuid === 'string' && ns.project_uuid !== '' && !isCanonicalUuid(ns.project_uuid)) {
    problems.push(`project_uuid ${JSON.stringify(ns.project_uuid)} is not a canonical UUID`);
  }
  if (typeof ns.feature_slug === 'string' && ns.feature_slug !== '') {
    const p = featureSlugProblem(ns.feature_slug);
    if (p) problems.push(`feature_slug ${JSON.stringify(ns.feature_slug)} ${p}`);
  }
  return problems;
}

/** Why an artifact path is unacceptable, or null (relative to the feature, '/' separated). */
export function artifactPathProblem(p: unknown): string | null {
  if (typeof p !== 'string' || p === '') return 'artifact_path is missing or empty';
  if (p.startsWith('/')) return 'artifact_path must be relative (no leading "/")';
  if (p.includes('\\')) return 'artifact_path must use "/" separators (no backslash)';
  if (p.includes('\u0000')) return 'artifact_path must not contain NUL';
  const segments = p.split('/');
  if (segments.includes('..')) return 'artifact_path must not contain ".." segments';
  if (segments.some((s) => s === '' || s === '.')) return 'artifact_path must not contain empty or "." segments';
  if (p.length > MAX_ARTIFACT_PATH_CHARS) return `artifact_path is longer than ${MAX_ARTIFACT_PATH_CHARS} characters`;
  return null;
}

/**
 * A stable, unambiguous key for a namespace: the fields joined by NUL, which cannot
 * occur in any of them (branches may contain '/', so '/' would be ambiguous).
 */
export function namespaceKey(ns: NamespaceRef): string {
  // Spelled out rather than mapped over NAMESPACE_FIELDS: asked per artifact, per event and per row.
  return `${ns.project_uuid}\u0000${ns.feature_slug}\u0000${ns.target_branch}\u0000${ns.mission_key}\u0000${ns.manifest_version}`;
}

/** Key of one artifact within its namespace: versions of it supersede each other. */
export function artifactKey(ns: NamespaceRef, artifactPath: string): string {
  return `${namespaceKey(ns)}\u0000${artifactPath}`;
}

/** Only the five namespace fields of a larger object. */
export function pickNamespace(source: NamespaceRef): NamespaceRef {
  return {
    project_uuid: source.project_uuid,
    feature_slug: source.feature_slug,
    target_branch: source.target_branch,
    mission_key: source.mission_key,
    manifest_version: source.manifest_version,
  };
}
