// `kitty-sync failed`: the dead-letter list.
import { readQueue } from '../../lib/queue/queue.js';
import { defineCommand } from '../command.js';
import { loadContext, notice, repoOption } from '../context.js';
import { printJson } from '../output.js';

export default defineCommand({
  command: 'failed',
  describe: 'list permanently failed uploads (the dead-letter list)',
  options: (y) => y.option('repo', repoOption),
  run: async (args) => {
    const { settings } = await loadContext(args.repo);
    const dead = await readQueue({ stateDir: settings.stateDir, onNotice: notice }, (q) => q.deadLetters());
    if (args.json) {
      printJson({ failed: dead });
      return;
    }
    if (dead.length === 0) {
      process.stdout.write('no failed uploads\n');
      return;
    }
    for (const d of dead) {
      const ns = d.namespace ? ` [${d.namespace.target_branch}]` : '';
      process.stdout.write(`${d.id}  ${d.kind}  ${d.feature_slug}/${d.artifact_path}${ns}  ${new Date(d.failed_at).toISOString()}  ${d.reason}\n`);
    }
    process.stdout.write(`${dead.length} failed; \`kitty-sync retry ID…\` or \`kitty-sync retry --all\` puts them back in the queue\n`);
  },
});
