// `kitty-sync doctor [--json]`: one line per check, ✓ or ✗ with the fix; exit 0 when everything
// delivery needs works, 1 otherwise.
import { defineCommand } from '../command.js';
import { loadContext, repoOption } from '../context.js';
import { printJson } from '../output.js';
import { EXIT } from '../../lib/errors.js';

const TITLES: Record<string, string> = {
  git: 'git',
  node: 'node',
  hooks: 'hooks',
  'hook-manager': 'hook manager',
  'project-uuid': 'project uuid',
  server: 'server',
  token: 'token',
  protocol: 'protocol',
  'state-dir': 'state dir',
  queue: 'queue',
};

export default defineCommand({
  command: 'doctor',
  describe: 'check everything delivery needs (git, node, hooks, uuid, server, token, protocol, state, queue)',
  options: (y) => y.option('repo', repoOption),
  run: async (args) => {
    const { repo, settings } = await loadContext(args.repo, {}, { secure: false });
    const { runDoctor } = await import('../../lib/setup/doctor.js');
    const report = await runDoctor({ root: repo.paths.root, commonDir: repo.paths.commonDir, settings });
    if (args.json) printJson(report);
    else {
      const width = Math.max(...Object.values(TITLES).map((t) => t.length));
      for (const c of report.checks) {
        const mark = c.ok ? '✓' : '✗';
        const note = c.ok || c.required ? '' : ' (not needed for delivery)';
        process.stdout.write(`${mark} ${(TITLES[c.id] ?? c.id).padEnd(width)}  ${c.summary}${note}${c.fix ? ` — fix: ${c.fix}` : ''}\n`);
      }
      process.stdout.write(report.ok ? 'kitty-sync can deliver from this repository.\n' : 'kitty-sync cannot deliver from this repository until the ✗ lines above marked as needed are fixed.\n');
    }
    process.exitCode = report.ok ? EXIT.ok : EXIT.unexpected;
  },
});
