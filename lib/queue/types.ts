// What the queue hands out and takes back: its work items, results, counts and dead letters. In a
// file of their own so every piece of the queue (and the drain) shares one definition.
import type { DossierEvent, NamespaceRef } from '../types.js';

export interface EnqueueResult {
  added: number;
  duplicate: number;
  superseded: number;
  refused: number;
  refusedArtifacts: { feature_slug: string; artifact_path: string; content_hash: string }[];
}

export interface MergeReport extends EnqueueResult {
  /** Spools merged in this transaction. */
  spools: number;
  /** Events queued without a body of their own (Indexed events of files not uploaded, snapshots). */
  events: number;
}

export interface BodyTask {
  upload_id: string;
  namespace: NamespaceRef;
  artifact_path: string;
  content_hash: string;
  hash_algorithm: 'sha256';
  size_bytes: number;
  event_id: string | null;
  created_at: number;
  retry_count: number;
  next_attempt_at: number;
  last_error: string | null;
  /** Where the body is: a pack and the absolute offset in it, or null (a v2 file bodies/<hash>). */
  pack: string | null;
  off: number | null;
  /** Git blob id, to re-read a damaged body (issue 12 §5). */
  oid: string | null;
}

export interface StoredEvent {
  event_id: string;
  /** The row, for a cheap lookup when its result is applied (event_id is not indexed). */
  seq: number;
  envelope: DossierEvent;
  retry_count: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
}

/**
 * When queued work is stale (moved to the failed list): older than maxAgeMs, or tried maxRetries
 * times. everyMs: look at most this often (a hook); without it, every drain looks. sliceRows: look in
 * parts of that many body tasks, one per call (a hook: a whole look scans every task, 120-150 ms with
 * 100k pending, paid by one hook on the user's commit).
 */
export interface StalePolicy {
  maxAgeMs: number;
  maxRetries: number;
  everyMs?: number;
  sliceRows?: number;
}

/** A body's result as the drain reports it: when its request started and which artifact version it was. */
export interface BodyResultRow {
  upload_id: string;
  result: TaskResult;
  startedAt?: number;
  key?: { namespace: NamespaceRef; artifact_path: string; content_hash: string };
}

export type TaskResult =
  | { kind: 'delivered' }
  /** abandoned: the request went out and got no answer (timeout, reset): the server may still apply it. */
  | { kind: 'retry'; error: string; notBeforeMs?: number; abandoned?: boolean }
  | { kind: 'released'; abandoned?: boolean }
  | { kind: 'dead'; reason: string };

export interface QueueStats {
  /** Body tasks (index events are counted separately in events_*). */
  pending: number;
  /** Bodies a drain can send now: their own time has come and so has their index event's (if unsent). */
  ready: number;
  /** pending - ready: in their own backoff, or waiting for an index event in backoff. */
  backoff: number;
  /** Of `backoff`, bodies whose own time has come but whose index event is still in backoff. */
  waiting_for_events: number;
  /** Body dead letters. */
  failed: number;
  events_pending: number;
  events_ready: number;
  events_backoff: number;
  events_failed: number;
  /** When nothing is ready: the earliest time (epoch ms) something can be sent (at most now + MAX_WAIT_MS); else null. */
  next_attempt_at: number | null;
  /** The latest error of the work in backoff (e.g. connection_refused, http_429), or null. */
  last_error: string | null;
  oldest_pending_age_ms: number | null;
  per_feature: Record<string, { pending: number; failed: number }>;
  /** Body tasks by retry count bucket: "0", "1", "2", "3-4", "5-8", "9-16", "17+". */
  retry_histogram: Record<string, number>;
  capacity: number;
  /** Captures (spools) written while the queue was busy and not merged yet: their work is not counted above. */
  spools_unmerged: number;
}

/**
 * What is left in the queue: body tasks and index events pending, captures not merged yet included.
 * Two COUNTs, where QueueStats scans every task (hundreds of ms at 100k): all a hook reports.
 */
export type LeftCounts = Pick<QueueStats, 'pending' | 'events_pending'>;

/** Which counts a run reads for its report: everything (`full`: QueueStats, what status and drain print) or what is `left`. */
export type CountScope = 'full' | 'left';
export type CountsOf<S extends CountScope> = S extends 'left' ? LeftCounts : QueueStats;

export interface DeadLetter {
  id: string;
  kind: 'body' | 'event';
  feature_slug: string;
  artifact_path: string;
  content_hash: string | null;
  reason: string;
  failed_at: number;
  retry_count: number;
  namespace: NamespaceRef | null;
}

export interface RetryResult {
  requeued: number;
  /** Dead letters dropped because a newer version of the artifact was enqueued since. */
  superseded: number;
  unknown: string[];
  /** Body dead letters kept because their stored body is gone or damaged (cannot be re-sent). */
  unavailable: string[];
}
