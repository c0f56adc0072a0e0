// Issue 12 §5: a damaged stored body is never sent as is. Each body read back from the queue is re-hashed before sending; a
// mismatch is repaired from Git (the blob id is kept with the task) or the task is quarantined as
// local_body_corrupt with advice that works (`kitty-sync sync <feature>`), and `retry` does not
// bring back a copy that would fail the same way for ever.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { drain, type DrainTransport } from '../../lib/delivery/drain.js';
import { runSync } from '../../lib/run/pipeline.js';
import { readQueue, withQueue } from '../../lib/queue/queue.js';
import { Transport } from '../../lib/delivery/transport.js';
import { artifact, CTX } from '../support/artifacts.js';
import { startTestReceiver } from '../support/receiver.js';

function tmp(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-verify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A real repository holding `text` as a blob; returns its directory and the blob id. */
function repoWithBlob(dir: string, text: string): { repo: string; oid: string } {
  const repo = path.join(dir, 'repo');
  execFileSync('git', ['init', '-q', repo]);
  writeFileSync(path.join(repo, 'spec.md'), text);
  const oid = execFileSync('git', ['hash-object', '-w', 'spec.md'], { cwd: repo, encoding: 'utf8' }).trim();
  return { repo, oid };
}

/** Flips one byte of the stored body inside its pack. */
function damageStoredBody(stateDir: string, body: Buffer): void {
  const dir = path.join(stateDir, 'spool');
  const [pack] = readdirSync(dir).filter((f) => f.endsWith('.ksp'));
  const bytes = readFileSync(path.join(dir, pack));
  const at = bytes.indexOf(body);
  if (at < 0) throw new Error('body not found in its pack');
  bytes[at + 2] ^= 0x20;
  writeFileSync(path.join(dir, pack), bytes);
}

test('a damaged stored body is re-read from Git by its blob id and the exact committed bytes are sent', async (t) => {
  const dir = tmp(t);
  const text = '# Spec\n\nThe committed bytes.\n';
  const { repo, oid } = repoWithBlob(dir, text);
  const stateDir = path.join(dir, 'state');
  const item = { ...artifact('spec.md', text), object_id: oid };
  await withQueue({ stateDir }, (q) => q.enqueue([item], CTX));
  damageStoredBody(stateDir, item.body);
  const r = await startTestReceiver();
  t.teardown(() => r.close());
  const transport = new Transport({ serverUrl: r.url, token: null });
  t.teardown(() => transport.close());
  const report = await drain({ stateDir, transport, budgetMs: null, repoDir: repo });
  t.deepEqual(
    report.outcomes.map((o) => o.status),
    ['uploaded'],
  );
  t.is(await r.latestContent(item.namespace, 'spec.md'), text);
  t.is(r.stats().client_errors, 0, 'no hash mismatch was ever sent');
});

test('a damaged body Git no longer has is quarantined as local_body_corrupt with working advice; retry does not bring it back', async (t) => {
  const dir = tmp(t);
  const stateDir = path.join(dir, 'state');
  const item = artifact('spec.md', '# Spec that only the queue had\n'); // no blob id: nothing to re-read
  await withQueue({ stateDir }, (q) => q.enqueue([item], CTX));
  damageStoredBody(stateDir, item.body);
  const r = await startTestReceiver();
  t.teardown(() => r.close());
  const transport = new Transport({ serverUrl: r.url, token: null });
  t.teardown(() => transport.close());
  const report = await drain({ stateDir, transport, budgetMs: null, repoDir: dir });
  t.deepEqual(
    report.outcomes.map((o) => [o.status, o.reason]),
    [['failed', 'local_body_corrupt']],
  );
  t.regex(report.outcomes[0].detail ?? '', /kitty-sync sync 001-alpha/);
  t.is(r.stats().requests.push_content, 0, 'the damaged copy was never sent');
  const dead = await readQueue({ stateDir }, (q) => q.deadLetters());
  t.is(dead.length, 1);
  t.regex(dead[0].reason, /^local_body_corrupt: .*spec\.md .*does not match.*`kitty-sync sync 001-alpha`/);
  const retried = await withQueue({ stateDir }, (q) => q.retryDeadLetters('all'));
  t.like(retried, { requeued: 0 });
  t.deepEqual(retried.unavailable, [dead[0].id]);
  // The advice works: capturing the feature again (here: the same content, freshly) sends it.
  await withQueue({ stateDir }, (q) => q.enqueue([artifact('spec.md', '# Spec that only the queue had\n')], CTX));
  const again = await drain({ stateDir, transport, budgetMs: null });
  t.deepEqual(
    again.outcomes.map((o) => o.status),
    ['uploaded'],
  );
});

test("a run sends its own capture's bodies from memory: its spool, damaged after the capture, is not read back", async (t) => {
  const dir = tmp(t);
  const r = await startTestReceiver();
  t.teardown(() => r.close());
  const transport = new Transport({ serverUrl: r.url, token: null });
  t.teardown(() => transport.close());
  // The stored body is damaged on disk once the spool is durable and merged, before any body is read
  // for sending (the index events go first). No blob id and no repository: a copy read back from the
  // file could not be repaired.
  const damaging = (stateDir: string, body: Buffer): DrainTransport => ({
    sendEvents: (events, signal) => {
      damageStoredBody(stateDir, body);
      return transport.sendEvents(events, signal);
    },
    pushContent: (req, signal) => transport.pushContent(req, signal),
  });
  const text = '# Spec\n\nCaptured by this run.\n';

  const own = path.join(dir, 'own');
  const item = artifact('spec.md', text);
  const run = await runSync({
    stateDir: own,
    groups: [{ context: CTX, eligible: [item], indexes: [] }],
    skipped: [],
    transport: damaging(own, item.body),
    budgetMs: null,
    capacity: 100,
    concurrency: 2,
    stale: { maxAgeMs: 7 * 24 * 3600 * 1000, maxRetries: 1000 },
  });
  t.deepEqual(
    run.outcomes.map((o) => o.status),
    ['uploaded'],
  );
  t.is(await r.latestContent(item.namespace, 'spec.md'), text);
  t.is(r.stats().client_errors, 0);

  // The same damage to a body this process did not capture (a later drain of what a run left): read
  // back from the file, found damaged, never sent.
  const later = path.join(dir, 'later');
  const left = artifact('spec.md', text);
  await withQueue({ stateDir: later }, (q) => q.enqueue([left], CTX));
  const report = await drain({ stateDir: later, transport: damaging(later, left.body), budgetMs: null });
  t.deepEqual(
    report.outcomes.map((o) => [o.status, o.reason]),
    [['failed', 'local_body_corrupt']],
  );
});
