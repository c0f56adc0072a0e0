// Spools, packs and the merge (issue 11): lock-free capture, exactly-once merge, torn spools,
// racing mergers, kill -9 at random points, the generation check, pack compaction.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCapture } from '../../lib/queue/capture.js';
import { readPack, writePack as writePackAsync, writePackSync as writePack } from '../../lib/queue/pack.js';
import { dbPath, readBody, readQueue, withQueue } from '../../lib/queue/queue.js';
import { QueueChangedError } from '../../lib/queue/queue-file.js';
import { artifact, CTX, namespace } from '../support/artifacts.js';
import { runWorkerAndKill } from '../support/proc.js';

const worker = fileURLToPath(new URL('../support/spool-worker.js', import.meta.url));

function tmpState(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-spool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'state');
}

const spoolFiles = (stateDir: string): string[] => (existsSync(path.join(stateDir, 'spool')) ? readdirSync(path.join(stateDir, 'spool')).sort() : []);

function spool(stateDir: string, paths: string[], ns = namespace()): string {
  const pack = buildCapture([{ context: CTX, eligible: paths.map((p) => artifact(p, `${p} body\n`, ns)) }])!;
  writePack(stateDir, pack, undefined);
  return pack.name;
}

/** Marks every pending event and body delivered; returns the body paths delivered. */
async function deliverAll(stateDir: string): Promise<string[]> {
  return withQueue({ stateDir }, (q) => {
    q.applyEventResults(q.readyEvents(1e6, { force: true }).map((e) => ({ event_id: e.event_id, result: { kind: 'delivered' } })));
    const bodies = q.readyBodies(1e6, { force: true });
    q.applyBodyResults(bodies.map((b) => ({ upload_id: b.upload_id, result: { kind: 'delivered' } })));
    return bodies.map((b) => b.artifact_path);
  });
}

test('a spool is one file, merged by the next lock holder, exactly once (a second merge is a no-op)', async (t) => {
  const stateDir = tmpState(t);
  const name = spool(stateDir, ['spec.md', 'plan.md', 'research/a.md']);
  t.deepEqual(spoolFiles(stateDir), [name]);
  const first = await withQueue({ stateDir }, (q) => q.lastMerge);
  t.like(first, { spools: 1, added: 3 });
  t.deepEqual(await deliverAll(stateDir), ['spec.md', 'plan.md', 'research/a.md']);
  // Delivered and collected; had the spool been merged again, its tasks would be pending once more.
  const again = await withQueue({ stateDir }, (q) => ({ merge: q.lastMerge, pending: q.stats().pending }));
  t.like(again, { merge: { spools: 0, added: 0 }, pending: 0 });
  t.deepEqual(spoolFiles(stateDir), [], 'the pack went with its last task');
});

test('a damaged or truncated spool is never merged, even in part: moved aside with a line naming it; the others merge', async (t) => {
  const stateDir = tmpState(t);
  const damaged = spool(stateDir, ['spec.md', 'plan.md']);
  const truncated = spool(stateDir, ['tasks.md']);
  const good = spool(stateDir, ['research/ok.md']);
  const dir = path.join(stateDir, 'spool');
  const bytes = readFileSync(path.join(dir, damaged));
  bytes[bytes.length - 60] ^= 0xff; // inside the last body
  writeFileSync(path.join(dir, damaged), bytes);
  const cut = readFileSync(path.join(dir, truncated));
  writeFileSync(path.join(dir, truncated), cut.subarray(0, cut.length - 20));
  const notices: string[] = [];
  const merged = await withQueue({ stateDir, onNotice: (m) => notices.push(m) }, (q) => ({ m: q.lastMerge, paths: q.readyBodies(10).map((b) => b.artifact_path) }));
  t.deepEqual(merged.paths, ['research/ok.md']);
  t.is(notices.length, 2, notices.join('\n'));
  t.true(notices.some((n) => n.includes(damaged) && /checksum/.test(n)));
  t.true(notices.some((n) => n.includes(truncated) && /truncated|length/.test(n)));
  t.true(
    notices.every((n) => /sync --all/.test(n)),
    'says how to capture the documents again',
  );
  t.true(spoolFiles(stateDir).includes(good));
  t.is(spoolFiles(stateDir).filter((f) => f.includes('moved-aside')).length, 2, 'kept for inspection');
});

