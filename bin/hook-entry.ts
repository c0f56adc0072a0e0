// `kitty-sync hook <name> [args]`: the lean path Git's hooks take (no yargs). Always exits 0.
import { readFileSync } from 'node:fs';
import { redactOutput } from '../lib/redact.js';
import { quietOnClosedPipe } from './errors.js';

const HOOK_HELP = `kitty-sync hook post-commit [--verbose]
kitty-sync hook pre-push <remote> <url> [--verbose]   (Git's ref lines on stdin)

Runs as a Git hook: the hooks that \`kitty-sync install\` puts in a repository call it.
  post-commit  syncs what changed under kitty-specs/ since the branch's last capture, then drains briefly
  pre-push     syncs the files the pushed refs change, at each pushed tip, then drains briefly
Options:
  --verbose    print every artifact's outcome, not only the skipped and failed ones
Always exits 0: a hook never fails or blocks the commit or push. KITTY_SYNC=0 turns it off.
`;

export async function runHookCli(args: string[]): Promise<void> {
  redactOutput();
  quietOnClosedPipe(true);
  // --since <sha>: the branch's watermark as the post-commit launcher read it (lib/run/watermark.ts).
  const sinceAt = args.indexOf('--since');
  const since = sinceAt >= 0 && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(args[sinceAt + 1] ?? '') ? args[sinceAt + 1] : null;
  const plain = sinceAt >= 0 ? [...args.slice(0, sinceAt), ...args.slice(sinceAt + 2)] : args;
  const [name, ...rest] = plain.filter((a) => a !== '--verbose');
  const verbose = args.includes('--verbose');
  if (name === undefined || name === 'help' || args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HOOK_HELP);
    return;
  }
  if (name !== 'post-commit' && name !== 'pre-push') {
    process.stderr.write(`kitty-sync: unknown hook ${JSON.stringify(name)} (expected post-commit or pre-push; see \`kitty-sync hook --help\`)\n`);
    return;
  }
  let stdin: string | null = null;
  if (name === 'pre-push' && !process.stdin.isTTY) {
    try {
      stdin = readFileSync(0, 'utf8');
    } catch {
      stdin = null;
    }
  }
  try {
    // Git's opening questions go first, so they run while the rest of the agent loads.
    const { openRepoEarly } = await import('../lib/collect/git.js');
    const early = process.env.KITTY_SYNC === '0' ? undefined : openRepoEarly(process.cwd(), name === 'post-commit' ? 'kitty-specs' : null, since);
    const { runHook } = await import('../lib/run/hook.js');
    const { detachHook } = await import('../lib/run/detach.js');
    await runHook({
      early,
      name,
      args: rest,
      stdin,
      cwd: process.cwd(),
      env: process.env,
      verbose,
      print: (line) => process.stderr.write(`${line}\n`),
      abandon: () => process.exit(0),
      detach: name === 'post-commit' ? () => detachHook(process.argv.slice(1), process.env, process.cwd()) : undefined,
    });
  } catch (err) {
    process.stderr.write(`kitty-sync: hook failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exitCode = 0;
}
