// The wire between a sync client and a receiver (SPEC §5), as spec-kitty 047's client sends it
// (../shared/conformance/047/wire.json). Types and constants only: shared by the client and server/.

/** The five fields that identify where an artifact lives on the server (SPEC §2). */
export interface NamespaceRef {
  project_uuid: string;
  feature_slug: string;
  target_branch: string;
  mission_key: string;
  manifest_version: string;
}

export const NAMESPACE_FIELDS = ['project_uuid', 'feature_slug', 'target_branch', 'mission_key', 'manifest_version'] as const satisfies readonly (keyof NamespaceRef)[];

export const EVENTS_BATCH_PATH = '/api/v1/events/batch/';
export const PUSH_CONTENT_PATH = '/api/dossier/push-content/';

/** Where `kitty-sync serve` listens unless told otherwise. */
export const DEFAULT_SERVE_HOST = '127.0.0.1';
export const DEFAULT_SERVE_PORT = 8787;

/** The push-content request body (SPEC §5.2). 047 always sends `mission_slug` (= mission_key). */
export interface PushContentRequest extends NamespaceRef {
  mission_slug?: string;
  artifact_path: string;
  content_hash: string;
  hash_algorithm: 'sha256';
  content_body: string;
}

/** The two answers that mean "delivered" (201 stored, 200 already_exists); both echo the artifact. */
export interface PushContentSuccess {
  status: 'stored' | 'already_exists';
  artifact_path: string;
  content_hash: string;
}

/** Every error answer: a machine code, and for people a detail. */
export interface ErrorAnswer {
  error: string;
  detail?: string;
  /** Seconds, on 429. */
  retry_after?: number;
}

export const ARTIFACT_INDEXED = 'MissionDossierArtifactIndexed';
export const SNAPSHOT_COMPUTED = 'MissionDossierSnapshotComputed';
export const ARTIFACT_MISSING = 'MissionDossierArtifactMissing';
/** Every dossier event type has this shape; only ARTIFACT_INDEXED feeds a receiver's index. */
export const DOSSIER_EVENT_TYPE_RE = /^MissionDossier[A-Z][A-Za-z]*$/;

/** One event envelope in `{"events":[…]}` (SPEC §5.1); field order as 047 sends it. */
export interface EventEnvelope<P = Record<string, unknown>> {
  event_id: string;
  event_type: string;
  aggregate_id: string;
  aggregate_type: 'MissionDossier';
  payload: P;
  node_id: string;
  lamport_clock: number;
  causation_id: string | null;
  timestamp: string;
  team_slug?: string;
  project_uuid: string;
  project_slug: string | null;
  git_branch: string | null;
  head_commit_sha: string | null;
  repo_slug: string | null;
}

/** The payload of a MissionDossierArtifactIndexed event. */
export interface ArtifactIndexedPayload {
  feature_slug: string;
  artifact_key: string;
  artifact_class: string;
  relative_path: string;
  content_hash_sha256: string;
  size_bytes: number;
  wp_id: string | null;
  step_id: string | null;
  required_status: 'required' | 'optional';
  namespace: NamespaceRef;
}

export interface EventResult {
  event_id: string;
  status: 'success' | 'duplicate' | 'rejected';
  error?: string;
}

export interface EventsBatchAnswer {
  results: EventResult[];
}