test('two processes racing to merge the same spools: each spool merged once, one task and one event per artifact, Lamport clock unique', async (t) => {
  const stateDir = tmpState(t);
  const SPOOLS = 30;
  for (let i = 0; i < SPOOLS; i++) spool(stateDir, [`research/s${i}-a.md`, `research/s${i}-b.md`, `research/s${i}-c.md`]);
  const run = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [worker, stateDir, 'merge'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // 'close', not 'exit': at 'exit' the child's last output may not have been read yet.
      child.on('close', (code) => {
        const merged = /merged (\d+)/.exec(out);
        if (code === 0 && merged) resolve(Number(merged[1]));
        else reject(new Error(`merge worker exited ${code}; stdout: ${JSON.stringify(out)}; stderr: ${err}`));
      });
    });
  const counts = await Promise.all([run(), run(), run()]);
  t.is(
    counts.reduce((a, b) => a + b, 0),
    SPOOLS,
    `merges per process: ${counts.join(', ')}`,
  );
  const { bodies, events } = await readQueue({ stateDir }, (q) => ({ bodies: q.readyBodies(1e6), events: q.readyEvents(1e6) }));
  t.is(bodies.length, SPOOLS * 3);
  t.is(new Set(bodies.map((b) => b.artifact_path)).size, SPOOLS * 3);
  t.is(events.length, SPOOLS * 3);
  t.deepEqual(
    events.map((e) => e.envelope.lamport_clock).sort((a, b) => a - b),
    Array.from({ length: SPOOLS * 3 }, (_, i) => i + 1),
  );
  t.deepEqual(new Set(bodies.map((b) => b.event_id)), new Set(events.map((e) => e.event_id)), 'each body is linked to its own event by event_id');
});

test('kill -9 at random points across capture and merge: every acknowledged spool is merged exactly once, nothing half-merged', async (t) => {
  const stateDir = tmpState(t);
  const KILLS = 24;
  const acked: string[] = [];
  const delivered = new Set<string>();
  const notices: string[] = [];
  for (let i = 0; i < KILLS; i += 2) {
    // Two at once: kills also land while the other waits for the lock or merges.
    const got = await Promise.all([
      runWorkerAndKill(worker, [stateDir, 'capture', `w${i}`, 'merge'], Math.floor(Math.random() * 500)),
      runWorkerAndKill(worker, [stateDir, 'capture', `w${i + 1}`, ...(i % 4 === 0 ? ['merge'] : [])], Math.floor(Math.random() * 500)),
    ]);
    acked.push(...got.flat());
    // Deliver what is merged so far: a spool merged a second time would bring its tasks back.
    const now = await withQueue({ stateDir, onNotice: (m) => notices.push(m) }, (q) => q.readyBodies(1e6, { force: true }).map((b) => b.artifact_path));
    const twice = now.filter((p) => delivered.has(p));
    t.deepEqual(twice, [], `after kill ${i + 2}: merged again`);
    for (const p of await deliverAll(stateDir)) delivered.add(p);
  }
  // Whatever was acknowledged was merged (and delivered) exactly once.
  for (const p of await deliverAll(stateDir)) {
    t.false(delivered.has(p), `${p} merged twice`);
    delivered.add(p);
  }
  t.deepEqual(
    acked.filter((p) => !delivered.has(p)),
    [],
    'an acknowledged capture was lost',
  );
  t.deepEqual(notices, [], 'no spool was torn or damaged');
  t.deepEqual(
    spoolFiles(stateDir).filter((f) => !f.startsWith('.tmp-')),
    [],
    'every pack collected',
  );
  t.true(acked.length > 0);
  t.log(`${KILLS} kills, ${acked.length} acknowledged artifacts`);
});

