// The drain: replays the queue to the server within a time budget (SPEC §5).
// Order per pass: a body goes only after its own index event was accepted, and nothing new
// starts once an events batch could not be delivered (events and bodies overlap: runPass).
// runPass schedules its own workers rather than using p-limit: a body may start only once its
// event is accepted, and an events batch goes before waiting bodies.
// The queue lock is only held to read work and to apply results, never during network I/O;
// a separate drain lock keeps to one drainer at a time.
import path from 'node:path';
import { BlobReader } from '../collect/blobs.js';
import { sha256Hex } from '../collect/eligibility.js';
import { acquireLock, LockTimeoutError } from '../queue/lock.js';
import { PackReader, type BuiltPack } from '../queue/pack.js';
import { lastSaveMs, readQueue, readTaskBody, withQueue, type BodyResultRow, type QueueOptions, type BodyTask, type DeadLetter, type Queue, type StoredEvent, type TaskResult } from '../queue/queue.js';
import type { CountScope, CountsOf, StalePolicy } from '../queue/types.js';
import { SendDeadline } from './deadline.js';
import { clearInflight, readInflight, writeInflight } from './inflight.js';
import type { PushContentBody } from './encoding.js';
import type { BodyResult, EventsResult } from './responses.js';
import { mark } from '../trace.js';
import { runProgress } from './progress-total.js';
import type { DossierEvent, OutcomeStatus, UploadOutcome } from '../types.js';

/** What the drain needs from a transport (the real one is lib/transport.ts). */
export interface DrainTransport {
  /** Optional: prepare for the first request early. */
  warm?(): void;
  /** content_body may be the stored bytes (UTF-8): the transport encodes them. */
  pushContent(req: PushContentBody, signal?: AbortSignal): Promise<BodyResult>;
  sendEvents(events: DossierEvent[], signal?: AbortSignal): Promise<EventsResult>;
}

export type DrainStop =
  | 'done' // nothing ready is left (or everything ready was tried once)
  | 'deadline' // the budget ran out; unfinished tasks stay queued without penalty
  | 'unauthorized' // 401: the token is bad; everything stays queued
  | 'protocol_refused' // 410 or 412: the server will not take this protocol; everything stays queued
  | 'events_failed' // index events could not be delivered; bodies wait for the next pass
  | 'busy' // another process is draining
  | 'backoff' // a hook found the queue held (marker.ts): nothing sent before the server's backoff ends
  | 'no_server'; // no server configured: work stays queued

export interface DrainOptions<S extends CountScope = 'full'> {
  stateDir: string;
  /** null when no server is configured. */
  transport: DrainTransport | null;
  /** null: until nothing is ready. */
  budgetMs: number | null;
  force?: boolean;
  concurrency?: number;
  stale?: StalePolicy;
  capacity?: number;
  onNotice?: (message: string) => void;
  /**
   * A session the caller opened and did the opening read in, inside its own queue transaction
   * (see DrainSession). Used when it holds the drain lock; the caller releases it.
   */
  session?: DrainSession<S>;
  /** The counts the report carries (default `full`); `left` for a caller that only says what is left (a hook). */
  counts?: S;
  /** Called as bodies finish: (done, total known so far). */
  onProgress?: (done: number, total: number) => void;
  /** A directory git can run in (work tree or git dir): a damaged stored body is re-read from Git there. */
  repoDir?: string;
  /** How long an abandoned upload may still be in flight (the request timeout plus a margin). */
  settleMs?: number;
  /** How long to wait for the queue lock (hooks: briefly); past it the drain reports `busy`. */
  lockWaitMs?: number;
  /** How often a long pass writes its results back (default APPLY_EVERY_MS). */
  applyEveryMs?: number;
  /**
   * The capture this process built and merged just before (a sync, a hook): its bodies are sent from
   * memory, not read back from its spool file and hashed again.
   */
  captured?: BuiltPack;
}

