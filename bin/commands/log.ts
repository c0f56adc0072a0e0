// `kitty-sync log`: recent outcomes from the log in the state directory.
import { readOutcomes } from '../../lib/run/outcome-log.js';
import { formatOutcome } from '../../lib/run/report.js';
import { defineCommand } from '../command.js';
import { loadContext, repoOption } from '../context.js';
import { printJson } from '../output.js';
import { UserError } from '../../lib/errors.js';
import { parseWholeNumber } from '../usage.js';

/** More than the log ever holds (~2 MiB, rotated): a larger limit is surely a mistake. */
const MAX_LIMIT = 100_000;

export default defineCommand({
  command: 'log',
  describe: 'show recent outcomes',
  options: (y) => y.option('limit', { type: 'string', default: '50', describe: `how many entries (1-${MAX_LIMIT})` }).option('repo', repoOption),
  run: async (args) => {
    const limit = parseWholeNumber(args.limit, 1, MAX_LIMIT);
    if ('problem' in limit) throw new UserError(`--limit: ${limit.problem}`);
    const { settings } = await loadContext(args.repo);
    const entries = readOutcomes(settings.stateDir, limit.value);
    if (args.json) {
      printJson({ entries });
      return;
    }
    if (entries.length === 0) process.stdout.write('no outcomes logged yet\n');
    for (const e of entries) process.stdout.write(`${e.at} ${e.source.padEnd(11)} ${formatOutcome(e).replace(/^kitty-sync:\s+/, '')}\n`);
  },
});
