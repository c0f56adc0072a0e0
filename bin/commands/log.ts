// `kitty-sync log`: recent outcomes from the log in the state directory.
import type { CommandModule } from 'yargs';
import { readOutcomes } from '../../lib/run/outcome-log.js';
import { formatOutcome } from '../../lib/run/report.js';
import { loadContext, repoOption } from '../context.js';
import { fail, printJson, UsageError } from '../output.js';
import { parseWholeNumber } from '../usage.js';

/** More than the log ever holds (~2 MiB, rotated): a larger limit is surely a mistake. */
const MAX_LIMIT = 100_000;

interface Args {
  limit: string;
  repo?: string;
  json: boolean;
}

const command: CommandModule<object, Args> = {
  command: 'log',
  describe: 'show recent outcomes',
  builder: (y) =>
    y.option('limit', { type: 'string', default: '50', describe: `how many entries (1-${MAX_LIMIT})` }).option('repo', repoOption) as never,
  handler: async (args) => {
    try {
      const limit = parseWholeNumber(args.limit, 1, MAX_LIMIT);
      if ('problem' in limit) throw new UsageError(`--limit: ${limit.problem}`);
      const { settings } = await loadContext(args.repo);
      const entries = readOutcomes(settings.stateDir, limit.value);
      if (args.json) {
        printJson({ entries });
        return;
      }
      if (entries.length === 0) process.stdout.write('no outcomes logged yet\n');
      for (const e of entries) process.stdout.write(`${e.at} ${e.source.padEnd(11)} ${formatOutcome(e).replace(/^kitty-sync:\s+/, '')}\n`);
    } catch (err) {
      fail(err);
    }
  },
};
export default command;