test('a save refuses to replace a queue file another process saved since this one read it (generation check)', async (t) => {
  const stateDir = tmpState(t);
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md')], CTX));
  const before = readFileSync(dbPath(stateDir));
  const other = Buffer.from(before);
  other.writeUInt32BE(other.readUInt32BE(60) + 7, 60); // another writer's generation
  const err = await t.throwsAsync(
    withQueue({ stateDir }, (q) => {
      q.enqueue([artifact('plan.md')], CTX);
      // A process that wrongly took the lock saves meanwhile.
      writeFileSync(dbPath(stateDir), other);
    }),
  );
  t.true(err instanceof QueueChangedError, String(err));
  t.regex(err!.message, /saved by another process/);
  t.deepEqual(readFileSync(dbPath(stateDir)), other, "the other process's save is kept");
  // Nothing is lost: the refused run's capture is still a spool, merged by the next lock holder.
  const paths = await withQueue({ stateDir }, (q) => q.readyBodies(10).map((b) => b.artifact_path));
  t.deepEqual(paths.sort(), ['plan.md', 'spec.md']);
});

test('a drain compacts a big pack whose tasks are mostly gone; a dead letter never pins it', async (t) => {
  const stateDir = tmpState(t);
  const items = Array.from({ length: 40 }, (_, i) => artifact(`research/big-${i}.md`, `${i} `.repeat(20_000)));
  await withQueue({ stateDir }, (q) => q.enqueue(items, CTX));
  const [bigPack] = spoolFiles(stateDir);
  await withQueue({ stateDir }, (q) => q.applyEventResults(q.readyEvents(100).map((e) => ({ event_id: e.event_id, result: { kind: 'delivered' } }))));
  const bodies = await readQueue({ stateDir }, (q) => q.readyBodies(100));
  // 37 delivered, one dead letter, two still pending: well under a quarter of the pack is live.
  await withQueue({ stateDir, compact: true }, (q) =>
    q.applyBodyResults(bodies.map((b, i) => ({ upload_id: b.upload_id, result: i === 0 ? { kind: 'dead', reason: 'http_400' } : i < 3 ? { kind: 'retry', error: 'http_503' } : { kind: 'delivered' } }))),
  );
  const after = spoolFiles(stateDir);
  t.is(after.length, 1);
  t.not(after[0], bigPack, 'the big pack is gone');
  t.true(readFileSync(path.join(stateDir, 'spool', after[0])).length < 200_000);
  for (const i of [0, 1, 2]) t.deepEqual(await readBody(stateDir, items[i].content_hash), items[i].body, `item ${i} readable from the new pack`);
  const retried = await withQueue({ stateDir }, (q) => q.retryDeadLetters('all'));
  t.like(retried, { requeued: 1, unavailable: [] });
});

test('a symlinked spool directory is never followed: moved aside with a line, the pack lands inside the state dir', async (t) => {
  const stateDir = tmpState(t);
  const outside = path.join(path.dirname(stateDir), 'outside');
  mkdirSync(outside);
  mkdirSync(stateDir, { recursive: true });
  symlinkSync(outside, path.join(stateDir, 'spool'));
  const notices: string[] = [];
  await withQueue({ stateDir, onNotice: (m) => notices.push(m) }, (q) => q.enqueue([artifact('spec.md')], CTX));
  t.deepEqual(readdirSync(outside), [], 'nothing written through the link');
  t.is(notices.length, 1);
  t.regex(notices[0], /spool was a symbolic link \(to .*outside\).*moved to/);
  t.deepEqual(await readBody(stateDir, artifact('spec.md').content_hash), artifact('spec.md').body);
});

test('a spool still being written by its merger (ownWritten) is merged from memory, in name order; the save waits for the write', async (t) => {
  const stateDir = tmpState(t);
  const older = spool(stateDir, ['spec.md']);
  const own = buildCapture([{ context: CTX, eligible: [artifact('spec.md', 'newer spec body\n'), artifact('plan.md', 'plan body\n')] }])!;
  t.true(own.name > older, 'built later, named later');
  // The write starts once the merge and the reads below are done.
  let startWrite!: () => void;
  const written = new Promise<void>((resolve) => (startWrite = resolve)).then(() => writePackAsync(stateDir, own, undefined));
  const merged = await withQueue({ stateDir, own, ownWritten: written }, (q) => {
    t.false(spoolFiles(stateDir).includes(own.name), 'not on disk when merged');
    // Its events read from memory meanwhile (the drain's opening read rides in this transaction).
    t.deepEqual(
      q.readyEvents(100, { force: true }).map((e) => (e.envelope.payload as { relative_path?: string }).relative_path),
      ['spec.md', 'plan.md'],
    );
    startWrite();
    return q.lastMerge;
  });
  t.like(merged, { spools: 2, added: 3, superseded: 1 });
  // The older spool lost its only task and event to the newer one: collected at the save.
  t.deepEqual(spoolFiles(stateDir), [own.name]);
  // The newer spec.md (of the spool written last) won, and its bytes are read from the file.
  const bodies = await readQueue({ stateDir }, (q) => q.readyBodies(100, { force: true }).map((b) => [b.artifact_path, b.content_hash]));
  t.deepEqual(bodies, [
    ['spec.md', artifact('spec.md', 'newer spec body\n').content_hash],
    ['plan.md', artifact('plan.md', 'plan body\n').content_hash],
  ]);
  t.is((await readBody(stateDir, bodies[0][1]))?.toString('utf8'), 'newer spec body\n');
});

