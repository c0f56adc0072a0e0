// `kitty-sync sync [FEATURE..] [--all] [--rev REV] [--dry-run]`: index whole features at a
// revision. Only argument parsing and printing live here; the work is in lib/run/ (dry-run.ts, pipeline.ts).
import { EXIT, UserError } from '../../lib/errors.js';
import { defineCommand } from '../command.js';
import { printJson } from '../output.js';
import { mark } from '../../lib/trace.js';

interface SyncArgs {
  features: string[];
  all: boolean;
  rev: string;
  dryRun: boolean;
  repo?: string;
  json: boolean;
  verbose: boolean;
}

export default defineCommand({
  command: 'sync [features..]',
  describe: 'index whole feature(s) at a revision (first-time backfill); --dry-run reports only',
  options: (y) =>
    y
      .positional('features', { type: 'string', array: true, default: [] as string[], describe: 'feature directories under kitty-specs/' })
      .option('all', { type: 'boolean', default: false, describe: 'every feature under kitty-specs/' })
      .option('rev', { type: 'string', default: 'HEAD', describe: 'revision to read the committed files at' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'report what each file would get; change nothing' })
      .option('repo', { type: 'string', describe: 'repository directory (default: the current directory)' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
      .option('verbose', { type: 'boolean', default: false, describe: "print every artifact's outcome and the details of every skipped file (and an error's stack trace)" }),
  run: async (argv) => {
    if (!argv.dryRun) {
      await syncAndDrain(argv);
      return;
    }
    checkFeatureArgs(argv);
    // lib modules (simple-git, yaml) are imported when the command runs, so registering the
    // command costs every other command nothing.
    const [{ loadContext }, { collectForSync, dryRunReport, formatDryRunText }] = await Promise.all([import('../context.js'), import('../../lib/run/dry-run.js')]);
    const { repo } = await loadContext(argv.repo);
    const result = await collectForSync({ features: (argv.features ?? []).map(String), all: argv.all, rev: argv.rev }, repo);
    const report = dryRunReport(result);
    if (argv.json) printJson(report);
    else process.stdout.write(formatDryRunText(report, argv.verbose));
    process.exitCode = EXIT.ok;
  },
});

/** Enqueue every eligible artifact (with its index event) in one locked save, then drain without a budget. */
async function syncAndDrain(argv: SyncArgs): Promise<void> {
  const [{ loadContext, notice }, { runPolicy }, { commitContext }, { runSync }, { makeTransport }, { appendOutcomes }, report, { progressBar }, { collectForSync }] = await Promise.all([
    import('../context.js'),
    import('../../lib/config.js'),
    import('../../lib/collect/identity.js'),
    import('../../lib/run/pipeline.js'),
    import('../../lib/delivery/transport-factory.js'),
    import('../../lib/run/outcome-log.js'),
    import('../../lib/run/report.js'),
    import('../progress.js'),
    import('../../lib/run/dry-run.js'),
  ]);
  mark('sync: modules loaded');
  checkFeatureArgs(argv);
  const { repo, settings } = await loadContext(argv.repo);
  const result = await collectForSync({ features: (argv.features ?? []).map(String), all: argv.all, rev: argv.rev }, repo);
  mark(`sync: ${result.eligible.length} artifacts collected`);
  for (const p of result.problems) notice(p);
  const { transport, problem } = await makeTransport(settings, { cwd: repo.paths.root });
  if (problem) notice(problem);
  const progress = await progressBar(!argv.json, 'uploading');
  const run = await runSync({
    ...runPolicy(settings),
    groups: [{ context: await commitContext(repo, result.rev, { slug: result.projectSlug }, settings.teamSlug), eligible: result.eligible, indexes: result.indexes }],
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
  mark('sync: reported');
}

/** `--all` or named features, not both and not neither. */
function checkFeatureArgs(args: Pick<SyncArgs, 'features' | 'all'>): void {
  const named = (args.features ?? []).length;
  if (args.all && named > 0) throw new UserError('name features or use --all, not both');
  if (!args.all && named === 0) throw new UserError('name at least one feature (kitty-specs/<feature>) or use --all');
}
