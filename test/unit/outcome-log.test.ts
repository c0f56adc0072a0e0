import test from 'ava';
import { appendFileSync, chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { appendOutcomes, LOG_MAX_BYTES, logPath, readOutcomes } from '../../lib/run/outcome-log.js';
import type { UploadOutcome } from '../../lib/types.js';

const outcome = (i: number): UploadOutcome => ({ feature_slug: '001-a', artifact_path: `f${i}.md`, content_hash: null, status: 'queued', reason: 'pending' });

test('appends and reads back in order, skipping a torn line', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-log-'));
  t.is(appendOutcomes(dir, 'post-commit', [outcome(1), outcome(2)]), null);
  appendFileSync(logPath(dir), '{"torn":');
  appendFileSync(logPath(dir), '\n');
  t.is(appendOutcomes(dir, 'drain', [outcome(3)]), null);
  const entries = readOutcomes(dir);
  t.deepEqual(
    entries.map((e) => e.artifact_path),
    ['f1.md', 'f2.md', 'f3.md'],
  );
  t.is(entries[2].source, 'drain');
  t.regex(entries[0].at, /^\d{4}-\d\d-\d\dT/);
});

test('rotates past the size bound and keeps one generation', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-log-'));
  writeFileSync(logPath(dir), `${JSON.stringify({ ...outcome(0), at: 'x', source: 'sync' })}\n`.padEnd(LOG_MAX_BYTES + 10, ' '));
  appendOutcomes(dir, 'sync', [outcome(1)]);
  t.true(statSync(`${logPath(dir)}.1`).size > LOG_MAX_BYTES);
  t.true(statSync(logPath(dir)).size < 1000);
  t.deepEqual(
    readOutcomes(dir, 1).map((e) => e.artifact_path),
    ['f1.md'],
  );
});

test('an unwritable state directory is reported, not thrown', (t) => {
  if (process.getuid?.() === 0) {
    // root ignores permissions: use a path whose parent is a file instead.
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'ks-log-')), 'file');
    writeFileSync(file, '');
    const problem = appendOutcomes(path.join(file, 'state'), 'sync', [outcome(1)]);
    t.truthy(problem);
    t.true(problem!.includes(path.join(file, 'state')));
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-log-'));
  chmodSync(dir, 0o500);
  t.truthy(appendOutcomes(dir, 'sync', [outcome(1)]));
});
