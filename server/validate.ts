// The receiver's validation of what a client sends (SPEC §5, §9), accepting everything
// spec-kitty 047's client sends: null git fields, team_slug, mission_slug, every dossier event type.
import { createHash } from 'node:crypto';
import { MAX_BODY_BYTES } from '../lib/contract/limits.js';
import { artifactPathProblem, isCanonicalUuid, namespaceProblems, pickNamespace } from '../lib/contract/namespace.js';
import { ARTIFACT_INDEXED, DOSSIER_EVENT_TYPE_RE, type ArtifactIndexedPayload, type EventEnvelope, type NamespaceRef } from '../lib/contract/wire.js';

const SHA256_RE = /^[0-9a-f]{64}$/;
const ULID_RE = /^[0-9A-HJKMNP-TV-Z]{26}$/i;

/** A validation failure: HTTP status, machine code, human detail. */
export interface Rejection {
  status: number;
  error: string;
  detail: string;
}

export interface PushContent {
  ns: NamespaceRef;
  artifactPath: string;
  hash: string;
  content: string;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Validates a push-content body; returns the request or the rejection to answer. */
export function validatePushContent(body: unknown): { ok: true; req: PushContent } | { ok: false; rejection: Rejection } {
  const reject = (status: number, error: string, detail: string) => ({ ok: false as const, rejection: { status, error, detail } });
  if (!isObject(body)) return reject(400, 'invalid_json', 'the body must be a JSON object');
  const nsProblems = namespaceProblems(body);
  if (nsProblems.length > 0) return reject(400, 'invalid_namespace', nsProblems.join('; '));
  // 047 always sends mission_slug = mission_key; older kitty-sync clients send none.
  if (body.mission_slug !== undefined && body.mission_slug !== body.mission_key) {
    return reject(400, 'invalid_mission_slug', 'mission_slug, when sent, must equal mission_key');
  }
  const pathProblem = artifactPathProblem(body.artifact_path);
  if (pathProblem) return reject(400, 'invalid_artifact_path', pathProblem);
  if (body.hash_algorithm !== 'sha256') return reject(400, 'unsupported_hash_algorithm', 'hash_algorithm must be "sha256"');
  if (typeof body.content_hash !== 'string' || !SHA256_RE.test(body.content_hash)) {
    return reject(400, 'invalid_content_hash', 'content_hash must be 64 lowercase hex characters');
  }
  if (typeof body.content_body !== 'string') return reject(400, 'invalid_content_body', 'content_body must be a string');
  const size = Buffer.byteLength(body.content_body, 'utf8');
  if (size > MAX_BODY_BYTES) {
    return reject(413, 'content_too_large', `content_body is ${size} bytes; the limit is ${MAX_BODY_BYTES}`);
  }
  if (sha256Hex(body.content_body) !== body.content_hash) {
    return reject(400, 'content_hash_mismatch', 'sha256 of content_body (UTF-8) does not equal content_hash');
  }
  return {
    ok: true,
    req: { ns: pickNamespace(body as unknown as NamespaceRef), artifactPath: body.artifact_path as string, hash: body.content_hash, content: body.content_body },
  };
}

function stringProblem(obj: Record<string, unknown>, field: string, where: string, opts: { nonEmpty?: boolean; nullable?: boolean; optional?: boolean } = {}): string | null {
  const v = obj[field];
  if (v === undefined && opts.optional) return null;
  if (v === null && opts.nullable) return null;
  if (typeof v === 'string' && !(opts.nonEmpty && v === '')) return null;
  return `${where}${field} must be a${opts.nonEmpty ? ' non-empty' : ''} string${opts.nullable ? ' or null' : ''}`;
}

/** Every problem with one event envelope (SPEC §5.1); empty when acceptable. */
export function eventProblems(e: unknown): string[] {
  if (!isObject(e)) return ['event is not an object'];
  const problems: string[] = [];
  const push = (p: string | null): void => {
    if (p) problems.push(p);
  };
  if (typeof e.event_id !== 'string' || !ULID_RE.test(e.event_id)) problems.push('event_id must be a ULID');
  if (typeof e.event_type !== 'string' || !DOSSIER_EVENT_TYPE_RE.test(e.event_type)) problems.push(`unsupported event_type ${JSON.stringify(e.event_type)}`);
  if (e.aggregate_type !== 'MissionDossier') problems.push('aggregate_type must be "MissionDossier"');
  push(stringProblem(e, 'node_id', '', { nonEmpty: true }));
  if (!Number.isSafeInteger(e.lamport_clock) || (e.lamport_clock as number) < 0) problems.push('lamport_clock must be a non-negative integer');
  push(stringProblem(e, 'causation_id', '', { nullable: true }));
  if (typeof e.timestamp !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(e.timestamp) || Number.isNaN(Date.parse(e.timestamp))) {
    problems.push('timestamp must be an ISO 8601 date-time');
  }
  push(stringProblem(e, 'team_slug', '', { nonEmpty: true, optional: true }));
  // 047 sends null for git facts it could not read (no remote, git failing).
  for (const f of ['project_slug', 'git_branch', 'head_commit_sha', 'repo_slug']) push(stringProblem(e, f, '', { nullable: true }));
  if (!isCanonicalUuid(e.project_uuid)) problems.push('project_uuid must be a canonical UUID');
  const p = e.payload;
  if (!isObject(p)) {
    problems.push('payload must be an object');
    return problems;
  }
  const indexed = e.event_type === ARTIFACT_INDEXED;
  if (p.namespace !== undefined || indexed) {
    if (!isObject(p.namespace)) problems.push('payload.namespace must be an object');
    else {
      for (const np of namespaceProblems(p.namespace)) problems.push(`payload.namespace: ${np}`);
      if (p.namespace.feature_slug !== p.feature_slug) problems.push('payload.feature_slug differs from payload.namespace.feature_slug');
      if (p.namespace.project_uuid !== e.project_uuid) problems.push('project_uuid differs from payload.namespace.project_uuid');
    }
  }
  if (p.feature_slug !== undefined || indexed) push(stringProblem(p, 'feature_slug', 'payload.', { nonEmpty: true }));
  if (typeof e.aggregate_id !== 'string' || (typeof p.feature_slug === 'string' && !e.aggregate_id.startsWith(`${p.feature_slug}:`))) {
    problems.push('aggregate_id must be "<feature_slug>:<id>"');
  }
  if (indexed) problems.push(...indexedPayloadProblems(e as unknown as EventEnvelope, p));
  return problems;
}

function indexedPayloadProblems(e: EventEnvelope, p: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const push = (x: string | null): void => {
    if (x) problems.push(x);
  };
  push(stringProblem(p, 'artifact_key', 'payload.', { nonEmpty: true }));
  push(stringProblem(p, 'artifact_class', 'payload.', { nonEmpty: true }));
  const pathProblem = artifactPathProblem(p.relative_path);
  if (pathProblem) problems.push(`payload.${pathProblem.replace('artifact_path', 'relative_path')}`);
  if (typeof p.content_hash_sha256 !== 'string' || !SHA256_RE.test(p.content_hash_sha256)) {
    problems.push('payload.content_hash_sha256 must be 64 lowercase hex characters');
  }
  // 047 indexes files of any size (an oversized file is indexed, its body skipped).
  if (!Number.isSafeInteger(p.size_bytes) || (p.size_bytes as number) < 0) problems.push('payload.size_bytes must be a non-negative integer');
  for (const f of ['wp_id', 'step_id']) push(stringProblem(p, f, 'payload.', { nullable: true }));
  if (p.required_status !== 'required' && p.required_status !== 'optional') problems.push('payload.required_status must be "required" or "optional"');
  if (e.aggregate_id !== `${String(p.feature_slug)}:${String(p.artifact_key)}`) problems.push('aggregate_id must be "<feature_slug>:<artifact_key>"');
  return problems;
}

/** An accepted event, reduced to what the store keeps in columns (the envelope is kept whole too). */
export interface AcceptedEvent {
  envelope: EventEnvelope;
  /** The payload's namespace, when it names one. */
  ns: NamespaceRef | null;
  /** Set for MissionDossierArtifactIndexed only. */
  indexed: ArtifactIndexedPayload | null;
}

/** Call only on an event without eventProblems(). */
export function acceptedEvent(e: unknown): AcceptedEvent {
  const envelope = e as EventEnvelope;
  const p = envelope.payload as Record<string, unknown>;
  const ns = isObject(p.namespace) ? pickNamespace(p.namespace as unknown as NamespaceRef) : null;
  return { envelope, ns, indexed: envelope.event_type === ARTIFACT_INDEXED ? (p as unknown as ArtifactIndexedPayload) : null };
}
