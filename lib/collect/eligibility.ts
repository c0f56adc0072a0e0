// Which committed files are indexed and uploaded (SPEC §3, and 047's rules 1-6 in
// ../shared/conformance/047/README.md): the surfaces, then the checks in 047's order.
import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';
import type { ArtifactCandidate, SkipReason } from '../types.js';
import { MAX_BODY_BYTES } from '../contract/limits.js';

export const ALLOWED_EXTENSIONS: readonly string[] = ['.md', '.json', '.yaml', '.yml', '.csv'];

const TOP_LEVEL_SURFACES: ReadonlySet<string> = new Set(['spec.md', 'plan.md', 'tasks.md', 'research.md', 'quickstart.md', 'data-model.md']);
const RECURSIVE_SURFACES = ['research/', 'contracts/', 'checklists/'];
/** Work-package prompts, as 047: case-sensitive, and `.*` crosses folders (`tasks/WP03-x/review-cycle-1.md`). */
const WP_PROMPT_RE = /^tasks\/WP\d+.*\.md$/s;

/**
 * A path with any part starting with `.` is never scanned (no event, no outcome), as in 047. A part
 * starts with `.` exactly when the path does or `/.` occurs in it; asked of every file of a backfill,
 * where splitting each path into an array cost ~4 µs a call in a cold process (6 ms for the corpus).
 */
export function isHiddenPath(artifactPath: string): boolean {
  return artifactPath.startsWith('.') || artifactPath.includes('/.');
}

/** True when `artifactPath` (relative to the feature directory) is a document surface the dashboard shows. */
export function surfaceOf(artifactPath: string): boolean {
  if (TOP_LEVEL_SURFACES.has(artifactPath)) return true;
  if (RECURSIVE_SURFACES.some((dir) => artifactPath.startsWith(dir) && artifactPath.length > dir.length)) return true;
  return WP_PROMPT_RE.test(artifactPath);
}

/** The lower-cased last suffix is an allowed one (Python's `Path.suffix`: a leading-dot name has none). */
export function hasAllowedExtension(artifactPath: string): boolean {
  const base = artifactPath.slice(artifactPath.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0 || dot === base.length - 1) return false;
  return ALLOWED_EXTENSIONS.includes(base.slice(dot).toLowerCase());
}

function pathCheck(p: string): SkipReason | null {
  if (!surfaceOf(p)) return 'unsupported_surface';
  if (!hasAllowedExtension(p)) return 'unsupported_format';
  return null;
}

/**
 * The body verdict for one file: null when eligible, else the first failing check. A file that is
 * absent at the commit, or not a regular file, is judged by its path first. Present blobs follow
 * 047's order: text (strict UTF-8), surface, format, size; then kitty-sync's own NUL check.
 */
export function checkEligibility(candidate: ArtifactCandidate, bytes: Buffer | null): SkipReason | null {
  const p = candidate.artifact_path;
  if (candidate.kind === 'missing') return pathCheck(p) ?? 'deleted';
  if (candidate.kind !== 'blob') return pathCheck(p) ?? 'not_regular_file';
  if (bytes !== null && !isStrictUtf8(bytes)) return 'not_valid_utf8';
  const early = pathCheck(p);
  if (early) return early;
  const size = bytes ? bytes.length : candidate.size_bytes;
  if (size > MAX_BODY_BYTES) return 'oversized';
  if (bytes !== null && bytes.includes(0)) return 'binary';
  return null;
}

/** 047 indexes a file (emits its Indexed event) when it is present as text; kitty-sync also needs a regular file. */
export function isIndexable(candidate: ArtifactCandidate, bytes: Buffer | null): boolean {
  return candidate.kind === 'blob' && bytes !== null && isStrictUtf8(bytes);
}

/** One-shot crypto.hash (Node ≥ 20.12): a fraction of createHash's cost per call, and every body and key is hashed. */
export function sha256Hex(buf: Buffer | Uint8Array | string): string {
  return hash('sha256', buf, 'hex');
}

/**
 * Strict UTF-8 as a fatal TextDecoder (WHATWG) judges it: no overlongs, surrogates or code points
 * past U+10FFFF. buffer.isUtf8 validates in place; decoding would build a string per file only to
 * drop it (twice per file: eligibility and indexing), a visible share of a backfill's CPU and GC.
 */
export function isStrictUtf8(buf: Uint8Array): boolean {
  return isUtf8(buf);
}
