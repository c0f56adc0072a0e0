// MissionDossierArtifactIndexed events (SPEC §5.1): the envelope sent before an artifact's body.
// The queue stores an event as a compact EventRecord and rebuilds the wire envelope on read.
import { ulid } from 'ulid';
import type { ArtifactClassification, CommitContext, EligibleArtifact, IndexEvent, NamespaceRef } from './types.js';
import { pickNamespace } from './namespace.js';

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
  /** Milliseconds since the epoch; rendered as ISO 8601 UTC. */
  timestamp_ms: number;
}

/**
 * A new event for one eligible artifact; `lamportClock` must come from the persisted clock, already
 * incremented under the queue lock. `eventId` defaults to a fresh ULID.
 */
export function newEventRecord(
  item: EligibleArtifact,
  ctx: CommitContext,
  nodeId: string,
  lamportClock: number,
  nowMs: number,
  eventId: string = ulid(nowMs),
): EventRecord {
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
    context: {
      project_slug: ctx.project_slug,
      repo_slug: ctx.repo_slug,
      git_branch: ctx.git_branch,
      head_commit_sha: ctx.head_commit_sha,
    },
    node_id: nodeId,
    lamport_clock: lamportClock,
    timestamp_ms: nowMs,
  };
}

/** The wire envelope (SPEC §5.1). */
export function buildIndexEvent(r: EventRecord): IndexEvent {
  return {
    event_id: r.event_id,
    event_type: 'MissionDossierArtifactIndexed',
    aggregate_id: `${r.namespace.feature_slug}:${r.classification.artifact_key}`,
    aggregate_type: 'MissionDossier',
    payload: {
      feature_slug: r.namespace.feature_slug,
      artifact_key: r.classification.artifact_key,
      artifact_class: r.classification.artifact_class,
      relative_path: r.artifact_path,
      content_hash_sha256: r.content_hash,
      size_bytes: r.size_bytes,
      wp_id: r.classification.wp_id,
      step_id: r.classification.step_id,
      required_status: r.classification.required_status,
      namespace: pickNamespace(r.namespace),
    },
    node_id: r.node_id,
    lamport_clock: r.lamport_clock,
    causation_id: null,
    timestamp: new Date(r.timestamp_ms).toISOString(),
    project_uuid: r.namespace.project_uuid,
    project_slug: r.context.project_slug,
    git_branch: r.context.git_branch,
    head_commit_sha: r.context.head_commit_sha,
    repo_slug: r.context.repo_slug,
  };
}
