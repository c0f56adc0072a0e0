// bench/queue: cost of one hook's queue work with 0, 1k, 10k and 100k tasks already pending, plus
// peak RSS, in two cases (issue 16 §3):
//   merge  the server answers: lock, open, merge a capture of 30 tasks (bodies included), save, unlock;
//   held   the server failed the last index events (the pending marker holds the queue): the hook's
//          whole run (runSync) writes its capture to a spool and leaves the queue unloaded;
//   failing  the server is reachable but answers 503 to the index events: the hook's whole run merges,
//          the drain reads its opening work, sends one events batch and saves its results and counts.
// Each run is a fresh child process (like a hook), on a copy of a pre-built database.
// Usage: node dist/bench/queue.js [--runs N] [--sizes 0,1000,...] [--modes merge,held,failing]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dbPath, readQueue, SCHEMA_VERSION, withQueue } from '../lib/queue/queue.js';
import { activeHold, writePendingMarker } from '../lib/queue/marker.js';
import { spoolDir } from '../lib/queue/pack.js';
import { runSync } from '../lib/run/pipeline.js';
import { hookRunOptions } from '../lib/run/hook.js';
import type { DrainTransport } from '../lib/delivery/drain.js';
import { artifact, CTX, namespace } from '../test/support/artifacts.js';
import type { EligibleArtifact } from '../lib/types.js';
import { median } from './median.js';

const self = fileURLToPath(import.meta.url);

/** `count` distinct pending artifacts spread over features of 1,000 files; one shared body keeps prebuild fast. */
function pendingArtifacts(count: number, offset = 0, tag = 'pre'): EligibleArtifact[] {
  const items: EligibleArtifact[] = [];
  for (let i = offset; i < offset + count; i++) {
    const feature = `${String(100 + Math.floor(i / 1000)).padStart(3, '0')}-bench-feature-${Math.floor(i / 1000)}`;
    const a = artifact(`research/notes-${tag}-${i}.md`, tag === 'pre' ? 'shared body\n' : `body ${tag} ${i}\n`, namespace(feature, 'feature/bench'));
    items.push(a);
  }
  return items;
}

/**
 * This process's own peak RSS in KB. getrusage's maxRSS is not: Linux carries the forking parent's
 * high-water mark across exec, so every child of a bench that has built a 100k queue would report it.
 */
function peakRssKb(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS;
}

async function child(stateDir: string, mode: string, pending: number): Promise<void> {
  const fresh = pendingArtifacts(30, 0, `new-${process.pid}`);
  if (mode === 'held' || mode === 'failing') {
    let transport: DrainTransport;
    if (mode === 'held') {
      // What a drain that got no answer for its index events leaves: a marker holding the queue.
      writePendingMarker(stateDir, { hold_until: Date.now() + 600_000, pending, events_pending: pending, last_error: 'connection_refused' }, undefined);
      // Never called: a held run sends nothing.
      transport = {} as DrainTransport;
    } else {
      // The server is reachable but answers 503 to the index events: the hook merges, the drain reads
      // its opening work, sends one events batch, writes its results and the counts for the report.
      transport = {
        sendEvents: () => Promise.resolve({ kind: 'retry', reason: 'http_503' }),
        pushContent: () => Promise.reject(new Error('no body goes before its index event')),
      };
    }
    const t0 = performance.now();
    const report = await runSync({
      stateDir,
      groups: [{ context: CTX, eligible: fresh, indexes: [] }],
      skipped: [],
      transport,
      budgetMs: 2000,
      deadlineAt: Date.now() + 2000,
      capacity: 1_000_000,
      concurrency: 8,
      // A hook's options (stale work looked for at most hourly, in parts; only what is left counted). A
      // prebuilt queue has no look on record, so each run here is the first hook of its hour and looks
      // at the first part.
      ...hookRunOptions({ maxAgeMs: 30 * 86_400_000, maxRetries: 1000 }),
      hold: activeHold(stateDir),
    });
    const ms = performance.now() - t0;
    if (mode === 'held' && !report.held) throw new Error('expected a held run');
    if (mode === 'failing' && (report.drain.stop !== 'events_failed' || report.drain.stats.pending !== pending + 30))
      throw new Error(`expected events_failed with ${pending + 30} pending, got ${report.drain.stop} / ${report.drain.stats.pending}`);
    process.stdout.write(JSON.stringify({ ms, initMs: 0, maxRssKb: peakRssKb() }));
    return;
  }
  // The wasm load is a fixed per-process cost; measured apart (readQueue of a missing dir creates nothing).
  const i0 = performance.now();
  await readQueue({ stateDir: path.join(stateDir, 'none') }, (q) => q.hasPending());
  const initMs = performance.now() - i0;
  const t0 = performance.now();
  // Capacity above the largest size: the 100k case measures cost, not the capacity limit.
  const result = await withQueue({ stateDir, capacity: 1_000_000 }, (q) => q.enqueue(fresh, CTX));
  const ms = performance.now() - t0;
  if (result.added !== 30) throw new Error(`expected 30 added, got added=${result.added} refused=${result.refused}`);
  process.stdout.write(JSON.stringify({ ms, initMs, maxRssKb: peakRssKb() }));
}

