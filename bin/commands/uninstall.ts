// `kitty-sync uninstall [--repo DIR]`: remove exactly what install added (the queue stays).
import path from 'node:path';
import { defineCommand } from '../command.js';
import { printJson } from '../output.js';

export default defineCommand({
  command: 'uninstall',
  describe: 'remove the hooks install added, restoring any hook that was there before',
  options: (y) => y.option('repo', { type: 'string', describe: 'the repository (default: the current directory)' }),
  run: async (args) => {
    const { uninstall } = await import('../../lib/setup/install.js');
    const result = await uninstall({ repo: args.repo });
    if (args.json) {
      printJson(result);
      return;
    }
    const root = result.layout.root;
    const say = (line: string) => process.stdout.write(`${line}\n`);
    if (result.notInstalled) say(`kitty-sync: not installed in ${root}; nothing to do`);
    for (const c of result.changes) {
      const r = path.relative(root, c.path);
      say(`kitty-sync: ${c.kind} ${c.what}: ${r.startsWith('..') ? c.path : r}`);
    }
  },
});
