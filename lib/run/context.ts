// What every command needs first: the repository and the resolved settings, with the state
// directories' modes tightened.
import { openRepo, type Repo } from '../collect/git.js';
import { resolveSettings, type SettingFlags, type Settings } from '../config.js';
import { UserError } from '../errors.js';
import { secureStateDirs } from '../state-perms.js';

export interface CommandContext {
  repo: Repo;
  settings: Settings;
}

export interface OpenContextInput {
  /** A directory inside the repository. */
  dir: string;
  env: NodeJS.ProcessEnv;
  flags?: SettingFlags;
  /** false leaves the state dir's modes as found (doctor reports them; every other command tightens looser modes left by older versions). */
  secure: boolean;
  /** A setting that was refused or clamped: reported, not fatal. */
  onWarning: (warning: string) => void;
}

export async function openContext(input: OpenContextInput): Promise<CommandContext> {
  let repo: Repo;
  try {
    repo = await openRepo(input.dir);
  } catch (err) {
    throw new UserError(`${input.dir} is not inside a Git repository (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
  const settings = resolveSettings({ flags: input.flags ?? {}, env: input.env, repoRoot: repo.paths.root, commonGitDir: repo.paths.commonDir });
  for (const w of settings.warnings) input.onWarning(w);
  if (input.secure) secureStateDirs([settings.stateDir, `${repo.paths.commonDir}/kitty-sync`]);
  return { repo, settings };
}
