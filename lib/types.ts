// Domain types shared by every module. Data flows one way:
// Git -> ArtifactCandidate -> EligibleArtifact -> queue (BodyTask, IndexEvent) -> drain -> UploadOutcome.

import type { ArtifactIndexedPayload, NamespaceRef, PushContentRequest as WirePushContentRequest } from './contract/wire.js';

/** The five fields that identify where an artifact lives on the server (SPEC §2): the contract's. */
export type { NamespaceRef };

/** Why an artifact (or a whole feature directory) is not uploaded (SPEC §3). */
export type SkipReason =
  | 'unsupported_surface'
  | 'unsupported_format'
  | 'not_regular_file'
  | 'oversized'
  | 'binary'
  | 'not_valid_utf8'
  | 'deleted'
  /** A feature directory whose name cannot be a feature slug (control characters). */
  | 'invalid_feature_slug'
  /** meta.json of the feature could not be parsed: the feature is skipped. */
  | 'invalid_metadata'
  /** The file name cannot form a valid artifact key (047 drops the whole feature; kitty-sync only this file). */
  | 'invalid_artifact_key'
  /** The file (or feature directory) name is not valid UTF-8, so it cannot be sent as its real name. */
  | 'invalid_path_encoding';

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

/** 047's indexer facts about one artifact (SPEC §5.1 payload; wp_id and step_id are always null). */
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

/** A file 047 indexes (present as text): one MissionDossierArtifactIndexed event each. */
export interface IndexedArtifact extends ArtifactClassification {
  artifact_path: string;
  content_hash: string;
  size_bytes: number;
}

/** Everything indexed of one feature at a commit: its Indexed events and its snapshot. */
export interface FeatureIndex {
  namespace: NamespaceRef;
  /** Every indexed file of the feature, by path. */
  artifacts: IndexedArtifact[];
  /** False for a mission 047 has no manifest for (its snapshot says `unknown`). */
  manifest_known: boolean;
}

/** Where the artifacts came from; copied into each event's envelope (047 sends nulls where git has no answer). */
export interface CommitContext {
  /** `sync.team_slug` / KITTY_SYNC_TEAM; 047 sends 'local' when no team is known. */
  team_slug: string;
  project_slug: string;
  /** `owner/repo` of `origin`; null without one. */
  repo_slug: string | null;
  /** The checked-out branch, 'HEAD' when detached. */
  git_branch: string | null;
  head_commit_sha: string | null;
}

/** The envelope fields every dossier event carries, in 047's order (wire.json `envelope_field_order`). */
interface EnvelopeBase<T extends string, P> {
  event_id: string;
  event_type: T;
  aggregate_id: string;
  aggregate_type: 'MissionDossier';
  payload: P;
  node_id: string;
  lamport_clock: number;
  causation_id: null;
  timestamp: string;
  team_slug: string;
  project_uuid: string;
  project_slug: string;
  git_branch: string | null;
  head_commit_sha: string | null;
  repo_slug: string | null;
}

/** A MissionDossierArtifactIndexed event as sent on the wire (SPEC §5.1). */
export type IndexEvent = EnvelopeBase<'MissionDossierArtifactIndexed', ArtifactIndexedPayload>;

export interface ArtifactCounts {
  total: number;
  required: number;
  required_present: number;
  required_missing: number;
  optional: number;
  optional_present: number;
}

/** A MissionDossierSnapshotComputed event, one per synced feature after its Indexed events. */
export type SnapshotEvent = EnvelopeBase<
  'MissionDossierSnapshotComputed',
  {
    feature_slug: string;
    parity_hash_sha256: string;
    artifact_counts: ArtifactCounts;
    completeness_status: 'complete' | 'incomplete' | 'unknown';
    snapshot_id: string;
    namespace: NamespaceRef;
  }
>;

/** Every event kitty-sync sends. */
export type DossierEvent = IndexEvent | SnapshotEvent;

/** The push-content request body (SPEC §5.2) as kitty-sync sends it: with mission_slug (equal to mission_key), which 047 always sends and its server's serializer requires. */
export type PushContentRequest = WirePushContentRequest & { mission_slug: string };
