// Crash safety (issue 3): child processes enqueue in a loop and are SIGKILLed at random instants,
// including mid-save and while holding the lock. Afterwards the file must open cleanly and every
// batch a child acknowledged (printed after withQueue resolved) must be in the queue.
import test from 'ava';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBody, readQueue } from '../../lib/queue/queue.js';
import { runWorkerAndKill } from '../support/proc.js';

const worker = fileURLToPath(new URL('../support/queue-worker.js', import.meta.url));
const KILLS = 40;
/** Two workers run (and die) at once on the same queue, so kills also land while the other waits for the lock. */
const LANES = 2;

test('SIGKILL at random points never loses an acknowledged task nor tears the file', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-crash-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const stateDir = path.join(root, 'state');
  const acknowledged: string[] = [];
  const notices: string[] = [];
  const lane = async (l: number): Promise<void> => {
    for (let i = l; i < KILLS; i += LANES) {
      acknowledged.push(...(await runWorkerAndKill(worker, [stateDir, `w${i}`, 'loop'], Math.floor(Math.random() * 400))));
      // The file opens without a corruption notice and still holds everything acknowledged so far.
      const expected = [...acknowledged];
      const paths = await readQueue({ stateDir, onNotice: (m) => notices.push(m) }, (q) => new Set(q.readyBodies(1e6, { force: true }).map((b) => b.artifact_path)));
      t.deepEqual(
        expected.filter((p) => !paths.has(p)),
        [],
        `after kill ${i + 1}`,
      );
    }
  };
  await Promise.all(Array.from({ length: LANES }, (_, l) => lane(l)));
  t.deepEqual(notices, []);
  t.true(acknowledged.length > 0, 'some batches were acknowledged before the kills');
  t.false(readdirSync(stateDir).some((f) => f.includes('corrupt')));
  // Every pending task's body is on disk (bodies are written before the rows that reference them).
  const tasks = await readQueue({ stateDir }, (q) => q.readyBodies(1e6, { force: true }));
  for (const task of tasks) t.truthy(await readBody(stateDir, task.content_hash), task.artifact_path);
  const stats = await readQueue({ stateDir }, (q) => q.stats());
  t.is(stats.events_pending, stats.pending, 'each task still has its index event');
  t.log(`${KILLS} kills, ${acknowledged.length} acknowledged tasks, ${stats.pending} pending`);
});