export interface DrainReport<S extends CountScope = 'full'> {
  stop: DrainStop;
  /** One per body task attempted (or expired, or failed with its rejected index event) in this run. */
  outcomes: UploadOutcome[];
  events: { sent: number; delivered: number; rejected: number; retried: number };
  /** Human explanation for stops that need the user (401, events failing). */
  message: string | null;
  /** The counts at the end of the run, as many as the caller asked for (DrainOptions.counts). */
  stats: CountsOf<S>;
}

/** What a pass adds to the report (the counts are read at the end). */
type PassTally = Omit<DrainReport, 'stats'>;

const EVENTS_PER_BATCH = 500;
/**
 * Events and bodies read per pass (a body goes only in the pass of its own event, or after it).
 * Without a budget (sync, drain): four full events batches and as many bodies, so a drain of up to
 * 2,000 new bodies is one pass (a pass boundary stops all sending while the results are written and
 * the next work read). A budgeted run (a hook: a few seconds) reads no more than it can send:
 * reading an event or a body task costs tens of µs in sql.js, paid before the first request. Its
 * first pass holds only its first two events batches (FIRST_HOOK_PASS): a hook that finds older
 * work pending mostly gets no further than the first batch (the server still failing stops the
 * pass), and with 10k pending it read 1,000 events and 2,000 body rows it never sent (~50 ms).
 */
function perPass(budgeted: boolean, first = false): number {
  return budgeted ? (first ? FIRST_HOOK_PASS : 1000) : EVENTS_PER_BATCH * 4;
}
/**
 * Results are written back at the end of each pass (in the transaction that reads the next one), and
 * within a pass only when it runs long: every APPLY_EVERY_MS, once enough results are pending. Each
 * save blocks the event loop (tens to a hundred ms with requests in flight waiting), so a pass the
 * server takes at full speed (2,000 bodies in 2-3 s) pays none. A crash in between costs only
 * re-sends: the in-flight journal marks those uploads abandoned and the server answers already_exists.
 */
const APPLY_EVERY_MS = 5_000;
const APPLY_MIN_RESULTS = 100;

type EventResultRow = { event_id: string; result: TaskResult; seq: number };

/**
 * Results the network gave that are not yet written back. Each pass writes them in the same
 * queue transaction that reads the next pass's work and the counts, so a short hook run costs
 * two queue saves (enqueue, one pass), not one per step.
 */
class Ledger {
  events: EventResultRow[] = [];
  bodies: BodyResultRow[] = [];

  constructor(private readonly queueOpts: QueueOptions) {}

  /** Takes the pending results out of the ledger (to be applied later by `apply`). */
  take(): { events: EventResultRow[]; bodies: BodyResultRow[] } {
    const batch = { events: this.events, bodies: this.bodies };
    this.events = [];
    this.bodies = [];
    return batch;
  }

  /** Applies a batch; then `next(q)` runs in the same transaction. */
  apply<T>(batch: { events: EventResultRow[]; bodies: BodyResultRow[] }, next: (q: Queue) => T): Promise<T> {
    return withQueue(this.queueOpts, (q) => {
      if (batch.events.length) q.applyEventResults(batch.events);
      if (batch.bodies.length) q.applyBodyResults(batch.bodies);
      return next(q);
    });
  }

  /** Applies what is pending now; then `next(q)` runs in the same transaction. */
  commit<T>(next: (q: Queue) => T): Promise<T> {
    return this.apply(this.take(), next);
  }
}

