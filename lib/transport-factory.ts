// Builds the transport from settings, turning configuration problems into a message:
// without a usable server the work simply stays queued.
import type { Settings } from './config.js';
import type { DrainTransport } from './drain.js';

export interface MadeTransport {
  transport: (DrainTransport & { close(): void }) | null;
  problem: string | null;
}

export async function makeTransport(settings: Pick<Settings, 'serverUrl' | 'token' | 'allowInsecureHttp'> & Partial<Pick<Settings, 'requestTimeoutMs'>>): Promise<MadeTransport> {
  if (!settings.serverUrl) return { transport: null, problem: null };
  const { Transport } = await import('./transport.js');
  try {
    return {
      transport: new Transport({ serverUrl: settings.serverUrl, token: settings.token, allowInsecureHttp: settings.allowInsecureHttp, timeoutMs: settings.requestTimeoutMs }),
      problem: null,
    };
  } catch (err) {
    return { transport: null, problem: `${err instanceof Error ? err.message : String(err)}; work stays queued` };
  }
}
