// Issue 12 item 9: after an offline commit the index events are in backoff, so no body can go
// (a body waits for its own event), yet status and drain said "2 ready, 0 in backoff" while drain
// attempted nothing and exited 75. The figures count what can really be sent now, and both say why
// nothing can be sent and when it can.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, cli } from '../support/proc.js';
import { git, gitOk, makeRepo, writeFiles } from '../support/git.js';
import { startTestReceiver } from '../support/receiver.js';

interface StatusJson {
  pending: number;
  ready: number;
  backoff: number;
  events_pending: number;
  events_ready: number;
  events_backoff: number;
  next_attempt_at: number | null;
  last_error: string | null;
}

test('index events in backoff: status and drain count the bodies as waiting, and say why and when', async (t) => {
  // The server refuses index events for ten minutes (429, retry_after 600): nothing can go before then.
  const receiver = await startTestReceiver({ faults: { rateLimitRate: 1, retryAfterSeconds: 600, endpoints: ['events'] } });
  const repo = await makeRepo();
  t.teardown(async () => {
    await receiver.close();
    await repo.cleanup();
  });
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_BUDGET_MS: '20000' });
  writeFileSync(path.join(repo.root, 'README.md'), 'x\n');
  await gitOk(repo.root, ['add', '-A'], env);
  await gitOk(repo.root, ['commit', '-q', '-m', 'base'], env);
  t.is((await cli(repo.root, ['install', '--repo', repo.root], env)).code, 0);
  await writeFiles(repo.root, { 'kitty-specs/001-wait/spec.md': '# spec\n', 'kitty-specs/001-wait/plan.md': '# plan\n' });
  await gitOk(repo.root, ['add', '-A'], env);
  const t0 = Date.now();
  const commit = await git(repo.root, ['commit', '-q', '-m', 'feature'], env);
  t.is(commit.code, 0);
  t.regex(commit.stderr, /001-wait: 0 uploaded, 0 already_exists, 2 queued/);

  const json = await cli(repo.root, ['status', '--json'], env);
  t.is(json.code, 0, json.stderr);
  const s = JSON.parse(json.stdout) as StatusJson;
  t.is(s.pending, 2);
  t.is(s.ready, 0, 'no body can be sent before its index event');
  t.is(s.backoff, 2);
  t.is(s.events_pending, 3, 'two Indexed events and the snapshot');
  t.is(s.events_ready, 0);
  t.is(s.events_backoff, 3);
  t.truthy(s.next_attempt_at);
  t.true(s.next_attempt_at! >= t0 + 590_000 && s.next_attempt_at! <= Date.now() + 601_000, `next attempt ${s.next_attempt_at! - t0} ms after the commit`);
  t.regex(s.last_error ?? '', /http_429/);

  const text = await cli(repo.root, ['status'], env);
  t.log(text.stdout);
  t.regex(text.stdout, /pending:\s+2 \(0 ready, 2 in backoff/);
  t.regex(text.stdout, /nothing can be sent now: 3 index events in backoff.*\(last error: http_429\); next attempt in (9|10)m/);
  t.regex(text.stdout, /kitty-sync drain --force/);

  const drain = await cli(repo.root, ['drain'], env);
  t.is(drain.code, 75);
  t.regex(drain.stdout, /drained: 0 attempted; queue: 2 pending \(0 ready, 2 in backoff\)/);
  t.regex(drain.stderr, /nothing can be sent now: 3 index events in backoff.*next attempt in (9|10)m/);
});
