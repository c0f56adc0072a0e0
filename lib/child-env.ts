// The environment kitty-sync gives the processes it starts (git): everything it was given, minus the
// secret settings. A child's environment is readable by anyone who can read /proc/<pid>/environ, and
// git (its hooks, helpers, aliases, trace output) has no use for our token.
// Use: spawn(…, { env: childEnv() }) and simpleGit(…).env(simpleGitEnv()).

/** Settings that are secret, or may carry a secret (a server URL with user:pass@ or ?token=). */
export const SECRET_SETTINGS: readonly string[] = ['KITTY_SYNC_TOKEN', 'KITTY_SYNC_SERVE_TOKEN', 'KITTY_SYNC_SERVER_URL'];
/** Any future setting whose name says it is a secret. */
const SECRET_NAME = /^KITTY_SYNC_\w*(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|AUTH)/i;

export function isSecretSetting(name: string): boolean {
  return SECRET_SETTINGS.includes(name) || SECRET_NAME.test(name);
}

/** `env` without the secret settings. */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !isSecretSetting(k)) out[k] = v;
  return out;
}

/**
 * Variables simple-git never passes on from the ambient environment (and refuses outright in one it
 * is given): GIT_* and the editor/pager/askpass ones. Leaving them out keeps its children's
 * environment what it was before we handed simple-git one of our own.
 */
const SIMPLE_GIT_GUARDED = new Set(['editor', 'pager', 'prefix', 'ssh_askpass', 'visual']);

/** childEnv for simple-git's `.env()`. */
export function simpleGitEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = childEnv(env);
  for (const k of Object.keys(out)) {
    const lower = k.toLowerCase().trim();
    if (lower.startsWith('git_') || SIMPLE_GIT_GUARDED.has(lower)) delete out[k];
  }
  return out;
}
