// The packs rows point into (pack.ts is the file format): which packs the queue knows, reading a
// stored body out of one, and collection: a pack no row refers to any more is deleted after the
// save; a big pack mostly consumed is compacted so a few leftovers never pin it.
import { readBody as readLegacyBody } from './bodystore.js';
import type { SqlValue } from 'sql.js';
import { baseOf, PackBuilder, PackReader, writePackSync } from './pack.js';
import { bytesOf, numOrNull, str } from './rows.js';
import type { QueueStore } from './store.js';
import type { BodyTask } from './types.js';

/** Packs at least this big whose live items are under a quarter of them are compacted by drains. */
export const COMPACT_MIN_BYTES = 1024 * 1024;

export class PackRefs {
  constructor(private readonly s: QueueStore) {}

  /** Packs known to this queue by name: live ones and dead ones whose file may still exist. */
  packNames(): Map<string, { id: number; dead: boolean }> {
    const m = new Map<string, { id: number; dead: boolean }>();
    for (const { pack_id, name, dead } of this.s.sql.all<'pack_id' | 'name' | 'dead'>('SELECT pack_id, name, dead FROM packs')) m.set(String(name), { id: Number(pack_id), dead: Number(dead) === 1 });
    return m;
  }

  /** Forgets dead packs whose files are gone. */
  forgetPacks(ids: number[]): void {
    if (ids.length === 0) return;
    this.s.sql.transaction(() => {
      for (const id of ids) this.s.sql.run('DELETE FROM packs WHERE pack_id = ? AND dead = 1', [id]);
    });
    this.s.changed = true;
  }

  /** Some row still uses a v2 body file (bodies/<hash>). */
  hasLegacyBodies(): boolean {
    return !!this.s.sql.value("SELECT EXISTS (SELECT 1 FROM body_tasks WHERE pack_id IS NULL) OR EXISTS (SELECT 1 FROM dead_letters WHERE kind = 'body' AND pack_id IS NULL)");
  }

  private refBytes(packId: number): number {
    return this.s.sql.count(
      `SELECT (SELECT COALESCE(SUM(size_bytes), 0) FROM body_tasks WHERE pack_id = ?1) + (SELECT COALESCE(SUM(len), 0) FROM index_events WHERE pack_id = ?1)
        + (SELECT COALESCE(SUM(len), 0) FROM dead_letters WHERE pack_id = ?1)`,
      [packId],
    );
  }

  private refCount(packId: number): number {
    return this.s.sql.count(
      `SELECT EXISTS (SELECT 1 FROM body_tasks WHERE pack_id = ?1) OR EXISTS (SELECT 1 FROM index_events WHERE pack_id = ?1)
        OR EXISTS (SELECT 1 FROM dead_letters WHERE pack_id = ?1)`,
      [packId],
    );
  }

  /**
   * Marks the touched packs nobody refers to any more as dead (their files go after the save) and,
   * when compacting is allowed, copies the few live items of a mostly consumed big pack into a
   * small new one, so a dead letter or a long-pending body never pins a large pack. Returns the
   * names of the packs to delete after the save.
   */
  collectPacks(compact: boolean): string[] {
    const s = this.s;
    if (s.touchedPacks.size === 0) return [];
    const doomed: string[] = [];
    s.sql.transaction(() => {
      for (const id of s.touchedPacks) {
        const p = s.sql.one<'name' | 'size' | 'dead'>('SELECT name, size, dead FROM packs WHERE pack_id = ?', [id]);
        if (!p || Number(p.dead) === 1) continue;
        if (this.refCount(id) === 0) {
          s.sql.run('UPDATE packs SET dead = 1 WHERE pack_id = ?', [id]);
          doomed.push(String(p.name));
          continue;
        }
        if (compact && Number(p.size) >= COMPACT_MIN_BYTES && this.refBytes(id) * 4 < Number(p.size) && this.compactPack(id, String(p.name))) {
          s.sql.run('UPDATE packs SET dead = 1 WHERE pack_id = ?', [id]);
          doomed.push(String(p.name));
        }
      }
    });
    s.touchedPacks.clear();
    if (doomed.length) s.changed = true;
    return doomed;
  }

