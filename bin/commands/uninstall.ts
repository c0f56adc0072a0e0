// `kitty-sync uninstall [--repo DIR]`: remove exactly what install added (the queue stays).
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { uninstall, InstallError } from '../../lib/setup/install.js';
import { fail, printJson, UsageError } from '../output.js';

interface Args {
  repo?: string;
  json: boolean;
}

const command: CommandModule<object, Args> = {
  command: 'uninstall',
  describe: 'remove the hooks install added, restoring any hook that was there before',
  builder: (y) => y.option('repo', { type: 'string', describe: 'the repository (default: the current directory)' }) as never,
  handler: async (args) => {
    try {
      const result = await uninstall({ repo: args.repo }).catch((err: unknown) => {
        throw err instanceof InstallError ? new UsageError(err.message) : err;
      });
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
    } catch (err) {
      fail(err);
    }
  },
};
export default command;
