// Who an artifact belongs to (SPEC §2), read at the commit being synced — never from the
// working tree (a caller may hand over a work-tree copy only once it hashed to the committed blob):
// the project from .kittify/config.yaml, the feature's namespace from its meta.json, and the commit
// context copied into index events.
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CONFIG_FILE } from '../config.js';
import type { BlobReader } from './blobs.js';
import type { Repo } from './git.js';
import { builtinManifest, manifestVersion } from './manifest.js';
import type { Manifest } from './manifest.js';
import { isUuid } from '../contract/namespace.js';
import { firstLine } from '../errors.js';
import type { CommitContext, NamespaceRef, SkipReason } from '../types.js';

/** Where the feature documents live in the repository (read at the commit being synced, not from the work tree). */
export const SPECS_DIR = 'kitty-specs';
/** A feature's metadata file, relative to its directory. */
export const META_FILE = 'meta.json';
export const DEFAULT_MISSION = 'software-dev';

export interface ProjectIdentity {
  /** A canonical UUID (any version, as 047), or null (see `problem`). */
  uuid: string | null;
  /** `project.slug`, else `project.name`, when present. */
  slug: string | null;
  /** Why there is no usable uuid: names the file and tells the user what to do. */
  problem: string | null;
}

/**
 * Reads `project.uuid` (and slug/name) from .kittify/config.yaml at `rev`; `read` gives the file's
 * committed bytes when the caller can read them by blob id (default: `<rev>:<path>` through `blobs`).
 */
export async function projectIdentity(blobs: BlobReader, rev: string, read?: () => Promise<Buffer | null>): Promise<ProjectIdentity> {
  const where = `${CONFIG_FILE} at ${shortRev(rev)}`;
  const bytes = read ? await read() : await blobs.read(`${rev}:${CONFIG_FILE}`);
  const install = `run \`kitty-sync install\` and commit ${CONFIG_FILE}`;
  if (bytes === null) return { uuid: null, slug: null, problem: `no project uuid: ${where} does not exist; ${install}` };
  let doc: unknown;
  try {
    doc = parseYaml(bytes.toString('utf8'));
  } catch (err) {
    return { uuid: null, slug: null, problem: `${where}: invalid YAML (${firstLine(err)})` };
  }
  const project = isRecord(doc) && isRecord(doc.project) ? doc.project : null;
  const slug = project ? firstString(project.slug, project.name) : null;
  const uuid = project?.uuid;
  if (uuid === undefined || uuid === null || uuid === '') {
    return { uuid: null, slug, problem: `no project uuid: ${where} has no project.uuid; ${install}` };
  }
  if (typeof uuid !== 'string' || !isUuid(uuid.trim())) {
    return { uuid: null, slug, problem: `${where}: project.uuid ${JSON.stringify(uuid)} is not a UUID` };
  }
  return { uuid: uuid.trim(), slug, problem: null };
}

export interface FeatureNamespaceInput {
  blobs: BlobReader;
  /** Full commit id the feature is read at. */
  rev: string;
  /** The directory name under kitty-specs/ (this is the feature_slug, not meta.json's `slug`). */
  featureSlug: string;
  projectUuid: string;
  /**
   * `Repo.defaultTargetBranch()`, asked only when a meta.json names no target_branch (git
   * processes a hook need not start), and at most once per run by the caller.
   */
  defaultTargetBranch: () => Promise<string>;
  /** meta.json's committed bytes (null: none), when the caller can read them by blob id; default: `<rev>:<path>` through `blobs`. */
  readMeta?: () => Promise<Buffer | null>;
}

export type FeatureNamespaceResult =
  /** `manifest` is null for a mission 047 has no manifest for. */
  { ok: true; namespace: NamespaceRef; manifest: Manifest | null } | { ok: false; reason: Extract<SkipReason, 'invalid_feature_slug' | 'invalid_metadata'>; detail: string };

/**
 * The five namespace fields of one feature at `rev`. A missing meta.json means all
 * defaults; a malformed one skips the feature with a detail naming the file.
 */