/**
 * Where the pre-built queues are kept between runs: named by the schema version and a hash of the
 * compiled queue modules, so a change to what a queue's saves hold (a meta row, the layout) builds
 * them anew rather than timing a queue older code wrote. Caches of other code are removed.
 */
function prebuiltCacheDir(): string {
  const queueCode = path.resolve(path.dirname(self), '../lib/queue');
  const h = createHash('sha256');
  const modules = readdirSync(queueCode)
    .filter((n) => n.endsWith('.js'))
    .sort();
  for (const f of modules) h.update(f).update(readFileSync(path.join(queueCode, f)));
  const name = `kitty-sync-bench-queue-s${SCHEMA_VERSION}-${h.digest('hex').slice(0, 12)}`;
  for (const old of readdirSync(os.tmpdir()).filter((n) => n.startsWith('kitty-sync-bench-queue-s') && n !== name)) {
    rmSync(path.join(os.tmpdir(), old), { recursive: true, force: true });
  }
  return path.join(os.tmpdir(), name);
}

async function prebuild(dir: string, size: number): Promise<string> {
  const stateDir = path.join(dir, `pre-${size}`);
  if (existsSync(dbPath(stateDir))) return stateDir;
  for (let done = 0; done < size; done += 10_000) {
    const n = Math.min(10_000, size - done);
    await withQueue({ stateDir }, (q) => q.enqueue(pendingArtifacts(n, done), CTX));
  }
  return stateDir;
}

/**
 * A run's copy of a pre-built state: the database copied, the packs its rows point into (read when
 * events are sent; never modified, only replaced or removed) hard-linked: copying 160 MB of packs
 * before each run would leave the disk busy writing them back while the run is timed.
 */
function copyState(pre: string, stateDir: string): void {
  copyFileSync(dbPath(pre), dbPath(stateDir));
  const spool = spoolDir(pre);
  if (!existsSync(spool)) return;
  mkdirSync(spoolDir(stateDir), { recursive: true });
  for (const name of readdirSync(spool)) linkSync(path.join(spool, name), path.join(spoolDir(stateDir), name));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], args[2], Number(args[3]));
  const runs = Number(args[args.indexOf('--runs') + 1]) || 7;
  const modes = args.includes('--modes') ? args[args.indexOf('--modes') + 1].split(',') : ['merge', 'held', 'failing'];
  const sizes = args.includes('--sizes') ? args[args.indexOf('--sizes') + 1].split(',').map(Number) : [0, 1000, 10_000, 100_000];
  const cacheDir = prebuiltCacheDir();
  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-bench-'));
  const rows: { case: string; pending: number; median_ms: number; min_ms: number; wasm_init_ms: number; db_bytes: number; peak_rss_mb: number }[] = [];
  try {
    for (const mode of modes)
      for (const size of sizes) {
        const pre = await prebuild(cacheDir, size);
        const dbBytes = existsSync(dbPath(pre)) ? statSync(dbPath(pre)).size : 0;
        const times: number[] = [];
        const inits: number[] = [];
        let rss = 0;
        for (let r = 0; r < runs; r++) {
          const stateDir = path.join(work, `run-${size}-${r}`);
          mkdirSync(stateDir, { recursive: true });
          if (dbBytes) copyState(pre, stateDir);
          const out = JSON.parse(execFileSync(process.execPath, [self, '--child', stateDir, mode, String(size)], { encoding: 'utf8' })) as { ms: number; initMs: number; maxRssKb: number };
          times.push(out.ms);
          inits.push(out.initMs);
          rss = Math.max(rss, out.maxRssKb);
          rmSync(stateDir, { recursive: true, force: true });
        }
        rows.push({
          case: mode,
          pending: size,
          median_ms: +median(times).toFixed(1),
          min_ms: +Math.min(...times).toFixed(1),
          wasm_init_ms: +median(inits).toFixed(1),
          db_bytes: dbBytes,
          peak_rss_mb: +(rss / 1024).toFixed(1),
        });
      }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.table(rows);
  for (const mode of modes) {
    const base = rows.find((r) => r.case === mode && r.pending === 0)?.median_ms;
    for (const r of rows) if (r.case === mode && base !== undefined && r.pending) console.log(`${mode}: pending ${r.pending}: +${(r.median_ms - base).toFixed(1)} ms over empty (peak RSS ${r.peak_rss_mb} MB)`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
