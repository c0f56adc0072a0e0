// `kitty-sync sync [FEATURE..] [--all] [--rev REV] [--dry-run]`: index whole features at a
// revision. Only argument parsing and printing live here; the work is lib/artifacts.ts.
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { EXIT, UsageError, fail, printJson } from '../output.js';
// lib modules (simple-git, yaml) are imported when the command runs, so registering the
// command costs every other command nothing.
import type { CollectResult } from '../../lib/artifacts.js';
import type { Repo } from '../../lib/git.js';
import type { NamespaceRef, UploadOutcome } from '../../lib/types.js';

export interface SyncArgs {
  features: string[];
  all: boolean;
  rev: string;
  dryRun: boolean;
  repo?: string;
  json: boolean;
  verbose: boolean;
}

/** One row of the dry-run report (SPEC §7 outcome shape plus size). */
export interface DryRunOutcome {
  feature_slug: string;
  artifact_path: string;
  content_hash: string | null;
  size_bytes: number | null;
  status: UploadOutcome['status'];
  reason: string | null;
  detail?: string;
}

export interface DryRunReport {
  rev: string;
  namespaces: Record<string, NamespaceRef>;
  outcomes: DryRunOutcome[];
}

/** What `sync --dry-run` reports; exported so the enqueueing path can reuse the collection. */
export async function collectForSync(args: Pick<SyncArgs, 'features' | 'all' | 'rev'>, repo: Repo): Promise<CollectResult> {
  const { UnknownRevisionError, collectArtifacts } = await import('../../lib/artifacts.js');
  let result: CollectResult;
  try {
    result = await collectArtifacts(repo, { rev: args.rev, features: args.all ? 'all' : args.features });
  } catch (err) {
    if (err instanceof UnknownRevisionError) throw new UsageError(err.message);
    throw err;
  }
  if (result.projectUuid === null) throw new UsageError(result.problems.join('\n') || 'no project uuid; run `kitty-sync install`');
  if (result.missingFeatures.length > 0) {
    throw new UsageError(`no such feature at ${result.rev.slice(0, 12)}: ${result.missingFeatures.map((f) => `kitty-specs/${f}`).join(', ')}`);
  }
  return result;
}

export function dryRunReport(result: CollectResult): DryRunReport {
  const outcomes: DryRunOutcome[] = [
    ...result.eligible.map((a) => ({
      feature_slug: a.namespace.feature_slug,
      artifact_path: a.artifact_path,
      content_hash: a.content_hash,
      size_bytes: a.size_bytes,
      status: 'queued' as const,
      reason: 'dry_run',
    })),
    ...result.skipped.map((s) => ({
      feature_slug: s.feature_slug,
      artifact_path: s.artifact_path,
      content_hash: s.content_hash,
      size_bytes: s.size_bytes ?? null,
      status: s.status,
      reason: s.reason,
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
  return `${lines.join('\n')}\n`;
}

const command: CommandModule<object, SyncArgs> = {
  command: 'sync [features..]',
  describe: 'index whole feature(s) at a revision (first-time backfill); --dry-run reports only',
  builder: (y: Argv<object>) =>
    y
      .positional('features', { type: 'string', array: true, default: [] as string[], describe: 'feature directories under kitty-specs/' })
      .option('all', { type: 'boolean', default: false, describe: 'every feature under kitty-specs/' })
      .option('rev', { type: 'string', default: 'HEAD', describe: 'revision to read the committed files at' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'report what each file would get; change nothing' })
      .option('repo', { type: 'string', describe: 'repository directory (default: the current directory)' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
      .option('verbose', { type: 'boolean', default: false, describe: 'print details for every skipped file' }) as unknown as Argv<SyncArgs>,
  handler: async (argv: ArgumentsCamelCase<SyncArgs>) => {
    try {
      if (!argv.dryRun) {
        await syncAndDrain(argv);
        return;
      }
      checkFeatureArgs(argv);
      const { loadContext } = await import('../context.js');
      const { repo } = await loadContext(argv.repo);
      const result = await collectForSync({ features: (argv.features ?? []).map(String), all: argv.all, rev: argv.rev }, repo);
      const report = dryRunReport(result);
      if (argv.json) printJson(report);
      else process.stdout.write(formatDryRunText(report, argv.verbose));
      process.exitCode = EXIT.ok;
    } catch (err) {
      fail(err);
    }
  },
};
export default command;

/** Enqueue every eligible artifact (with its index event) in one locked save, then drain without a budget. */
async function syncAndDrain(argv: SyncArgs): Promise<void> {
  const [{ loadContext, notice }, { runPolicy }, { commitContext }, { runSync }, { makeTransport }, { appendOutcomes }, report, { progressBar }] = await Promise.all([
    import('../context.js'),
    import('../../lib/config.js'),
    import('../../lib/identity.js'),
    import('../../lib/pipeline.js'),
    import('../../lib/transport-factory.js'),
    import('../../lib/outcome-log.js'),
    import('../../lib/report.js'),
    import('../progress.js'),
  ]);
  checkFeatureArgs(argv);
  const { repo, settings } = await loadContext(argv.repo);
  const result = await collectForSync({ features: (argv.features ?? []).map(String), all: argv.all, rev: argv.rev }, repo);
  for (const p of result.problems) notice(p);
  const { transport, problem } = await makeTransport(settings);
  if (problem) notice(problem);
  const progress = await progressBar(!argv.json, 'uploading');
  const run = await runSync({
    ...runPolicy(settings),
    groups: [{ context: await commitContext(repo, result.rev, { slug: result.projectSlug }), eligible: result.eligible }],
    skipped: result.skipped,
    transport,
    budgetMs: null,
    onNotice: notice,
    onProgress: (d, t) => progress.update(d, t),
    repoDir: repo.paths.root,
  });
  progress.stop();
  transport?.close();
  if (run.busy) {
    notice(`another kitty-sync process${run.busy.holderPid ? ` (pid ${run.busy.holderPid})` : ''} holds the queue; this capture waits in the spool and is sent by the next hook or \`kitty-sync drain\``);
  }
  const logProblem = appendOutcomes(settings.stateDir, 'sync', run.outcomes);
  if (logProblem) notice(logProblem);
  if (argv.json) {
    printJson({ rev: result.rev, namespaces: result.namespaces, outcomes: run.outcomes.map(report.publicOutcome), enqueue: run.enqueue, stop: run.drain.stop, message: run.drain.message, ...run.drain.stats });
  } else {
    for (const line of report.summaryLines(run.outcomes, argv.verbose)) process.stderr.write(`${line}\n`);
    if (run.drain.stop === 'no_server') notice('no server configured (set KITTY_SYNC_SERVER_URL or sync.server_url): the work is queued, not sent');
    if (run.drain.message) notice(run.drain.message);
  }
  process.exitCode = run.drain.stats.pending + run.drain.stats.events_pending === 0 ? EXIT.ok : EXIT.pending;
}

/** `--all` or named features, not both and not neither. */
function checkFeatureArgs(args: Pick<SyncArgs, 'features' | 'all'>): void {
  const named = (args.features ?? []).length;
  if (args.all && named > 0) throw new UsageError('name features or use --all, not both');
  if (!args.all && named === 0) throw new UsageError('name at least one feature (kitty-specs/<feature>) or use --all');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
