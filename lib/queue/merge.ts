// Captures into the queue: a spool's (or an enqueue's) bodies and events become rows, each spool in
// one transaction and exactly once (its pack's name is recorded in the same transaction).
import { buildCapture } from './capture.js';
import { pickNamespace } from '../contract/namespace.js';
import { ensureDir, entryKind, moveAside as moveEntryAside } from '../state-fs.js';
import type { CommitContext, EligibleArtifact, FeatureIndex } from '../types.js';
import { baseOf, listSpool, packPath, PackError, readPack, removeSpoolFile, spoolDir, writePack, type BuiltPack, type OpenedPack, type PackHeader } from './pack.js';
import { HASH_RE, hexOf } from './rows.js';
import { eventKeys, type QueueStore } from './store.js';
import type { EnqueueResult, MergeReport } from './types.js';

export class Merger {
  /** Packs written by `enqueue` in this session; the save waits for them before it writes the rows. */
  private packWrites: Promise<unknown> = Promise.resolve();

  constructor(private readonly s: QueueStore) {}

  /**
   * Adds one body task and one index event per new artifact version, then, per feature of
   * `indexes`, an Indexed event for every other indexed file and one snapshot, as 047 emits them;
   * all in one transaction (a pack is written for them; the save waits for it). See mergePack for
   * duplicates, supersedes and capacity. The hooks capture through spools (mergeSpools); this is
   * the same merge for a caller that already holds the lock.
   */
  enqueue(items: EligibleArtifact[], ctx: CommitContext, indexes: FeatureIndex[] = []): EnqueueResult {
    const s = this.s;
    s.writable();
    const pack = buildCapture([{ context: ctx, eligible: items, indexes }], s.now());
    if (!pack) return { added: 0, duplicate: 0, superseded: 0, refused: 0, refusedArtifacts: [] };
    const wasChanged = s.changed;
    const result = this.mergePack(pack.name, pack.header, baseOf(pack), pack.size);
    if (result.added === 0 && result.superseded === 0 && result.events === 0) {
      // Nothing new: no pack to write, nothing to save.
      const id = Number(s.sql.value('SELECT pack_id FROM packs WHERE name = ?', [pack.name]));
      s.sql.run('DELETE FROM packs WHERE pack_id = ?', [id]);
      s.touchedPacks.delete(id);
      s.changed = wasChanged;
      const { spools: _s, events: _e, ...rest } = result;
      return rest;
    }
    s.fresh.set(pack.name, pack);
    // Written now, under the lock, while the caller's transaction goes on; the save awaits it.
    this.packWrites = this.packWrites.then(() => writePack(s.stateDir, pack, s.opts.notice));
    this.packWrites.catch(() => undefined);
    const { spools: _s, events: _e, ...rest } = result;
    return rest;
  }

  /** Resolves when every pack written by `enqueue` is durably on disk; rejects if a write failed. */
  packsWritten(): Promise<unknown> {
    return this.packWrites;
  }

  /**
   * A spool this process is writing (its caller started writePack): read from memory meanwhile,
   * and the save waits for the write as for enqueue's packs.
   */
  awaitWrite(pack: BuiltPack, written: Promise<unknown>): void {
    this.s.fresh.set(pack.name, pack);
    this.packWrites = this.packWrites.then(() => written);
    this.packWrites.catch(() => undefined);
  }