export async function drain<S extends CountScope = 'full'>(opts: DrainOptions<S>): Promise<DrainReport<S>> {
  const scope = (opts.counts ?? 'full') as S;
  const queueOpts = {
    stateDir: opts.stateDir,
    capacity: opts.capacity,
    onNotice: opts.onNotice,
    settleMs: opts.settleMs,
    compact: false,
    ...(opts.lockWaitMs === undefined ? {} : { lock: { timeoutMs: opts.lockWaitMs } }),
  };
  const report: DrainReport<S> = {
    stop: 'done',
    outcomes: [],
    events: { sent: 0, delivered: 0, rejected: 0, retried: 0 },
    message: null,
    stats: undefined as unknown as CountsOf<S>,
  };
  // The counts scan the whole queue (a large one: hundreds of ms), so they are read once, for the
  // report: in the transaction after which the drain stops (`stats`), or here (null) when it stops
  // outside one.
  const finish = async (stop: DrainStop, stats: CountsOf<S> | null): Promise<DrainReport<S>> => {
    report.stop = stop;
    report.stats = stats ?? (await readQueue({ stateDir: opts.stateDir, capacity: opts.capacity }, (q) => q.countsFor(scope)));
    mark('drain: finished');
    return report;
  };
  // Each task is tried at most once per run, so a run always ends even under --force.
  const tried = new Set<string>();
  const readWork = (q: Queue): Work => readReadyWork(q, opts.force ?? false, tried, perPass(opts.budgetMs !== null));

  const ledger = new Ledger(queueOpts);
  // The drain lock is taken before the first read: work read outside it could be stale by the time
  // it is sent (another drainer delivering a newer version meanwhile), and an older version would
  // then overwrite a newer one. A caller's session that holds the lock and has read comes with both;
  // otherwise this drain opens its own (and releases it).
  const given = opts.session?.locked && opts.session.first ? opts.session : null;
  const session = given ?? (await DrainSession.open(opts.stateDir, opts.transport, opts.onNotice, scope));
  // Only the drain-lock holder compacts packs: nobody else reads them while it runs.
  queueOpts.compact = session.locked;
  const bodies = new BodySource(opts.stateDir, opts.repoDir, opts.captured);
  try {
    let first: FirstRead<S>;
    try {
      first = session.first ?? (await ledger.commit((q) => session.read(q, { ...opts, progress: opts.onProgress !== undefined, budgeted: opts.budgetMs !== null })));
    } catch (err) {
      if (!(err instanceof LockTimeoutError)) throw err;
      // Another process holds the queue (a big save): leave it all for the next run.
      return finish('busy', null);
    }
    // The abandoned uploads a dead drain left in its journal are recorded now: the journal can go.
    if (first.recovered > 0) clearInflight(opts.stateDir);
    for (const d of first.stale) {
      const local = /^(local_\w+): (.*)$/s.exec(d.reason);
      const why = local ? { reason: local[1], detail: local[2] } : { reason: d.reason };
      report.outcomes.push({ feature_slug: d.feature_slug, artifact_path: d.artifact_path, content_hash: d.content_hash, status: 'failed', ...why });
    }
    if (first.expired > 0) opts.onNotice?.(`${first.expired} stale task(s) moved to the failed list (see \`kitty-sync failed\`)`);
    if (!opts.transport) return finish('no_server', first.stats);
    if (!session.locked || !first.work) return finish('busy', first.stats);
    const transport = opts.transport;

    // Until this run's own first transaction is timed, the closing one is expected to take as long
    // as the last save (a hook's merge).
    const deadline = new SendDeadline(opts.budgetMs === null ? null : Date.now() + Math.max(0, opts.budgetMs), { closingMs: lastSaveMs() ?? 0 });
    let work: Work = first.work;
    let stats = first.stats;
    const progress = runProgress(opts.onProgress, first.readyTotal);
    try {
      for (;;) {
        mark(`drain: ${work.events.length} events, ${work.bodies.length} bodies ready`);
        if (isEmpty(work)) return finish('done', stats);
        if (deadline.signal.aborted) return finish('deadline', stats);
        // The in-flight journal names the pass's bodies before the first of them goes out: written
        // then, not before the events (its bodies wait for their index events' round trip anyway).
        const pass = work;
        const journal = once(() => {
          const now = Date.now();
          writeInflight(
            opts.stateDir,
            pass.bodies.map((b) => ({ namespace: b.namespace, artifact_path: b.artifact_path, content_hash: b.content_hash, startedAt: now })),
            opts.onNotice,
          );
        });

        const stop = await runPass(work, transport, deadline.signal, tried, report, ledger, { ...opts, onProgress: progress.pass() }, bodies, journal);
        mark('drain: pass sent');
        let next: { work: Work | null; stats: CountsOf<S> | null; closing: boolean };
        const began = performance.now();
        try {
          next = await ledger.commit((q) => {
            // Decided here, not before: the results just applied took part of what is left.
            const closing = deadline.closingNow;
            const nextWork = stop || closing ? null : readWork(q);
            // The last transaction of the run also reads the counts for the report.
            return { work: nextWork, stats: nextWork === null || isEmpty(nextWork) ? q.countsFor(scope) : null, closing };
          });
        } catch (err) {
          if (!(err instanceof LockTimeoutError)) throw err;
          // Results not written back are sent again later (the server answers already_exists); the
          // journal stays, so those uploads count as abandoned.
          return finish('busy', null);
        }
        // Every body of the pass has its result in the queue now.
        clearInflight(opts.stateDir);
        deadline.transactionTook(performance.now() - began);
        stats = next.stats;
        if (stop || !next.work) return finish(stop ?? (next.closing ? 'deadline' : 'done'), stats);
        work = next.work;
      }
    } finally {
      deadline.dispose();
    }
  } finally {
    bodies.close();
    if (session !== given) await session.release();
  }
}

