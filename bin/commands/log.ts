// `kitty-sync log`: recent outcomes from the log in the state directory.
import type { CommandModule } from 'yargs';
import { readOutcomes } from '../../lib/outcome-log.js';
import { formatOutcome } from '../../lib/report.js';
import { loadContext, repoOption } from '../context.js';
import { fail, printJson } from '../output.js';

interface Args {
  limit: number;
  repo?: string;
  json: boolean;
}

const command: CommandModule<object, Args> = {
  command: 'log',
  describe: 'show recent outcomes',
  builder: (y) =>
    y.option('limit', { type: 'number', default: 50, describe: 'how many entries' }).option('repo', repoOption) as never,
  handler: async (args) => {
    try {
      const { settings } = await loadContext(args.repo);
      const entries = readOutcomes(settings.stateDir, args.limit);
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
