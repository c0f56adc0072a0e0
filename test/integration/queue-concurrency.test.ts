// Concurrency (issue 3): several processes enqueue different work at the same time through the
import { indexed } from '../support/artifacts.js';
// inter-process lock; nothing is lost and the Lamport clock stays unique and monotonic across them.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readQueue } from '../../lib/queue/queue.js';

const worker = fileURLToPath(new URL('../support/queue-worker.js', import.meta.url));
const WORKERS = 4;
const BATCHES = 10;
const PER_BATCH = 4;

function run(stateDir: string, name: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker, stateDir, name, 'batches', String(BATCHES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // 'close', not 'exit': at 'exit' the child's last output may not have been read yet.
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${name} exited ${code}: ${err}`));
      resolve(
        out
          .split('\n')
          .filter((l) => l.startsWith('ack '))
          .flatMap((l) => l.slice(4).split(' ')),
      );
    });
  });
}

test(`${WORKERS} processes enqueueing at once: nothing lost, Lamport clock unique and monotonic`, async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-conc-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const stateDir = path.join(root, 'state');
  const acked = (await Promise.all(Array.from({ length: WORKERS }, (_, i) => run(stateDir, `p${i}`)))).flat();
  t.is(acked.length, WORKERS * BATCHES * PER_BATCH);

  const { bodies, events } = await readQueue({ stateDir }, (q) => ({
    bodies: q.readyBodies(1e6, { force: true }),
    events: q.readyEvents(1e6, { force: true }),
  }));
  t.deepEqual(bodies.map((b) => b.artifact_path).sort(), [...acked].sort());
  t.is(events.length, acked.length);
  const clocks = events.map((e) => e.envelope.lamport_clock);
  t.deepEqual(
    [...clocks].sort((a, b) => a - b),
    Array.from({ length: acked.length }, (_, i) => i + 1),
    'every tick used exactly once',
  );
  t.deepEqual(
    clocks,
    [...clocks].sort((a, b) => a - b),
    'enqueue order and clock order agree',
  );
  // Within each process, later batches got later clock values.
  for (let w = 0; w < WORKERS; w++) {
    const mine = events.filter((e) => indexed(e).payload.relative_path.startsWith(`research/p${w}-`));
    const batchOf = (p: string) => Number(/-b(\d+)-/.exec(p)![1]);
    for (let i = 1; i < mine.length; i++) {
      t.true(batchOf(indexed(mine[i]).payload.relative_path) >= batchOf(indexed(mine[i - 1]).payload.relative_path));
    }
  }
  t.is(new Set(events.map((e) => e.event_id)).size, events.length, 'event ids unique');
});
