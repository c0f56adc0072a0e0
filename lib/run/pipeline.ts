// One sync run, shared by the hooks and `kitty-sync sync` (issue 11):
//   1. capture: the eligible artifacts become ONE spool file (one write, one fsync, no lock);
//   2. merge: if the queue lock can be had (hooks wait only briefly), every complete spool is merged
//      into the queue, and the drain's opening read rides in the same transaction;
//   3. drain within what is left of the budget.
// When another process holds the queue, the run ends after step 1: the capture is durable and the
// next lock holder merges it. Every artifact of the run ends with exactly one outcome.
import type { CommitContext, EligibleArtifact, FeatureIndex, UploadOutcome } from '../types.js';
import { buildCapture } from '../queue/capture.js';
import { artifactKey } from '../contract/namespace.js';
import { LockTimeoutError } from '../queue/lock.js';
import { writePack } from '../queue/pack.js';
import { readQueue, withQueue, type EnqueueResult, type MergeReport } from '../queue/queue.js';
import { touchPendingMarker, type QueueHold } from '../queue/marker.js';
import type { CountScope, CountsOf, StalePolicy } from '../queue/types.js';
import { drain, DrainSession, type DrainReport, type DrainTransport } from '../delivery/drain.js';
import { mark } from '../trace.js';

export interface RunInput<S extends CountScope = 'full'> {
  stateDir: string;
  /** Per commit context: a pre-push of several refs enqueues several groups. */
  groups: SyncGroup[];
  /** Skipped outcomes found while collecting (reported, never enqueued). */
  skipped: UploadOutcome[];
  transport: DrainTransport | null;
  /** The drain's budget; null: until nothing is ready. Ignored when deadlineAt is set. */
  budgetMs: number | null;
  /** Hooks: the whole run (merge and drain) ends by this time (ms since the epoch). */
  deadlineAt?: number;
  /** How long to wait for the queue lock before leaving the capture to the next run (default 30 s). */
  lockWaitMs?: number;
  capacity: number;
  concurrency: number;
  stale: StalePolicy;
  force?: boolean;
  /** Where git can re-read a damaged body (the work tree). */
  repoDir?: string;
  settleMs?: number;
  onNotice?: (message: string) => void;
  onProgress?: (done: number, total: number) => void;
  /**
   * The queue's hold as a hook found it (marker.ts: the server failed the last index events, which
   * wait in backoff): the capture stays in its spool and the queue is not even loaded.
   */
  hold?: QueueHold | null;
  /** Called once the capture is durable (the spool is on disk), before any merge or drain. */
  onCaptured?: () => void;
  /**
   * The spool's write and fsync go on while the queue is locked and the spool merged from memory
   * (`sync`: ~20 MB for a whole backfill); the queue's save waits for them, and the run drains and
   * returns only once the spool is durable. Not with onCaptured (which comes before any merge).
   */
  writeWhileMerging?: boolean;
  /** The counts the report carries (DrainOptions.counts): a hook asks only for what is `left`. */
  counts?: S;
}

/**
 * What merging a spool costs per artifact (CPU on a quiet machine, measured on a 5,000-file spool:
 * ~0.07 ms), with a margin. A hook whose remaining budget cannot cover it leaves the merge to the
 * next run: its capture is durable already (issue 11 §2).
 */
const MERGE_MS_PER_TASK = 0.1;
const MERGE_BASE_MS = 30;

/** What one commit brings: bodies to upload, and the index (events, snapshot) of every feature it touched. */
export interface SyncGroup {
  context: CommitContext;
  eligible: EligibleArtifact[];
  indexes: FeatureIndex[];
}

export interface RunReport<S extends CountScope = 'full'> {
  /** This run's artifacts (eligible and skipped) plus anything else the drain delivered or failed. */
  outcomes: UploadOutcome[];
  enqueue: Omit<EnqueueResult, 'refusedArtifacts'>;
  drain: DrainReport<S>;
  /** Set when the queue lock was held by another process: the capture waits in its spool. */
  busy: { holderPid: number | null } | null;
  /** Set when the budget left no time to merge this run's capture: it waits in its spool. */
  deferred: boolean;
  /** Set when the queue was held (`hold`): nothing was merged or sent. */
  held: QueueHold | null;
}

