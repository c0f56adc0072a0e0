// post-commit end to end: `kitty-sync install`, then real `git commit`s run the real hooks,
// which start the real agent, which delivers to a real receiver on 127.0.0.1.
import test from 'ava';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli } from '../support/proc.js';
import { git, gitOk, writeFiles } from '../support/git.js';
import { artifactsOf, blobAt, commit, deadUrl, feature, fileReceiver, type HookRepo, installedRepo, namespace, onlineEnv, sleep, status, summaryOf, versionCounts } from '../support/hooks.js';
import type { NamespaceRef } from '../../lib/types.js';

const receiver = fileReceiver(test);

const setup = installedRepo;

const online = (): NodeJS.ProcessEnv => onlineEnv(receiver().url);

/** Receiver's latest content of each path equals the exact bytes at the commit. */
async function assertDeliveredAt(t: { deepEqual(a: unknown, b: unknown, m?: string): void }, repo: HookRepo, ns: NamespaceRef, rev: string, paths: string[]): Promise<void> {
  for (const p of paths) {
    const got = await receiver().latestContent(ns, p);
    const want = await blobAt(repo.root, rev, `kitty-specs/${ns.feature_slug}/${p}`);
    t.deepEqual(got === null ? null : Buffer.from(got, 'utf8'), want, `${ns.feature_slug}/${p} at ${rev.slice(0, 8)} (${ns.target_branch})`);
  }
}

test('online commit: committed bytes (not the working tree) arrive in the right namespace; SPEC §4 summary; log --json', async (t) => {
  const repo = await setup(t);
  const slug = '001-alpha';
  await writeFiles(repo.root, feature(slug));
  await gitOk(repo.root, ['add', '-A']);
  // Changed after `git add`: the commit holds the staged bytes, the working tree differs.
  const staged = readFileSync(path.join(repo.root, 'kitty-specs', slug, 'spec.md'), 'utf8');
  writeFileSync(path.join(repo.root, 'kitty-specs', slug, 'spec.md'), '# working tree only, never committed\n');
  const c = await git(repo.root, ['commit', '-m', 'alpha'], online());
  t.is(c.code, 0, c.stderr);
  const sha = (await gitOk(repo.root, ['rev-parse', 'HEAD'])).trim();
  t.log(`commit with delivery took ${c.ms.toFixed(0)} ms`);

  t.deepEqual(summaryOf(c.stderr, slug), { uploaded: 3, already_exists: 0, queued: 0, skipped: 1, failed: 0 }, c.stderr);
  t.regex(c.stderr, /^kitty-sync: {3}skipped 001-alpha\/meta\.json \(unsupported_surface\)$/m);

  const ns = namespace(repo.uuid, slug);
  const got = artifactsOf(receiver(), repo.uuid);
  t.deepEqual(got.map((a) => a.artifact_path).sort(), ['plan.md', 'spec.md', 'tasks/WP01-first.md']);
  for (const a of got) t.deepEqual(a.namespace, ns);
  await assertDeliveredAt(t, repo, ns, sha, ['spec.md', 'plan.md', 'tasks/WP01-first.md']);
  t.is(await receiver().latestContent(ns, 'spec.md'), staged);

  const log = await cli(repo.root, ['log', '--json']);
  t.is(log.code, 0, log.stderr);
  const entries = (JSON.parse(log.stdout) as { entries: { source: string; feature_slug: string; artifact_path: string; status: string; reason: string | null }[] }).entries;
  t.deepEqual(entries.map((e) => [e.source, e.feature_slug, e.artifact_path, e.status, e.reason]).sort(), [
    ['post-commit', slug, 'meta.json', 'skipped', 'unsupported_surface'],
    ['post-commit', slug, 'plan.md', 'uploaded', null],
    ['post-commit', slug, 'spec.md', 'uploaded', null],
    ['post-commit', slug, 'tasks/WP01-first.md', 'uploaded', null],
  ]);
  t.is((await status(repo.root)).pending, 0);
  t.false(existsSync(path.join(repo.stateDir, 'pending')), 'the pending marker is removed once the queue is empty');
});

