// `kitty-sync install [--repo DIR]`: install the hooks and write the project uuid if missing.
import path from 'node:path';
import type { Change } from '../../lib/setup/install.js';
import { defineCommand } from '../command.js';
import { printJson } from '../output.js';

export default defineCommand({
  command: 'install',
  describe: 'install the post-commit and pre-push hooks in a repository (idempotent)',
  options: (y) => y.option('repo', { type: 'string', describe: 'the repository (default: the current directory)' }),
  run: async (args) => {
    // Loaded when this command runs: other commands' start-up never pays for setup's modules.
    const { install } = await import('../../lib/setup/install.js');
    const result = await install({ repo: args.repo });
    if (args.json) {
      printJson(result);
      return;
    }
    const root = result.layout.root;
    const say = (line: string) => process.stdout.write(`${line}\n`);
    if (result.alreadyInstalled) say(`kitty-sync: already installed in ${root}`);
    else for (const c of result.changes) if (c.kind !== 'unchanged') say(`kitty-sync: ${describe(c, root)}`);
    const uuid = result.projectUuid;
    if (uuid?.written) {
      say(`kitty-sync: wrote project uuid ${uuid.uuid} to ${rel(root, uuid.file)} — commit it so the team shares it`);
    } else if (uuid && !uuid.valid) {
      process.stderr.write(`kitty-sync: warning: ${rel(root, uuid.file)}: project.uuid ${JSON.stringify(uuid.uuid)} is not a UUID v4; uploads will be refused until it is fixed\n`);
    }
    if (result.mode === 'husky' && result.changes.some((c) => c.what === 'husky script' && c.kind !== 'unchanged')) {
      say('kitty-sync: husky-managed repository: commit the .husky/ scripts so every clone and worktree runs kitty-sync');
    }
  },
});

function describe(c: Change, root: string): string {
  return `${c.kind} ${c.what}: ${rel(root, c.path)}`;
}

function rel(root: string, file: string): string {
  const r = path.relative(root, file);
  return r.startsWith('..') || path.isAbsolute(r) ? file : r;
}