/**
 * Reads each body as stored and checks it against its content hash before it is sent (issue 12 §5).
 * A damaged or missing copy is re-read from Git by its blob id when the repository still has it;
 * otherwise the task is quarantined (`local_body_corrupt`) with advice that works.
 */
class BodySource {
  private readonly packs: PackReader;
  private git: BlobReader | null = null;

  constructor(
    private readonly stateDir: string,
    private readonly repoDir: string | undefined,
    captured: BuiltPack | undefined,
  ) {
    this.packs = new PackReader(stateDir, undefined, new Map(captured ? [[captured.name, captured]] : []));
  }

  async read(task: BodyTask): Promise<{ body: Buffer } | { corrupt: string }> {
    const stored = readTaskBody(this.stateDir, task, this.packs);
    // A body of this process's own capture is read from memory, and is the very buffer its content
    // hash was computed from: not hashed again (a backfill: ~15 MB not read back, nor hashed twice).
    if (stored !== null && (this.packs.inMemory(task.pack) || sha256Hex(stored) === task.content_hash)) return { body: stored };
    const what = stored === null ? 'is missing' : 'does not match its content hash';
    if (task.oid && this.repoDir) {
      this.git ??= new BlobReader(this.repoDir);
      const fromGit = await this.git.read(task.oid).catch(() => null);
      if (fromGit && sha256Hex(fromGit) === task.content_hash) return { body: fromGit };
    }
    return {
      corrupt: `local_body_corrupt: the stored copy of ${task.namespace.feature_slug}/${task.artifact_path} ${what} and Git no longer has that version; run \`kitty-sync sync ${task.namespace.feature_slug}\` to capture it again`,
    };
  }

  close(): void {
    this.packs.close();
    void this.git?.close();
  }
}

export interface Work {
  events: StoredEvent[];
  bodies: BodyTask[];
}

function isEmpty(work: Work): boolean {
  return work.events.length === 0 && work.bodies.length === 0;
}

/** What a drain reads before its first pass: stale work expired, the first work, the counts. */
export interface FirstRead<S extends CountScope = 'full'> {
  /** Abandoned uploads recovered from a dead drain's in-flight journal. */
  recovered: number;
  expired: number;
  stale: DeadLetter[];
  work: Work | null;
  /** The counts, read only when there is nothing to send (the drain stops at once); null otherwise. */
  stats: CountsOf<S> | null;
  /** Bodies to send in this run, for a progress bar (pending with force, else ready); 0 unless asked for. */
  readyTotal: number;
}

/**
 * The drain lock and the drain's opening read, with one lifecycle: open (try the lock) → read
 * (inside a queue transaction the caller may already hold: the pipeline reads in its merge
 * transaction, one save fewer per hook) → drain({ session }) → release. Whoever opens a session
 * releases it, in a `finally`; release is idempotent, so an early release (nothing to drain) is safe.
 */
export class DrainSession<S extends CountScope = 'full'> {
  private opening: FirstRead<S> | null = null;

  private constructor(
    private readonly transport: DrainTransport | null,
    private lock: (() => Promise<void>) | null,
    private readonly scope: S,
  ) {}

