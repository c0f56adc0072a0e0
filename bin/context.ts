// What every command needs first: the repository and the resolved settings.
import { openRepo, type Repo } from '../lib/collect/git.js';
import { resolveSettings, type SettingFlags, type Settings } from '../lib/config.js';
import { secureStateDirs } from '../lib/state-perms.js';
import { UserError } from '../lib/errors.js';

export interface CommandContext {
  repo: Repo;
  settings: Settings;
}

/**
 * `secure: false` leaves the state dir's modes as found (doctor reports them; every other command
 * tightens looser modes left by older versions).
 */
export async function loadContext(repoDir: string | undefined, flags: SettingFlags = {}, opts: { secure?: boolean } = {}): Promise<CommandContext> {
  let repo: Repo;
  try {
    repo = await openRepo(repoDir ?? process.cwd());
  } catch (err) {
    throw new UserError(`${repoDir ?? process.cwd()} is not inside a Git repository (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
  const settings = resolveSettings({ flags, env: process.env, repoRoot: repo.paths.root, commonGitDir: repo.paths.commonDir });
  for (const w of settings.warnings) process.stderr.write(`kitty-sync: warning: ${w}\n`);
  if (opts.secure !== false) secureStateDirs([settings.stateDir, `${repo.paths.commonDir}/kitty-sync`]);
  return { repo, settings };
}

export const repoOption = { type: 'string', describe: 'the repository (default: the current directory)' } as const;

export function notice(message: string): void {
  process.stderr.write(`kitty-sync: ${message}\n`);
}
