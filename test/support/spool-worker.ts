// Child process for the spool tests (issue 11). Usage:
//   node spool-worker.js <stateDir> capture <name> [merge]   write spools in a loop (and merge each
//                                                           when "merge" is given) until killed
//   node spool-worker.js <stateDir> merge                    merge every complete spool once, then exit
// A spool is acknowledged ("ack <path> …" on stdout) only once writePack returned: from then on it
// must survive a kill -9 at any instant and be merged exactly once.
import { buildCapture } from '../../lib/queue/capture.js';
import { writePack } from '../../lib/queue/pack.js';
import { readQueue, withQueue } from '../../lib/queue/queue.js';
import { artifact, CTX, namespace } from './artifacts.js';

const [stateDir, mode, name, mergeToo] = process.argv.slice(2);
const PER_SPOOL = 3;

async function main(): Promise<void> {
  if (mode === 'merge') {
    const merged = await withQueue({ stateDir, lock: { timeoutMs: 60_000 } }, (q) => q.lastMerge?.spools ?? 0);
    process.stdout.write(`merged ${merged}\n`);
    return;
  }
  const ns = namespace(`001-${name.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`);
  // Load the wasm first so the parent's kill window falls on capture and merge, not on start-up.
  await readQueue({ stateDir }, (q) => q.hasPending());
  process.stdout.write('ready\n');
  for (let b = 0; ; b++) {
    const items = Array.from({ length: PER_SPOOL }, (_, i) => artifact(`research/${name}-b${b}-i${i}.md`, `${name} ${b} ${i}\n`, ns));
    const pack = buildCapture([{ context: CTX, eligible: items }])!;
    await writePack(stateDir, pack, undefined);
    process.stdout.write(`ack ${items.map((i) => i.artifact_path).join(' ')}\n`);
    if (mergeToo === 'merge') await withQueue({ stateDir, own: pack, lock: { timeoutMs: 60_000 } }, () => undefined);
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
