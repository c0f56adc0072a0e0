// One sync run, shared by the hooks and `kitty-sync sync`: eligible artifacts are
// enqueued (with their index events) in one locked save, then the queue is drained
// within a budget. Every artifact of the run ends with exactly one outcome.
import type { CommitContext, EligibleArtifact, FeatureIndex, UploadOutcome } from '../types.js';
import { artifactKey } from '../contract/namespace.js';
import { withQueue, type EnqueueResult } from '../queue/queue.js';
import { drain, firstRead, tryDrainLock, type DrainReport, type DrainTransport, type FirstRead } from '../delivery/drain.js';
import { mark } from '../trace.js';

export interface RunInput {
  stateDir: string;
  /** Per commit context: a pre-push of several refs enqueues several groups. */
  groups: SyncGroup[];
  /** Skipped outcomes found while collecting (reported, never enqueued). */
  skipped: UploadOutcome[];
  transport: DrainTransport | null;
  budgetMs: number | null;
  capacity: number;
  concurrency: number;
  stale: { maxAgeMs: number; maxRetries: number };
  force?: boolean;
  onNotice?: (message: string) => void;
  onProgress?: (done: number, total: number) => void;
}

/** What one commit brings: bodies to upload, and the index (events, snapshot) of every feature it touched. */
export interface SyncGroup {
  context: CommitContext;
  eligible: EligibleArtifact[];
  indexes: FeatureIndex[];
}

export interface RunReport {
  /** This run's artifacts (eligible and skipped) plus anything else the drain delivered or failed. */
  outcomes: UploadOutcome[];
  enqueue: Omit<EnqueueResult, 'refusedArtifacts'>;
  drain: DrainReport;
}

export async function runSync(input: RunInput): Promise<RunReport> {
  const queueOpts = { stateDir: input.stateDir, capacity: input.capacity, onNotice: input.onNotice };
  const totals = { added: 0, duplicate: 0, superseded: 0, refused: 0 };
  const refused = new Set<string>();
  // Taken before the enqueue transaction so the drain's opening read can ride in it (see drain()).
  const hasWork = input.groups.some((g) => g.eligible.length > 0 || g.indexes.length > 0);
  const drainLock = input.transport && hasWork ? await tryDrainLock(input.stateDir) : null;
  const drainOpts = { stale: input.stale, force: input.force, transport: drainLock ? input.transport : null };
  let first: FirstRead | undefined;
  if (hasWork) {
    try {
      first = await withQueue(queueOpts, (q) => {
        for (const g of input.groups) {
          if (g.eligible.length === 0 && g.indexes.length === 0) continue;
          const r = q.enqueue(g.eligible, g.context, g.indexes);
          totals.added += r.added;
          totals.duplicate += r.duplicate;
          totals.superseded += r.superseded;
          totals.refused += r.refused;
          for (const a of r.refusedArtifacts) refused.add(contentKey(a));
        }
        // The drain's opening read rides in this transaction: one queue save fewer per run.
        return firstRead(q, drainOpts);
      });
    } catch (err) {
      await drainLock?.();
      throw err;
    }
    if (totals.refused > 0) {
      input.onNotice?.(
        `the queue is full (capacity ${input.capacity}): ${totals.refused} artifact(s) were not queued; run \`kitty-sync drain\` and commit or \`kitty-sync sync\` again`,
      );
    }
  }

  mark('enqueued');
  const drained = await drain({
    stateDir: input.stateDir,
    transport: input.transport,
    budgetMs: input.budgetMs,
    force: input.force,
    concurrency: input.concurrency,
    stale: input.stale,
    capacity: input.capacity,
    onNotice: input.onNotice,
    onProgress: input.onProgress,
    // Handed over with the lock, which the drain releases; without the lock the drain reports busy.
    ...(first && drainLock ? { first, drainLock } : {}),
  });

  return { outcomes: mergeOutcomes(input, refused, drained), enqueue: totals, drain: drained };
}

/** This run's artifacts first (queued unless the drain says otherwise), then other tasks the drain touched. */
function mergeOutcomes(input: RunInput, refused: Set<string>, drained: DrainReport): UploadOutcome[] {
  // Two versions of one artifact in one run (a pre-push of several refs): the queue kept the one
  // enqueued last and dropped the other, so only that one gets an outcome.
  const latest = new Map<string, EligibleArtifact>();
  for (const g of input.groups) for (const a of g.eligible) latest.set(artifactKey(a.namespace, a.artifact_path), a);

  const fromDrain = new Map(drained.outcomes.map((o) => [contentKey(o), o]));
  const outcomes: UploadOutcome[] = [...input.skipped];
  for (const a of latest.values()) {
    const base = { feature_slug: a.namespace.feature_slug, artifact_path: a.artifact_path, content_hash: a.content_hash, size_bytes: a.size_bytes };
    const k = contentKey(base);
    const d = fromDrain.get(k);
    fromDrain.delete(k);
    if (refused.has(k)) outcomes.push({ ...base, status: 'failed', reason: 'queue_full' });
    else if (d) outcomes.push({ ...base, status: d.status, reason: d.reason });
    else outcomes.push({ ...base, status: 'queued', reason: queuedReason(drained) });
  }
  // Older work replayed by this run's drain is reported too: the user sees every delivery.
  outcomes.push(...fromDrain.values());
  return outcomes;
}

/** Outcomes carry no namespace, so drain results are matched to this run's artifacts by feature, path and content. */
function contentKey(o: Pick<UploadOutcome, 'feature_slug' | 'artifact_path' | 'content_hash'>): string {
  return `${o.feature_slug}\u0000${o.artifact_path}\u0000${o.content_hash}`;
}

function queuedReason(d: DrainReport): string {
  switch (d.stop) {
    case 'no_server':
      return 'no_server_configured';
    case 'busy':
      return 'another_drain_running';
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