  /**
   * Merges one spool's tasks and events in one transaction and records the pack, so the same spool
   * is never merged twice. Offsets in the header are relative to the data region at `base`.
   * A body: same namespace+path+hash already pending: `duplicate`. Same namespace+path, other hash
   * pending: the older task and its unsent events are removed (`superseded`). Beyond capacity:
   * `refused`. An event without a body (047 indexes every file, and sums each feature up in a
   * snapshot): skipped when an identical one is pending, else it replaces older unsent ones of its
   * key; a snapshot is skipped only when nothing else of the spool was new, so that it always
   * follows the events it sums up.
   */
  mergePack(name: string, header: PackHeader, base: number, size: number): MergeReport {
    const s = this.s;
    const sql = s.sql;
    s.writable();
    const result: MergeReport = { added: 0, duplicate: 0, superseded: 0, refused: 0, refusedArtifacts: [], spools: 0, events: 0 };
    if (s.hasPack(name)) return result;
    const now = s.now();
    sql.transaction(() => {
      sql.run('INSERT INTO packs (name, size, created_at, dead) VALUES (?,?,?,0)', [name, size, now]);
      const packId = sql.lastInsertId();
      result.spools = 1;
      s.newPackRefs = true;
      if (header.kind !== 'capture') return;
      const events = new Map(header.events.map((e) => [e.id, e]));
      const handled = new Set<string>();
      // Seqs are distinct, so their range bounds the count: the counting scan (every hook merges)
      // is needed only when this spool could reach the capacity.
      const bound = sql.count('SELECT COALESCE((SELECT MAX(seq) FROM body_tasks) - (SELECT MIN(seq) FROM body_tasks) + 1, 0)');
      const roomy = bound + header.bodies.length < s.opts.capacity;
      let tasks = roomy ? 0 : sql.count('SELECT COUNT(*) FROM body_tasks');
      // Merging into a queue with no task and no event (a first backfill), the look-ups below can
      // only find rows this merge added: they are made only for an artifact or supersede key it has
      // used already (the same results, a few thousand statements fewer). Keys as the look-ups match
      // them: the artifact exactly, events by their stored (hashed) supersede key.
      const empty = bound === 0 && sql.count('SELECT EXISTS (SELECT 1 FROM index_events)') === 0;
      const addedArtifacts = new Set<string>();
      const usedSkeys = new Set<number>();
      const seen = (skey: number): boolean => !empty || usedSkeys.has(skey);
      // Dead letters an artifact's new version supersedes: none to mark when none is live.
      const liveLetters = sql.count('SELECT EXISTS (SELECT 1 FROM dead_letters WHERE superseded = 0)') === 1;
      for (const b of header.bodies) {
        if (b.event) handled.add(b.event);
        if (!HASH_RE.test(b.hash)) throw new PackError(`${b.path}: content_hash must be lowercase hex SHA-256`);
        const ns = s.nsId(pickNamespace(b.ns));
        const artifact = `${ns}\u0000${b.path}`;
        const pending = !empty || addedArtifacts.has(artifact) ? s.bodyVersions(ns, b.path) : [];
        if (pending.some((r) => hexOf(r.content_hash) === b.hash)) {
          result.duplicate++;
          continue;
        }
        if (pending.length === 0 && !roomy && tasks >= s.opts.capacity) {
          result.refused++;
          result.refusedArtifacts.push({ feature_slug: b.ns.feature_slug, artifact_path: b.path, content_hash: b.hash });
          continue;
        }
        // Older versions: their tasks and unsent events (also those whose task already left).
        let removed = 0;
        for (const { seq } of pending) {
          removed += s.deleteEvents('seq', seq);
          s.deleteBody(Number(seq));
          removed++;
          tasks--;
        }
        const ev = b.event ? events.get(b.event) : undefined;
        const keys = eventKeys(ev);
        if (keys.skey !== null && seen(keys.skey)) removed += s.deleteEvents('skey', keys.skey);
        if (removed > 0) result.superseded++;
        if (liveLetters) sql.run('UPDATE dead_letters SET superseded = 1 WHERE ns_id = ? AND artifact_path = ? AND superseded = 0', [ns, b.path]);

        const seq = s.nextSeq();
        // Every pending version was read above and removed: no second look-up.
        s.addBody(ns, b.path, b.hash, seq, b.size, now, { packId, off: base + b.off, oid: b.oid });
        addedArtifacts.add(artifact);
        if (ev) {
          s.insertEvent(seq, ev.id, keys, now, { packId, off: base + ev.off, len: ev.len });
          if (keys.skey !== null) usedSkeys.add(keys.skey);
        }
        tasks++;
        result.added++;
      }
      // Events with no body task of their own: Indexed events of files not uploaded, snapshots.
      let newEvents = 0;
      let skippedEvents = 0;
      for (const ev of header.events) {
        if (handled.has(ev.id)) continue;
        const keys = eventKeys(ev);
        if (keys.skey !== null && seen(keys.skey)) {
          const identical = keys.ident !== null && sql.count('SELECT EXISTS (SELECT 1 FROM index_events WHERE skey = ? AND ident = ?)', [keys.skey, keys.ident]) === 1;
          // A snapshot counts as new when anything else of this spool was (even of another feature: a spare resend is harmless).
          if (identical && (!ev.snapshot || result.added + newEvents === 0)) {
            skippedEvents++;
            continue;
          }
          // Older unsent events of the key, except one that a pending body (another version) waits for.
          for (const { seq } of sql.all<'seq'>('SELECT seq FROM index_events e WHERE skey = ? AND NOT EXISTS (SELECT 1 FROM body_tasks b WHERE b.seq = e.seq)', [keys.skey])) {
            s.deleteEvents('seq', seq);
          }
        }
        s.insertEvent(s.nextSeq(), ev.id, keys, now, { packId, off: base + ev.off, len: ev.len });
        if (keys.skey !== null) usedSkeys.add(keys.skey);
        result.events++;
        if (!ev.snapshot) newEvents++;
      }
      // Some of it not needed (duplicates, refused): collectable at once, or compactable. A pack
      // whose every item is now a row is neither, and is not looked up (a scan of the queue).
      if (result.duplicate + result.refused + skippedEvents > 0 || result.added + result.events === 0) s.touchedPacks.add(packId);
    });
    s.changed = true;
    return result;
  }
}