  /** Copies the live items of a pack into a new 'compact' pack (written and fsynced now) and repoints the rows. */
  private compactPack(id: number, name: string): boolean {
    const s = this.s;
    const items: { table: string; key: string; keyVal: SqlValue; off: number; len: number }[] = [];
    for (const r of s.sql.all<'seq' | 'off' | 'len'>('SELECT seq, off, size_bytes AS len FROM body_tasks WHERE pack_id = ?', [id]))
      items.push({ table: 'body_tasks', key: 'seq', keyVal: r.seq, off: Number(r.off), len: Number(r.len) });
    for (const r of s.sql.all<'seq' | 'off' | 'len'>('SELECT seq, off, len FROM index_events WHERE pack_id = ?', [id]))
      items.push({ table: 'index_events', key: 'seq', keyVal: r.seq, off: Number(r.off), len: Number(r.len) });
    for (const r of s.sql.all<'id' | 'off' | 'len'>('SELECT id, off, len FROM dead_letters WHERE pack_id = ?', [id]))
      items.push({ table: 'dead_letters', key: 'id', keyVal: r.id, off: Number(r.off), len: Number(r.len) });
    const b = new PackBuilder();
    const placed: number[] = [];
    for (const it of items) {
      const bytes = s.packReader().read(name, it.off, it.len);
      if (bytes === null) return false; // unreadable: leave everything where it is
      placed.push(b.addRaw(bytes));
    }
    const pack = b.build('compact', s.now());
    writePackSync(s.stateDir, pack, s.opts.notice);
    const base = baseOf(pack);
    s.sql.run('INSERT INTO packs (name, size, created_at, dead) VALUES (?,?,?,0)', [pack.name, pack.size, s.now()]);
    s.newPackRefs = true;
    const newId = s.sql.lastInsertId();
    items.forEach((it, i) => s.sql.run(`UPDATE ${it.table} SET pack_id = ?, off = ? WHERE ${it.key} = ?`, [newId, base + placed[i], it.keyVal]));
    return true;
  }

  /** The stored body of any task or body dead letter with this hash, or null. */
  storedBody(contentHash: string): Buffer | null {
    const sql = this.s.sql;
    const r =
      sql.one<'pack_name' | 'off' | 'len'>('SELECT p.name AS pack_name, b.off, b.size_bytes AS len FROM body_tasks b LEFT JOIN packs p ON p.pack_id = b.pack_id WHERE b.content_hash = ? LIMIT 1', [
        bytesOf(contentHash),
      ]) ??
      sql.one<'pack_name' | 'off' | 'len'>("SELECT p.name AS pack_name, d.off, d.len FROM dead_letters d LEFT JOIN packs p ON p.pack_id = d.pack_id WHERE d.kind = 'body' AND d.content_hash = ? LIMIT 1", [
        contentHash,
      ]);
    if (!r) return null;
    return this.bodyOf({ pack: str(r.pack_name), off: numOrNull(r.off), size_bytes: Number(r.len), content_hash: contentHash });
  }

  /** The stored body of a task, or null when it is gone or unreadable (verify its hash before use). */
  bodyOf(task: Pick<BodyTask, 'pack' | 'off' | 'size_bytes' | 'content_hash'>): Buffer | null {
    return readTaskBody(this.s.stateDir, task, this.s.packReader());
  }
}

/** A task's stored body (pack or v2 file), or null when gone or unreadable. */
export function readTaskBody(stateDir: string, task: Pick<BodyTask, 'pack' | 'off' | 'size_bytes' | 'content_hash'>, reader?: Pick<PackReader, 'read'>): Buffer | null {
  if (task.pack === null || task.off === null) {
    try {
      return readLegacyBody(stateDir, task.content_hash);
    } catch {
      return null;
    }
  }
  if (reader) return reader.read(task.pack, task.off, task.size_bytes);
  const own = new PackReader(stateDir);
  try {
    return own.read(task.pack, task.off, task.size_bytes);
  } finally {
    own.close();
  }
}
