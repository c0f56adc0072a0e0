// The drain's side of the queue: the work that is ready to send, and the results it brings back
// (delivered, retry with backoff, dead, abandoned in flight).
import { pickNamespace } from '../contract/namespace.js';
import type { NamespaceRef } from '../types.js';
import type { DeadLetters } from './dead-letters.js';
import { MAX_WAIT_MS } from './retry.js';
import { BODIES_JSON, bodyOf, bytesOf, EVENTS_JSON, HASH_RE, hexOf, numOrNull, str } from './rows.js';
import type { QueueStore } from './store.js';
import type { BodyResultRow, BodyTask, StoredEvent, TaskResult } from './types.js';

export class Work {
  constructor(
    private readonly s: QueueStore,
    private readonly letters: DeadLetters,
  ) {}

  /** Unsent events (Indexed and snapshots) whose time has come (all with force), in enqueue order. An unreadable one is dead-lettered (writable views). */
  readyEvents(limit: number, opts: { force?: boolean } = {}): StoredEvent[] {
    const s = this.s;
    const rows = opts.force ? s.sql.allJson(EVENTS_JSON, '', [], limit) : s.sql.allJson(EVENTS_JSON, 'WHERE next_attempt_at <= ?', [s.now()], limit);
    const out: StoredEvent[] = [];
    const envelopes = s.envelopesOf(rows);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const envelope = envelopes[i];
      if (envelope === null) {
        s.unreadableEvents++;
        if (!s.opts.readonly) {
          s.sql.transaction(() => {
            this.letters.event(Number(r.seq), 'local_event_corrupt: its stored envelope is missing or damaged');
            this.letters.body(Number(r.seq), 'local_event_corrupt: its index event could not be read; run `kitty-sync sync <feature>`');
          });
          s.changed = true;
        }
        continue;
      }
      out.push({
        event_id: String(r.event_id),
        seq: Number(r.seq),
        envelope,
        created_at: Number(r.created_at),
        retry_count: Number(r.retry_count),
        next_attempt_at: Number(r.next_attempt_at),
        last_error: str(r.last_error),
      });
    }
    return out;
  }

  /** Body tasks whose time has come (all with force), oldest first. */
  readyBodies(limit: number, opts: { force?: boolean } = {}): BodyTask[] {
    const s = this.s;
    const rows = opts.force ? s.sql.allJson(BODIES_JSON, '', [], limit) : s.sql.allJson(BODIES_JSON, 'WHERE next_attempt_at <= ?', [s.now()], limit);
    return rows.map((r) => bodyOf(r, s));
  }

  /**
   * Remembers uploads that were handed to the network by a drain that then died (its in-flight
   * journal, lib/delivery/inflight.ts): each may still land on the server until `startedAt + settle`.
   */
  recordAbandonedUploads(list: { namespace: NamespaceRef; artifact_path: string; content_hash: string; startedAt: number }[]): void {
    const s = this.s;
    s.writable();
    if (list.length === 0) return;
    s.sql.transaction(() => {
      for (const u of list) {
        if (!HASH_RE.test(u.content_hash)) continue;
        s.recordAbandoned(s.nsId(pickNamespace(u.namespace)), u.artifact_path, bytesOf(u.content_hash), u.startedAt + s.opts.settleMs);
      }
    });
    s.changed = true;
  }

  /**
   * Next attempts stored further ahead than now + maxWaitMs (a clock that was fast then, or an
   * uncapped wait stored by an older version) are brought back to now + maxWaitMs: nothing is parked
   * for longer than that. Returns how many rows changed. The tables are scanned (a large queue:
   * tens of ms) only when such a wait can exist: the clock is behind the queue's clock mark, or the
   * queue has none yet (QueueStore.clockHigh).
   */
  clampWaits(maxWaitMs: number = MAX_WAIT_MS): number {
    const s = this.s;
    s.writable();
    const now = s.now();
    const full = maxWaitMs >= MAX_WAIT_MS;
    if (full && s.clockHigh !== null && s.clockHigh <= now) return 0;
    const limit = now + maxWaitMs;
    let n = 0;
    for (const table of ['body_tasks', 'index_events'] as const) n += s.sql.run(`UPDATE ${table} SET next_attempt_at = ? WHERE next_attempt_at > ?`, [limit, limit]);
    if (full) {
      // Every wait is within now + MAX_WAIT_MS again: the mark comes back to now (saved with the rows).
      s.clockHigh = now;
      s.changed = true;
    } else if (n) s.changed = true;
    return n;
  }

  /** Records what happened to sent events. A 'dead' event also dead-letters its body task. Unknown ids are ignored. */
  applyEventResults(results: { event_id: string; result: TaskResult; seq?: number }[]): void {
    const s = this.s;
    s.writable();
    s.sql.transaction(() => {
      // The common case, deliveries of events whose rows the drain read: removed together, in two
      // statements, not one per event (2,000: about half this step's CPU).
      const delivered = new Map<number, string>();
      for (const { event_id, result, seq } of results) if (result.kind === 'delivered' && seq !== undefined) delivered.set(seq, event_id);
      if (s.deleteDeliveredEvents(delivered) > 0) s.changed = true;
      for (const { event_id, result, seq: known } of results) {
        if (result.kind === 'delivered' && known !== undefined) continue;
        const seq = s.eventSeq(event_id, known);
        if (seq === null || result.kind === 'released') continue;
        s.changed = true;
        if (result.kind === 'delivered') {
          s.deleteEvents('seq', seq);
        } else if (result.kind === 'retry') {
          s.sql.run('UPDATE index_events SET retry_count = retry_count + 1, last_error = ? WHERE seq = ?', [result.error, seq]);
          const n = s.sql.count('SELECT retry_count FROM index_events WHERE seq = ?', [seq]);
          s.sql.run('UPDATE index_events SET next_attempt_at = ? WHERE seq = ?', [s.nextAttempt(n, result.notBeforeMs), seq]);
        } else {
          this.letters.event(seq, result.reason);
          // Without its index entry the body would only ever get index_entry_not_found.
          this.letters.body(seq, `event_rejected: ${result.reason}`);
        }
      }
    });
  }

  /**
   * Records what happened to sent bodies. Unknown ids (superseded meanwhile) are ignored, except that
   * an abandoned upload is remembered even then (it may still land). A delivery that an abandoned
   * upload of another version of the artifact could still overtake (its in-flight window ends after
   * this delivery began) is scheduled once more for after that window: a re-confirmation (issue 11 §4).
   */
  applyBodyResults(results: BodyResultRow[]): void {
    const s = this.s;
    const sql = s.sql;
    s.writable();
    const now = s.now();
    sql.transaction(() => {
      // Abandoned uploads whose window closed long ago can no longer matter to any attempt.
      if (sql.count('SELECT EXISTS (SELECT 1 FROM abandoned WHERE until < ?)', [now - s.opts.settleMs])) {
        sql.run('DELETE FROM abandoned WHERE until < ?', [now - s.opts.settleMs]);
        s.changed = true;
      }
      // Usually none are left: then a delivery needs no look at them (two statements fewer per body).
      let anyAbandoned = sql.count('SELECT EXISTS (SELECT 1 FROM abandoned)') === 1;
      let rest = results;
      // When no abandoned upload is pending nor recorded by these results, nothing can overtake a
      // delivery: the delivered tasks go together, in two statements, not two per body.
      if (!anyAbandoned && !results.some(isAbandoned)) {
        const delivered = results.filter((r) => r.result.kind === 'delivered');
        if (s.deleteDeliveredBodies(delivered.map((r) => r.upload_id)) > 0) s.changed = true;
        rest = results.filter((r) => r.result.kind !== 'delivered');
      }
      for (const row of rest) {
        const { upload_id, result, startedAt, key } = row;
        if (isAbandoned(row) && key && HASH_RE.test(key.content_hash)) {
          s.recordAbandoned(s.nsId(pickNamespace(key.namespace)), key.artifact_path, bytesOf(key.content_hash), row.startedAt + s.opts.settleMs);
          anyAbandoned = true;
          s.changed = true;
        }
        if (result.kind === 'released') continue;
        const r = s.bodyRowOf(upload_id);
        if (r === null) continue;
        s.changed = true;
        const seq = Number(r.seq);
        if (result.kind === 'delivered') {
          let overtaking: unknown = null;
          if (anyAbandoned) {
            overtaking = sql.value('SELECT max(until) FROM abandoned WHERE ns_id = ? AND artifact_path = ? AND content_hash <> ? AND until > ?', [r.ns_id, r.artifact_path, r.content_hash, startedAt ?? 0]);
            sql.run('DELETE FROM abandoned WHERE ns_id = ? AND artifact_path = ? AND content_hash = ?', [r.ns_id, r.artifact_path, r.content_hash]);
          }
          s.deleteBodyRow(r);
          if (overtaking !== null && overtaking !== undefined) {
            // Same content again, no index event (its entry exists), once the older request is surely over.
            const loc = { packId: numOrNull(r.pack_id), off: numOrNull(r.off), oid: r.oid === null ? null : hexOf(r.oid) };
            s.insertBody(Number(r.ns_id), String(r.artifact_path), hexOf(r.content_hash), s.nextSeq(), Number(r.size_bytes), now, loc, Math.max(now, Number(overtaking)), 'reconfirm_after_abandoned_upload');
            if (r.pack_id !== null) s.touchedPacks.delete(Number(r.pack_id));
          }
        } else if (result.kind === 'retry') {
          const n = Number(r.retry_count) + 1;
          sql.run('UPDATE body_tasks SET retry_count = ?, next_attempt_at = ?, last_error = ? WHERE seq = ?', [n, s.nextAttempt(n, result.notBeforeMs), result.error, seq]);
        } else {
          this.letters.body(seq, result.reason);
        }
      }
    });
  }
}

/** A result that says its request went out and no answer came back: it may still land. */
function isAbandoned(row: BodyResultRow): row is BodyResultRow & { startedAt: number } {
  const { result } = row;
  return (result.kind === 'retry' || result.kind === 'released') && result.abandoned === true && row.startedAt !== undefined;
}
