// What a server's answer means (SPEC §5.2 table): delivered, retry later (with the wait it asked
// for), stop, or refused for good. Pure functions over the status, headers and body text.
import type { EventResult } from '../contract/wire.js';
import { capWait } from '../queue/retry.js';
import type { PushContentBody } from './encoding.js';

/** Server error text kept in a reason: enough to diagnose, short enough for a log line. */
const MAX_ERROR_TEXT = 200;

export type BodyResult =
  | { kind: 'stored' }
  | { kind: 'already_exists' }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'unauthorized'; reason: string }
  /** 410 (retired) or 412 (protocol refused): stop the drain, keep everything, tell the user `message`. */
  | { kind: 'halt'; reason: string; message: string }
  | { kind: 'permanent'; reason: string }
  | { kind: 'aborted' };

export type EventsResult =
  | { kind: 'results'; results: EventResult[] }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'unauthorized'; reason: string }
  | { kind: 'halt'; reason: string; message: string }
  | { kind: 'permanent'; reason: string }
  | { kind: 'aborted' };

/** The failure kinds both endpoints share. */
export type FailureResult = Extract<BodyResult, { kind: 'retry' | 'unauthorized' | 'halt' | 'permanent' | 'aborted' }>;

/** What `probe` saw: the server's raw answer to an empty events batch, or why none came. */
export type ProbeResult = { reached: true; status: number; body: Record<string, unknown> | null; detail: string } | { reached: false; reason: string };

export interface RawResponse {
  status: number;
  headers: { get(name: string): string | null };
  text: string;
}

/** Non-success statuses per the SPEC §5.2 table; `redact` hides the token in what the server echoed. */
export function classifyFailure(res: RawResponse, redact: (text: string) => string): FailureResult {
  const { status } = res;
  const body = parseJsonObject(res.text);
  const errorCode = typeof body?.error === 'string' ? body.error : null;
  const detail = redact(errorText(body, res.text));
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
      : "it refuses this protocol version; check that the server speaks spec-kitty 047's sync protocol";
  return `${said}: ${what}, then run \`kitty-sync drain\`. Nothing was lost: everything stays queued.`;
}

export function parseJsonObject(text: string): Record<string, unknown> | null {
  if (text === '') return null;
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The server's explanation, one line, truncated; '' when there is none. */
export function errorText(body: Record<string, unknown> | null, raw: string): string {
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

export function parseEventResults(text: string): EventResult[] | null {
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
export function networkReason(err: unknown): string {
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