  /** Tries the drain lock, without waiting (another drainer: not locked). No transport: nothing will be sent, no lock. */
  static async open<S extends CountScope = 'full'>(stateDir: string, transport: DrainTransport | null, onNotice?: (m: string) => void, counts?: S): Promise<DrainSession<S>> {
    return new DrainSession(transport, transport ? await tryDrainLock(stateDir, onNotice) : null, counts ?? ('full' as S));
  }

  /** Holds the drain lock: this session may send (and compact packs). */
  get locked(): boolean {
    return this.lock !== null;
  }

  /** The opening read, once done. */
  get first(): FirstRead<S> | null {
    return this.opening;
  }

  /** The opening read, inside the caller's queue transaction; without the lock it reads no work (nor the in-flight journal). */
  read(q: Queue, opts: OpeningOptions): FirstRead<S> {
    this.opening = firstRead(q, this.scope, { ...opts, transport: this.lock ? this.transport : null });
    return this.opening;
  }

  async release(): Promise<void> {
    const lock = this.lock;
    this.lock = null;
    await lock?.();
  }
}

/** How the opening read reads: the drain's options, and whether a progress total and a budget apply. */
export type OpeningOptions = Pick<DrainOptions, 'stale' | 'force'> & { progress?: boolean; budgeted?: boolean };

/** The drain's opening read (see DrainSession.read). */
function firstRead<S extends CountScope>(q: Queue, scope: S, opts: OpeningOptions & Pick<DrainOptions, 'transport'>): FirstRead<S> {
  const since = Date.now();
  q.clampWaits();
  // With a transport the caller holds the drain lock: a journal found now belongs to a dead drain.
  const leftover = opts.transport ? readInflight(q.stateDir) : [];
  q.recordAbandonedUploads(leftover);
  const expired = opts.stale ? q.expireStale(opts.stale) : 0;
  const work = opts.transport ? readReadyWork(q, opts.force ?? false, new Set(), perPass(opts.budgeted ?? false, true)) : null;
  // Stale work, and work whose stored event could not be read (its pack gone or damaged), ends as
  // `failed` like any other permanent failure: reported and logged, never silent.
  const stale = expired === 0 && q.unreadableEvents === 0 ? [] : q.deadLetters().filter((d) => d.kind === 'body' && d.failed_at >= since && (d.reason.includes('stale_') || d.reason.startsWith('local_')));
  const stats = work === null || isEmpty(work) ? q.countsFor(scope) : null;
  const readyTotal = !opts.progress ? 0 : stats && opts.force ? stats.pending : stats && 'ready' in stats ? stats.ready : q.readyBodyCount({ force: opts.force ?? false });
  return { recovered: leftover.length, expired, stale, work, stats, readyTotal };
}

function readReadyWork(q: Queue, force: boolean, tried: Set<string>, size: number): Work {
  const events = q.readyEvents(size, { force }).filter((e) => !tried.has(e.event_id));
  const sending = new Set(events.map((e) => e.event_id));
  // A body goes only after its index event: one whose event is not in this pass (in backoff,
  // rejected, not yet confirmed) would only earn index_entry_not_found and a needless backoff.
  const bodies = q.readyBodies(size * 2, { force }).filter((b) => !tried.has(b.upload_id) && (b.event_id === null || sending.has(b.event_id)));
  return { events, bodies };
}

/**
 * The first events batch of a pass is small, so bodies start soon: until it is accepted no body may
 * go, and every lane waits for its round trip (the receiver indexes 32 events faster than 100). Each
 * later batch is four times the last, up to a full one: the bodies of batch k travel while batch
 * k+1 is indexed, so the lanes do not run dry.
 */
const FIRST_EVENTS_BATCH = 32;
const EVENTS_BATCH_GROWTH = 4;
const FIRST_HOOK_PASS = FIRST_EVENTS_BATCH * EVENTS_BATCH_GROWTH;

export function eventBatches<T>(events: T[]): T[][] {
  const batches: T[][] = [];
  let size = FIRST_EVENTS_BATCH;
  for (let i = 0; i < events.length; i += size, size = Math.min(EVENTS_PER_BATCH, size * EVENTS_BATCH_GROWTH)) {
    batches.push(events.slice(i, i + size));
  }
  return batches;
}

