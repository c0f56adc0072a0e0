// What every command needs first: the repository and the resolved settings (lib/run/context.ts),
// with its warnings printed.
import type { SettingFlags } from '../lib/config.js';
import { openContext, type CommandContext } from '../lib/run/context.js';

/**
 * `secure: false` leaves the state dir's modes as found (doctor reports them; every other command
 * tightens looser modes left by older versions).
 */
export async function loadContext(repoDir: string | undefined, flags: SettingFlags = {}, opts: { secure?: boolean } = {}): Promise<CommandContext> {
  return openContext({ dir: repoDir ?? process.cwd(), env: process.env, flags, secure: opts.secure !== false, onWarning: (w) => process.stderr.write(`kitty-sync: warning: ${w}\n`) });
}

export const repoOption = { type: 'string', describe: 'the repository (default: the current directory)' } as const;

export function notice(message: string): void {
  process.stderr.write(`kitty-sync: ${message}\n`);
}
