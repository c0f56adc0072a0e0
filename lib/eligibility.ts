// Which committed files are uploaded (SPEC §3): the surfaces, then the checks in order.
import { createHash } from 'node:crypto';
import type { ArtifactCandidate, SkipReason } from './types.js';

/** 512 KiB: a body of exactly this many bytes is still accepted. */
export const MAX_BODY_BYTES = 524_288;

export const ALLOWED_EXTENSIONS: readonly string[] = ['.md', '.json', '.yaml', '.yml', '.csv'];

const TOP_LEVEL_SURFACES: ReadonlySet<string> = new Set([
  'spec.md',
  'plan.md',
  'tasks.md',
  'research.md',
  'quickstart.md',
  'data-model.md',
]);
const RECURSIVE_SURFACES = ['research/', 'contracts/', 'checklists/'];
/** Work-package prompts: directly in tasks/, `WP<digit>…​.md` (the extension in any case, like the format check). */
const WP_PROMPT_RE = /^tasks\/WP\d[^/]*\.md$/i;
const WP_PREFIX_RE = /^tasks\/WP/;

/** True when `artifactPath` (relative to the feature directory) is a document surface the dashboard shows. */
export function surfaceOf(artifactPath: string): boolean {
  if (TOP_LEVEL_SURFACES.has(artifactPath)) return true;
  if (RECURSIVE_SURFACES.some((dir) => artifactPath.startsWith(dir) && artifactPath.length > dir.length)) return true;
  // 'WP' itself is case-sensitive (tasks/wp01.md is not a prompt); only the extension is not.
  return WP_PROMPT_RE.test(artifactPath) && WP_PREFIX_RE.test(artifactPath);
}

export function hasAllowedExtension(artifactPath: string): boolean {
  const base = artifactPath.slice(artifactPath.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  // A dot-file such as `.gitkeep` or `.md` has no extension.
  if (dot <= 0) return false;
  return ALLOWED_EXTENSIONS.includes(base.slice(dot).toLowerCase());
}

/**
 * The first failing check of SPEC §3, or null when the file is eligible. Path checks come
 * first; a candidate absent at the commit is then `deleted` (there is nothing else to check).
 * `bytes` may be null when they were not read (the size check runs on the tree's size first,
 * so oversized blobs never need reading).
 */
export function checkEligibility(candidate: ArtifactCandidate, bytes: Buffer | null): SkipReason | null {
  const p = candidate.artifact_path;
  if (!surfaceOf(p)) return 'unsupported_surface';
  if (!hasAllowedExtension(p)) return 'unsupported_format';
  if (candidate.kind === 'missing') return 'deleted';
  if (candidate.kind !== 'blob') return 'not_regular_file';
  const size = bytes ? bytes.length : candidate.size_bytes;
  if (size > MAX_BODY_BYTES) return 'oversized';
  if (bytes === null) return null;
  if (bytes.includes(0)) return 'binary';
  if (!isStrictUtf8(bytes)) return 'not_valid_utf8';
  return null;
}

/** Checks that need no bytes: what checkEligibility would say before reading the blob. */
export function checkBeforeRead(candidate: ArtifactCandidate): SkipReason | null {
  return checkEligibility(candidate, null);
}

export function sha256Hex(buf: Buffer | Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function isStrictUtf8(buf: Uint8Array): boolean {
  try {
    strictDecoder.decode(buf);
    return true;
  } catch {
    return false;
  }
}

/** The body as sent: the exact bytes decoded as UTF-8, a leading BOM kept (TextDecoder would drop it). */
export function decodeBody(buf: Buffer): string {
  return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf);
}
