// pre-push end to end: real `git push` to a local bare repository runs the real hooks and
// agent, which deliver to a real receiver on 127.0.0.1 (or find it down or hung).
import test from 'ava';
import { readdirSync } from 'node:fs';
import { cli } from '../support/proc.js';
import { startTestReceiver } from '../support/receiver.js';
import { boundFor } from '../support/timing.js';
import { git, gitOk, writeFiles } from '../support/git.js';
import {
  addBareRemote,
  artifactsOf,
  blobAt,
  commit,
  deadUrl,
  feature,
  fileReceiver,
  hangingServer,
  type HookRepo,
  installHooks,
  namespace,
  newRepo,
  OFF,
  onlineEnv,
  status,
  summaryOf,
  versionCounts,
} from '../support/hooks.js';

const receiver = fileReceiver(test);

const online = (): NodeJS.ProcessEnv => onlineEnv(receiver().url);

/** Installed repo with a bare `origin` holding main (pushed with kitty-sync off, so nothing was sent). */
async function setup(t: { teardown(fn: () => Promise<void>): void }, slug: string): Promise<{ repo: HookRepo; base: string }> {
  const repo = await newRepo();
  t.teardown(repo.cleanup);
  await installHooks(repo.root);
  await addBareRemote(repo);
  await writeFiles(repo.root, feature(slug));
  const base = await commit(repo.root, 'base', { ...online(), ...OFF });
  await gitOk(repo.root, ['push', '-q', '-u', 'origin', 'main'], { ...online(), ...OFF });
  return { repo, base: base.sha };
}

test('existing branch: commits made with KITTY_SYNC=0 are delivered by the push, content at the pushed tip', async (t) => {
  const slug = '010-push-existing';
  const { repo } = await setup(t, slug);
  t.is(artifactsOf(receiver(), repo.uuid).length, 0, 'KITTY_SYNC=0 sent nothing');
  t.deepEqual(readdirSync(repo.stateDir), ['hooks'], 'KITTY_SYNC=0 queued nothing');

  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec v2\n', [`kitty-specs/${slug}/plan.md`]: '# plan v2\n' });
  await commit(repo.root, 'v2', OFF);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec v3 (tip)\n' });
  const tip = await commit(repo.root, 'v3', OFF);
  t.is(artifactsOf(receiver(), repo.uuid).length, 0);

  const push = await git(repo.root, ['push', 'origin', 'main'], online());
  t.is(push.code, 0, push.stderr);
  t.deepEqual(summaryOf(push.stderr, slug), { uploaded: 2, already_exists: 0, queued: 0, skipped: 0, failed: 0 }, push.stderr);
  t.is((await gitOk(repo.base, ['--git-dir', 'remote.git', 'rev-parse', 'main'])).trim(), tip.sha);

  const ns = namespace(repo.uuid, slug);
  // Only what changed in the pushed range (WP01 did not), each once, at the tip (spec v2 never sent).
  t.deepEqual(versionCounts(receiver(), repo.uuid), [
    ['plan.md', 1],
    ['spec.md', 1],
  ]);
  for (const p of ['spec.md', 'plan.md']) {
    t.deepEqual(Buffer.from((await receiver().latestContent(ns, p)) ?? '', 'utf8'), await blobAt(repo.root, tip.sha, `kitty-specs/${slug}/${p}`), p);
  }
  const log = JSON.parse((await cli(repo.root, ['log', '--json'])).stdout) as { entries: { source: string; status: string }[] };
  t.deepEqual(
    log.entries.map((e) => `${e.source}:${e.status}`),
    ['pre-push:uploaded', 'pre-push:uploaded'],
  );
});

