// Builds the transport from settings, turning configuration problems into a message:
// without a usable server the work simply stays queued.
import type { Settings } from '../config.js';
import type { DrainTransport } from './drain.js';

export interface MadeTransport {
  /** prepare(): starts the token lookup (Git's credential helper) ahead of the first request. */
  transport: (DrainTransport & { close(): void; prepare?(): Promise<unknown> }) | null;
  problem: string | null;
}

export interface MakeTransportOptions {
  /** Where `git credential fill` runs (the repository, so its local helpers count); default cwd. */
  cwd?: string;
  /** The environment the credential lookup starts from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export async function makeTransport(
  settings: Pick<Settings, 'serverUrl' | 'token' | 'allowInsecureHttp'> & Partial<Pick<Settings, 'caFile' | 'requestTimeoutMs'>>,
  opts: MakeTransportOptions = {},
): Promise<MadeTransport> {
  if (!settings.serverUrl) return { transport: null, problem: null };
  const { Transport } = await import('./transport.js');
  const serverUrl = settings.serverUrl;
  try {
    let ca: string | null = null;
    if (settings.caFile) ca = (await import('./http-agent.js')).readCaFile(settings.caFile);
    return {
      transport: new Transport({
        serverUrl,
        // KITTY_SYNC_TOKEN wins; otherwise Git's credential helpers are asked, once, and only when a
        // request is actually sent (a git process costs a few milliseconds of a hook).
        token: settings.token ?? (async () => (await import('./credentials.js')).fillToken(serverUrl, { cwd: opts.cwd, env: opts.env })),
        allowInsecureHttp: settings.allowInsecureHttp,
        ca,
        timeoutMs: settings.requestTimeoutMs,
      }),
      problem: null,
    };
  } catch (err) {
    return { transport: null, problem: `${err instanceof Error ? err.message : String(err)}; work stays queued` };
  }
}
