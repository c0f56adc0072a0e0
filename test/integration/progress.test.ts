// Issue 12 item 18: the `sync --all` progress bar's total jumped (/100, /600, /1000, then 1/48 again
// for 1,048 bodies): each pass reported its own count. The drain reports the real total from the
// start and a count that only grows.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { drain } from '../../lib/delivery/drain.js';
import { withQueue } from '../../lib/queue/queue.js';
import { Transport } from '../../lib/delivery/transport.js';
import { artifact, CTX } from '../support/artifacts.js';
import { startTestReceiver } from '../support/receiver.js';

test('a drain of 1,200 bodies (two passes): every progress report has total 1200, and done goes 1..1200', async (t) => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'ks-progress-'));
  const receiver = await startTestReceiver();
  const transport = new Transport({ serverUrl: receiver.url, token: null });
  t.teardown(async () => {
    transport.close();
    await receiver.close();
    rmSync(stateDir, { recursive: true, force: true });
  });
  const n = 1200;
  await withQueue({ stateDir }, (q) =>
    q.enqueue(
      Array.from({ length: n }, (_, i) => artifact(`research/n-${i}.md`, `# ${i}\n`)),
      CTX,
    ),
  );
  const seen: [number, number][] = [];
  const report = await drain({ stateDir, transport, budgetMs: null, concurrency: 8, onProgress: (d, total) => seen.push([d, total]) });
  t.is(report.outcomes.filter((o) => o.status === 'uploaded').length, n);
  t.is(seen.length, n);
  t.deepEqual([...new Set(seen.map(([, total]) => total))], [n], 'one total, known from the start');
  t.deepEqual(
    seen.map(([d]) => d),
    Array.from({ length: n }, (_, i) => i + 1),
    'done only grows',
  );
});