/** What mergeSpools needs of an open queue. */
export interface SpoolTarget {
  readonly stateDir: string;
  readonly capacity: number;
  packNames(): Map<string, { id: number; dead: boolean }>;
  forgetPacks(ids: number[]): void;
  mergePack(name: string, header: PackHeader, base: number, size: number): MergeReport;
}

/**
 * Merges every complete spool in the spool directory that this queue has not merged yet, oldest
 * first, each in its own transaction. A damaged one (torn by a power loss, altered) is never merged:
 * it is moved aside with a notice. Leftovers are tidied: temporary files of dead writers, files of
 * dead packs, and compaction output that never made it into a save.
 */
export function mergeSpools(q: SpoolTarget, opts: { own?: BuiltPack; ownInFlight?: boolean; notice?: (m: string) => void } = {}): MergeReport {
  const total: MergeReport = { added: 0, duplicate: 0, superseded: 0, refused: 0, refusedArtifacts: [], spools: 0, events: 0 };
  const stateDir = q.stateDir;
  const kind = entryKind(spoolDir(stateDir));
  if (kind === null) return total;
  if (kind !== 'dir') {
    // A link or file in its place is never listed through: moved aside, a fresh directory made.
    ensureDir(spoolDir(stateDir), opts.notice);
    return total;
  }
  const listing = listSpool(stateDir);
  for (const t of listing.deadTemps) removeSpoolFile(stateDir, t);
  const known = q.packNames();
  const present = new Set(listing.packs);
  const gone = [...known].filter(([name, p]) => p.dead && !present.has(name)).map(([, p]) => p.id);
  q.forgetPacks(gone);
  // `own` while its writer is still at it (QueueOptions.ownWritten) is not listed yet: merged all the
  // same, in its place by name (creation order), as it will be on disk by the save.
  const names = listing.packs;
  if (opts.own && opts.ownInFlight && !present.has(opts.own.name)) {
    names.push(opts.own.name);
    names.sort();
  }
  for (const name of names) {
    const k = known.get(name);
    if (k?.dead) {
      removeSpoolFile(stateDir, name); // collected, but the process died before deleting the file
      continue;
    }
    if (k) continue;
    let opened: OpenedPack;
    if (opts.own && opts.own.name === name) {
      opened = { header: opts.own.header, base: baseOf(opts.own), size: opts.own.size };
    } else {
      try {
        opened = readPack(packPath(stateDir, name), opts.notice);
      } catch (err) {
        if (!(err instanceof PackError)) throw err;
        const file = packPath(stateDir, name);
        moveEntryAside(file, `a damaged spool (${err.message}); it was not merged. Run \`kitty-sync sync --all\` to capture its documents again`, opts.notice);
        continue;
      }
    }
    if (opened.header.kind === 'compact') {
      removeSpoolFile(stateDir, name); // a compaction whose save never happened: its items are still in their old pack
      continue;
    }
    const r = q.mergePack(name, opened.header, opened.base, opened.size);
    total.added += r.added;
    total.duplicate += r.duplicate;
    total.superseded += r.superseded;
    total.refused += r.refused;
    total.refusedArtifacts.push(...r.refusedArtifacts);
    total.spools += r.spools;
    total.events += r.events;
  }
  if (total.refused > 0) {
    opts.notice?.(`the queue is full (capacity ${q.capacity}): ${total.refused} artifact(s) were not queued; run \`kitty-sync drain\` and commit or \`kitty-sync sync\` again`);
  }
  return total;
}
