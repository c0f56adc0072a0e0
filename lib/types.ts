// Domain types shared by every module. Data flows one way:
// Git -> ArtifactCandidate -> EligibleArtifact -> queue (BodyTask, IndexEvent) -> drain -> UploadOutcome.

/** The five fields that identify where an artifact lives on the server (SPEC §2). */
export interface NamespaceRef {
  project_uuid: string;
  feature_slug: string;
  target_branch: string;
  mission_key: string;
  manifest_version: string;
}

/** Why an artifact (or a whole feature directory) is not uploaded (SPEC §3). */
export type SkipReason =
  | 'unsupported_surface'
  | 'unsupported_format'
  | 'not_regular_file'
  | 'oversized'
  | 'binary'
  | 'not_valid_utf8'
  | 'deleted'
  | 'invalid_feature_slug'
  /** meta.json or a manifest override of the feature could not be parsed: the feature is skipped. */
  | 'invalid_metadata';

/** The closed set of per-artifact results (SPEC §4). */
export type OutcomeStatus = 'uploaded' | 'already_exists' | 'queued' | 'skipped' | 'failed';

export interface UploadOutcome {
  feature_slug: string;
  artifact_path: string;
  content_hash: string | null;
  status: OutcomeStatus;
  /** A SkipReason for `skipped`, a short machine code for others (e.g. `http_500`, `dry_run`), or null. */
  reason: string | null;
  size_bytes?: number;
  /** Human detail (e.g. the file that failed to parse); never contains the token. */
  detail?: string;
}

/** Git's view of one file at a revision. */
export type GitEntryKind = 'blob' | 'symlink' | 'submodule' | 'missing';

/** One path under kitty-specs/<feature>/ at a revision, before eligibility. */
export interface ArtifactCandidate {
  feature_dir: string;
  /** Relative to the feature directory, '/' separators. */
  artifact_path: string;
  kind: GitEntryKind;
  /** Git object id (blob sha-1) when kind is blob/symlink; null when missing. */
  object_id: string | null;
  size_bytes: number;
}

/** Manifest knowledge about one artifact (SPEC §5.1 payload). */
export interface ArtifactClassification {
  artifact_key: string;
  artifact_class: string;
  wp_id: string | null;
  step_id: string | null;
  required_status: 'required' | 'optional';
}

/** An artifact that passed every eligibility check, with its committed bytes. */
export interface EligibleArtifact extends ArtifactClassification {
  namespace: NamespaceRef;
  artifact_path: string;
  content_hash: string;
  size_bytes: number;
  body: Buffer;
  /** Git blob id of the body (re-read from Git if the stored copy is ever found damaged). */
  object_id?: string | null;
}

/** Where the artifacts came from; copied into each index event's envelope. */
export interface CommitContext {
  project_slug: string;
  repo_slug: string;
  git_branch: string;
  head_commit_sha: string;
}

/** A MissionDossierArtifactIndexed event as sent on the wire (SPEC §5.1). */
export interface IndexEvent {
  event_id: string;
  event_type: 'MissionDossierArtifactIndexed';
  aggregate_id: string;
  aggregate_type: 'MissionDossier';
  payload: {
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
  };
  node_id: string;
  lamport_clock: number;
  causation_id: null;
  timestamp: string;
  project_uuid: string;
  project_slug: string;
  git_branch: string;
  head_commit_sha: string;
  repo_slug: string;
}

/** The push-content request body (SPEC §5.2). */
export interface PushContentRequest extends NamespaceRef {
  artifact_path: string;
  content_hash: string;
  hash_algorithm: 'sha256';
  content_body: string;
}
