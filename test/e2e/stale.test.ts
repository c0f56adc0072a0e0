// Stale-work policy (issue 6 item 4), through the built CLI: a task past the maximum age or
// retry count goes to the dead-letter list with its reason, stays visible in `failed` and
// `status`, keeps its body so `retry` can bring it back, and is never silently deleted.
// Both limits come from the environment (KITTY_SYNC_MAX_TASK_AGE_MS, KITTY_SYNC_MAX_RETRIES).
import test from 'ava';
import { createHash } from 'node:crypto';
import { cleanEnv, cli } from '../support/proc.js';
import { commitAll, makeRepo, writeFiles } from '../support/git.js';
import { startTestReceiver } from '../support/receiver.js';

interface DeadLetterJson {
  id: string;
  kind: string;
  feature_slug: string;
  artifact_path: string;
  content_hash: string | null;
  reason: string;
  retry_count: number;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const SPEC = '# spec\n';
const PLAN = '# plan\n';

async function queuedRepo(t: { teardown(fn: () => unknown): void }) {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  await writeFiles(repo, { 'kitty-specs/001-stale/spec.md': SPEC, 'kitty-specs/001-stale/plan.md': PLAN });
  await commitAll(repo, 'feature');
  // No server: the work is queued durably, nothing is sent.
  const sync = await cli(repo.root, ['sync', '--all'], cleanEnv({ KITTY_SYNC_SERVER_URL: '' }));
  if (sync.code !== 75) throw new Error(`sync: ${sync.code} ${sync.stderr}`);
  return repo.root;
}

async function failedList(root: string, env: NodeJS.ProcessEnv): Promise<DeadLetterJson[]> {
  const r = await cli(root, ['failed', '--json'], env);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { failed: DeadLetterJson[] }).failed;
}

async function statusOf(root: string, env: NodeJS.ProcessEnv) {
  const r = await cli(root, ['status', '--json'], env);
  return JSON.parse(r.stdout) as { pending: number; events_pending: number; failed: number; per_feature: Record<string, { pending: number; failed: number }> };
}

test('past the maximum age (KITTY_SYNC_MAX_TASK_AGE_MS): dead-lettered with stale_max_age, visible, retryable', async (t) => {
  const receiver = await startTestReceiver();
  t.teardown(() => receiver.close());
  const root = await queuedRepo(t);
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url });
  await new Promise((r) => setTimeout(r, 20));

  // With a 5 ms maximum age (the default is 30 days) the work is expired before anything is sent.
  const drain = await cli(root, ['drain', '--json'], { ...env, KITTY_SYNC_MAX_TASK_AGE_MS: '5' });
  t.regex(drain.stderr, /stale task\(s\) moved to the failed list.*kitty-sync failed/);
  t.is(receiver.stats().requests.push_content + receiver.stats().requests.events, 0, 'nothing stale was sent');
  // Reported as failed outcomes, and logged like every other outcome.
  const reported = (JSON.parse(drain.stdout) as { outcomes: { artifact_path: string; status: string; reason: string }[] }).outcomes;
  t.deepEqual(
    reported
      .filter((o) => o.status === 'failed' && /stale_max_age/.test(o.reason))
      .map((o) => o.artifact_path)
      .sort(),
    ['plan.md', 'spec.md'],
  );
  const logged = JSON.parse((await cli(root, ['log', '--json'], env)).stdout) as { entries: { artifact_path: string; status: string; reason: string; source: string }[] };
  t.deepEqual(
    logged.entries
      .filter((e) => e.source === 'drain' && /stale_max_age/.test(e.reason))
      .map((e) => e.artifact_path)
      .sort(),
    ['plan.md', 'spec.md'],
  );

  const dead = await failedList(root, env);
  const bodies = dead.filter((d) => d.kind === 'body');
  t.deepEqual(bodies.map((d) => d.artifact_path).sort(), ['plan.md', 'spec.md']);
  for (const d of dead) t.regex(d.reason, /stale_max_age/, JSON.stringify(d));
  t.deepEqual(bodies.map((d) => d.content_hash).sort(), [sha256(PLAN), sha256(SPEC)].sort());
  const st = await statusOf(root, env);
  t.is(st.pending, 0);
  t.is(st.failed, 2);
  t.is(st.per_feature['001-stale']?.failed, 2);
  const text = await cli(root, ['failed'], env);
  t.regex(text.stdout, /001-stale\/spec\.md.*stale_max_age/);

  // Further drains never delete them.
  await cli(root, ['drain', '--force'], env);
  t.is((await failedList(root, env)).filter((d) => d.kind === 'body').length, 2);

  // Never silently deleted: the bodies were kept, so retry brings the work back and it is delivered.
  const retry = await cli(root, ['retry', '--all'], env);
  t.is(retry.code, 0, retry.stderr);
  const redrain = await cli(root, ['drain', '--force'], env);
  t.is(redrain.code, 0, redrain.stderr);
  t.deepEqual(
    receiver
      .artifacts()
      .map((a) => [a.artifact_path, a.latest_hash])
      .sort(),
    [
      ['plan.md', sha256(PLAN)],
      ['spec.md', sha256(SPEC)],
    ],
  );
  t.deepEqual(await failedList(root, env), []);
});

