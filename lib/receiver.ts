// The local reference receiver (SPEC §9): both endpoints of §5 with the contract's validation,
// the index materialized from MissionDossierArtifactIndexed events, bearer-token checks,
// persistence (lib/receiver-store.ts) and fault injection (lib/faults.ts). Test-and-demo
// endpoints: GET /__stats, GET /__artifacts, GET /__blobs/<sha256>, GET|POST /__faults.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip as gunzipCb } from 'node:zlib';
import { isUuid, namespaceProblems, pickNamespace } from './namespace.js';
import type { NamespaceRef } from './types.js';
import { FaultInjector, type FaultConfig, type FaultEndpoint } from './faults.js';
import { ReceiverStore, type ArtifactRecord, type LoadReport } from './receiver-store.js';

const gunzip = promisify(gunzipCb);

export const MAX_CONTENT_BYTES = 524_288;
/** Raw request limit: a 512 KiB body JSON-escaped (control characters ×6) still fits. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** Decompressed events batch limit (guards against a gzip bomb). */
export const MAX_EVENTS_BYTES = 64 * 1024 * 1024;
export const DEFAULT_PORT = 8787;
export const DEFAULT_HOST = '127.0.0.1';

const SHA256_RE = /^[0-9a-f]{64}$/;
const ULID_RE = /^[0-9A-HJKMNP-TV-Z]{26}$/i;

export interface ReceiverOptions {
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** When set, every API request needs `Authorization: Bearer <token>`. */
  token?: string | null;
  faults?: Partial<FaultConfig>;
}

export interface ReceiverStats {
  requests: { events: number; push_content: number; admin: number; other: number };
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
  store: { namespaces: number; index_entries: number; artifact_count: number; events: number };
}

/** A validation failure: HTTP status, machine code, human detail. */
interface Rejection {
  status: number;
  error: string;
  detail: string;
}