export async function featureNamespace(input: FeatureNamespaceInput): Promise<FeatureNamespaceResult> {
  const { blobs, rev, featureSlug } = input;
  if (!isFeatureSlug(featureSlug)) {
    return {
      ok: false,
      reason: 'invalid_feature_slug',
      detail: `${SPECS_DIR}/${JSON.stringify(featureSlug)}: a directory name with control characters cannot name a feature; the whole directory is skipped`,
    };
  }
  const metaPath = `${SPECS_DIR}/${featureSlug}/${META_FILE}`;
  const where = `${metaPath} at ${shortRev(rev)}`;
  const invalid = (why: string): FeatureNamespaceResult => ({ ok: false, reason: 'invalid_metadata', detail: `${where}: ${why}; feature skipped` });

  let meta: Record<string, unknown> = {};
  const bytes = input.readMeta ? await input.readMeta() : await blobs.read(`${rev}:${metaPath}`);
  if (bytes !== null) {
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      return invalid(`invalid JSON (${firstLine(err)})`);
    }
    if (!isRecord(doc)) return invalid('not a JSON object');
    meta = doc;
  }

  const branch = optionalString(meta, 'target_branch');
  if (branch.error) return invalid(branch.error);
  let mission = optionalString(meta, 'mission_type');
  if (mission.error) return invalid(mission.error);
  if (mission.value === null) {
    mission = optionalString(meta, 'mission');
    if (mission.error) return invalid(mission.error);
  }
  const missionKey = mission.value ?? DEFAULT_MISSION;

  return {
    ok: true,
    manifest: builtinManifest(missionKey),
    namespace: {
      project_uuid: input.projectUuid,
      feature_slug: featureSlug,
      target_branch: branch.value ?? (await input.defaultTargetBranch()),
      mission_key: missionKey,
      manifest_version: manifestVersion(missionKey),
    },
  };
}

/**
 * Envelope fields of index events for artifacts taken from `rev`. `project` (e.g. from
 * CollectResult.projectSlug) saves reading .kittify/config.yaml at `rev` again. `remoteUrl`: origin's
 * URL as `repo.remoteUrl()` gives it, when the caller asked git for it early (a git process it need
 * not wait for after collecting).
 */
export async function commitContext(repo: Repo, rev: string, project: Pick<ProjectIdentity, 'slug'> | undefined, teamSlug: string, remoteUrl: Promise<string | null> = repo.remoteUrl()): Promise<CommitContext> {
  const [sha, branch, url] = await Promise.all([repo.revParse(rev), repo.headBranch(), remoteUrl]);
  if (sha === null) throw new Error(`${rev} does not name a commit in ${repo.paths.root}`);
  let slug = project?.slug ?? null;
  if (project === undefined) {
    const { BlobReader } = await import('./blobs.js');
    const blobs = new BlobReader(repo.paths.root);
    try {
      slug = (await projectIdentity(blobs, sha)).slug;
    } finally {
      await blobs.close();
    }
  }
  // As 047: the branch by `rev-parse --abbrev-ref HEAD` ('HEAD' when detached); repo_slug null without a parseable origin.
  return {
    team_slug: teamSlug,
    project_slug: slug ?? path.basename(repo.paths.root),
    repo_slug: url ? repoSlugFromUrl(url) : null,
    git_branch: branch ?? 'HEAD',
    head_commit_sha: sha,
  };
}

/** `owner/name` from a remote URL (https, ssh, scp-like, file paths); null when it has no two segments. */
export function repoSlugFromUrl(url: string): string | null {
  let p = url.trim();
  const scp = /^[^/@:]+@[^/:]+:(.*)$/.exec(p);
  if (scp) p = scp[1];
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) {
    try {
      p = new URL(p).pathname;
    } catch {
      /* keep as is */
    }
  }
  const parts = p
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .split(/[/\\]/)
    .filter((s) => s !== '' && s !== '.');
  if (parts.length < 2) return null;
  return `${parts[parts.length - 2]}/${parts[parts.length - 1]}`;
}

function optionalString(meta: Record<string, unknown>, key: string): { value: string | null; error?: string } {
  const v = meta[key];
  if (v === undefined || v === null) return { value: null };
  if (typeof v !== 'string') return { value: null, error: `${key} must be a string, not ${JSON.stringify(v)}` };
  const trimmed = v.trim();
  if (trimmed === '') return { value: null };
  // The namespace key joins fields with NUL; control characters never belong in a branch or mission.
  if (/[\u0000-\u001f]/.test(trimmed)) return { value: null, error: `${key} contains control characters` };
  return { value: trimmed };
}

function firstString(...values: unknown[]): string | null {
  for (const v of values) if (typeof v === 'string' && v.trim() !== '') return v.trim();
  return null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shortRev(rev: string): string {
  return /^[0-9a-f]{40,64}$/.test(rev) ? rev.slice(0, 12) : rev;
}

/**
 * A feature directory name as 047 takes it: any non-hidden directory under kitty-specs/ (today
 * `<slug>-<ULID>`, older `NNN-slug`). Control characters are refused: the namespace key joins
 * fields with NUL.
 */
export function isFeatureSlug(value: string): boolean {
  return value !== '' && !value.startsWith('.') && !value.includes('/') && !/[\u0000-\u001f]/.test(value);
}
