// Dead letters: work that failed for good (rejected, stale, unreadable) leaves the queue into
// dead_letters with enough to put it back (`kitty-sync retry`) or to show it (`kitty-sync failed`).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ulid } from 'ulid';
import { buildIndexEvent, buildSnapshotEvent, type EventRecord, type SnapshotRecord } from '../collect/events.js';
import { pickNamespace } from '../contract/namespace.js';
import type { DossierEvent, NamespaceRef } from '../types.js';
import { bodiesDir } from './bodystore.js';
import { packPath } from './pack.js';
import { BODIES_JSON, bodyOf, EVENTS_JSON, HASH_RE, hexOf, NS_COLS, nsOf, numOrNull, str, type NsCol, type Row } from './rows.js';
import { snapshotKey, supersedeKey } from './schema.js';
import type { QueueStore } from './store.js';
import type { DeadLetter, RetryResult, StalePolicy } from './types.js';

type LetterCol = 'id' | 'kind' | 'seq' | 'artifact_path' | 'content_hash' | 'task' | 'superseded' | 'pack_id' | 'off' | 'pack_name' | 'reason';
const LETTER_SELECT =
  'SELECT d.id, d.kind, d.seq, d.artifact_path, d.content_hash, d.task, d.superseded, d.pack_id, d.off, p.name AS pack_name, d.reason FROM dead_letters d LEFT JOIN packs p ON p.pack_id = d.pack_id';

/** The meta key of the last complete look for stale work (expireStale with everyMs). */
const STALE_CHECKED_AT = 'stale_checked_at';
/** The meta key of the seq where a look in parts (expireStale with sliceRows) stopped; 0: none under way. */
const STALE_CURSOR = 'stale_cursor';

export class DeadLetters {
  constructor(private readonly s: QueueStore) {}