test('a spool whose write fails (ownWritten rejects) fails the save: nothing of it is saved', async (t) => {
  const stateDir = tmpState(t);
  const older = spool(stateDir, ['plan.md']);
  const own = buildCapture([{ context: CTX, eligible: [artifact('spec.md')] }])!;
  await t.throwsAsync(
    withQueue({ stateDir, own, ownWritten: Promise.reject(new Error('no space left on device')) }, (q) => q.lastMerge),
    { message: 'no space left on device' },
  );
  t.false(existsSync(dbPath(stateDir)));
  // The spool already on disk waits for the next merge, which never sees the failed one.
  t.like(await withQueue({ stateDir }, (q) => q.lastMerge), { spools: 1, added: 1 });
  t.deepEqual(spoolFiles(stateDir), [older]);
});

test('a capture whose events fill several pieces: every event is whole, where its header says, and the spool merges', async (t) => {
  const stateDir = tmpState(t);
  // ~1 KB per Indexed event: 400 events take several of the builder's pieces (64 KB, then doubling).
  const paths = Array.from({ length: 400 }, (_, i) => `research/${String(i).padStart(3, '0')}-${'n'.repeat(200)}.md`);
  const pack = buildCapture([{ context: CTX, eligible: paths.map((p) => artifact(p, `${p}\n`)) }])!;
  t.true(pack.chunks.length > 3 + paths.length + 2, 'the events block is in more than one piece');
  const file = await writePackAsync(stateDir, pack, undefined);
  const buf = readFileSync(file);
  const { header, base } = readPack(file, undefined);
  t.is(header.events.length, paths.length);
  for (const e of header.events) t.is((JSON.parse(buf.subarray(base + e.off, base + e.off + e.len).toString('utf8')) as { event_id: string }).event_id, e.id);
  t.like(await withQueue({ stateDir }, (q) => ({ merge: q.lastMerge, events: q.stats().events_pending })), { merge: { spools: 1, added: paths.length }, events: paths.length });
});

test("what is left (a hook's counts) is what the full counts say is pending: queued work, work in backoff, captures not merged yet", async (t) => {
  const stateDir = tmpState(t);
  spool(stateDir, ['spec.md', 'plan.md', 'research/a.md']);
  // Merged; then one event fails (backoff) and one body is delivered.
  await withQueue({ stateDir }, (q) => {
    const [first] = q.readyEvents(10, { force: true });
    q.applyEventResults([{ event_id: first.event_id, seq: first.seq, result: { kind: 'retry', error: 'http_503' } }]);
    const [body] = q.readyBodies(10, { force: true });
    q.applyBodyResults([{ upload_id: body.upload_id, result: { kind: 'delivered' } }]);
  });
  // Written after the merge, read without merging: pending all the same.
  spool(stateDir, ['tasks.md', 'research/b.md']);
  const { left, stats } = await readQueue({ stateDir }, (q) => ({ left: q.left(), stats: q.stats() }));
  t.is(stats.spools_unmerged, 1);
  t.deepEqual(left, { pending: 4, events_pending: stats.events_pending });
  t.is(left.pending, stats.pending);
  t.true(left.events_pending >= 3, "the event in backoff and the unmerged capture's events");
  t.deepEqual(await readQueue({ stateDir }, (q) => q.countsFor('left')), left);
  t.like(await readQueue({ stateDir }, (q) => q.countsFor('full')), { pending: 4, spools_unmerged: 1 });
});