/**
 * One pass: index events and bodies overlap. Events go one batch at a time; a body goes only once
 * its own index event was accepted (in this pass, or in an earlier run: event_id null), so the
 * receiver indexes batch k+1 while the bodies of batch k upload. At most `concurrency` requests are
 * in flight, the events request included. After an events batch fails, no further events or bodies
 * start (those in flight finish: their own events were accepted); a 401 or the deadline aborts
 * everything in flight.
 */
async function runPass(
  work: Work,
  transport: DrainTransport,
  signal: AbortSignal,
  tried: Set<string>,
  report: PassTally,
  ledger: Ledger,
  opts: Omit<DrainOptions, 'session' | 'counts'>,
  source: BodySource,
  journal: () => void,
): Promise<DrainStop | null> {
  // A 401 stops everything still in flight; the deadline does the same through `signal`.
  const stopAll = new AbortController();
  const combined = AbortSignal.any([signal, stopAll.signal]);
  const batches = eventBatches(work.events);
  // Bodies whose index event is in this pass wait for its acceptance; the others may go at once.
  const waiting = new Map<string, BodyTask>();
  const ready: BodyTask[] = [];
  const most = perPass(opts.budgetMs !== null);
  const admit = (b: BodyTask): void => {
    if (ready.length < most) ready.push(b);
  };
  for (const b of work.bodies) {
    if (b.event_id === null) admit(b);
    else waiting.set(b.event_id, b);
  }

  // Long passes write results back every APPLY_EVERY_MS (one save each), so a crash loses little.
  // The rows are taken when the flush is asked for (not when it runs); saves run one after another.
  let flushing: Promise<void> = Promise.resolve();
  let flushedAt = performance.now();
  const applyEveryMs = opts.applyEveryMs ?? APPLY_EVERY_MS;
  const flush = (): void => {
    flushedAt = performance.now();
    const batch = ledger.take();
    flushing = flushing.then(() => ledger.apply(batch, () => undefined));
  };

  let stop: DrainStop | null = null;
  let nextBatch = 0;
  let nextBody = 0;
  let eventsBusy = false;
  let done = 0;
  let sleepers: (() => void)[] = [];
  const wakeAll = (): void => {
    const s = sleepers;
    sleepers = [];
    for (const wake of s) wake();
  };

  const sendBody = async (task: BodyTask): Promise<void> => {
    tried.add(task.upload_id);
    let result: BodyResult;
    let sent = false;
    const startedAt = Date.now();
    if (combined.aborted) {
      result = { kind: 'aborted' };
    } else {
      const read = await source.read(task);
      if ('corrupt' in read) {
        result = { kind: 'permanent', reason: read.corrupt };
      } else {
        journal();
        sent = true;
        result = await transport.pushContent(toRequest(task, read.body), combined);
      }
    }
    if (result.kind === 'unauthorized' && stop !== 'unauthorized') {
      stop = 'unauthorized';
      report.message = unauthorizedMessage();
      stopAll.abort();
    } else if (result.kind === 'halt' && stop !== 'unauthorized' && stop !== 'protocol_refused') {
      stop = 'protocol_refused';
      report.message = result.message;
      stopAll.abort();
    }
    const { taskResult, outcome } = interpret(task, result, sent);
    ledger.bodies.push({ upload_id: task.upload_id, result: taskResult, startedAt, key: task });
    report.outcomes.push(outcome);
    done += 1;
    opts.onProgress?.(done, ready.length);
    if (ledger.bodies.length >= APPLY_MIN_RESULTS && performance.now() - flushedAt >= applyEveryMs) flush();
  };

  const sendBatch = async (batch: StoredEvent[]): Promise<void> => {
    const accepted: string[] = [];
    const s = await sendEvents(batch, transport, combined, tried, report, ledger, accepted);
    for (const id of accepted) {
      const b = waiting.get(id);
      if (b) admit(b);
    }
    if (s) {
      stop ??= s;
      if (s === 'unauthorized' || s === 'protocol_refused') stopAll.abort();
    }
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      if (stop === null && !eventsBusy && nextBatch < batches.length && !combined.aborted) {
        eventsBusy = true;
        try {
          await sendBatch(batches[nextBatch++]);
        } finally {
          eventsBusy = false;
          wakeAll();
        }
      } else if (nextBody < ready.length && (stop === null || combined.aborted)) {
        // Once aborted, the rest only get their 'aborted' outcome (no request, no penalty).
        await sendBody(ready[nextBody++]);
      } else if (eventsBusy) {
        await new Promise<void>((resolve) => sleepers.push(resolve));
      } else {
        return;
      }
    }
  };

  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, worker));
  // The results still in the ledger are written by the caller's commit, in the same transaction as
  // the next read and the counts: a hook's short drain costs one save, not two.
  await flushing;
  if (stop === 'unauthorized' || stop === 'protocol_refused') return stop;
  if (signal.aborted) return 'deadline';
  return stop;
}