test('offline commit succeeds and queues; the next commit with the receiver up replays it', async (t) => {
  const repo = await setup(t);
  const slug = '002-beta';
  await writeFiles(repo.root, feature(slug));
  const c1 = await commit(repo.root, 'beta offline', { KITTY_SYNC_SERVER_URL: await deadUrl() });
  t.is(c1.code, 0);
  t.deepEqual(summaryOf(c1.stderr, slug), { uploaded: 0, already_exists: 0, queued: 3, skipped: 1, failed: 0 }, c1.stderr);
  t.is(artifactsOf(receiver(), repo.uuid).length, 0);
  t.is((await status(repo.root)).pending, 3);
  t.true(existsSync(path.join(repo.stateDir, 'pending')), 'pending marker while work is queued');

  // The first failure put the queued work in backoff (1 s); a user's next commit is later than that.
  await sleep(1100);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/plan.md`]: '# Plan beta v2\n' });
  const c2 = await commit(repo.root, 'beta online', online());
  t.is(c2.code, 0);
  t.log(c2.stderr.trim());
  const ns = namespace(repo.uuid, slug);
  // spec.md and WP01 from the first commit; plan.md's newer version superseded the queued older one.
  await assertDeliveredAt(t, repo, ns, c1.sha, ['spec.md', 'tasks/WP01-first.md']);
  await assertDeliveredAt(t, repo, ns, c2.sha, ['plan.md']);
  t.deepEqual(versionCounts(receiver(), repo.uuid), [
    ['plan.md', 1],
    ['spec.md', 1],
    ['tasks/WP01-first.md', 1],
  ]);
  t.is(summaryOf(c2.stderr, slug)?.uploaded, 3, c2.stderr);
  t.is((await status(repo.root)).pending, 0);
  t.false(existsSync(path.join(repo.stateDir, 'pending')));
});

test('a commit while earlier work waits in backoff says how much older work is still queued', async (t) => {
  const repo = await setup(t);
  const slug = '004-delta';
  const dead = await deadUrl();
  await writeFiles(repo.root, feature(slug));
  const c1 = await commit(repo.root, 'delta offline', { KITTY_SYNC_SERVER_URL: dead });
  t.is(summaryOf(c1.stderr, slug)?.queued, 3, c1.stderr);
  t.notRegex(c1.stderr, /from earlier runs/);
  // At once (the first three are in their 1 s backoff): only this commit's file is tried.
  await writeFiles(repo.root, { [`kitty-specs/${slug}/research.md`]: '# Research delta\n' });
  const c2 = await commit(repo.root, 'delta offline again', { KITTY_SYNC_SERVER_URL: dead });
  t.is(c2.code, 0);
  t.is(summaryOf(c2.stderr, slug)?.queued, 1, c2.stderr);
  t.regex(c2.stderr, /kitty-sync: 3 more artifact\(s\) from earlier runs still queued/);
  t.is((await status(repo.root)).pending, 4);
});

test('a commit that touches no kitty-specs/ file with an empty queue does not start Node', async (t) => {
  const repo = await setup(t);
  // Every node process started under this environment appends a line to `trace`.
  const trace = path.join(repo.base, 'node-starts.log');
  const preload = path.join(repo.base, 'trace.cjs');
  writeFileSync(preload, `require('node:fs').appendFileSync(${JSON.stringify(trace)}, process.argv.slice(1).join(' ') + '\\n');\n`);
  const env = { ...online(), NODE_OPTIONS: `--require ${preload}` };
  const nodeStarts = () => (existsSync(trace) ? readFileSync(trace, 'utf8').split('\n').filter(Boolean) : []);
  const stateEntries = () => readdirSync(repo.stateDir).sort();

  t.deepEqual(stateEntries(), ['hooks']);
  await writeFiles(repo.root, { 'README.md': 'hello\n' });
  const c1 = await commit(repo.root, 'readme', env);
  t.is(c1.stderr, '');
  t.deepEqual(nodeStarts(), []);
  t.deepEqual(stateEntries(), ['hooks'], 'no queue, log or lock created');

  // Control: a kitty-specs/ commit does start the agent (so the probe above can see Node).
  await writeFiles(repo.root, feature('003-gamma'));
  const c2 = await commit(repo.root, 'gamma', env);
  t.is(summaryOf(c2.stderr, '003-gamma')?.uploaded, 3, c2.stderr);
  t.is(nodeStarts().length, 1);
  t.regex(nodeStarts()[0], /kitty-sync\.js hook post-commit/);

  // Delivered, so the queue is empty again: the next unrelated commit stays in the shell.
  const logBefore = readFileSync(path.join(repo.stateDir, 'outcomes.log'));
  await writeFiles(repo.root, { 'README.md': 'hello again\n' });
  const c3 = await commit(repo.root, 'readme 2', env);
  t.is(c3.stderr, '');
  t.is(nodeStarts().length, 1);
  t.deepEqual(readFileSync(path.join(repo.stateDir, 'outcomes.log')), logBefore);
});

test('one feature on two target branches: two namespaces, neither overwrites the other', async (t) => {
  const repo = await setup(t);
  const slug = '004-delta';
  await writeFiles(repo.root, feature(slug, { target: 'main', tag: 'for-main' }));
  const onMain = await commit(repo.root, 'delta for main', online());
  await gitOk(repo.root, ['checkout', '-q', '-b', 'feature/x']);
  await writeFiles(repo.root, feature(slug, { target: 'feature/x', tag: 'for-x' }));
  const onX = await commit(repo.root, 'delta for feature/x', online());
  t.is(summaryOf(onX.stderr, slug)?.uploaded, 3, onX.stderr);

  const nsMain = namespace(repo.uuid, slug, 'main');
  const nsX = namespace(repo.uuid, slug, 'feature/x');
  await assertDeliveredAt(t, repo, nsMain, onMain.sha, ['spec.md', 'plan.md', 'tasks/WP01-first.md']);
  await assertDeliveredAt(t, repo, nsX, onX.sha, ['spec.md', 'plan.md', 'tasks/WP01-first.md']);
  t.not(await receiver().latestContent(nsMain, 'spec.md'), await receiver().latestContent(nsX, 'spec.md'));
  const byBranch = (b: string) => artifactsOf(receiver(), repo.uuid).filter((a) => a.namespace.target_branch === b);
  t.is(byBranch('main').length, 3);
  t.is(byBranch('feature/x').length, 3);
  for (const a of artifactsOf(receiver(), repo.uuid)) t.is(a.versions.length, 1, `${a.namespace.target_branch} ${a.artifact_path}`);
});

test('two worktrees: commits in both are delivered through one shared state dir and queue', async (t) => {
  const repo = await setup(t);
  await writeFiles(repo.root, { 'README.md': 'base\n' });
  await commit(repo.root, 'base');
  const wt = path.join(repo.base, 'wt');
  await gitOk(repo.root, ['worktree', 'add', '-q', '-b', 'side', wt]);

  await writeFiles(repo.root, feature('005-main-side'));
  const a = await commit(repo.root, 'in main worktree', online());
  await writeFiles(wt, feature('006-other-side'));
  const b = await commit(wt, 'in second worktree', online());
  t.is(summaryOf(a.stderr, '005-main-side')?.uploaded, 3, a.stderr);
  t.is(summaryOf(b.stderr, '006-other-side')?.uploaded, 3, b.stderr);
  await assertDeliveredAt(t, repo, namespace(repo.uuid, '005-main-side'), a.sha, ['spec.md', 'plan.md', 'tasks/WP01-first.md']);
  await assertDeliveredAt(t, repo, namespace(repo.uuid, '006-other-side'), b.sha, ['spec.md', 'plan.md', 'tasks/WP01-first.md']);

  // State lives under the common dir only: one queue, one log holding both worktrees' outcomes.
  const wtGitDir = path.resolve(wt, (await gitOk(wt, ['rev-parse', '--git-dir'])).trim());
  t.not(wtGitDir, path.join(repo.root, '.git'));
  t.false(existsSync(path.join(wtGitDir, 'kitty-sync')));
  const features = new Set(
    readFileSync(path.join(repo.stateDir, 'outcomes.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { feature_slug: string }).feature_slug),
  );
  t.deepEqual([...features].sort(), ['005-main-side', '006-other-side']);
  const fromWt = await cli(wt, ['status', '--json']);
  t.is((JSON.parse(fromWt.stdout) as { state_dir: string }).state_dir, repo.stateDir);
});

test('KITTY_SYNC=0: the commit sends nothing and queues nothing', async (t) => {
  const repo = await setup(t);
  await writeFiles(repo.root, feature('007-off'));
  const c = await commit(repo.root, 'off', { ...online(), KITTY_SYNC: '0' });
  t.is(c.stderr, '');
  t.is(artifactsOf(receiver(), repo.uuid).length, 0);
  t.deepEqual(readdirSync(repo.stateDir), ['hooks']);
});
