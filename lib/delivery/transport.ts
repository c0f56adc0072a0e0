// HTTP transport for the two endpoints of SPEC §5: sends one request and classifies the
// answer (§5.2 table). It never retries or computes backoff; the drain decides what to do.
// node-fetch, node:http and node:https are loaded on the first request, not at module load:
// the hook path imports this module even when there is nothing to send (~45 ms saved per commit).
import { isUtf8 } from 'node:buffer';
import { setMaxListeners } from 'node:events';
import type { Agent } from 'node:http';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { DossierEvent, PushContentRequest } from '../types.js';
import { mark } from '../trace.js';
import { capWait } from '../queue/retry.js';

type NodeFetch = typeof import('node-fetch').default;

export const EVENTS_PATH = '/api/v1/events/batch/';
export const PUSH_CONTENT_PATH = '/api/dossier/push-content/';
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Same-origin redirects followed before giving up (a loop or a misconfigured proxy). */
export const MAX_REDIRECTS = 3;
/** Server error text kept in a reason: enough to diagnose, short enough for a log line. */
const MAX_ERROR_TEXT = 200;
/**
 * Requests started within one window share a timeout (one AbortController and one timer), which
 * fires `timeoutMs + window` after the window opened: every request still in flight then has run
 * at least `timeoutMs`, and at most one window more. One controller, timer and listener per request
 * cost ~45 µs each, a visible share of a 12 KB upload. The window is capped at a tenth of the timeout.
 */
const COHORT_WINDOW_MS = 200;

/** Requests started in one window with the same caller signal. */
interface Cohort {
  readonly controller: AbortController;
  readonly caller: AbortSignal | undefined;
  /** performance.now() after which no request joins. */
  readonly closesAt: number;
  inFlight: number;
  timedOut: boolean;
  timer: NodeJS.Timeout | null;
  onCallerAbort: (() => void) | null;
}

/** Resolves the token on the first request (e.g. from Git's credential helpers): null when there is none. */
export type TokenProvider = () => Promise<string | null>;

export interface TransportOptions {
  /** Base URL; endpoint paths are appended to its path (a prefix such as /sync is kept). */
  serverUrl: string;
  /** The token, or a provider asked once, on the first request (nothing is asked when nothing is sent). */
  token: string | null | TokenProvider;
  /** Extra trusted CA certificates (PEM), in addition to Node's roots (sync.ca_file / KITTY_SYNC_CA_FILE). */
  ca?: string | null;
  /** The proxy: undefined asks the environment (HTTPS_PROXY, NO_PROXY…) on the first request; null: direct. */
  proxy?: URL | null;
  /** Per request, including reading the response; default 10 s. */
  timeoutMs?: number;
  /** Permit plain http:// to a host that is not loopback. */
  allowInsecureHttp?: boolean;
  /** Keep-alive sockets per origin; set it ≥ the drain's concurrency. Default 16. */
  maxSockets?: number;
}

/** A push-content request whose body may still be the stored UTF-8 bytes (cheaper to encode). */
export type PushContentBody = Omit<PushContentRequest, 'content_body'> & { content_body: string | Buffer };

export type BodyResult =
  | { kind: 'stored' }
  | { kind: 'already_exists' }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'unauthorized'; reason: string }
  /** 410 (retired) or 412 (protocol refused): stop the drain, keep everything, tell the user `message`. */
  | { kind: 'halt'; reason: string; message: string }
  | { kind: 'permanent'; reason: string }
  | { kind: 'aborted' };

export type EventStatus = 'success' | 'duplicate' | 'rejected';
export interface EventResult {
  event_id: string;
  status: EventStatus;
  error?: string;
}

export type EventsResult =
  | { kind: 'results'; results: EventResult[] }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'unauthorized'; reason: string }
  | { kind: 'halt'; reason: string; message: string }
  | { kind: 'permanent'; reason: string }
  | { kind: 'aborted' };

/** The failure kinds both endpoints share. */
type FailureResult = Extract<BodyResult, { kind: 'retry' | 'unauthorized' | 'halt' | 'permanent' | 'aborted' }>;

/** What `probe` saw: the server's raw answer to an empty events batch, or why none came. */
export type ProbeResult =
  | { reached: true; status: number; body: Record<string, unknown> | null; detail: string }
  | { reached: false; reason: string };