/** Sends one events batch; the ids of the accepted events are pushed to `accepted`. */
async function sendEvents(batch: StoredEvent[], transport: DrainTransport, signal: AbortSignal, tried: Set<string>, report: PassTally, ledger: Ledger, accepted: string[]): Promise<DrainStop | null> {
  // A dead event takes its body to the dead letters too (queue.applyEventResults): say so, never silently.
  // A snapshot has no artifact: its outcome names the feature only.
  const deadOutcome = ({ envelope: e }: { envelope: DossierEvent }, reason: string): UploadOutcome => ({
    feature_slug: e.payload.feature_slug,
    artifact_path: e.event_type === 'MissionDossierArtifactIndexed' ? e.payload.relative_path : '',
    content_hash: e.event_type === 'MissionDossierArtifactIndexed' ? e.payload.content_hash_sha256 : null,
    status: 'failed',
    reason: `event_rejected: ${reason}`,
  });
  for (const e of batch) tried.add(e.event_id);
  const result = await transport.sendEvents(
    batch.map((e) => e.envelope),
    signal,
  );
  report.events.sent += batch.length;
  const applied = ledger.events;
  switch (result.kind) {
    case 'results': {
      const byId = new Map(result.results.map((r) => [r.event_id, r]));
      for (const e of batch) {
        const r = byId.get(e.event_id);
        if (!r) {
          // The server did not answer for this event: keep it, with backoff.
          applied.push({ event_id: e.event_id, seq: e.seq, result: { kind: 'retry', error: 'no_result_for_event' } });
          report.events.retried += 1;
        } else if (r.status === 'rejected') {
          applied.push({ event_id: e.event_id, seq: e.seq, result: { kind: 'dead', reason: `rejected: ${r.error ?? 'no reason given'}` } });
          report.outcomes.push(deadOutcome(e, r.error ?? 'no reason given'));
          report.events.rejected += 1;
        } else {
          applied.push({ event_id: e.event_id, seq: e.seq, result: { kind: 'delivered' } });
          accepted.push(e.event_id);
          report.events.delivered += 1;
        }
      }
      return null;
    }
    case 'aborted':
      for (const e of batch) applied.push({ event_id: e.event_id, seq: e.seq, result: { kind: 'released' } });
      return 'deadline';
    case 'unauthorized':
      for (const e of batch) applied.push({ event_id: e.event_id, seq: e.seq, result: { kind: 'released' } });
      report.message = unauthorizedMessage();
      return 'unauthorized';
    case 'halt':
      for (const e of batch) applied.push({ event_id: e.event_id, seq: e.seq, result: { kind: 'released' } });
      report.message = result.message;
      return 'protocol_refused';
    case 'retry':
      for (const e of batch) applied.push({ event_id: e.event_id, seq: e.seq, result: { kind: 'retry', error: result.reason, notBeforeMs: notBefore(result.retryAfterMs) } });
      report.events.retried += batch.length;
      report.message = `index events could not be delivered (${result.reason}); bodies wait for the next drain`;
      return 'events_failed';
    case 'permanent':
      for (const e of batch) {
        applied.push({ event_id: e.event_id, seq: e.seq, result: { kind: 'dead', reason: result.reason } });
        report.outcomes.push(deadOutcome(e, result.reason));
      }
      report.events.rejected += batch.length;
      return null;
  }
}

