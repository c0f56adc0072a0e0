// `kitty-sync retry [ID…|--all]`: put dead letters back in the queue.
import { withQueue } from '../../lib/queue/queue.js';
import { defineCommand } from '../command.js';
import { loadContext, notice, repoOption } from '../context.js';
import { printJson } from '../output.js';
import { UserError } from '../../lib/errors.js';

export default defineCommand({
  command: 'retry [ids..]',
  describe: 'put failed uploads back in the queue (then run `kitty-sync drain`)',
  options: (y) =>
    y
      .positional('ids', { type: 'string', array: true, default: [], describe: 'dead-letter ids from `kitty-sync failed`' })
      .option('all', { type: 'boolean', default: false, describe: 'every failed upload' })
      .option('repo', repoOption),
  run: async (args) => {
    if (!args.all && args.ids.length === 0) throw new UserError('name the ids to retry (see `kitty-sync failed`) or use --all');
    if (args.all && args.ids.length > 0) throw new UserError('give ids or --all, not both');
    const { settings } = await loadContext(args.repo);
    const r = await withQueue({ stateDir: settings.stateDir, capacity: settings.capacity, onNotice: notice }, (q) => q.retryDeadLetters(args.all ? 'all' : args.ids.map(String)));
    if (args.json) {
      printJson(r);
    } else {
      process.stdout.write(`requeued ${r.requeued}${r.superseded ? `, ${r.superseded} dropped (a newer version exists)` : ''}\n`);
      if (r.unknown.length) notice(`unknown id(s): ${r.unknown.join(', ')}`);
      if (r.requeued) process.stdout.write('run `kitty-sync drain` to send them now\n');
    }
    if (r.unknown.length) process.exitCode = 2;
  },
});
