// Whether kitty-sync's hooks are installed in a repository (for `status`): the machine-local launcher
// and the entry Git runs (the shim in Git's hooks directory, or the marked line of a husky script)
// must both be there for a hook to sync anything.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { HookName } from '../config.js';
import { HOOK_NAMES, HUSKY_MARKER, resolveLayout, SHIM_MARKER } from './install.js';

export async function installedHooks(repoRoot: string): Promise<Record<HookName, boolean>> {
  const layout = await resolveLayout(repoRoot);
  const out = {} as Record<HookName, boolean>;
  for (const hook of HOOK_NAMES) {
    const launcher = existsSync(path.join(layout.launcherDir, hook));
    const entry = layout.huskyDir
      ? contains(path.join(layout.huskyDir, hook), (l) => l.trimEnd().endsWith(HUSKY_MARKER) && l.includes('kitty-sync/hooks/'))
      : contains(path.join(layout.hooksDir, hook), (l) => l.includes(SHIM_MARKER));
    out[hook] = launcher && entry;
  }
  return out;
}

function contains(file: string, match: (line: string) => boolean): boolean {
  try {
    return readFileSync(file, 'utf8').split('\n').some(match);
  } catch {
    return false;
  }
}