export async function runSync<S extends CountScope = 'full'>(input: RunInput<S>): Promise<RunReport<S>> {
  const scope = (input.counts ?? 'full') as S;
  const notice = input.onNotice;
  const queueOpts = { stateDir: input.stateDir, capacity: input.capacity, onNotice: notice, settleMs: input.settleMs };
  // 1. Capture. The pending marker makes the next hook start Node even if this run dies before merging.
  const pack = buildCapture(input.groups);
  const written = pack
    ? writePack(input.stateDir, pack, notice).then(() => {
        touchPendingMarker(input.stateDir, notice);
        mark('spooled');
      })
    : null;
  written?.catch(() => undefined);
  if (!pack) mark('spooled');
  // A hook waits for its spool first (it may hand the rest to the background). With
  // writeWhileMerging, the save waits for it instead (withQueue's ownWritten).
  const overlap = input.writeWhileMerging === true && input.onCaptured === undefined;
  if (!overlap) {
    await written;
    input.onCaptured?.();
  }

  const remaining = (): number | null => (input.deadlineAt === undefined ? input.budgetMs : Math.max(0, input.deadlineAt - Date.now()));
  const merged: MergeReport = { added: 0, duplicate: 0, superseded: 0, refused: 0, refusedArtifacts: [], spools: 0, events: 0 };
  // A held queue (a hook found the server failing) is neither merged nor drained: nothing can be sent.
  const held = input.transport && !input.force ? (input.hold ?? null) : null;
  // Opened (the drain lock tried) before the merge transaction so the drain's opening read can ride
  // in it; released by this function however the run ends (the drain only uses it).
  const session = pack && !held ? await DrainSession.open(input.stateDir, input.transport, notice, scope) : null;
  let busy: RunReport['busy'] = null;
  const left = remaining();
  const deferred = pack !== null && input.deadlineAt !== undefined && left !== null && left < MERGE_BASE_MS + pack.header.bodies.length * MERGE_MS_PER_TASK;
  let drained: DrainReport<S>;
  try {
    if (pack && !deferred && !held) {
      try {
        await withQueue({ ...queueOpts, own: pack, ...(overlap && written ? { ownWritten: written } : {}), lock: { timeoutMs: input.lockWaitMs ?? 30_000, onNotice: notice } }, (q) => {
          Object.assign(merged, q.lastMerge ?? {});
          session?.read(q, { stale: input.stale, force: input.force, progress: input.onProgress !== undefined, budgeted: remaining() !== null });
          mark('drain: opening read');
        });
      } catch (err) {
        if (!(err instanceof LockTimeoutError)) throw err;
        busy = { holderPid: err.holder?.pid ?? null };
      }
    }
    // Durable before anything is reported or sent (the save waited for it already, if there was one).
    await written;
    mark('merged');

    if (held) {
      drained = heldReport(held, pack?.header.bodies.length ?? 0, pack?.header.events.length ?? 0, input.capacity, scope);
    } else if (busy || deferred) {
      await session?.release(); // nothing drains in this run: free the drain lock at once
      drained = { stop: 'busy', outcomes: [], events: { sent: 0, delivered: 0, rejected: 0, retried: 0 }, message: null, stats: await countsWithoutLock(input, scope) };
    } else {
      drained = await drain({
        stateDir: input.stateDir,
        transport: input.transport,
        budgetMs: remaining(),
        force: input.force,
        concurrency: input.concurrency,
        stale: input.stale,
        capacity: input.capacity,
        onNotice: notice,
        onProgress: input.onProgress,
        repoDir: input.repoDir,
        settleMs: input.settleMs,
        lockWaitMs: input.lockWaitMs,
        counts: scope,
        // With the lock and the opening read; without the lock the drain tries its own.
        ...(session ? { session } : {}),
        ...(pack ? { captured: pack } : {}),
      });
    }
  } finally {
    await written?.catch(() => undefined);
    await session?.release();
  }
  const refused = new Set(merged.refusedArtifacts.map(contentKey));
  const { refusedArtifacts: _r, spools: _s, events: _e, ...enqueue } = merged;
  return { outcomes: mergeOutcomes(input, refused, drained, busy ? 'queue_busy' : deferred ? 'budget_exhausted' : null), enqueue, drain: drained, busy, deferred, held };
}

