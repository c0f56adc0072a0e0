// HTTP for the two endpoints of SPEC §5: sends one request and hands the answer to responses.ts to
// classify (§5.2 table). It never retries or computes backoff; the drain decides what to do.
// node-fetch, node:http and node:https are loaded on the first request, not at module load:
// the hook path imports this module even when there is nothing to send (~45 ms saved per commit).
import { setMaxListeners } from 'node:events';
import type { Agent } from 'node:http';
import { EVENTS_BATCH_PATH as EVENTS_PATH, PUSH_CONTENT_PATH } from '../contract/wire.js';
import type { DossierEvent } from '../types.js';
import { mark } from '../trace.js';
import { encodeEvents, encodePushContent, type PushContentBody } from './encoding.js';
import {
  classifyFailure,
  errorText,
  networkReason,
  parseEventResults,
  parseJsonObject,
  pushContentSuccess,
  type BodyResult,
  type EventsResult,
  type FailureResult,
  type ProbeResult,
  type RawResponse,
} from './responses.js';
import { ConfigError, parseServerUrl, tokenProblem } from './server-url.js';

type NodeFetch = typeof import('node-fetch').default;

export const DEFAULT_TIMEOUT_MS = 10_000;
/** Same-origin redirects followed before giving up (a loop or a misconfigured proxy). */
export const MAX_REDIRECTS = 3;
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
    return classifyFailure(outcome, (text) => this.redact(text));
  }

  async sendEvents(events: DossierEvent[], signal?: AbortSignal): Promise<EventsResult> {
    const body = await encodeEvents(events);
    const outcome = await this.post(EVENTS_PATH, body, true, signal);
    if ('kind' in outcome) return outcome;
    if (outcome.status >= 200 && outcome.status < 300) {
      const results = outcome.status === 200 || outcome.status === 201 ? parseEventResults(outcome.text) : null;
      // A success status with a body we cannot read: events are idempotent by event_id, so resend.
      if (!results) return { kind: 'retry', reason: `invalid_response: http_${outcome.status} without a results list` };
      return { kind: 'results', results };
    }
    return classifyFailure(outcome, (text) => this.redact(text));
  }

  /**
   * POSTs an empty, gzipped events batch (`{"events":[]}`) with the token: it stores nothing on any
   * server that follows the contract, yet goes through authentication and the events route, so its
   * answer tells whether the server is reachable, accepts the token and speaks this protocol.
   */
  async probe(signal?: AbortSignal): Promise<ProbeResult> {
    let outcome: RawResponse | FailureResult;
    try {
      outcome = await this.post(EVENTS_PATH, await encodeEvents([]), true, signal);
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
    void loading?.then(
      ({ agent }) => agent.destroy(),
      () => undefined,
    );
  }

  /** Loads node-fetch and the agent ahead of the first request (overlaps a hook's other waits); resolves when loaded (or failed). */
  warm(): Promise<void> {
    return this.load().then(
      () => undefined,
      () => undefined,
    );
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
  private async post(endpoint: string, body: Buffer, gzipped: boolean, signal: AbortSignal | undefined): Promise<RawResponse | FailureResult> {
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
        // Reading the whole body lets the socket go back to the keep-alive pool.
        const text = await readResponseText(res.body);
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

/** A cohort nobody can join and nothing is in flight in: its timer and caller listener go. */
function retire(c: Cohort): void {
  if (c.timer) clearTimeout(c.timer);
  c.timer = null;
  if (c.onCallerAbort) c.caller?.removeEventListener('abort', c.onCallerAbort);
  c.onCallerAbort = null;
}

/**
 * Reads a node-fetch response body whole, with plain stream events: Response.text() goes through an
 * async iterator, a measurable share of a small request. Always read: a 201 counts only when it says
 * `stored` (SPEC §5.2).
 */
function readResponseText(body: NodeJS.ReadableStream | null): Promise<string> {
  if (body === null) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('end', () => resolve(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    body.once('error', reject);
  });
}
