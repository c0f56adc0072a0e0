// `kitty-sync drain [--force] [--budget DURATION]`: replay the queue.
import type { CommandModule } from 'yargs';
import { parseDuration, runPolicy } from '../../lib/config.js';
import { drain } from '../../lib/drain.js';
import { makeTransport } from '../../lib/transport-factory.js';
import { appendOutcomes } from '../../lib/outcome-log.js';
import { publicOutcome, summaryLines } from '../../lib/report.js';
import { loadContext, notice, repoOption } from '../context.js';
import { EXIT, fail, printJson, UsageError } from '../output.js';
import { progressBar } from '../progress.js';

interface Args {
  force: boolean;
  budget?: string;
  repo?: string;
  json: boolean;
  verbose: boolean;
}

const command: CommandModule<object, Args> = {
  command: 'drain',
  describe: 'replay the queue to the server (exit 0: nothing left pending; 75: work remains queued)',
  builder: (y) =>
    y
      .option('force', { type: 'boolean', default: false, describe: 'ignore backoff times' })
      .option('budget', { type: 'string', describe: 'stop after this long, e.g. 5s, 500ms (default: until nothing is ready)' })
      .option('repo', repoOption) as never,
  handler: async (args) => {
    try {
      let budgetMs: number | null = null;
      if (args.budget !== undefined) {
        try {
          budgetMs = parseDuration(args.budget);
        } catch (err) {
          throw new UsageError(`--budget: ${(err as Error).message}`);
        }
      }
      const { settings, repo } = await loadContext(args.repo);
      const { transport, problem } = await makeTransport(settings);
      if (problem) throw new UsageError(problem);
      const progress = await progressBar(!args.json, 'draining');
      const report = await drain({
        ...runPolicy(settings),
        transport,
        budgetMs,
        force: args.force,
        repoDir: repo.paths.root,
        onNotice: notice,
        onProgress: (d, t) => progress.update(d, t),
      });
      progress.stop();
      transport?.close();
      const logProblem = appendOutcomes(settings.stateDir, 'drain', report.outcomes);
      if (logProblem) notice(logProblem);
      const left = report.stats.pending + report.stats.events_pending;
      if (args.json) {
        printJson({ stop: report.stop, message: report.message, outcomes: report.outcomes.map(publicOutcome), events: report.events, ...report.stats });
      } else {
        for (const line of summaryLines(report.outcomes, args.verbose)) process.stderr.write(`${line}\n`);
        if (report.stop === 'no_server') notice('no server configured (set KITTY_SYNC_SERVER_URL or sync.server_url); nothing was sent');
        if (report.stop === 'busy') notice('another kitty-sync process is draining; try again shortly');
        if (report.message) notice(report.message);
        process.stdout.write(
          `drained: ${report.outcomes.length} attempted; queue: ${report.stats.pending} pending (${report.stats.ready} ready, ${report.stats.backoff} in backoff), ${report.stats.events_pending} index events pending, ${report.stats.failed} failed\n`,
        );
      }
      process.exitCode = left === 0 ? EXIT.ok : EXIT.pending;
    } catch (err) {
      fail(err);
    }
  },
};
export default command;

