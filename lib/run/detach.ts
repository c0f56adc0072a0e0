// A hook's continuation in a detached process: Git waits for its hooks to exit, so a capture that
// cannot finish within the budget (thousands of files) goes on in a child that Git does not wait
// for. The child is the same command with BACKGROUND_ENV set (hook.ts): it gets a budget of its own,
// writes to the outcome log, never to the terminal, and never detaches again.
import { spawn } from 'node:child_process';
import { BACKGROUND_ENV } from './hook.js';

/** Starts `node <execArgv> <argv>` detached, its output discarded; its pid, or undefined if it could not start. */
export function detachHook(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): number | undefined {
  try {
    const child = spawn(process.execPath, [...process.execArgv, ...argv], { cwd, env: { ...env, [BACKGROUND_ENV]: '1' }, detached: true, stdio: 'ignore' });
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } catch {
    return undefined;
  }
}