/** Bad server URL or an insecure scheme: a configuration problem (exit 2), not a delivery failure. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const gzip = promisify(gzipCb);

/**
 * Why `token` cannot be sent in an Authorization header (a line break, another control character, a
 * character outside Latin-1), or null. Names the position and the character, never the token.
 */
export function tokenProblem(token: string | null | undefined): string | null {
  if (!token) return null;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === 0x09 || (c >= 0x20 && c !== 0x7f && c <= 0xff)) continue;
    const what = c === 0x0a || c === 0x0d ? 'a line break' : c > 0xff ? 'a character outside Latin-1' : 'a control character';
    return `KITTY_SYNC_TOKEN contains ${what} (U+${c.toString(16).toUpperCase().padStart(4, '0')} at character ${i + 1}), which an HTTP header cannot carry: set it to the token alone`;
  }
  return null;
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Validates a server base URL (SPEC §8: plain http only for loopback unless opted in). */
export function parseServerUrl(serverUrl: string, allowInsecureHttp = false): URL {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch {
    throw new ConfigError(`server URL ${JSON.stringify(serverUrl)} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`server URL must use https:// (or http:// for loopback), not ${url.protocol}`);
  }
  if (url.username || url.password) {
    // Credentials in the URL would end up in logs and error messages; the token has its own setting.
    throw new ConfigError('server URL must not contain credentials; store the token with `kitty-sync login` or set KITTY_SYNC_TOKEN');
  }
  if (url.protocol === 'http:' && !allowInsecureHttp && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(
      `refusing plain http:// to ${url.hostname}: the token would travel unencrypted; use https://, or allow it with KITTY_SYNC_ALLOW_INSECURE_HTTP=1 (or sync.allow_insecure_http: true)`,
    );
  }
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

interface RawResponse {
  status: number;
  headers: { get(name: string): string | null };
  text: string;
}

export class Transport {
  private readonly base: URL;
  private token: string | null;
  /** Asked once, on the first request; null once resolved (or when the token was given). */
  private tokenProvider: TokenProvider | null;
  private tokenReady: Promise<void> | null = null;
  private readonly ca: string | null;
  private readonly proxy: URL | null | undefined;
  private readonly timeoutMs: number;
  private readonly maxSockets: number;
  private readonly cohortWindowMs: number;
  /** node-fetch and the keep-alive agent for the origin's scheme (redirects never leave the origin). */
  private loading: Promise<{ fetch: NodeFetch; agent: Agent }> | null = null;
  /** The cohort new requests join while its window is open. */
  private cohort: Cohort | null = null;
  /** Built once: node-fetch copies headers into its own Headers, so sharing these is safe. */
  private readonly urls: Record<string, URL>;
  private headers: { plain: Record<string, string>; gzip: Record<string, string> };

  constructor(opts: TransportOptions) {
    this.base = parseServerUrl(opts.serverUrl, opts.allowInsecureHttp ?? false);
    this.tokenProvider = typeof opts.token === 'function' ? opts.token : null;
    const badToken = typeof opts.token === 'string' ? tokenProblem(opts.token) : null;
    if (badToken) throw new ConfigError(badToken);
    this.token = typeof opts.token === 'string' && opts.token !== '' ? opts.token : null;
    this.ca = opts.ca ?? null;
    this.proxy = opts.proxy;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxSockets = Math.max(1, opts.maxSockets ?? 16);
    this.cohortWindowMs = Math.min(COHORT_WINDOW_MS, this.timeoutMs / 10);
    this.urls = {
      [EVENTS_PATH]: new URL(EVENTS_PATH.replace(/^\//, ''), this.base),
      [PUSH_CONTENT_PATH]: new URL(PUSH_CONTENT_PATH.replace(/^\//, ''), this.base),
    };
    this.headers = buildHeaders(this.token);
  }

  /** The origin the token is sent to; nothing else ever receives it. */
  get origin(): string {
    return this.base.origin;
  }

  async pushContent(req: PushContentBody, signal?: AbortSignal): Promise<BodyResult> {
    const outcome = await this.post(PUSH_CONTENT_PATH, encodePushContent(req), false, signal);
    if ('kind' in outcome) return outcome;
    if (outcome.status >= 200 && outcome.status < 300) return pushContentSuccess(outcome.status, outcome.text, req);
    return this.classifyFailure(outcome);
  }

  async sendEvents(events: DossierEvent[], signal?: AbortSignal): Promise<EventsResult> {
    const body = await gzip(Buffer.from(JSON.stringify({ events }), 'utf8'));
    const outcome = await this.post(EVENTS_PATH, body, true, signal);
    if ('kind' in outcome) return outcome;
    if (outcome.status >= 200 && outcome.status < 300) {
      const results = outcome.status === 200 || outcome.status === 201 ? parseEventResults(outcome.text) : null;
      // A success status with a body we cannot read: events are idempotent by event_id, so resend.
      if (!results) return { kind: 'retry', reason: `invalid_response: http_${outcome.status} without a results list` };
      return { kind: 'results', results };
    }
    return this.classifyFailure(outcome);
  }

  /**
   * POSTs an empty, gzipped events batch (`{"events":[]}`) with the token: it stores nothing on any
   * server that follows the contract, yet goes through authentication and the events route, so its
   * answer tells whether the server is reachable, accepts the token and speaks this protocol.
   */
  async probe(signal?: AbortSignal): Promise<ProbeResult> {
    let outcome: RawResponse | FailureResult;
    try {
      outcome = await this.post(EVENTS_PATH, await gzip(Buffer.from('{"events":[]}', 'utf8')), true, signal);
    } catch (err) {
      return { reached: false, reason: this.redact(err instanceof Error ? err.message : String(err)) };
    }
    if ('kind' in outcome) return { reached: false, reason: outcome.kind === 'aborted' ? 'aborted' : outcome.reason };
    const body = parseJsonObject(outcome.text);
    return { reached: true, status: outcome.status, body, detail: this.redact(errorText(body, outcome.text)) };
  }

  /** Starts resolving the token provider now, so the first request need not wait for it. */
  prepare(): Promise<void> {
    return this.resolveToken();
  }

  /** Closes idle keep-alive sockets so the process can exit. */
  close(): void {
    const loading = this.loading;
    this.loading = null;
    // A load that failed (an unusable proxy variable) has no agent to close.
    void loading?.then(({ agent }) => agent.destroy(), () => undefined);
  }

  /** Loads node-fetch and the agent ahead of the first request (overlaps a hook's other waits). */
  warm(): void {
    this.load().catch(() => undefined);
  }

  private load(): Promise<{ fetch: NodeFetch; agent: Agent }> {
    // One shared promise: concurrent first requests must not create two agents.
    this.loading ??= (async () => {
      const fetch = (await import('node-fetch')).default;
      // One TCP (and TLS) handshake per socket, not per request: much of the Python original's cost.
      const options = { keepAlive: true, maxSockets: this.maxSockets };
      let agent: Agent;
      if (this.proxy === undefined && this.ca === null && !(await import('./http-agent.js')).proxyVariablesSet()) {
        agent = this.base.protocol === 'https:' ? new (await import('node:https')).Agent(options) : new (await import('node:http')).Agent(options);
      } else {
        // A proxy or a CA bundle (issue 13): only then the proxy modules load.
        const { createAgent, proxyFor } = await import('./http-agent.js');
        const proxy = this.proxy === undefined ? (await proxyFor(this.base)).proxy : this.proxy;
        agent = await createAgent({ target: this.base, proxy, ca: this.ca, ...options });
      }
      return { fetch, agent };
    })();
    return this.loading;
  }

  /**
   * POSTs to base+path, following same-origin redirects; returns the response with its body
   * read, or a failure (network, timeout, abort, cross-origin redirect).
   */
  private async post(
    endpoint: string,
    body: Buffer,
    gzipped: boolean,
    signal: AbortSignal | undefined,
  ): Promise<RawResponse | FailureResult> {
    if (signal?.aborted) return { kind: 'aborted' };
    let loaded: { fetch: NodeFetch; agent: Agent };
    try {
      // The token (when a provider must be asked) is looked up beside the HTTP client's loading.
      [loaded] = await Promise.all([this.load(), this.resolveToken()]);
    } catch (err) {
      // A proxy variable that names no usable proxy: the work stays queued, with the reason.
      this.loading = null;
      return { kind: 'retry', reason: `proxy_error: ${this.redact(err instanceof Error ? err.message : String(err))}` };
    }
    const { fetch, agent } = loaded;
    if (signal?.aborted) return { kind: 'aborted' };
    const cohort = this.join(signal);
    const headers = gzipped ? this.headers.gzip : this.headers.plain;
    let url = this.urls[endpoint] ?? new URL(endpoint.replace(/^\//, ''), this.base);
    try {
      for (let redirects = 0; ; redirects++) {
        const res = await fetch(url.href, {
          method: 'POST',
          headers,
          body,
          redirect: 'manual',
          signal: cohort.controller.signal,
          // Push-content answers are a few bytes: no Accept-Encoding, no decompression stage.
          compress: gzipped,
          agent,
        });
        // Reading the whole body lets the socket go back to the keep-alive pool. A 201 says all we
        // need, so its body is only drained, not decoded.
        const text = await readBody(res.body);
        if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
          let next: URL;
          try {
            next = new URL(res.headers.get('location')!, url);
          } catch {
            return { kind: 'permanent', reason: `http_${res.status}: invalid redirect location` };
          }
          // The token belongs to the configured origin only (SPEC §8). Following without it would
          // only earn a misleading 401 (which stops the drain as "bad token") or deliver documents
          // to a host nobody configured; a dead letter naming the origin tells the user what to fix.
          if (next.origin !== this.base.origin) {
            return { kind: 'permanent', reason: `redirect_to_other_origin: ${next.origin}` };
          }
          if (redirects >= MAX_REDIRECTS) return { kind: 'permanent', reason: 'too_many_redirects' };
          // An API upload re-POSTs on every redirect code: turning it into a GET (browser 301/302/303
          // behaviour) would silently drop the document.
          url = next;
          continue;
        }
        return { status: res.status, headers: res.headers, text };
      }
    } catch (err) {
      // Which one fired tells 'aborted' (the caller: no penalty) from 'timeout' (retry).
      if (signal?.aborted) return { kind: 'aborted' };
      if (cohort.timedOut) return { kind: 'retry', reason: 'timeout' };
      return { kind: 'retry', reason: this.redact(networkReason(err)) };
    } finally {
      this.leave(cohort);
    }
  }

  /** Asks the token provider once; its answer (or null when it fails) holds for the transport's life. */
  private resolveToken(): Promise<void> {
    if (!this.tokenProvider) return Promise.resolve();
    const provider = this.tokenProvider;
    if (!this.tokenReady) mark('token: lookup started');
    this.tokenReady ??= provider()
      .catch(() => null)
      .then((token) => {
        this.token = token && token.trim() !== '' ? token.trim() : null;
        this.headers = buildHeaders(this.token);
        this.tokenProvider = null;
        mark(`token: lookup done (${this.token ? 'found' : 'none'})`);
      });
    return this.tokenReady;
  }

  /** The open cohort for `signal`, or a new one (see COHORT_WINDOW_MS). */
  private join(signal: AbortSignal | undefined): Cohort {
    const now = performance.now();
    let c = this.cohort;
    if (c === null || c.caller !== signal || now >= c.closesAt || c.controller.signal.aborted) {
      const previous = c;
      const controller = new AbortController();
      // Every request in flight adds node-fetch's abort listener to this signal.
      setMaxListeners(0, controller.signal);
      const fresh: Cohort = { controller, caller: signal, closesAt: now + this.cohortWindowMs, inFlight: 0, timedOut: false, timer: null, onCallerAbort: null };
      fresh.timer = setTimeout(() => {
        fresh.timedOut = true;
        controller.abort();
      }, this.timeoutMs + this.cohortWindowMs);
      // Requests in flight keep the process alive; an idle cohort's timer must not.
      fresh.timer.unref();
      if (signal) {
        fresh.onCallerAbort = () => controller.abort();
        signal.addEventListener('abort', fresh.onCallerAbort, { once: true });
      }
      this.cohort = c = fresh;
      if (previous && previous.inFlight === 0) retire(previous);
    }
    c.inFlight += 1;
    return c;
  }

  private leave(c: Cohort): void {
    c.inFlight -= 1;
    if (c.inFlight > 0) return;
    if (c !== this.cohort) retire(c);
    else if (performance.now() >= c.closesAt) {
      retire(c);
      this.cohort = null;
    }
  }

  /** Non-success statuses per the SPEC §5.2 table. */
  private classifyFailure(res: RawResponse): FailureResult {
    const { status } = res;
    const body = parseJsonObject(res.text);
    const errorCode = typeof body?.error === 'string' ? body.error : null;
    const detail = this.redact(errorText(body, res.text));
    const withDetail = (code: string): string => (detail ? `${code}: ${detail}` : code);
    if (status === 401) {
      return { kind: 'unauthorized', reason: withDetail('http_401') };
    }
    if (status === 410 || status === 412) return { kind: 'halt', reason: `http_${status}`, message: haltMessage(status, errorCode, detail) };
    if (status === 404) {
      if (errorCode === 'namespace_not_found') return { kind: 'permanent', reason: 'namespace_not_found' };
      if (errorCode === 'index_entry_not_found') return { kind: 'retry', reason: 'index_entry_not_found' };
      // Unparseable or unknown 404 (a proxy, a deploy in progress): keep it, conservatively.
      return { kind: 'retry', reason: withDetail('http_404') };
    }
    if (status === 429 || status >= 500 || status === 408) {
      const retryAfterMs = retryAfter(body, res.headers.get('retry-after'));
      const reason = status === 429 ? 'http_429' : withDetail(`http_${status}`);
      return retryAfterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs };
    }
    return { kind: 'permanent', reason: withDetail(`http_${status}`) };
  }

  /** Last line of defence: a server that echoes the Authorization header must not leak it. */
  private redact(text: string): string {
    return this.token ? text.split(this.token).join('[redacted]') : text;
  }
}

/** The request headers, built once per token: node-fetch copies them into its own Headers. */
function buildHeaders(token: string | null): { plain: Record<string, string>; gzip: Record<string, string> } {
  const plain: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: 'application/json',
    'User-Agent': 'kitty-sync',
  };
  if (token) plain.Authorization = `Bearer ${token}`;
  return { plain: Object.freeze(plain), gzip: Object.freeze({ ...plain, 'Content-Encoding': 'gzip' }) };
}

/**
 * SPEC §5.2: only 201 {"status":"stored"} and 200 {"status":"already_exists"} count as delivered;
 * an echoed artifact_path or content_hash must be the request's. Any other 2xx (a proxy's HTML
 * page, `{}`, truncated JSON, another artifact's echo) is `invalid_response`, kept with backoff.
 */
export function pushContentSuccess(status: number, text: string, req: Pick<PushContentBody, 'artifact_path' | 'content_hash'>): BodyResult {
  const body = parseJsonObject(text);
  const invalid = (why: string): BodyResult => ({ kind: 'retry', reason: `invalid_response: http_${status} ${why}` });
  if (!body) return invalid('without a JSON object');
  for (const field of ['artifact_path', 'content_hash'] as const) {
    if (body[field] !== undefined && body[field] !== req[field]) return invalid(`echoes another ${field}`);
  }
  if (status === 201 && body.status === 'stored') return { kind: 'stored' };
  if (status === 200 && body.status === 'already_exists') return { kind: 'already_exists' };
  return invalid(`with status ${JSON.stringify(body.status ?? null)}`);
}

/** One line for a 410 or 412: what the server said and what to do. */
function haltMessage(status: 410 | 412, code: string | null, detail: string): string {
  const said = `the server answered ${status} ${status === 410 ? 'Gone' : 'Precondition Failed'}${code ? ` (${code})` : detail ? ` (${detail})` : ''}`;
  const what =
    status === 410
      ? 'this endpoint is retired there; point KITTY_SYNC_SERVER_URL (or sync.server_url) at a server that takes this protocol, such as `kitty-sync serve`'
      : 'it refuses this protocol version; check that the server speaks spec-kitty 047\'s sync protocol';
  return `${said}: ${what}, then run \`kitty-sync drain\`. Nothing was lost: everything stays queued.`;
}

/**
 * The JSON request body. Stored bytes that are valid UTF-8 are escaped without decoding them:
 * read as latin1 they are one char per byte, JSON.stringify escapes only ASCII ('"', '\\', controls)
 * and leaves bytes >= 0x80 alone, and writing latin1 back restores them. The result is byte for byte
 * what stringifying the decoded text gives, at about half the cost (no UTF-16 round trip).
 */
export function encodePushContent(req: PushContentBody): Buffer {
  const { content_body: body, ...meta } = req;
  if (typeof body === 'string') return Buffer.from(JSON.stringify(req), 'utf8');
  if (!isUtf8(body)) return Buffer.from(JSON.stringify({ ...meta, content_body: body.toString('utf8') }), 'utf8');
  const head = JSON.stringify(meta);
  const parts = [Buffer.from(`${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"content_body":`, 'utf8'), Buffer.from(JSON.stringify(body.toString('latin1')), 'latin1'), CLOSE_BRACE];
  return Buffer.concat(parts, parts[0].length + parts[1].length + 1);
}
const CLOSE_BRACE = Buffer.from('}');

/** A cohort nobody can join and nothing is in flight in: its timer and caller listener go. */
function retire(c: Cohort): void {
  if (c.timer) clearTimeout(c.timer);
  c.timer = null;
  if (c.onCallerAbort) c.caller?.removeEventListener('abort', c.onCallerAbort);
  c.onCallerAbort = null;
}

/**
 * Reads (or, when `keep` is false, only drains) a node-fetch response body with plain stream
 * events: Response.text() goes through an async iterator, a measurable share of a small request.
 */
/** The whole answer, always: a 201 counts only when it says `stored` (SPEC §5.2). */
function readBody(body: NodeJS.ReadableStream | null): Promise<string> {
  if (body === null) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('end', () => resolve(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    body.once('error', reject);
  });
}

function parseJsonObject(text: string): Record<string, unknown> | null {
  if (text === '') return null;
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The server's explanation, one line, truncated; '' when there is none. */
function errorText(body: Record<string, unknown> | null, raw: string): string {
  let text: string;
  if (body) {
    const parts = [body.error, body.detail, body.message].filter((v): v is string => typeof v === 'string' && v !== '');
    text = parts.length > 0 ? parts.join(': ') : JSON.stringify(body);
  } else {
    text = raw;
  }
  text = text.replace(/\s+/g, ' ').trim();
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text;
}

/**
 * Milliseconds to wait from a 429/5xx: the body's `retry_after` (seconds) and the
 * Retry-After header (seconds or an HTTP date); the later of the two when both are given,
 * at most MAX_WAIT_MS.
 */
export function retryAfter(body: Record<string, unknown> | null, header: string | null, now = Date.now()): number | undefined {
  const candidates: number[] = [];
  const fromBody = body?.retry_after;
  const bodySeconds = typeof fromBody === 'number' ? fromBody : typeof fromBody === 'string' ? Number(fromBody) : NaN;
  if (!Number.isNaN(bodySeconds) && bodySeconds >= 0) candidates.push(Math.ceil(bodySeconds * 1000));
  if (header !== null && header.trim() !== '') {
    const h = header.trim();
    if (/^\d+(\.\d+)?$/.test(h)) candidates.push(Math.ceil(Number(h) * 1000));
    else {
      const at = Date.parse(h);
      if (Number.isFinite(at)) candidates.push(Math.max(0, at - now));
    }
  }
  // Capped (issue 12): a server must not park work for ever, whatever it answers.
  return candidates.length > 0 ? capWait(Math.max(...candidates)) : undefined;
}

function parseEventResults(text: string): EventResult[] | null {
  const body = parseJsonObject(text);
  if (!body || !Array.isArray(body.results)) return null;
  const results: EventResult[] = [];
  for (const item of body.results as unknown[]) {
    if (item === null || typeof item !== 'object') continue;
    const r = item as Record<string, unknown>;
    if (typeof r.event_id !== 'string') continue;
    if (r.status !== 'success' && r.status !== 'duplicate' && r.status !== 'rejected') continue;
    const result: EventResult = { event_id: r.event_id, status: r.status };
    if (typeof r.error === 'string') result.error = r.error.slice(0, MAX_ERROR_TEXT);
    results.push(result);
  }
  // Events missing from the list (or with an unknown status) are not confirmed: the drain keeps them.
  return results;
}

/** A short code for a failed connection; never the URL or headers. */
function networkReason(err: unknown): string {
  const e = err as { code?: unknown; errno?: unknown; cause?: { code?: unknown }; message?: unknown };
  const code = [e?.code, e?.errno, e?.cause?.code].find((c): c is string => typeof c === 'string' && /^E[A-Z_]+$/.test(c));
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection_refused';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return 'connection_reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'dns_failure';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'network_unreachable';
    default:
      break;
  }
  if (code) return `network_error: ${code}`;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (/socket hang up|premature close/i.test(message)) return 'connection_reset';
  // node-fetch messages embed the URL; keep only the reason after it.
  const tail = message.replace(/^request to \S+ failed, reason: /, '').replace(/https?:\/\/\S+/g, '<url>');
  return `network_error: ${tail.slice(0, MAX_ERROR_TEXT)}`;
}