test('new branch: the commits not yet on the remote are delivered, content at the pushed tip; a deletion sends nothing', async (t) => {
  const slug = '011-push-new-branch';
  const { repo } = await setup(t, slug);
  await gitOk(repo.root, ['checkout', '-q', '-b', 'feat/new']);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec on the new branch\n', [`kitty-specs/${slug}/research/notes.md`]: '# notes v1\n' });
  await commit(repo.root, 'new 1', OFF);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/research/notes.md`]: '# notes v2 (tip)\n' });
  const tip = await commit(repo.root, 'new 2', OFF);

  const push = await git(repo.root, ['push', '-u', 'origin', 'feat/new'], online());
  t.is(push.code, 0, push.stderr);
  t.deepEqual(summaryOf(push.stderr, slug), { uploaded: 2, already_exists: 0, queued: 0, skipped: 0, failed: 0 }, push.stderr);
  const ns = namespace(repo.uuid, slug);
  // plan.md and WP01 are already on the remote (main): not part of the new branch's commits.
  t.deepEqual(versionCounts(receiver(), repo.uuid), [
    ['research/notes.md', 1],
    ['spec.md', 1],
  ]);
  for (const p of ['spec.md', 'research/notes.md']) {
    t.deepEqual(Buffer.from((await receiver().latestContent(ns, p)) ?? '', 'utf8'), await blobAt(repo.root, tip.sha, `kitty-specs/${slug}/${p}`), p);
  }

  // A receiver of its own: the file's receiver is shared by tests running at the same time.
  const watcher = await startTestReceiver();
  t.teardown(() => watcher.close());
  const before = watcher.stats().requests;
  const del = await git(repo.root, ['push', 'origin', '--delete', 'feat/new'], onlineEnv(watcher.url));
  t.is(del.code, 0, del.stderr);
  t.notRegex(del.stderr, /kitty-sync/);
  t.deepEqual(watcher.stats().requests, before);
});

test('push with the server down succeeds quickly; the work is queued and replays with drain', async (t) => {
  const slug = '012-push-offline';
  const { repo } = await setup(t, slug);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec offline\n' });
  const tip = await commit(repo.root, 'offline', OFF);

  const push = await git(repo.root, ['push', 'origin', 'main'], { KITTY_SYNC_SERVER_URL: await deadUrl() });
  t.log(`push with the server down took ${push.ms.toFixed(0)} ms`);
  t.is(push.code, 0, push.stderr);
  t.is((await gitOk(repo.base, ['--git-dir', 'remote.git', 'rev-parse', 'main'])).trim(), tip.sha);
  t.deepEqual(summaryOf(push.stderr, slug), { uploaded: 0, already_exists: 0, queued: 1, skipped: 0, failed: 0 }, push.stderr);
  t.is((await status(repo.root)).pending, 1);

  const drain = await cli(repo.root, ['drain', '--force', '--json'], online());
  t.is(drain.code, 0, drain.stderr);
  t.is((await status(repo.root)).pending, 0);
  t.deepEqual(Buffer.from((await receiver().latestContent(namespace(repo.uuid, slug), 'spec.md')) ?? '', 'utf8'), await blobAt(repo.root, tip.sha, `kitty-specs/${slug}/spec.md`));
});

test('push to a hung server returns within the drain budget; the work is queued', async (t) => {
  const slug = '013-push-hung';
  const { repo } = await setup(t, slug);
  const hung = await hangingServer();
  t.teardown(hung.close);
  // The baseline: the same push with a server that answers (the same work, nothing to wait for). Its
  // own receiver: the file's receiver is shared, and other tests compare its request counts.
  const answering = await startTestReceiver();
  t.teardown(() => answering.close());
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec answered\n' });
  await commit(repo.root, 'answered', OFF);
  const baseline = await git(repo.root, ['push', 'origin', 'main'], onlineEnv(answering.url));
  t.is(baseline.code, 0, baseline.stderr);
  t.is(summaryOf(baseline.stderr, slug)?.uploaded, 1, baseline.stderr);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec hung\n' });
  await commit(repo.root, 'hung', OFF);

  const budgetMs = 1000;
  const push = await git(repo.root, ['push', 'origin', 'main'], { KITTY_SYNC_SERVER_URL: hung.url, KITTY_SYNC_BUDGET_MS: String(budgetMs) });
  t.log(`push to a hung server (budget ${budgetMs} ms) took ${push.ms.toFixed(0)} ms; the answered push ${baseline.ms.toFixed(0)} ms`);
  t.is(push.code, 0, push.stderr);
  t.is(summaryOf(push.stderr, slug)?.queued, 1, push.stderr);
  t.is((await status(repo.root)).pending, 1);
  // Without the budget the agent would wait for the request timeout (10 s) and more.
  t.true(push.ms <= boundFor(budgetMs, baseline.ms), `push took ${push.ms.toFixed(0)} ms with a ${budgetMs} ms budget (the answered push: ${baseline.ms.toFixed(0)} ms)`);
});
