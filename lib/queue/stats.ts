// The counts `kitty-sync status` shows (and the drain reports): pending, ready and backoff work,
// dead letters, the next attempt, the latest error, and captures still waiting in spools.
import { listSpool, packPath, readPackHeader, type PackHeader } from './pack.js';
import { MAX_WAIT_MS } from './retry.js';
import type { QueueHold } from './marker.js';
import type { QueueStore } from './store.js';
import type { LeftCounts, QueueStats } from './types.js';

function histogramBucket(n: number): string {
  if (n <= 2) return String(n);
  if (n <= 4) return '3-4';
  if (n <= 8) return '5-8';
  if (n <= 16) return '9-16';
  return '17+';
}

/** Not held; the counts are not taken (marker.ts writes none). */
export const NOT_HELD: QueueHold = Object.freeze({ hold_until: 0, pending: 0, events_pending: 0, last_error: null });

export class Stats {
  constructor(private readonly s: QueueStore) {}

  /**
   * The counts. Captures still waiting in spools (their writer could not merge them: another process
   * held the queue, or its budget ran out) are pending work too: their bodies and events are counted
   * as pending and ready (from the spool's header), and spools_unmerged says how many spools.
   */
  stats(): QueueStats {
    const st = this.queueStats();
    for (const header of this.unmergedCaptures()) {
      st.spools_unmerged++;
      st.pending += header.bodies.length;
      st.ready += header.bodies.length;
      st.events_pending += header.events.length;
      st.events_ready += header.events.length;
      for (const b of header.bodies) {
        const f = (st.per_feature[b.ns.feature_slug] ??= { pending: 0, failed: 0 });
        f.pending++;
      }
    }
    return st;
  }

  /** What is left (see LeftCounts), unmerged captures included as in stats(). */
  left(): LeftCounts {
    const left = { pending: this.s.sql.count('SELECT COUNT(*) FROM body_tasks'), events_pending: this.s.sql.count('SELECT COUNT(*) FROM index_events') };
    for (const header of this.unmergedCaptures()) {
      left.pending += header.bodies.length;
      left.events_pending += header.events.length;
    }
    return left;
  }

  /** The headers of capture spools not merged into this queue yet. */
  private *unmergedCaptures(): Generator<PackHeader> {
    for (const name of listSpool(this.s.stateDir).packs) {
      if (this.s.hasPack(name)) continue;
      const header = readPackHeader(packPath(this.s.stateDir, name));
      if (header?.kind === 'capture') yield header;
    }
  }

  /**
   * What the pending marker records (marker.ts). The queue is held when index events wait in backoff
   * (they fail only as a batch: the server was unreachable or failing) and nothing can be sent
   * before the earliest next attempt.
   */
  hold(): QueueHold {
    const now = this.s.now();
    // Every save asks, and most find an event due (one just merged: newest first) or none at all:
    // not held, and then nothing is counted (only a held run reports the counts).
    if (this.s.sql.value('SELECT seq FROM index_events WHERE next_attempt_at <= ? ORDER BY seq DESC LIMIT 1', [now]) !== undefined) return NOT_HELD;
    if (this.s.sql.value('SELECT EXISTS (SELECT 1 FROM index_events)') === 0) return NOT_HELD;
    const until = this.earliestAttempt();
    if (until === null || until <= now) return NOT_HELD;
    const info = { pending: this.s.sql.count('SELECT COUNT(*) FROM body_tasks'), events_pending: this.s.sql.count('SELECT COUNT(*) FROM index_events'), last_error: null as string | null };
    const lastError = this.s.sql.value('SELECT last_error FROM index_events WHERE last_error IS NOT NULL ORDER BY next_attempt_at DESC LIMIT 1');
    info.last_error = lastError === null || lastError === undefined ? null : String(lastError);
    return { hold_until: Math.min(until, now + MAX_WAIT_MS), ...info };
  }

  /** The earliest time anything can be sent: an event, or a body whose event already went (a body waits for its own event). */
  private earliestAttempt(): number | null {
    const next = this.s.sql.value(
      'SELECT MIN(m) FROM (SELECT MIN(next_attempt_at) AS m FROM index_events UNION ALL SELECT MIN(b.next_attempt_at) FROM body_tasks b WHERE NOT EXISTS (SELECT 1 FROM index_events e WHERE e.seq = b.seq))',
    );
    return next === null || next === undefined ? null : Number(next);
  }

  /** Bodies a drain would send now: every pending one with force, else the ready ones (see queueStats). */
  readyBodyCount(force: boolean): number {
    return force ? this.s.sql.count('SELECT COUNT(*) FROM body_tasks') : this.bodyCounts(this.s.now()).ready;
  }

