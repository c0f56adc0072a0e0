// Dossier events (SPEC §5.1), shaped exactly as spec-kitty 047's emitter shapes them
// (../shared/conformance/047/wire.json): one MissionDossierArtifactIndexed per indexed file,
// then one MissionDossierSnapshotComputed per feature. A capture (lib/queue/capture.ts) builds each
// envelope once and the queue keeps it as it is, filling in only the Lamport clock when sending.
import { createHash } from 'node:crypto';
import os from 'node:os';
import { ulid } from 'ulid';
import type { ArtifactClassification, ArtifactCounts, CommitContext, FeatureIndex, IndexEvent, NamespaceRef, SnapshotEvent } from '../types.js';
import { pickNamespace } from '../contract/namespace.js';

let nodeIdCache: string | null = null;

/**
 * The envelope's node_id as 047's LamportClock computes it: the first 12 hex digits of
 * sha256("<hostname>:<user>"), the user as Python's getpass.getuser() finds it. Stable per host and
 * user, so the server sees the same node as spec-kitty on this machine.
 */
export function envelopeNodeId(): string {
  if (nodeIdCache === null) {
    const env = process.env;
    let user = env.LOGNAME || env.USER || env.LNAME || env.USERNAME || '';
    if (!user) {
      try {
        user = os.userInfo().username;
      } catch {
        user = 'unknown';
      }
    }
    nodeIdCache = createHash('sha256').update(`${os.hostname()}:${user}`).digest('hex').slice(0, 12);
  }
  return nodeIdCache;
}

/** What an Indexed event says about one file. */
export type IndexedItem = ArtifactClassification & { namespace: NamespaceRef; artifact_path: string; content_hash: string; size_bytes: number };

/** Everything an index event is built from; what the queue persists per event. */
export interface EventRecord {
  event_id: string;
  namespace: NamespaceRef;
  artifact_path: string;
  content_hash: string;
  size_bytes: number;
  classification: ArtifactClassification;
  context: CommitContext;
  node_id: string;
  lamport_clock: number;
  /** Milliseconds since the epoch; rendered as 047 renders timestamps. */
  timestamp_ms: number;
}

/**
 * A new event for one indexed artifact; `lamportClock` must come from the persisted clock, already
 * incremented under the queue lock. `eventId` defaults to a fresh ULID.
 */
export function newEventRecord(item: IndexedItem, ctx: CommitContext, nodeId: string, lamportClock: number, nowMs: number, eventId: string = ulid(nowMs)): EventRecord {
  return {
    event_id: eventId,
    namespace: pickNamespace(item.namespace),
    artifact_path: item.artifact_path,
    content_hash: item.content_hash,
    size_bytes: item.size_bytes,
    classification: {
      artifact_key: item.artifact_key,
      artifact_class: item.artifact_class,
      wp_id: item.wp_id,
      step_id: item.step_id,
      required_status: item.required_status,
    },
    context: { ...ctx },
    node_id: nodeId,
    lamport_clock: lamportClock,
    timestamp_ms: nowMs,
  };
}

/** The common envelope, in 047's field order (wire.json `envelope_field_order`). */
function envelope<T extends string, P>(
  r: { event_id: string; node_id: string; lamport_clock: number; timestamp_ms: number; context: CommitContext; project_uuid: string },
  event_type: T,
  aggregate_id: string,
  payload: P,
) {
  return {
    event_id: r.event_id,
    event_type,
    aggregate_id,
    aggregate_type: 'MissionDossier' as const,
    payload,
    node_id: r.node_id,
    lamport_clock: r.lamport_clock,
    causation_id: null,
    timestamp: isoTimestamp(r.timestamp_ms),
    team_slug: r.context.team_slug,
    project_uuid: r.project_uuid,
    project_slug: r.context.project_slug,
    git_branch: r.context.git_branch,
    head_commit_sha: r.context.head_commit_sha,
    repo_slug: r.context.repo_slug,
  };
}

/** The wire envelope of an Indexed event (SPEC §5.1). */
export function buildIndexEvent(r: EventRecord): IndexEvent {
  const c = r.classification;
  return envelope({ ...r, project_uuid: r.namespace.project_uuid }, 'MissionDossierArtifactIndexed', `${r.namespace.feature_slug}:${c.artifact_key}`, {
    feature_slug: r.namespace.feature_slug,
    artifact_key: c.artifact_key,
    artifact_class: c.artifact_class,
    relative_path: r.artifact_path,
    content_hash_sha256: r.content_hash,
    size_bytes: r.size_bytes,
    wp_id: c.wp_id,
    step_id: c.step_id,
    required_status: c.required_status,
    namespace: pickNamespace(r.namespace),
  });
}

/** What a snapshot says about a feature; the queue stores it and builds the envelope on read. */
export interface SnapshotRecord {
  event_id: string;
  snapshot_id: string;
  namespace: NamespaceRef;
  parity_hash_sha256: string;
  artifact_counts: ArtifactCounts;
  completeness_status: SnapshotEvent['payload']['completeness_status'];
  context: CommitContext;
  node_id: string;
  lamport_clock: number;
  timestamp_ms: number;
}

/** 047's snapshot facts over a feature's indexed artifacts (rule 13). */
export function snapshotFacts(index: FeatureIndex): Pick<SnapshotRecord, 'parity_hash_sha256' | 'artifact_counts' | 'completeness_status'> {
  const required = index.artifacts.filter((a) => a.required_status === 'required').length;
  const optional = index.artifacts.length - required;
  // Every indexed artifact is present: nothing required is missing among them.
  const counts: ArtifactCounts = { total: index.artifacts.length, required, required_present: required, required_missing: 0, optional, optional_present: optional };
  return {
    parity_hash_sha256: parityHash(index.artifacts.map((a) => a.content_hash)),
    artifact_counts: counts,
    completeness_status: !index.manifest_known ? 'unknown' : counts.required_missing === 0 ? 'complete' : 'incomplete',
  };
}

/** A version-4-shaped UUID derived from an event id, so a snapshot keeps one snapshot_id across resends. */
export function snapshotUuid(eventId: string): string {
  const h = createHash('sha256').update(eventId).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[parseInt(h[16], 16) & 3]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** SHA-256 (hex) of the sorted content hashes concatenated: independent of scan order. */
export function parityHash(contentHashes: string[]): string {
  return createHash('sha256')
    .update([...contentHashes].sort().join(''))
    .digest('hex');
}

export function buildSnapshotEvent(r: SnapshotRecord): SnapshotEvent {
  return envelope({ ...r, project_uuid: r.namespace.project_uuid }, 'MissionDossierSnapshotComputed', `${r.namespace.feature_slug}:${r.snapshot_id}`, {
    feature_slug: r.namespace.feature_slug,
    parity_hash_sha256: r.parity_hash_sha256,
    artifact_counts: { ...r.artifact_counts },
    completeness_status: r.completeness_status,
    snapshot_id: r.snapshot_id,
    namespace: pickNamespace(r.namespace),
  });
}

/** The last time isoTimestamp formatted, and its text. */
let lastStamp = { ms: NaN, text: '' };

/**
 * 047's timestamp format (Python's `datetime.now(timezone.utc).isoformat()`):
 * `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`, the fraction left out when it is zero.
 */
export function isoTimestamp(ms: number): string {
  // A capture stamps all its events with one time: formatted once.
  if (ms === lastStamp.ms) return lastStamp.text;
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const millis = iso.slice(20, 23);
  const text = millis === '000' ? `${iso.slice(0, 19)}+00:00` : `${iso.slice(0, 19)}.${millis}000+00:00`;
  lastStamp = { ms, text };
  return text;
}
