// `kitty-sync drain [--force] [--budget DURATION]`: replay the queue (the work is in lib/run/replay.ts).
import { parseDuration } from '../../lib/config.js';
import { BUDGET_RANGE, clampSetting } from '../../lib/durations.js';
import { replayQueue } from '../../lib/run/replay.js';
import { publicOutcome, summaryLines } from '../../lib/run/report.js';
import { waitLine } from '../../lib/run/wait-report.js';
import { defineCommand } from '../command.js';
import { loadContext, notice, repoOption } from '../context.js';
import { printJson } from '../output.js';
import { EXIT, UserError } from '../../lib/errors.js';
import { progressBar } from '../progress.js';

export default defineCommand({
  command: 'drain',
  describe: 'replay the queue to the server (exit 0: nothing left pending; 75: work remains queued)',
  options: (y) =>
    y
      .option('force', { type: 'boolean', default: false, describe: 'ignore backoff times' })
      .option('verbose', { type: 'boolean', default: false, describe: "print every artifact's outcome (and an error's stack trace)" })
      .option('budget', { type: 'string', describe: 'stop after this long, e.g. 5s, 500ms (default: until nothing is ready)' })
      .option('repo', repoOption),
  run: async (args) => {
    let budgetMs: number | null = null;
    if (args.budget !== undefined) {
      try {
        budgetMs = parseDuration(args.budget);
      } catch (err) {
        throw new UserError(`--budget: ${(err as Error).message}`);
      }
      const clamped: string[] = [];
      budgetMs = clampSetting(budgetMs, BUDGET_RANGE, `--budget ${args.budget}`, clamped);
      for (const w of clamped) notice(`warning: ${w}`);
    }
    const { repo, settings } = await loadContext(args.repo);
    const progress = await progressBar(!args.json, 'draining');
    const report = await replayQueue({ repo, settings, budgetMs, force: args.force, onNotice: notice, progress });
    if (args.json) {
      printJson({ stop: report.stop, message: report.message, outcomes: report.outcomes.map(publicOutcome), events: report.events, ...report.stats });
    } else {
      for (const line of summaryLines(report.outcomes, args.verbose)) process.stderr.write(`${line}\n`);
      if (report.stop === 'no_server') notice('no server configured (set KITTY_SYNC_SERVER_URL or sync.server_url); nothing was sent');
      if (report.stop === 'busy') notice('another kitty-sync process is draining; try again shortly');
      if (report.message) notice(report.message);
      const wait = waitLine(report.stats);
      if (wait) notice(wait);
      process.stdout.write(
        `drained: ${report.outcomes.length} attempted; queue: ${report.stats.pending} pending (${report.stats.ready} ready, ${report.stats.backoff} in backoff), ${report.stats.events_pending} index events pending, ${report.stats.failed} failed\n`,
      );
    }
    process.exitCode = report.left === 0 ? EXIT.ok : EXIT.pending;
  },
});
