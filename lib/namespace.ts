// The namespace tuple (SPEC §2): validation and a stable key.
import type { NamespaceRef } from './types.js';

/** Any canonical (8-4-4-4-12 hex) UUID, whatever its version: 047 accepts every one as a project uuid. */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const NAMESPACE_FIELDS = [
  'project_uuid',
  'feature_slug',
  'target_branch',
  'mission_key',
  'manifest_version',
] as const satisfies readonly (keyof NamespaceRef)[];

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

/**
 * A feature directory name as 047 takes it: any non-hidden directory under kitty-specs/ (today
 * `<slug>-<ULID>`, older `NNN-slug`). Control characters are refused: the namespace key joins
 * fields with NUL.
 */
export function isFeatureSlug(value: string): boolean {
  return value !== '' && !value.startsWith('.') && !value.includes('/') && !/[\u0000-\u001f]/.test(value);
}

/** Every problem with a namespace, as human sentences; empty when valid. */
export function namespaceProblems(ns: Partial<Record<keyof NamespaceRef, unknown>>): string[] {
  const problems: string[] = [];
  for (const field of NAMESPACE_FIELDS) {
    const value = ns[field];
    if (typeof value !== 'string' || value.trim() === '') problems.push(`${field} is missing or empty`);
  }
  if (typeof ns.project_uuid === 'string' && ns.project_uuid !== '' && !isUuid(ns.project_uuid)) {
    problems.push(`project_uuid ${JSON.stringify(ns.project_uuid)} is not a UUID`);
  }
  if (typeof ns.feature_slug === 'string' && ns.feature_slug !== '' && !isFeatureSlug(ns.feature_slug)) {
    problems.push(`feature_slug ${JSON.stringify(ns.feature_slug)} is not a feature directory name`);
  }
  return problems;
}

/**
 * A stable, unambiguous key for a namespace: the fields joined by NUL, which cannot
 * occur in any of them (branches may contain '/', so '/' would be ambiguous).
 */
export function namespaceKey(ns: NamespaceRef): string {
  return NAMESPACE_FIELDS.map((f) => ns[f]).join('\u0000');
}

/** Key of one artifact within its namespace: versions of it supersede each other. */
export function artifactKey(ns: NamespaceRef, artifactPath: string): string {
  return `${namespaceKey(ns)}\u0000${artifactPath}`;
}

export function pickNamespace(source: NamespaceRef): NamespaceRef {
  return {
    project_uuid: source.project_uuid,
    feature_slug: source.feature_slug,
    target_branch: source.target_branch,
    mission_key: source.mission_key,
    manifest_version: source.manifest_version,
  };
}