/**
 * What a held run reports without loading the queue: the counts the marker recorded at the last
 * save plus this run's capture (not merged yet: duplicates of queued work are counted twice).
 */
function heldReport<S extends CountScope>(held: QueueHold, capturedBodies: number, capturedEvents: number, capacity: number, scope: S): DrainReport<S> {
  const pending = held.pending + capturedBodies;
  const events = held.events_pending + capturedEvents;
  const at = new Date(held.hold_until).toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    stop: 'backoff',
    outcomes: [],
    events: { sent: 0, delivered: 0, rejected: 0, retried: 0 },
    message: `the server failed the last index events (${held.last_error ?? 'no answer'}): nothing is sent before ${at}; this commit's work waits in the spool (\`kitty-sync drain --force\` sends now)`,
    stats: (scope === 'left'
      ? { pending, events_pending: events }
      : {
          pending,
          ready: 0,
          backoff: pending,
          waiting_for_events: 0,
          failed: 0,
          events_pending: events,
          events_ready: 0,
          events_backoff: events,
          events_failed: 0,
          next_attempt_at: held.hold_until,
          last_error: held.last_error,
          oldest_pending_age_ms: null,
          per_feature: {},
          retry_histogram: {},
          capacity,
          spools_unmerged: capturedBodies + capturedEvents > 0 ? 1 : 0,
        }) as CountsOf<S>,
  };
}

/** The counts, read without the lock (saves are atomic renames, so the file read is whole). */
async function countsWithoutLock<S extends CountScope>(input: RunInput<S>, scope: S): Promise<CountsOf<S>> {
  return readQueue({ stateDir: input.stateDir, capacity: input.capacity }, (q) => q.countsFor(scope));
}

/** This run's artifacts first (queued unless the drain says otherwise), then other tasks the drain touched. */
function mergeOutcomes(input: Pick<RunInput, 'groups' | 'skipped'>, refused: Set<string>, drained: Omit<DrainReport, 'stats'>, unmerged: string | null): UploadOutcome[] {
  // Two versions of one artifact in one run (a pre-push of several refs): the queue kept the one
  // enqueued last and dropped the other, so only that one gets an outcome.
  const latest = new Map<string, EligibleArtifact>();
  for (const g of input.groups) for (const a of g.eligible) latest.set(artifactKey(a.namespace, a.artifact_path), a);

  const fromDrain = new Map(drained.outcomes.map((o) => [contentKey(o), o]));
  const outcomes: UploadOutcome[] = [...input.skipped];
  const notSent = unmerged ?? queuedReason(drained);
  // Built field by field, not spread: a hook of thousands of files pays this after its budget.
  for (const a of latest.values()) {
    const o: UploadOutcome = { feature_slug: a.namespace.feature_slug, artifact_path: a.artifact_path, content_hash: a.content_hash, size_bytes: a.size_bytes, status: 'queued', reason: notSent };
    const k = contentKey(o);
    const d = fromDrain.get(k);
    if (d) fromDrain.delete(k);
    if (refused.has(k)) {
      o.status = 'failed';
      o.reason = 'queue_full';
    } else if (d) {
      o.status = d.status;
      o.reason = d.reason;
      if (d.detail) o.detail = d.detail;
    }
    outcomes.push(o);
  }
  // Older work replayed by this run's drain is reported too: the user sees every delivery.
  outcomes.push(...fromDrain.values());
  return outcomes;
}

/** Outcomes carry no namespace, so drain results are matched to this run's artifacts by feature, path and content. */
function contentKey(o: Pick<UploadOutcome, 'feature_slug' | 'artifact_path' | 'content_hash'>): string {
  return `${o.feature_slug}\u0000${o.artifact_path}\u0000${o.content_hash}`;
}

function queuedReason(d: Pick<DrainReport, 'stop'>): string {
  switch (d.stop) {
    case 'no_server':
      return 'no_server_configured';
    case 'busy':
      return 'another_drain_running';
    case 'backoff':
      return 'server_backoff';
    case 'deadline':
      return 'budget_exhausted';
    case 'unauthorized':
      return 'unauthorized';
    case 'protocol_refused':
      return 'protocol_refused';
    case 'events_failed':
      return 'index_events_pending';
    case 'done':
      return 'pending';
  }
}