test('past the maximum retry count (KITTY_SYNC_MAX_RETRIES): dead-lettered with stale_max_retries; the default keeps retrying', async (t) => {
  const receiver = await startTestReceiver({ faults: { failRate: 1, failStatus: 503, endpoints: ['push-content'] } });
  t.teardown(() => receiver.close());
  const root = await queuedRepo(t);
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url });

  // Default policy (generous): three failed attempts leave the work queued.
  for (let i = 0; i < 3; i++) t.is((await cli(root, ['drain', '--force'], env)).code, 75);
  t.deepEqual(await failedList(root, env), []);
  t.is((await statusOf(root, env)).pending, 2);

  // A limit of 4: one more failed attempt reaches it, the next drain moves the work aside.
  const limited = { ...env, KITTY_SYNC_MAX_RETRIES: '4' };
  t.is((await cli(root, ['drain', '--force'], limited)).code, 75);
  t.deepEqual(await failedList(root, env), []);
  const before = receiver.stats().requests.push_content;
  const expire = await cli(root, ['drain', '--force', '--json'], limited);
  t.is(expire.code, 0, 'nothing is left pending: it is all in the failed list');
  t.regex(expire.stderr, /2 stale task\(s\) moved to the failed list/);
  t.is(receiver.stats().requests.push_content, before, 'expired work is not sent again');
  const dead = await failedList(root, env);
  t.deepEqual(dead.map((d) => [d.kind, d.artifact_path, d.reason, d.retry_count]).sort(), [
    ['body', 'plan.md', 'stale_max_retries', 4],
    ['body', 'spec.md', 'stale_max_retries', 4],
  ]);
  const st = await statusOf(root, env);
  t.is(st.pending, 0);
  t.is(st.failed, 2);
});

test('a malformed limit in the environment is named and ignored (the default applies)', async (t) => {
  const receiver = await startTestReceiver();
  t.teardown(() => receiver.close());
  const root = await queuedRepo(t);
  const r = await cli(root, ['drain'], cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_MAX_TASK_AGE_MS: 'soon', KITTY_SYNC_MAX_RETRIES: '-1' }));
  t.regex(r.stderr, /KITTY_SYNC_MAX_TASK_AGE_MS="soon" is not a non-negative number; ignored/);
  t.regex(r.stderr, /KITTY_SYNC_MAX_RETRIES="-1" is not a non-negative number; ignored/);
  t.is(r.code, 0, r.stderr);
  t.is(receiver.artifacts().length, 2, 'delivered under the default policy');
});
