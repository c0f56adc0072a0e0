// A process keeps the database it has just saved open for its next transaction on that queue
// (queue-file.ts keepOpen). The file on disk always wins: once another save has replaced it, even
// with the same save generation, the next transaction reads the file again.
import test from 'ava';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dbPath, withQueue } from '../../lib/queue/queue.js';
import { generationOf } from '../../lib/queue/queue-file.js';
import { artifact, CTX } from '../support/artifacts.js';

function tmpState(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-kept-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'state');
}

/** Puts `bytes` in place of the queue file as a save does: a new file renamed over it. */
function replaceFile(stateDir: string, bytes: Buffer): void {
  const tmp = `${dbPath(stateDir)}.test-tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, dbPath(stateDir));
}

const paths = (stateDir: string) => withQueue({ stateDir }, (q) => q.readyBodies(100).map((b) => b.artifact_path));

test('transactions after this process saved see their own saves, one after another', async (t) => {
  const stateDir = tmpState(t);
  for (const p of ['spec.md', 'plan.md', 'tasks.md']) await withQueue({ stateDir }, (q) => q.enqueue([artifact(p)], CTX));
  t.deepEqual(await paths(stateDir), ['spec.md', 'plan.md', 'tasks.md']);
  t.is(generationOf(readFileSync(dbPath(stateDir))), 3, 'each save wrote a new generation');
});

/** Records `artifactPath`'s upload as delivered (its task leaves the queue; nothing is left in a spool to bring it back). */
const deliver = (stateDir: string, artifactPath: string) =>
  withQueue({ stateDir }, (q) => {
    const task = q.readyBodies(100).find((b) => b.artifact_path === artifactPath)!;
    q.applyBodyResults([{ upload_id: task.upload_id, result: { kind: 'delivered' }, key: task }]);
  });

test('a queue file replaced since this process saved is read again, not the database it kept', async (t) => {
  const stateDir = tmpState(t);
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md'), artifact('plan.md')], CTX));
  const older = readFileSync(dbPath(stateDir));
  await deliver(stateDir, 'plan.md');
  // Another process's save (here: the older version put back), right after this one's.
  replaceFile(stateDir, older);
  t.deepEqual(await paths(stateDir), ['spec.md', 'plan.md'], 'what the file holds');
});

test('a queue file of the same save generation but other content is read again', async (t) => {
  const stateDir = tmpState(t);
  const other = tmpState(t);
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md'), artifact('plan.md')], CTX));
  cpSync(stateDir, other, { recursive: true });
  await deliver(other, 'plan.md');
  await deliver(stateDir, 'spec.md');
  const theirs = readFileSync(dbPath(other));
  t.is(generationOf(theirs), generationOf(readFileSync(dbPath(stateDir))), 'both files are at the same generation');
  replaceFile(stateDir, theirs);
  t.deepEqual(await paths(stateDir), ['spec.md']);
});
