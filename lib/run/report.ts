// Human-readable summaries of outcomes (SPEC §4): one line per feature plus one per
// failed/skipped artifact (every artifact with --verbose).
import { displayPath } from '../collect/git-paths.js';
import type { OutcomeStatus, UploadOutcome } from '../types.js';

export const STATUSES: readonly OutcomeStatus[] = ['uploaded', 'already_exists', 'queued', 'skipped', 'failed'];

export type StatusCounts = Record<OutcomeStatus, number>;

export function countStatuses(outcomes: UploadOutcome[]): StatusCounts {
  const counts: StatusCounts = { uploaded: 0, already_exists: 0, queued: 0, skipped: 0, failed: 0 };
  for (const o of outcomes) counts[o.status] += 1;
  return counts;
}

export function groupByFeature(outcomes: UploadOutcome[]): Map<string, UploadOutcome[]> {
  const groups = new Map<string, UploadOutcome[]>();
  for (const o of outcomes) {
    const list = groups.get(o.feature_slug);
    if (list) list.push(o);
    else groups.set(o.feature_slug, [o]);
  }
  return groups;
}

export function formatCounts(counts: StatusCounts): string {
  return STATUSES.map((s) => `${counts[s]} ${s}`).join(', ');
}

export function formatOutcome(o: UploadOutcome): string {
  const where = o.artifact_path === '' ? `${o.feature_slug}/` : `${o.feature_slug}/${o.artifact_path}`;
  const why = [o.reason, o.detail].filter((x) => x !== null && x !== undefined && x !== '').join(': ');
  return displayPath(`kitty-sync:   ${o.status} ${where}${why ? ` (${why})` : ''}`);
}

/** The lines a hook or command prints to stderr for a run's outcomes. */
export function summaryLines(outcomes: UploadOutcome[], verbose = false): string[] {
  const lines: string[] = [];
  for (const [feature, list] of groupByFeature(outcomes)) {
    lines.push(displayPath(`kitty-sync: ${feature}: ${formatCounts(countStatuses(list))}`));
    for (const o of list) {
      if (verbose || o.status === 'failed' || o.status === 'skipped') lines.push(formatOutcome(o));
    }
  }
  return lines;
}

/** The outcome fields of the `--json` contract (SPEC §7), without internal details. */
export function publicOutcome(o: UploadOutcome): Pick<UploadOutcome, 'feature_slug' | 'artifact_path' | 'content_hash' | 'status' | 'reason'> {
  return { feature_slug: o.feature_slug, artifact_path: o.artifact_path, content_hash: o.content_hash, status: o.status, reason: o.reason };
}
