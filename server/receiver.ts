// The local reference receiver (SPEC §9): both endpoints of §5 with the contract's validation
// (server/validate.ts), the index materialized from MissionDossierArtifactIndexed events, bearer-token
// checks, persistence in SQLite (server/store.ts), fault injection (server/faults.ts), and the
// dossier dashboard (server/dashboard/). Test-and-demo endpoints: GET /__stats, GET /__artifacts,
// GET /__blobs/<sha256>, GET|POST /__faults.
// server/ shares only lib/contract/ with the client, and the client never imports server/.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip as gunzipCb } from 'node:zlib';
import { MAX_EVENTS_BYTES, MAX_REQUEST_BYTES } from '../lib/contract/limits.js';
import { DEFAULT_SERVE_HOST, DEFAULT_SERVE_PORT, EVENTS_BATCH_PATH, PUSH_CONTENT_PATH, type EventResult, type NamespaceRef } from '../lib/contract/wire.js';
import { Auth } from './auth.js';
import { Dashboard } from './dashboard/routes.js';
import { FaultInjector, type FaultConfig, type FaultEndpoint } from './faults.js';
import { LiveHub } from './live.js';
import { ReceiverStore, type ArtifactRecord, type Change, type LoadReport, type StoreCounts } from './store.js';
import { acceptedEvent, eventProblems, isObject, validatePushContent, type AcceptedEvent, type Rejection } from './validate.js';

const gunzip = promisify(gunzipCb);

export const DEFAULT_PORT = DEFAULT_SERVE_PORT;
export const DEFAULT_HOST = DEFAULT_SERVE_HOST;

export interface ReceiverOptions {
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** When set, every API request needs `Authorization: Bearer <token>`, and the dashboard a login. */
  token?: string | null;
  faults?: Partial<FaultConfig>;
}

export interface ReceiverStats {
  requests: { events: number; push_content: number; admin: number; dashboard: number; other: number };
  /** Count per HTTP status answered (faults included). */
  responses: Record<string, number>;
  faults: { latency: number; hang: number; drop: number; rate_limit: number; fail: number };
  events: { success: number; duplicate: number; rejected: number };
  stored: number;
  already_exists: number;
  index_entry_not_found: number;
  namespace_not_found: number;
  unauthorized: number;
  /** Every 4xx answered, faults included. */
  client_errors: number;
  loaded: LoadReport;
  store: StoreCounts;
}

type ApiRoute = FaultEndpoint | 'stats' | 'artifacts' | 'blob' | 'faults';

function apiRouteOf(pathname: string): ApiRoute | null {
  const p = pathname.endsWith('/') ? pathname : `${pathname}/`;
  if (p === PUSH_CONTENT_PATH) return 'push-content';
  if (p === EVENTS_BATCH_PATH) return 'events';
  if (p === '/__stats/') return 'stats';
  if (p === '/__artifacts/') return 'artifacts';
  if (p === '/__faults/') return 'faults';
  if (p.startsWith('/__blobs/')) return 'blob';
  return null;
}

class RequestTooLarge extends Error {}

function readRequestBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Keep draining so the answer can be read, but stop buffering.
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => (tooLarge ? reject(new RequestTooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const yieldToOthers = () => new Promise<void>((r) => setImmediate(r));
/** Events applied per transaction: about 5 ms of this thread each (see handleEvents). */
const EVENTS_PER_TRANSACTION = 50;

export class Receiver {
  readonly store: ReceiverStore;
  readonly live = new LiveHub();
  private readonly faultInjector: FaultInjector;
  private readonly server: http.Server;
  private readonly auth: Auth;
  private readonly dashboard: Dashboard;
  private counters = Receiver.emptyCounters();
  private address: AddressInfo | null = null;
  private closing: Promise<void> | null = null;

  private constructor(private readonly opts: ReceiverOptions) {
    this.store = new ReceiverStore(opts.dataDir);
    this.faultInjector = new FaultInjector(opts.faults ?? {});
    this.auth = new Auth(opts.token ?? null);
    this.dashboard = new Dashboard(this.store, this.live, this.auth);
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) this.send(res, 500, { error: 'internal_error', detail: err instanceof Error ? err.message : String(err) });
      });
    });
    // Longer than a drain's idle gaps, so the client's keep-alive sockets are rarely closed under it.
    this.server.keepAliveTimeout = 30_000;
  }

  /** Opens the database under the data directory and starts listening. */
  static async start(opts: ReceiverOptions): Promise<Receiver> {
    const r = new Receiver(opts);
    try {
      await new Promise<void>((resolve, reject) => {
        r.server.once('error', reject);
        r.server.listen(opts.port ?? DEFAULT_PORT, opts.host ?? DEFAULT_HOST, () => {
          r.server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      r.store.close();
      throw err;
    }
    r.address = r.server.address() as AddressInfo;
    return r;
  }

  get port(): number {
    return this.address?.port ?? 0;
  }

  get url(): string {
    const host = this.address?.family === 'IPv6' ? `[${this.address.address}]` : (this.address?.address ?? DEFAULT_HOST);
    return `http://${host}:${this.port}`;
  }

  get dataDir(): string {
    return this.opts.dataDir;
  }

  stats(): ReceiverStats {
    const c = this.counters;
    return {
      ...c,
      requests: { ...c.requests },
      responses: { ...c.responses },
      faults: { ...c.faults },
      events: { ...c.events },
      loaded: { ...this.store.loaded },
      store: this.store.counts(),
    };
  }

  resetStats(): void {
    this.counters = Receiver.emptyCounters();
  }

  /** Merges into the fault configuration (`reset`: start from no faults). */
  setFaults(faults: Partial<FaultConfig>, reset = false): void {
    this.faultInjector.set(faults, reset);
  }

  faults(): FaultConfig {
    return this.faultInjector.current;
  }

  artifacts(): ArtifactRecord[] {
    return this.store.list();
  }

  artifact(ns: NamespaceRef, artifactPath: string): ArtifactRecord | null {
    return this.store.get(ns, artifactPath);
  }

  /** Current content of an artifact, or null. */
  async latestContent(ns: NamespaceRef, artifactPath: string): Promise<string | null> {
    const a = this.store.get(ns, artifactPath);
    return a ? this.store.readBody(a.latest_hash) : null;
  }

  /** Stops listening, drops open connections (hung ones and live streams too), closes the database. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.live.close();
      this.server.closeAllConnections();
      await closed;
      this.store.close();
    })();
    return this.closing;
  }

  private static emptyCounters(): Omit<ReceiverStats, 'loaded' | 'store'> {
    return {
      requests: { events: 0, push_content: 0, admin: 0, dashboard: 0, other: 0 },
      responses: {},
      faults: { latency: 0, hang: 0, drop: 0, rate_limit: 0, fail: 0 },
      events: { success: 0, duplicate: 0, rejected: 0 },
      stored: 0,
      already_exists: 0,
      index_entry_not_found: 0,
      namespace_not_found: 0,
      unauthorized: 0,
      client_errors: 0,
    };
  }

  private count(status: number): void {
    this.counters.responses[status] = (this.counters.responses[status] ?? 0) + 1;
    if (status >= 400 && status < 500) this.counters.client_errors++;
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.count(status);
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://receiver');
    const route = apiRouteOf(url.pathname);
    const dashboardRoute = route === null && this.dashboard.handles(url.pathname);
    if (route === 'events') this.counters.requests.events++;
    else if (route === 'push-content') this.counters.requests.push_content++;
    else if (dashboardRoute) this.counters.requests.dashboard++;
    else if (route === null) this.counters.requests.other++;
    else this.counters.requests.admin++;

    let raw: Buffer;
    try {
      raw = await readRequestBody(req, MAX_REQUEST_BYTES);
    } catch (err) {
      if (err instanceof RequestTooLarge) {
        this.send(res, 413, { error: 'request_too_large', detail: `the request body exceeds ${MAX_REQUEST_BYTES} bytes` });
      }
      return;
    }

    if (dashboardRoute) {
      const status = await this.dashboard.handle(req, res, url, raw);
      this.count(status);
      if (status === 401) this.counters.unauthorized++;
      return;
    }

    if (route === 'events' || route === 'push-content') {
      const delay = this.faultInjector.latency(route);
      if (delay > 0) {
        this.counters.faults.latency++;
        await sleep(delay);
      }
      const fault = this.faultInjector.decide(route);
      switch (fault.kind) {
        case 'hang':
          // Accept and never answer; close() destroys the socket.
          this.counters.faults.hang++;
          return;
        case 'drop':
          this.counters.faults.drop++;
          req.socket.destroy();
          return;
        case 'rate_limit':
          this.counters.faults.rate_limit++;
          this.send(res, 429, { error: 'rate_limited', retry_after: fault.retryAfterSeconds }, { 'Retry-After': String(fault.retryAfterSeconds) });
          return;
        case 'fail':
          this.counters.faults.fail++;
          this.send(res, fault.status, { error: 'injected_fault', detail: `fault injection: status ${fault.status}` });
          return;
        case 'none':
          break;
      }
    }

    if (route === null) return this.send(res, 404, { error: 'not_found', detail: `no endpoint ${url.pathname}` });
    if (route !== 'stats' && !this.auth.bearer(req)) {
      this.counters.unauthorized++;
      return this.send(res, 401, { error: 'unauthorized', detail: 'missing or wrong bearer token' }, { 'WWW-Authenticate': 'Bearer' });
    }
    switch (route) {
      case 'stats':
        return req.method === 'GET' ? this.send(res, 200, this.stats()) : this.methodNotAllowed(res, 'GET');
      case 'artifacts':
        return req.method === 'GET' ? this.send(res, 200, { ...this.store.counts(), artifacts: this.artifacts() }) : this.methodNotAllowed(res, 'GET');
      case 'blob': {
        if (req.method !== 'GET') return this.methodNotAllowed(res, 'GET');
        const body = this.store.readBody(url.pathname.split('/').filter(Boolean)[1] ?? '');
        if (body === null) return this.send(res, 404, { error: 'blob_not_found' });
        this.count(200);
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'X-Content-Type-Options': 'nosniff' });
        res.end(body);
        return;
      }
      case 'faults':
        return this.handleFaults(req, res, raw);
      case 'events':
      case 'push-content': {
        if (req.method !== 'POST') return this.methodNotAllowed(res, 'POST');
        const decoded = await this.decode(req, raw, route);
        if ('rejection' in decoded) return this.send(res, decoded.rejection.status, { error: decoded.rejection.error, detail: decoded.rejection.detail });
        return route === 'events' ? this.handleEvents(res, decoded.json) : this.handlePushContent(res, decoded.json);
      }
    }
  }

  private methodNotAllowed(res: http.ServerResponse, allow: string): void {
    this.send(res, 405, { error: 'method_not_allowed' }, { Allow: allow });
  }

  /** Decompresses (events must be gzip) and parses JSON. */
  private async decode(req: http.IncomingMessage, raw: Buffer, route: FaultEndpoint): Promise<{ json: unknown } | { rejection: Rejection }> {
    const encoding = String(req.headers['content-encoding'] ?? 'identity')
      .trim()
      .toLowerCase();
    let bytes = raw;
    if (encoding === 'gzip') {
      try {
        bytes = await gunzip(raw, { maxOutputLength: MAX_EVENTS_BYTES });
      } catch {
        return { rejection: { status: 400, error: 'invalid_gzip', detail: 'the body is not valid gzip (or too large once decompressed)' } };
      }
    } else if (encoding !== 'identity') {
      return { rejection: { status: 415, error: 'unsupported_content_encoding', detail: `Content-Encoding ${encoding} is not supported` } };
    } else if (route === 'events') {
      return { rejection: { status: 400, error: 'gzip_required', detail: 'an events batch must be sent with Content-Encoding: gzip' } };
    }
    try {
      return { json: JSON.parse(bytes.toString('utf8')) as unknown };
    } catch {
      return { rejection: { status: 400, error: 'invalid_json', detail: 'the body is not valid JSON' } };
    }
  }

  /**
   * Validates every event, then applies the accepted ones, EVENTS_PER_TRANSACTION to a transaction;
   * answers per event once all are committed. A crash in between leaves some applied and none
   * acknowledged: the client sends the batch again, and those come back as duplicates.
   */
  private async handleEvents(res: http.ServerResponse, json: unknown): Promise<void> {
    if (!isObject(json) || !Array.isArray(json.events)) {
      return this.send(res, 400, { error: 'invalid_batch', detail: 'the body must be {"events":[...]}' });
    }
    const results: (EventResult | null)[] = [];
    const accepted: AcceptedEvent[] = [];
    const slots: number[] = [];
    for (const e of json.events as unknown[]) {
      const eventId = isObject(e) && typeof e.event_id === 'string' ? e.event_id : '';
      const problems = eventProblems(e);
      if (problems.length > 0) {
        // A known event_id sent again is a duplicate, even if this copy would not validate.
        if (eventId !== '' && this.store.hasEvent(eventId)) {
          results.push({ event_id: eventId, status: 'duplicate' });
        } else results.push({ event_id: eventId, status: 'rejected', error: problems.join('; ') });
        continue;
      }
      slots.push(results.length);
      results.push(null);
      accepted.push(acceptedEvent(e));
    }
    const changes: Change[] = [];
    let done = 0;
    for (let i = 0; i < accepted.length; i += EVENTS_PER_TRANSACTION) {
      // Between transactions, other requests run: a batch of 500 holds this one thread for tens of
      // ms, and every upload in flight (a drain keeps 7 going beside its events) would wait for it.
      if (i > 0) await yieldToOthers();
      const applied = this.store.recordEvents(accepted.slice(i, i + EVENTS_PER_TRANSACTION));
      for (const o of applied.outcomes) results[slots[done++]] = o;
      changes.push(...applied.changes);
    }
    for (const r of results) this.counters.events[r!.status]++;
    this.send(res, 200, { results });
    this.live.publish(changes);
  }

  private handlePushContent(res: http.ServerResponse, json: unknown): void {
    const v = validatePushContent(json);
    if (!v.ok) return this.send(res, v.rejection.status, { error: v.rejection.error, detail: v.rejection.detail });
    const { ns, artifactPath, hash, content } = v.req;
    const check = this.store.checkBody(ns, artifactPath);
    if (check === 'namespace_not_found') {
      this.counters.namespace_not_found++;
      return this.send(res, 404, { error: 'namespace_not_found', detail: `no event for project ${ns.project_uuid} has been received` });
    }
    const indexedAt = this.store.indexedAt(ns, artifactPath);
    if (check === 'index_entry_not_found' || indexedAt === null || indexedAt + this.faultInjector.indexLagMs > Date.now()) {
      this.counters.index_entry_not_found++;
      return this.send(res, 404, { error: 'index_entry_not_found', detail: `${artifactPath} is not in this namespace's index (yet)` });
    }
    const { decision, change } = this.store.storeBody(ns, artifactPath, hash, content);
    const echo = { artifact_path: artifactPath, content_hash: hash };
    if (decision === 'stored') {
      this.counters.stored++;
      this.send(res, 201, { status: 'stored', ...echo });
      if (change) this.live.publish([change]);
      return;
    }
    this.counters.already_exists++;
    return this.send(res, 200, { status: 'already_exists', ...echo });
  }

  private handleFaults(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer): void {
    if (req.method === 'GET') return this.send(res, 200, this.faults());
    if (req.method !== 'POST') return this.methodNotAllowed(res, 'GET, POST');
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return this.send(res, 400, { error: 'invalid_json', detail: 'the body is not valid JSON' });
    }
    if (!isObject(body)) return this.send(res, 400, { error: 'invalid_faults', detail: 'expected a JSON object' });
    const { reset, ...partial } = body;
    try {
      this.setFaults(partial as Partial<FaultConfig>, reset === true);
    } catch (err) {
      return this.send(res, 400, { error: 'invalid_faults', detail: err instanceof Error ? err.message : String(err) });
    }
    this.send(res, 200, this.faults());
  }
}

export function startReceiver(opts: ReceiverOptions): Promise<Receiver> {
  return Receiver.start(opts);
}