/** Why an artifact path is unacceptable, or null (SPEC §3: relative to the feature, '/' separated). */
export function artifactPathProblem(p: unknown): string | null {
  if (typeof p !== 'string' || p === '') return 'artifact_path is missing or empty';
  if (p.startsWith('/')) return 'artifact_path must be relative (no leading "/")';
  if (p.includes('\\')) return 'artifact_path must use "/" separators (no backslash)';
  if (p.includes('\u0000')) return 'artifact_path must not contain NUL';
  const segments = p.split('/');
  if (segments.includes('..')) return 'artifact_path must not contain ".." segments';
  if (segments.some((s) => s === '' || s === '.')) return 'artifact_path must not contain empty or "." segments';
  if (p.length > 1024) return 'artifact_path is longer than 1024 characters';
  return null;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Validates a push-content body; returns the request or the rejection to answer. */
export function validatePushContent(body: unknown): { ok: true; ns: NamespaceRef; artifactPath: string; hash: string; content: string } | { ok: false; rejection: Rejection } {
  const reject = (status: number, error: string, detail: string) => ({ ok: false as const, rejection: { status, error, detail } });
  if (!isObject(body)) return reject(400, 'invalid_json', 'the body must be a JSON object');
  const nsProblems = namespaceProblems(body);
  if (nsProblems.length > 0) return reject(400, 'invalid_namespace', nsProblems.join('; '));
  const pathProblem = artifactPathProblem(body.artifact_path);
  if (pathProblem) return reject(400, 'invalid_artifact_path', pathProblem);
  if (body.hash_algorithm !== 'sha256') return reject(400, 'unsupported_hash_algorithm', 'hash_algorithm must be "sha256"');
  if (typeof body.content_hash !== 'string' || !SHA256_RE.test(body.content_hash)) {
    return reject(400, 'invalid_content_hash', 'content_hash must be 64 lowercase hex characters');
  }
  if (typeof body.content_body !== 'string') return reject(400, 'invalid_content_body', 'content_body must be a string');
  const size = Buffer.byteLength(body.content_body, 'utf8');
  if (size > MAX_CONTENT_BYTES) {
    return reject(413, 'content_too_large', `content_body is ${size} bytes; the limit is ${MAX_CONTENT_BYTES}`);
  }
  if (sha256Hex(body.content_body) !== body.content_hash) {
    return reject(400, 'content_hash_mismatch', 'sha256 of content_body (UTF-8) does not equal content_hash');
  }
  return { ok: true, ns: pickNamespace(body as unknown as NamespaceRef), artifactPath: body.artifact_path as string, hash: body.content_hash, content: body.content_body };
}

/** Every problem with one event envelope (SPEC §5.1); empty when acceptable. */
export function eventProblems(e: unknown): string[] {
  if (!isObject(e)) return ['event is not an object'];
  const problems: string[] = [];
  const str = (obj: Record<string, unknown>, field: string, where: string, nonEmpty = true): void => {
    const v = obj[field];
    if (typeof v !== 'string' || (nonEmpty && v === '')) problems.push(`${where}${field} must be a${nonEmpty ? ' non-empty' : ''} string`);
  };
  if (typeof e.event_id !== 'string' || !ULID_RE.test(e.event_id)) problems.push('event_id must be a ULID');
  if (typeof e.event_type !== 'string' || !e.event_type.startsWith('MissionDossier')) problems.push(`unsupported event_type ${JSON.stringify(e.event_type)}`);
  if (e.aggregate_type !== 'MissionDossier') problems.push('aggregate_type must be "MissionDossier"');
  str(e, 'node_id', '');
  if (!Number.isInteger(e.lamport_clock) || (e.lamport_clock as number) < 0) problems.push('lamport_clock must be a non-negative integer');
  if (e.causation_id !== null && typeof e.causation_id !== 'string') problems.push('causation_id must be null or a string');
  if (typeof e.timestamp !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(e.timestamp) || Number.isNaN(Date.parse(e.timestamp))) {
    problems.push('timestamp must be an ISO 8601 date-time');
  }
  str(e, 'project_slug', '', false);
  // 047 sends null where git has no answer (no origin, no branch).
  for (const f of ['git_branch', 'head_commit_sha', 'repo_slug']) if (e[f] !== null) str(e, f, '', false);
  if (e.team_slug !== undefined) str(e, 'team_slug', '');
  if (typeof e.project_uuid !== 'string' || !isUuid(e.project_uuid)) problems.push('project_uuid must be a UUID');
  const p = e.payload;
  if (!isObject(p)) {
    problems.push('payload must be an object');
    return problems;
  }
  // Other dossier events (snapshots, missing artifacts) are stored, not indexed: only their namespace is checked.
  if (e.event_type !== 'MissionDossierArtifactIndexed') {
    if (!isObject(p.namespace)) problems.push('payload.namespace must be an object');
    else for (const np of namespaceProblems(p.namespace)) problems.push(`payload.namespace: ${np}`);
    return problems;
  }
  if (!isObject(p.namespace)) problems.push('payload.namespace must be an object');
  else {
    for (const np of namespaceProblems(p.namespace)) problems.push(`payload.namespace: ${np}`);
    if (p.namespace.feature_slug !== p.feature_slug) problems.push('payload.feature_slug differs from payload.namespace.feature_slug');
    if (p.namespace.project_uuid !== e.project_uuid) problems.push('project_uuid differs from payload.namespace.project_uuid');
  }
  str(p, 'feature_slug', 'payload.');
  str(p, 'artifact_key', 'payload.');
  str(p, 'artifact_class', 'payload.');
  const pathProblem = artifactPathProblem(p.relative_path);
  if (pathProblem) problems.push(`payload.${pathProblem.replace('artifact_path', 'relative_path')}`);
  if (typeof p.content_hash_sha256 !== 'string' || !SHA256_RE.test(p.content_hash_sha256)) {
    problems.push('payload.content_hash_sha256 must be 64 lowercase hex characters');
  }
  // An oversized file is still indexed (047 indexes every present file); only its body is refused.
  if (!Number.isInteger(p.size_bytes) || (p.size_bytes as number) < 0) problems.push('payload.size_bytes must be a non-negative integer');
  for (const f of ['wp_id', 'step_id']) if (p[f] !== null && typeof p[f] !== 'string') problems.push(`payload.${f} must be a string or null`);
  if (p.required_status !== 'required' && p.required_status !== 'optional') problems.push('payload.required_status must be "required" or "optional"');
  if (typeof e.aggregate_id !== 'string' || e.aggregate_id !== `${String(p.feature_slug)}:${String(p.artifact_key)}`) {
    problems.push('aggregate_id must be "<feature_slug>:<artifact_key>"');
  }
  return problems;
}

type Route = FaultEndpoint | 'stats' | 'artifacts' | 'blob' | 'faults' | 'unknown';

function routeOf(pathname: string): Route {
  const p = pathname.endsWith('/') ? pathname : `${pathname}/`;
  if (p === '/api/dossier/push-content/') return 'push-content';
  if (p === '/api/v1/events/batch/') return 'events';
  if (p === '/__stats/') return 'stats';
  if (p === '/__artifacts/') return 'artifacts';
  if (p === '/__faults/') return 'faults';
  if (p.startsWith('/__blobs/')) return 'blob';
  return 'unknown';
}

class RequestTooLarge extends Error {}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
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

export class Receiver {
  readonly store: ReceiverStore;
  private readonly faultInjector: FaultInjector;
  private readonly server: http.Server;
  private readonly expectedAuth: Buffer | null;
  private counters = Receiver.emptyCounters();
  private address: AddressInfo | null = null;
  private closing: Promise<void> | null = null;

  private constructor(private readonly opts: ReceiverOptions) {
    this.store = new ReceiverStore(opts.dataDir);
    this.faultInjector = new FaultInjector(opts.faults ?? {});
    this.expectedAuth = opts.token ? createHash('sha256').update(`Bearer ${opts.token}`).digest() : null;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) this.send(res, 500, { error: 'internal_error', detail: err instanceof Error ? err.message : String(err) });
      });
    });
    // Longer than a drain's idle gaps, so the client's keep-alive sockets are rarely closed under it.
    this.server.keepAliveTimeout = 30_000;
  }

  /** Opens the data directory (replaying what it holds) and starts listening. */
  static async start(opts: ReceiverOptions): Promise<Receiver> {
    const r = new Receiver(opts);
    r.store.open();
    await new Promise<void>((resolve, reject) => {
      r.server.once('error', reject);
      r.server.listen(opts.port ?? DEFAULT_PORT, opts.host ?? DEFAULT_HOST, () => {
        r.server.off('error', reject);
        resolve();
      });
    });
    r.address = r.server.address() as AddressInfo;
    return r;
  }

  get port(): number {
    return this.address?.port ?? 0;
  }

  get url(): string {
    const host = this.address?.family === 'IPv6' ? `[${this.address.address}]` : this.address?.address ?? DEFAULT_HOST;
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

  /** Latest stored content of an artifact, or null. */
  async latestContent(ns: NamespaceRef, artifactPath: string): Promise<string | null> {
    const a = this.store.get(ns, artifactPath);
    return a ? this.store.readBody(a.latest_hash) : null;
  }

  /** Stops listening, drops open connections (hung ones too), flushes the journal. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      this.server.closeAllConnections();
      await closed;
      await this.store.close();
    })();
    return this.closing;
  }

  private static emptyCounters(): Omit<ReceiverStats, 'loaded' | 'store'> {
    return {
      requests: { events: 0, push_content: 0, admin: 0, other: 0 },
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

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.counters.responses[status] = (this.counters.responses[status] ?? 0) + 1;
    if (status >= 400 && status < 500) this.counters.client_errors++;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (!this.expectedAuth) return true;
    const given = createHash('sha256').update(req.headers.authorization ?? '').digest();
    return timingSafeEqual(given, this.expectedAuth);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? '/', 'http://receiver').pathname;
    const route = routeOf(pathname);
    if (route === 'events') this.counters.requests.events++;
    else if (route === 'push-content') this.counters.requests.push_content++;
    else if (route === 'unknown') this.counters.requests.other++;
    else this.counters.requests.admin++;

    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_REQUEST_BYTES);
    } catch (err) {
      if (err instanceof RequestTooLarge) {
        this.send(res, 413, { error: 'request_too_large', detail: `the request body exceeds ${MAX_REQUEST_BYTES} bytes` });
      }
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

    if (route === 'unknown') return this.send(res, 404, { error: 'not_found', detail: `no endpoint ${pathname}` });
    if (route !== 'stats' && !this.authorized(req)) {
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
        const body = await this.store.readBody(pathname.split('/').filter(Boolean)[1] ?? '');
        if (body === null) return this.send(res, 404, { error: 'blob_not_found' });
        this.counters.responses[200] = (this.counters.responses[200] ?? 0) + 1;
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
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
    const encoding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
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

  private async handleEvents(res: http.ServerResponse, json: unknown): Promise<void> {
    if (!isObject(json) || !Array.isArray(json.events)) {
      return this.send(res, 400, { error: 'invalid_batch', detail: 'the body must be {"events":[...]}' });
    }
    const results: { event_id: string; status: 'success' | 'duplicate' | 'rejected'; error?: string }[] = [];
    const writes: Promise<void>[] = [];
    for (const e of json.events as unknown[]) {
      const eventId = isObject(e) && typeof e.event_id === 'string' ? e.event_id : '';
      if (eventId !== '' && this.store.hasEvent(eventId)) {
        this.counters.events.duplicate++;
        results.push({ event_id: eventId, status: 'duplicate' });
        continue;
      }
      const problems = eventProblems(e);
      if (problems.length > 0) {
        this.counters.events.rejected++;
        results.push({ event_id: eventId, status: 'rejected', error: problems.join('; ') });
        continue;
      }
      const ev = e as { event_type: string; payload: { namespace: NamespaceRef; relative_path: string; content_hash_sha256: string } };
      if (ev.event_type === 'MissionDossierArtifactIndexed') {
        writes.push(this.store.recordEvent(eventId, ev.payload.namespace, ev.payload.relative_path, ev.payload.content_hash_sha256));
      }
      this.counters.events.success++;
      results.push({ event_id: eventId, status: 'success' });
    }
    await Promise.all(writes);
    this.send(res, 200, { results });
  }

  private async handlePushContent(res: http.ServerResponse, json: unknown): Promise<void> {
    const v = validatePushContent(json);
    if (!v.ok) return this.send(res, v.rejection.status, { error: v.rejection.error, detail: v.rejection.detail });
    // namespace_not_found only for a project this receiver has never seen (047 deletes such bodies for good).
    if (!this.store.knowsProject(v.ns.project_uuid)) {
      this.counters.namespace_not_found++;
      return this.send(res, 404, { error: 'namespace_not_found' });
    }
    const indexedAt = this.store.indexedAt(v.ns, v.artifactPath);
    if (indexedAt === null || indexedAt + this.faultInjector.indexLagMs > Date.now()) {
      this.counters.index_entry_not_found++;
      return this.send(res, 404, { error: 'index_entry_not_found' });
    }
    const decision = await this.store.storeBody(v.ns, v.artifactPath, v.hash, v.content);
    if (decision === 'stored') {
      this.counters.stored++;
      return this.send(res, 201, { status: 'stored', artifact_path: v.artifactPath, content_hash: v.hash });
    }
    this.counters.already_exists++;
    return this.send(res, 200, { status: 'already_exists', artifact_path: v.artifactPath, content_hash: v.hash });
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
