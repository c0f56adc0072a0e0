// `kitty-sync sync [FEATURE..] [--all] [--rev REV] [--dry-run]`: index whole features at a
// revision. Only argument parsing and printing live here; the work is in lib/run/ (sync.ts, dry-run.ts).
import { EXIT, UserError } from '../../lib/errors.js';
import { defineCommand } from '../command.js';
import { exitWhenFlushed, printJson } from '../output.js';
import { mark } from '../../lib/trace.js';
import type { SyncSelection } from '../../lib/run/dry-run.js';

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
    const [{ loadContext }, { dryRun, formatDryRunText }] = await Promise.all([import('../context.js'), import('../../lib/run/dry-run.js')]);
    const { repo } = await loadContext(argv.repo);
    const report = await dryRun(selection(argv), repo);
    if (argv.json) printJson(report);
    else process.stdout.write(formatDryRunText(report, argv.verbose));
    process.exitCode = EXIT.ok;
  },
});

/** Enqueue every eligible artifact (with its index event) in one locked save, then drain without a budget (lib/run/sync.ts). */
async function syncAndDrain(argv: SyncArgs): Promise<void> {
  const [{ loadContext, notice }, { syncFeatures }, report, { progressBar }] = await Promise.all([
    import('../context.js'),
    import('../../lib/run/sync.js'),
    import('../../lib/run/report.js'),
    import('../progress.js'),
  ]);
  mark('sync: modules loaded');
  checkFeatureArgs(argv);
  const { repo, settings } = await loadContext(argv.repo);
  const progress = await progressBar(!argv.json, 'uploading');
  const run = await syncFeatures({ repo, settings, selection: selection(argv), onNotice: notice, progress });
  if (run.busy) {
    notice(`another kitty-sync process${run.busy.holderPid ? ` (pid ${run.busy.holderPid})` : ''} holds the queue; this capture waits in the spool and is sent by the next hook or \`kitty-sync drain\``);
  }
  if (argv.json) {
    printJson({ rev: run.rev, namespaces: run.namespaces, outcomes: run.outcomes.map(report.publicOutcome), enqueue: run.enqueue, stop: run.drain.stop, message: run.drain.message, ...run.drain.stats });
  } else {
    for (const line of report.summaryLines(run.outcomes, argv.verbose)) process.stderr.write(`${line}\n`);
    if (run.drain.stop === 'no_server') notice('no server configured (set KITTY_SYNC_SERVER_URL or sync.server_url): the work is queued, not sent');
    if (run.drain.message) notice(run.drain.message);
  }
  process.exitCode = run.left === 0 ? EXIT.ok : EXIT.pending;
  mark('sync: reported');
  // Everything is sent, saved and released (the drain's locks, git's processes, the sockets).
  await exitWhenFlushed();
}

/** `--all` or named features, not both and not neither. */
function checkFeatureArgs(args: Pick<SyncArgs, 'features' | 'all'>): void {
  const named = (args.features ?? []).length;
  if (args.all && named > 0) throw new UserError('name features or use --all, not both');
  if (!args.all && named === 0) throw new UserError('name at least one feature (kitty-specs/<feature>) or use --all');
}

function selection(argv: SyncArgs): SyncSelection {
  return { features: (argv.features ?? []).map(String), all: argv.all, rev: argv.rev };
}
