// Issue 12 item 10: a relative KITTY_SYNC_HOME was resolved against the current directory, so the
// hook (run at the top of the work tree) queued into <top>/ksstate while `status` run from a
// subdirectory read <top>/sub/ksstate, another, empty queue. It is resolved against the repository
// top for every command, and a state directory inside the work tree (where `git add -A` would
// commit it) is warned about.
import test from 'ava';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveSettings } from '../../lib/config.js';
import { cleanEnv, cli } from '../support/proc.js';
import { awaitBackgroundCapture } from '../support/hooks.js';
import { git, gitOk, makeRepo, writeFiles } from '../support/git.js';

test('relative KITTY_SYNC_HOME: the hook and status from a subdirectory use the same queue, under the repository top', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const env = cleanEnv({ KITTY_SYNC_HOME: 'ksstate', KITTY_SYNC_SERVER_URL: '' });
  writeFileSync(path.join(repo.root, 'README.md'), 'x\n');
  await gitOk(repo.root, ['add', '-A'], env);
  await gitOk(repo.root, ['commit', '-q', '-m', 'base'], env);
  t.is((await cli(repo.root, ['install', '--repo', repo.root], env)).code, 0);
  await writeFiles(repo.root, { 'kitty-specs/001-home/spec.md': '# spec\n', 'sub/deeper/file.txt': 'x\n' });
  await gitOk(repo.root, ['add', '-A'], env);
  const commit = await git(repo.root, ['commit', '-q', '-m', 'feature'], env);
  t.is(commit.code, 0);
  // On a loaded machine even one file may not fit the hook's budget: then it is captured in the background.
  await awaitBackgroundCapture(commit.stderr);
  t.true(existsSync(path.join(repo.root, 'ksstate', 'queue.sqlite')), `the hook queued under the top: ${commit.stderr}`);

  const sub = path.join(repo.root, 'sub', 'deeper');
  const status = await cli(sub, ['status', '--json'], env);
  t.is(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout) as { state_dir: string; pending: number };
  t.is(s.state_dir, path.join(repo.root, 'ksstate'));
  t.is(s.pending, 1, 'status from a subdirectory sees the queued work');
  t.false(existsSync(path.join(sub, 'ksstate')));
  t.regex(status.stderr, /KITTY_SYNC_HOME.*inside the work tree/);
  t.regex(commit.stderr, /KITTY_SYNC_HOME.*inside the work tree/, 'the hook warns too');
});

test('resolveSettings: a relative KITTY_SYNC_HOME is taken from the repository top whatever the current directory; absolute ones stay', (t) => {
  t.not(process.cwd(), '/repo/top');
  const s = resolveSettings({ env: { KITTY_SYNC_HOME: 'ks' }, repoRoot: '/repo/top', commonGitDir: '/repo/top/.git' });
  t.is(s.stateDir, path.resolve('/repo/top', 'ks'));
  t.is(resolveSettings({ env: { KITTY_SYNC_HOME: '/abs/ks' }, repoRoot: '/repo/top', commonGitDir: '/repo/top/.git' }).stateDir, '/abs/ks');
  const outside = resolveSettings({ env: { KITTY_SYNC_HOME: '../ks-outside' }, repoRoot: '/repo/top', commonGitDir: '/repo/top/.git' });
  t.is(outside.stateDir, '/repo/ks-outside');
  t.deepEqual(outside.warnings, [], 'no warning outside the work tree');
});