/** `fn`, run on the first call only. */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

function toRequest(task: BodyTask, body: Buffer): PushContentBody {
  const ns = task.namespace;
  return {
    project_uuid: ns.project_uuid,
    feature_slug: ns.feature_slug,
    target_branch: ns.target_branch,
    mission_key: ns.mission_key,
    manifest_version: ns.manifest_version,
    mission_slug: ns.mission_key,
    artifact_path: task.artifact_path,
    content_hash: task.content_hash,
    hash_algorithm: 'sha256',
    content_body: body,
  };
}

/** Maps a transport result to the queue's action and the user's outcome (SPEC §5.2 table). */
export function interpret(task: BodyTask, result: BodyResult, sent = true): { taskResult: TaskResult; outcome: UploadOutcome } {
  switch (result.kind) {
    case 'stored':
      return { taskResult: { kind: 'delivered' }, outcome: outcomeOf(task, 'uploaded', null) };
    case 'already_exists':
      return { taskResult: { kind: 'delivered' }, outcome: outcomeOf(task, 'already_exists', null) };
    case 'retry':
      return {
        taskResult: { kind: 'retry', error: result.reason, notBeforeMs: notBefore(result.retryAfterMs), abandoned: sent && NO_ANSWER.test(result.reason) },
        outcome: outcomeOf(task, 'queued', result.reason),
      };
    case 'unauthorized':
      return { taskResult: { kind: 'released' }, outcome: outcomeOf(task, 'queued', 'unauthorized') };
    case 'halt':
      return { taskResult: { kind: 'released' }, outcome: outcomeOf(task, 'queued', result.reason) };
    case 'aborted':
      // Aborted after it went out: the server may still be applying it.
      return { taskResult: { kind: 'released', abandoned: sent }, outcome: outcomeOf(task, 'queued', 'budget_exhausted') };
    case 'permanent': {
      // A quarantined body: a short code for the outcome, the advice in its detail and dead letter.
      const local = /^(local_\w+): (.*)$/s.exec(result.reason);
      const outcome = outcomeOf(task, 'failed', local ? local[1] : result.reason);
      if (local) outcome.detail = local[2];
      return { taskResult: { kind: 'dead', reason: result.reason }, outcome };
    }
  }
}

/**
 * A body's outcome, written out field by field: an object spread here cost 5-13 µs per body in a
 * cold drain (V8 copies through a slow path), and a drain makes one per body.
 */
function outcomeOf(task: BodyTask, status: OutcomeStatus, reason: string | null): UploadOutcome {
  return { feature_slug: task.namespace.feature_slug, artifact_path: task.artifact_path, content_hash: task.content_hash, status, reason };
}

/** Failures after which the request may still reach the server (no answer came back). */
const NO_ANSWER = /^(timeout|connection_reset|network_error)/;

function notBefore(retryAfterMs: number | undefined): number | undefined {
  return retryAfterMs === undefined ? undefined : Date.now() + retryAfterMs;
}

function unauthorizedMessage(): string {
  return "the server answered 401 Unauthorized: the token is missing or wrong. Run `kitty-sync login` to store a valid token with Git's credential helper (hooks from GUI clients and IDEs use it too), or set KITTY_SYNC_TOKEN; then run `kitty-sync drain`. Nothing was lost: everything stays queued.";
}

/** One drainer at a time: a second process skips draining instead of waiting. */
async function tryDrainLock(stateDir: string, onNotice?: (m: string) => void): Promise<(() => Promise<void>) | null> {
  try {
    // The lock is held for the whole drain (network I/O included), so it is separate from the queue lock.
    const lock = await acquireLock(path.join(stateDir, 'drain'), path.join(stateDir, 'drain.lock'), { timeoutMs: 0, onNotice });
    return () => lock.release();
  } catch (err) {
    if (err instanceof LockTimeoutError) return null;
    throw err;
  }
}
