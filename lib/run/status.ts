// `kitty-sync status`: what the queue holds and how the server and the token are configured (never
// the token itself). bin/commands/status.ts prints it, with the installed hooks (lib/setup/install-check.ts).
import type { Repo } from '../collect/git.js';
import type { Settings } from '../config.js';
import { ConfigError, parseServerUrl } from '../delivery/server-url.js';
import { UserError } from '../errors.js';
import { readQueue, type QueueStats } from '../queue/queue.js';

export interface ServerStatus {
  server_url: string | null;
  server_configured: boolean;
  /** A URL refused by policy (plain http://, credentials in it): why, or null. */
  server_problem: string | null;
  token_configured: boolean;
  /** The token the hooks would send: KITTY_SYNC_TOKEN, else Git's credential helper (issue 13). */
  token_source: 'env' | 'git-credential' | null;
}

export interface StatusReport {
  stats: QueueStats;
  server: ServerStatus;
}

export async function readStatus(repo: Repo, settings: Settings, onNotice: (message: string) => void): Promise<StatusReport> {
  // Not a URL at all: a configuration error (exit 2). A URL refused by policy (plain http://,
  // credentials in it): shown beside the queue, which is what the user came to see.
  let serverProblem: string | null = null;
  if (settings.serverUrl) {
    try {
      parseServerUrl(settings.serverUrl, settings.allowInsecureHttp);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      if (!isHttpUrl(settings.serverUrl)) throw new UserError(`${err.message}; check KITTY_SYNC_SERVER_URL (or sync.server_url)`);
      serverProblem = `${err.message}; work stays queued`;
    }
  }
  const stats = await readQueue({ stateDir: settings.stateDir, onNotice }, (q) => q.stats());
  let tokenSource: ServerStatus['token_source'] = settings.token ? 'env' : null;
  if (!tokenSource && settings.serverUrl) {
    const { fillToken } = await import('../delivery/credentials.js');
    if (await fillToken(settings.serverUrl, { cwd: repo.paths.root })) tokenSource = 'git-credential';
  }
  const server: ServerStatus = {
    server_url: settings.serverUrl,
    server_configured: settings.serverUrl !== null,
    server_problem: serverProblem,
    token_configured: tokenSource !== null,
    token_source: tokenSource,
  };
  return { stats, server };
}

function isHttpUrl(text: string): boolean {
  try {
    return /^https?:$/.test(new URL(text).protocol);
  } catch {
    return false;
  }
}