  /** Moves a body task to the dead letters; its stored body stays (the letter refers to it). */
  body(seq: number, reason: string): boolean {
    const s = this.s;
    const [r] = s.sql.allJson(BODIES_JSON, 'WHERE seq = ?', [seq], 1);
    if (!r) return false;
    const task = bodyOf(r, s);
    s.sql.run(
      `INSERT INTO dead_letters (id, kind, ref_id, seq, ns_id, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count, pack_id, off, len)
       VALUES (?, 'body', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [ulid(), task.upload_id, seq, r.ns_id, task.namespace.feature_slug, task.artifact_path, task.content_hash, JSON.stringify(task), reason, s.now(), task.retry_count, r.pack_id, task.off, task.size_bytes],
    );
    s.deleteBody(seq);
    // Its stored body stays: the dead letter refers to it (retry re-sends it).
    return true;
  }

  /** Dead-letters an event; its envelope is copied into the letter, so the letter pins no pack. */
  event(seq: number, reason: string): boolean {
    const s = this.s;
    const [r] = s.sql.allJson(EVENTS_JSON, 'WHERE seq = ?', [seq], 1);
    if (!r) return false;
    const envelope = s.envelopeOf(r);
    const body = s.sql.one<NsCol | 'artifact_path' | 'content_hash' | 'ns_id'>(
      `SELECT ${NS_COLS}, b.artifact_path, b.content_hash, b.ns_id FROM body_tasks b JOIN namespaces n ON n.ns_id = b.ns_id WHERE b.seq = ?`,
      [seq],
    );
    const payload = (envelope?.payload ?? {}) as unknown as Record<string, unknown>;
    const feature = body ? String(body.feature_slug) : typeof payload.feature_slug === 'string' ? payload.feature_slug : '';
    const artifactPath = body ? String(body.artifact_path) : typeof payload.relative_path === 'string' ? payload.relative_path : '';
    const hash = body ? hexOf(body.content_hash) : typeof payload.content_hash_sha256 === 'string' ? payload.content_hash_sha256 : null;
    const nsRef = body ? nsOf(body) : ((payload.namespace as NamespaceRef | undefined) ?? null);
    const record = {
      event_id: String(r.event_id),
      skey: numOrNull(r.skey),
      ident: numOrNull(r.ident),
      envelope,
      namespace: nsRef,
      created_at: Number(r.created_at),
      retry_count: Number(r.retry_count),
      last_error: str(r.last_error),
    };
    s.sql.run(
      `INSERT INTO dead_letters (id, kind, ref_id, seq, ns_id, feature_slug, artifact_path, content_hash, task, reason, failed_at, retry_count)
       VALUES (?, 'event', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [ulid(), String(r.event_id), seq, body ? body.ns_id : nsRef ? s.nsId(pickNamespace(nsRef)) : null, feature, artifactPath, hash, JSON.stringify(record), reason, s.now(), Number(r.retry_count)],
    );
    s.deleteEvents('seq', seq);
    return true;
  }

  /**
   * Moves work older than maxAgeMs or tried maxRetries times to the dead letters. Returns how many items
   * moved. With sliceRows, one call looks at the next sliceRows body tasks (by seq, and the events of
   * that range) after where the last call stopped, so no call scans a whole large queue; the look is
   * complete (and everyMs counts from then) when a call reaches the end.
   */
  expireStale(policy: StalePolicy): number {
    const s = this.s;
    s.writable();
    const now = s.now();
    const sliced = policy.sliceRows !== undefined;
    // Where a look in parts stopped (0: no look under way); a look of the whole queue starts afresh.
    const cursor = Number(s.meta(STALE_CURSOR) ?? 0) || 0;
    const after = sliced ? cursor : 0;
    if (policy.everyMs !== undefined && after === 0) {
      const last = Number(s.meta(STALE_CHECKED_AT));
      if (Number.isFinite(last) && last <= now && now - last < policy.everyMs) return 0;
    }
    // The part ends at its sliceRows-th body task; none: it runs to the end and completes the look.
    const found = sliced ? s.sql.value('SELECT seq FROM body_tasks WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?', [after, policy.sliceRows! - 1]) : undefined;
    const end = found === undefined || found === null ? null : Number(found);
    // The rows after the cursor (a look from the start: from the first) up to the part's end (a last part: all).
    const bounds: [string, number][] = [];
    if (after !== 0) bounds.push(['seq > ?', after]);
    if (end !== null) bounds.push(['seq <= ?', end]);
    const range = { where: bounds.map(([c]) => c).join(' AND ') || '1', params: bounds.map(([, v]) => v) };
    const cutoff = now - policy.maxAgeMs;
    let moved = 0;
    s.sql.transaction(() => {
      for (const table of ['index_events', 'body_tasks'] as const) {
        const rows = s.sql.all<'seq' | 'old'>(`SELECT seq, created_at < ? AS old FROM ${table} WHERE ${range.where} AND (created_at < ? OR retry_count >= ?)`, [
          cutoff,
          ...range.params,
          cutoff,
          policy.maxRetries,
        ]);
        for (const { seq, old } of rows) {
          const reason = Number(old) ? 'stale_max_age' : 'stale_max_retries';
          if (table === 'index_events') {
            if (this.event(Number(seq), reason)) moved++;
            // The body cannot be accepted without its index entry either.
            if (this.body(Number(seq), `event_${reason}`)) moved++;
          } else if (this.body(Number(seq), reason)) {
            moved++;
          }
        }
      }
    });
    // Where it got to, and when a look completed: kept by the save this transaction makes anyway
    // (never one of its own), so a part that is not saved is only made again.
    if (end !== null) s.setMeta(STALE_CURSOR, end);
    else {
      s.setMeta(STALE_CHECKED_AT, now);
      // A complete look ends any look in parts under way (a drain's whole look included).
      if (cursor !== 0) s.setMeta(STALE_CURSOR, 0);
    }
    if (moved) s.changed = true;
    return moved;
  }

  list(): DeadLetter[] {
    return this.s.sql
      .all<'id' | 'kind' | 'feature_slug' | 'artifact_path' | 'content_hash' | 'reason' | 'failed_at' | 'retry_count' | 'task'>(
        'SELECT id, kind, feature_slug, artifact_path, content_hash, reason, failed_at, retry_count, task FROM dead_letters ORDER BY failed_at, id',
      )
      .map((r) => {
        let namespace: NamespaceRef | null;
        try {
          const t = JSON.parse(String(r.task)) as { namespace?: NamespaceRef };
          namespace = t.namespace ? pickNamespace(t.namespace) : null;
        } catch {
          namespace = null;
        }
        return {
          id: String(r.id),
          kind: r.kind === 'event' ? 'event' : 'body',
          feature_slug: String(r.feature_slug),
          artifact_path: String(r.artifact_path),
          content_hash: str(r.content_hash),
          reason: String(r.reason),
          failed_at: Number(r.failed_at),
          retry_count: Number(r.retry_count),
          namespace,
        };
      });
  }

  /**
   * Puts dead letters back in the queue (fresh retry count, ready now, new ids). The body and the
   * event of one artifact version go back together. A dead letter whose artifact had a newer
   * version enqueued since is dropped and counted as superseded: an older version is never re-sent.
   * A body whose stored copy is gone or was found damaged stays a dead letter (`unavailable`):
   * `kitty-sync sync <feature>` captures it again from Git.
   */
  retry(ids: string[] | 'all'): RetryResult {
    const s = this.s;
    const sql = s.sql;
    s.writable();
    const out: RetryResult = { requeued: 0, superseded: 0, unknown: [], unavailable: [] };
    const now = s.now();
    sql.transaction(() => {
      let rows: Row<LetterCol>[];
      if (ids === 'all') {
        rows = sql.all<LetterCol>(`${LETTER_SELECT} ORDER BY d.seq, d.kind`);
      } else {
        rows = [];
        const chosen = new Set<string>();
        for (const id of new Set(ids)) {
          const r = sql.one<LetterCol>(`${LETTER_SELECT} WHERE d.id = ?`, [id]);
          if (!r) {
            out.unknown.push(id);
            continue;
          }
          chosen.add(id);
          rows.push(r);
        }
        // Bring the partner (same artifact version, other kind) along.
        for (const r of [...rows]) {
          if (Number(r.seq) <= 0) continue;
          for (const p of sql.all<LetterCol>(`${LETTER_SELECT} WHERE d.seq = ? AND d.kind <> ?`, [r.seq, r.kind])) {
            if (!chosen.has(String(p.id))) {
              chosen.add(String(p.id));
              rows.push(p);
            }
          }
        }
        // Bodies before events, so an event finds its body task.
        rows.sort((x, y) => Number(x.seq) - Number(y.seq) || String(x.kind).localeCompare(String(y.kind)));
      }
      const newSeq = new Map<number, number>();
      for (const { id, kind, seq: seqV, artifact_path: artifactPath, content_hash: hash, task: taskJson, superseded, pack_id: packId, off, pack_name: packName, reason } of rows) {
        let task: Record<string, unknown> | null;
        try {
          task = JSON.parse(String(taskJson)) as Record<string, unknown>;
        } catch {
          task = null;
        }
        const nsRef = task?.namespace as NamespaceRef | undefined;
        // A snapshot's letter names no file: it goes back unless a newer snapshot of its feature is pending.
        const snapshotSkey = kind === 'event' && task && hash === null ? letterSnapshotKey(task) : null;
        if (task && snapshotSkey !== null) {
          const envelope = letterEnvelope(task);
          if (Number(superseded) || !envelope || sql.value('SELECT 1 FROM index_events WHERE skey = ?', [snapshotSkey]) !== undefined) {
            out.superseded++;
          } else {
            const eventId = ulid(now);
            envelope.event_id = eventId;
            s.insertEvent(s.nextSeq(), eventId, { skey: snapshotSkey, ident: typeof task.ident === 'number' ? task.ident : null }, now, { envelope: JSON.stringify(envelope) });
            out.requeued++;
          }
          sql.run('DELETE FROM dead_letters WHERE id = ?', [id]);
          continue;
        }
        if (!task || !nsRef || typeof hash !== 'string' || !HASH_RE.test(hash)) {
          out.unavailable.push(String(id));
          continue;
        }
        const ns = s.nsId(pickNamespace(nsRef));
        const newerPending = s.bodyVersions(ns, String(artifactPath)).some((r) => hexOf(r.content_hash) !== hash);
        if (Number(superseded) || newerPending) {
          sql.run('DELETE FROM dead_letters WHERE id = ?', [id]);
          if (kind === 'body' && packId !== null) s.touchedPacks.add(Number(packId));
          out.superseded++;
          continue;
        }
        if (kind === 'body') {
          const stored = packId !== null ? packName !== null && existsSync(packPath(s.stateDir, String(packName))) : existsSync(path.join(bodiesDir(s.stateDir), hash));
          if (!stored || String(reason).startsWith('local_body_corrupt')) {
            out.unavailable.push(String(id));
            continue;
          }
        }
        // One fresh seq per artifact version, shared by its body and event.
        const oldSeq = Number(seqV);
        let seq = oldSeq > 0 ? newSeq.get(oldSeq) : undefined;
        if (seq === undefined) {
          seq = s.nextSeq();
          if (oldSeq > 0) newSeq.set(oldSeq, seq);
        }
        if (kind === 'body') {
          const oid = typeof task.oid === 'string' ? task.oid : null;
          s.insertBody(ns, String(artifactPath), hash, seq, Number(task.size_bytes) || 0, now, { packId: numOrNull(packId), off: numOrNull(off), oid });
          if (packId !== null) s.touchedPacks.delete(Number(packId));
        } else {
          const envelope = letterEnvelope(task);
          if (!envelope) {
            out.unavailable.push(String(id));
            continue;
          }
          // A fresh event id: the server may remember the refused one.
          const eventId = ulid(now);
          envelope.event_id = eventId;
          s.insertEvent(seq, eventId, { skey: typeof task.skey === 'number' ? task.skey : null, ident: typeof task.ident === 'number' ? task.ident : null }, now, {
            envelope: JSON.stringify(envelope),
          });
        }
        sql.run('DELETE FROM dead_letters WHERE id = ?', [id]);
        out.requeued++;
      }
    });
    if (out.requeued || out.superseded) s.changed = true;
    return out;
  }
}

/** The envelope kept in an event dead letter (v4), or rebuilt from an older letter's record (v3 kept a snapshot as `snapshot`). */
function letterEnvelope(task: Record<string, unknown>): (DossierEvent & Record<string, unknown>) | null {
  const env = task.envelope;
  if (env && typeof env === 'object') return { ...(env as DossierEvent) } as DossierEvent & Record<string, unknown>;
  const snap = task.snapshot as SnapshotRecord | undefined;
  if (snap?.namespace && snap.context) return buildSnapshotEvent({ ...snap, context: { ...snap.context, team_slug: snap.context.team_slug ?? 'local' } }) as DossierEvent & Record<string, unknown>;
  const rec = task as unknown as EventRecord;
  if (rec.context && rec.classification && rec.namespace && typeof rec.artifact_path === 'string') {
    return buildIndexEvent({ ...rec, context: { ...rec.context, team_slug: rec.context.team_slug ?? 'local' }, content_hash: String(rec.content_hash) }) as DossierEvent & Record<string, unknown>;
  }
  return null;
}

/** The supersede key (stored form) of a snapshot's dead letter, or null when the letter is not a snapshot's. */
function letterSnapshotKey(task: Record<string, unknown>): number | null {
  const env = task.envelope as { event_type?: string } | undefined;
  if (env?.event_type === 'MissionDossierSnapshotComputed' && typeof task.skey === 'number') return task.skey;
  const snap = task.snapshot as SnapshotRecord | undefined;
  return snap?.namespace ? supersedeKey(snapshotKey(pickNamespace(snap.namespace))) : null;
}
