// `kitty-sync sync`'s collection and its dry-run report: what each file of the named features would
// get at a revision, as a table or as JSON. Nothing is queued or sent.
import { UserError } from '../errors.js';
import { collectArtifacts, type CollectResult } from '../collect/artifacts.js';
import type { Repo } from '../collect/git.js';
import { displayPath } from '../collect/git-paths.js';
import type { NamespaceRef, UploadOutcome } from '../types.js';

/** The features to sync: those named, or every one. */
export interface SyncSelection {
  features: string[];
  all: boolean;
  rev: string;
}

/** One row of the dry-run report (SPEC §7 outcome shape plus size). */
export interface DryRunOutcome {
  feature_slug: string;
  artifact_path: string;
  content_hash: string | null;
  size_bytes: number | null;
  status: UploadOutcome['status'];
  reason: string | null;
  /** 047's indexer facts (null for a file that is not in the tree, or a feature skipped whole). */
  artifact_key: string | null;
  artifact_class: string | null;
  required_status: 'required' | 'optional' | null;
  /** Whether a MissionDossierArtifactIndexed event is sent for it. */
  indexed: boolean;
  detail?: string;
}

export interface DryRunReport {
  rev: string;
  namespaces: Record<string, NamespaceRef>;
  outcomes: DryRunOutcome[];
}

/** The collection `sync` works from (with or without --dry-run): a usage error when it names nothing there. */
export async function collectForSync(args: SyncSelection, repo: Repo): Promise<CollectResult> {
  // An unknown revision is an UnknownRevisionError: a UserError, exit 2.
  const result = await collectArtifacts(repo, { rev: args.rev, features: args.all ? 'all' : args.features });
  if (result.projectUuid === null) throw new UserError(result.problems.join('\n') || 'no project uuid; run `kitty-sync install`');
  if (result.missingFeatures.length > 0) {
    throw new UserError(`no such feature at ${result.rev.slice(0, 12)}: ${result.missingFeatures.map((f) => `kitty-specs/${f}`).join(', ')}`);
  }
  return result;
}

/** `sync --dry-run`: the report of what each file of the selection would get. */
export async function dryRun(args: SyncSelection, repo: Repo): Promise<DryRunReport> {
  return dryRunReport(await collectForSync(args, repo));
}

export function dryRunReport(result: CollectResult): DryRunReport {
  const facts = new Map(result.files.map((f) => [`${f.feature_slug}\u0000${f.artifact_path}`, f]));
  const indexFacts = (feature: string, artifactPath: string) => {
    const f = facts.get(`${feature}\u0000${artifactPath}`);
    return { artifact_key: f?.artifact_key ?? null, artifact_class: f?.artifact_class ?? null, required_status: f?.required_status ?? null, indexed: f?.indexed ?? false };
  };
  const outcomes: DryRunOutcome[] = [
    ...result.eligible.map((a) => ({
      feature_slug: a.namespace.feature_slug,
      artifact_path: a.artifact_path,
      content_hash: a.content_hash,
      size_bytes: a.size_bytes,
      status: 'queued' as const,
      reason: 'dry_run',
      ...indexFacts(a.namespace.feature_slug, a.artifact_path),
    })),
    ...result.skipped.map((s) => ({
      feature_slug: s.feature_slug,
      artifact_path: s.artifact_path,
      content_hash: s.content_hash,
      size_bytes: s.size_bytes ?? null,
      status: s.status,
      reason: s.reason,
      ...indexFacts(s.feature_slug, s.artifact_path),
      ...(s.detail ? { detail: s.detail } : {}),
    })),
  ];
  outcomes.sort((a, b) => cmp(a.feature_slug, b.feature_slug) || cmp(a.artifact_path, b.artifact_path));
  return { rev: result.rev, namespaces: result.namespaces, outcomes };
}

/** A compact table per feature, then one total line. */
export function formatDryRunText(report: DryRunReport, verbose = false): string {
  const lines: string[] = [`dry run at ${report.rev.slice(0, 12)}: nothing is queued or sent`];
  const features = [...new Set(report.outcomes.map((o) => o.feature_slug))];
  let queued = 0;
  let skipped = 0;
  for (const feature of features) {
    const rows = report.outcomes.filter((o) => o.feature_slug === feature);
    const ns = report.namespaces[feature];
    lines.push('');
    lines.push(ns ? `${feature}  (branch ${ns.target_branch}, mission ${ns.mission_key}, manifest ${ns.manifest_version})` : feature);
    for (const o of rows) {
      if (o.status === 'queued') queued++;
      else skipped++;
      const status = o.status === 'queued' ? 'would queue' : `skip ${o.reason}`;
      const size = o.size_bytes === null ? '' : String(o.size_bytes);
      const hash = o.content_hash ? o.content_hash.slice(0, 12) : '-';
      const name = o.artifact_path === '' ? '(whole directory)' : o.artifact_path;
      lines.push(`  ${status.padEnd(28)} ${size.padStart(7)}  ${hash.padEnd(12)}  ${name}`);
      if (o.detail && (verbose || o.artifact_path === '')) lines.push(`      ${o.detail}`);
    }
  }
  lines.push('');
  lines.push(`${features.length} feature(s): ${queued} would be queued, ${skipped} skipped`);
  // Names that are not valid UTF-8 carry their bytes as lone surrogates: shown as \xHH.
  return `${displayPath(lines.join('\n'))}\n`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