  /**
   * The body tasks' counts in one scan (a large queue has 100k rows: each scan costs tens of ms).
   * A body goes only with or after its own index event (drain.readReadyWork), so it is ready only
   * when that event is ready too: those waiting for theirs are looked up from the events in backoff
   * (usually none), not by joining every body to its event.
   */
  private bodyCounts(now: number): { pending: number; ownTime: number; ready: number; oldest: number | null } {
    const [b] = this.s.sql.all<'pending' | 'own_time' | 'oldest'>('SELECT COUNT(*) AS pending, TOTAL(next_attempt_at <= ?) AS own_time, MIN(created_at) AS oldest FROM body_tasks', [now]);
    const waiting = this.s.sql.count('SELECT COUNT(*) FROM index_events e JOIN body_tasks b ON b.seq = e.seq WHERE e.next_attempt_at > ?1 AND b.next_attempt_at <= ?1', [now]);
    const ownTime = Number(b.own_time);
    return { pending: Number(b.pending), ownTime, ready: ownTime - waiting, oldest: b.oldest === null || b.oldest === undefined ? null : Number(b.oldest) };
  }

  hasPending(): boolean {
    return !!this.s.sql.value('SELECT EXISTS (SELECT 1 FROM body_tasks) OR EXISTS (SELECT 1 FROM index_events)');
  }

  private queueStats(): QueueStats {
    const sql = this.s.sql;
    const now = this.s.now();
    // One scan per table for the counts (a large queue has 100k rows: each scan costs tens of ms).
    const { pending, ownTime, ready, oldest: oldestBody } = this.bodyCounts(now);
    const [e] = sql.all<'pending' | 'ready' | 'oldest'>('SELECT COUNT(*) AS pending, TOTAL(next_attempt_at <= ?) AS ready, MIN(created_at) AS oldest FROM index_events', [now]);
    const eventsPending = Number(e.pending);
    const eventsReady = Number(e.ready);
    let nextAttemptAt: number | null = null;
    if (ready === 0 && eventsReady === 0 && pending + eventsPending > 0) {
      const next = this.earliestAttempt();
      if (next !== null) nextAttemptAt = Math.min(next, now + MAX_WAIT_MS);
    }
    // Only work in backoff carries the error that put it there.
    const lastError =
      ownTime < pending || eventsReady < eventsPending
        ? sql.value(
            'SELECT last_error FROM (SELECT last_error, next_attempt_at FROM index_events WHERE next_attempt_at > ? AND last_error IS NOT NULL UNION ALL SELECT last_error, next_attempt_at FROM body_tasks WHERE next_attempt_at > ? AND last_error IS NOT NULL) ORDER BY next_attempt_at DESC LIMIT 1',
            [now, now],
          )
        : null;
    const perFeature: QueueStats['per_feature'] = {};
    const feature = (slug: string) => (perFeature[slug] ??= { pending: 0, failed: 0 });
    // Per namespace and retry count in one grouping; namespaces (a few rows) name the features.
    const slugOf = new Map(sql.all<'ns_id' | 'slug'>('SELECT ns_id, feature_slug AS slug FROM namespaces').map((r) => [Number(r.ns_id), String(r.slug)]));
    const histogram: Record<string, number> = {};
    const pendingOf = new Map<string, number>();
    for (const { ns_id, retries, total } of sql.all<'ns_id' | 'retries' | 'total'>('SELECT ns_id, retry_count AS retries, COUNT(*) AS total FROM body_tasks GROUP BY ns_id, retry_count')) {
      const slug = slugOf.get(Number(ns_id));
      if (slug !== undefined) pendingOf.set(slug, (pendingOf.get(slug) ?? 0) + Number(total));
      const bucket = histogramBucket(Number(retries));
      histogram[bucket] = (histogram[bucket] ?? 0) + Number(total);
    }
    // Features in name order, as status lists them.
    for (const slug of [...pendingOf.keys()].sort()) feature(slug).pending = pendingOf.get(slug)!;
    let failed = 0;
    for (const { slug, total } of sql.all<'slug' | 'total'>("SELECT feature_slug AS slug, COUNT(*) AS total FROM dead_letters WHERE kind = 'body' GROUP BY feature_slug")) {
      feature(String(slug)).failed = Number(total);
      failed += Number(total);
    }
    const oldests = [oldestBody, e.oldest].filter((v) => v !== null && v !== undefined).map(Number);
    const oldest = oldests.length ? Math.min(...oldests) : null;
    return {
      pending,
      ready,
      backoff: pending - ready,
      waiting_for_events: ownTime - ready,
      failed,
      events_pending: eventsPending,
      events_ready: eventsReady,
      events_backoff: eventsPending - eventsReady,
      events_failed: sql.count("SELECT COUNT(*) FROM dead_letters WHERE kind = 'event'"),
      next_attempt_at: nextAttemptAt,
      last_error: lastError === null || lastError === undefined ? null : String(lastError),
      oldest_pending_age_ms: oldest === null ? null : Math.max(0, now - oldest),
      per_feature: perFeature,
      retry_histogram: histogram,
      capacity: this.s.opts.capacity,
      spools_unmerged: 0,
    };
  }
}
