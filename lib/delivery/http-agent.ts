// The http.Agent a transport talks to its server through (issue 13): direct, or through the proxy
// the environment names (HTTPS_PROXY / HTTP_PROXY / ALL_PROXY with NO_PROXY, either case, read by
// proxy-from-env, as curl and git read them), trusting an extra CA bundle when one is configured.
// The proxy modules are loaded only when a proxy variable is set: most hooks never pay for them.
import type { Agent, ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { AgentConnectOpts } from 'agent-base';
import { readFileSync } from 'node:fs';
import { isLoopbackHost } from './server-url.js';

/** The variables that can send a request through a proxy (lower- and upper-case forms are read). */
export const PROXY_VARIABLES = ['https_proxy', 'http_proxy', 'all_proxy'] as const;

export interface AgentOptions {
  /** The server's base URL: its scheme and host decide the proxy (redirects never leave its origin). */
  target: URL;
  /** The proxy to use, or null for a direct connection (see proxyFor). */
  proxy: URL | null;
  /** Extra trusted certificates (PEM), in addition to Node's own roots; null: Node's defaults only. */
  ca: string | null;
  keepAlive: boolean;
  maxSockets: number;
}

/** The proxy decision for a server, said in words for `doctor` (never with proxy credentials). */
export interface ProxyDecision {
  proxy: URL | null;
  /** e.g. "via http://proxy:3128 (HTTPS_PROXY)", "direct (NO_PROXY)", "direct (no proxy variable set)". */
  description: string;
}

/** A proxy variable names something unusable (a bad URL, an unsupported scheme). */
export class ProxyConfigError extends Error {
  override name = 'ProxyConfigError';
}

function envValue(env: NodeJS.ProcessEnv, lower: string): { name: string; value: string } | null {
  // Lower case first, as curl and proxy-from-env do.
  for (const name of [lower, lower.toUpperCase()]) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return { name, value: value.trim() };
  }
  return null;
}

/** True when any proxy variable is set: only then is proxy-from-env loaded (cheap start-up otherwise). */
export function proxyVariablesSet(env: NodeJS.ProcessEnv = process.env): boolean {
  return PROXY_VARIABLES.some((v) => envValue(env, v) !== null);
}

/**
 * The proxy for requests to `target`, from the process environment. Loopback servers are always
 * reached directly, whatever the variables say: a proxy cannot reach this machine's loopback, and
 * a plain-http request to it would hand the token, unencrypted, to the proxy.
 */
export async function proxyFor(target: URL): Promise<ProxyDecision> {
  const env = process.env;
  if (!proxyVariablesSet(env)) return { proxy: null, description: 'direct (no proxy variable set)' };
  if (isLoopbackHost(target.hostname)) return { proxy: null, description: 'direct (loopback server; proxies are not used for it)' };
  const { getProxyForUrl } = await import('proxy-from-env');
  const raw = getProxyForUrl(target.href);
  if (!raw) return { proxy: null, description: `direct (${envValue(env, 'no_proxy')?.name ?? 'NO_PROXY'} matches ${target.hostname})` };
  const scheme = target.protocol.replace(':', '');
  const from = envValue(env, `${scheme}_proxy`) ?? envValue(env, 'all_proxy');
  let proxy: URL;
  try {
    proxy = new URL(raw);
  } catch {
    throw new ProxyConfigError(`${from?.name ?? 'the proxy variable'} is not a valid URL`);
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') {
    throw new ProxyConfigError(`${from?.name ?? 'the proxy variable'} uses ${proxy.protocol}//; only http:// and https:// proxies are supported`);
  }
  return { proxy, description: `via ${redactProxy(proxy)} (${from?.name ?? 'proxy variable'})` };
}

/** The proxy URL without its credentials, for messages. */
export function redactProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.username || proxy.password ? '***@' : ''}${proxy.host}`;
}

/**
 * Reads a CA bundle (PEM) for `sync.ca_file` / KITTY_SYNC_CA_FILE. Throws an Error naming the
 * file and the reason when it cannot be used.
 */
export function readCaFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`CA file ${file} cannot be read (${code ?? (err instanceof Error ? err.message : String(err))})`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`CA file ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return text;
}

/**
 * The trusted certificates when a CA file is configured. Passing `ca` replaces Node's store, so
 * Node's own roots are added back, and so is NODE_EXTRA_CA_CERTS (Node read it at start-up into the
 * default store only).
 */
async function trustedCas(extra: string): Promise<string[]> {
  const { rootCertificates } = await import('node:tls');
  const cas = [...rootCertificates];
  const nodeExtra = process.env.NODE_EXTRA_CA_CERTS;
  if (nodeExtra) {
    try {
      cas.push(readFileSync(nodeExtra, 'utf8'));
    } catch {
      // Node itself warned about an unreadable NODE_EXTRA_CA_CERTS at start-up.
    }
  }
  cas.push(extra);
  return cas;
}

/** A keep-alive agent for the target, through the proxy when there is one. */
export async function createAgent(opts: AgentOptions): Promise<Agent> {
  const https = opts.target.protocol === 'https:';
  const ca = opts.ca ? await trustedCas(opts.ca) : undefined;
  const base = { keepAlive: opts.keepAlive, maxSockets: opts.maxSockets, ...(ca ? { ca } : {}) };
  if (!opts.proxy) {
    return https ? new (await import('node:https')).Agent(base) : new (await import('node:http')).Agent(base);
  }
  if (!https) {
    // Plain http through a proxy: absolute-URI requests (the proxy sees them; only loopback or an
    // explicit opt-in allows plain http at all, and loopback never goes through a proxy).
    const { HttpProxyAgent } = await import('http-proxy-agent');
    return new HttpProxyAgent(opts.proxy, base);
  }
  const { HttpsProxyAgent } = await import('https-proxy-agent');
  // `ca` in the constructor applies to an https:// proxy's own TLS; the tunnelled TLS to the server
  // takes its options from the request, so the bundle is added there too.
  class TunnelAgent extends HttpsProxyAgent<string> {
    override connect(req: ClientRequest, connectOpts: AgentConnectOpts): Promise<Socket> {
      return super.connect(req, ca ? ({ ...connectOpts, ca } as AgentConnectOpts) : connectOpts);
    }
  }
  return new TunnelAgent(opts.proxy.href, base);
}
