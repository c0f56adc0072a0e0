// `kitty-sync hook <name> [args]`: the lean path Git's hooks take (no yargs). Always exits 0.
import { readFileSync } from 'node:fs';

export async function runHookCli(args: string[]): Promise<void> {
  const [name, ...rest] = args.filter((a) => a !== '--verbose');
  const verbose = args.includes('--verbose');
  if (name !== 'post-commit' && name !== 'pre-push') {
    process.stderr.write(`kitty-sync: unknown hook ${JSON.stringify(name ?? '')} (expected post-commit or pre-push)\n`);
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
    const { runHook } = await import('../lib/hook.js');
    await runHook({
      name,
      args: rest,
      stdin,
      cwd: process.cwd(),
      env: process.env,
      verbose,
      print: (line) => process.stderr.write(`${line}\n`),
      abandon: () => process.exit(0),
    });
  } catch (err) {
    process.stderr.write(`kitty-sync: hook failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
  process.exitCode = 0;
}
