// Issue 16 §3: a commit while the server is away must not pay for loading the whole queue. After
// the server failed a hook's index events, the pending marker holds the queue until their backoff
// ends; the next commits only write their capture (a spool) and leave the queue file alone. A
// drain later delivers everything, the held commits included.
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { blobAt, commit, feature, fileReceiver, installHooks, namespace, newRepo, summaryOf } from '../support/hooks.js';
import { writeFiles } from '../support/git.js';
import { cli } from '../support/proc.js';

const receiver = fileReceiver(test);

test('the server refusing events (429, retry in 10 min): the first commit holds the queue; the next ones only spool, without loading it; a drain delivers them all', async (t) => {
  const repo = await newRepo();
  t.teardown(repo.cleanup);
  await installHooks(repo.root);
  const slug = '001-held';
  // Every events request answered 429 with a retry in ten minutes (Retry-After): the index events wait.
  receiver().setFaults({ rateLimitRate: 1, retryAfterSeconds: 600, endpoints: ['events'] });
  t.teardown(() => receiver().setFaults({}, true));
  const away = { KITTY_SYNC_SERVER_URL: receiver().url, KITTY_SYNC_BUDGET_MS: '30000' };
  const marker = path.join(repo.stateDir, 'pending');

  await writeFiles(repo.root, feature(slug));
  const first = await commit(repo.root, 'first, server away', away);
  t.is(first.code, 0, first.stderr);
  t.like(summaryOf(first.stderr, slug), { queued: 3 }, first.stderr);
  const hold = /^hold_until=(\d+)$/m.exec(readFileSync(marker, 'utf8'));
  t.truthy(hold, readFileSync(marker, 'utf8'));
  t.true(Number(hold![1]) > Date.now(), 'held until the index events may be tried again');
  t.regex(readFileSync(marker, 'utf8'), /^last_error=http_429$/m);

  const queueFile = path.join(repo.stateDir, 'queue.sqlite');
  const before = { bytes: readFileSync(queueFile), mtime: statSync(queueFile).mtimeMs };
  const spools = () => readdirSync(path.join(repo.stateDir, 'spool')).filter((f) => f.endsWith('.ksp'));
  const packsBefore = spools().length;
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec, while the server is away\n' });
  const second = await commit(repo.root, 'second, still away', away);
  t.is(second.code, 0, second.stderr);
  t.regex(second.stderr, /the server failed the last index events \(http_429\): nothing is sent before \S+Z; this commit's work waits in the spool/);
  t.like(summaryOf(second.stderr, slug), { queued: 1 }, second.stderr);
  t.deepEqual(readFileSync(queueFile), before.bytes, 'the queue file was not rewritten');
  t.is(statSync(queueFile).mtimeMs, before.mtime);
  t.is(spools().length, packsBefore + 1, "the commit's capture is a spool of its own, not merged yet");
  const status = JSON.parse((await cli(repo.root, ['status', '--json'])).stdout) as { spools_unmerged: number; pending: number };
  t.is(status.spools_unmerged, 1);

  // The server is back: a drain (forced past the backoff) merges the spool and delivers both commits.
  receiver().setFaults({}, true);
  const drain = await cli(repo.root, ['drain', '--force'], { KITTY_SYNC_SERVER_URL: receiver().url });
  t.is(drain.code, 0, drain.stderr);
  for (const p of ['spec.md', 'plan.md']) {
    const got = await receiver().latestContent(namespace(repo.uuid, slug), p);
    t.deepEqual(Buffer.from(got ?? '', 'utf8'), await blobAt(repo.root, second.sha, `kitty-specs/${slug}/${p}`), p);
  }
  t.false(readdirSync(repo.stateDir).includes('pending'), 'nothing pending: no marker');
});
