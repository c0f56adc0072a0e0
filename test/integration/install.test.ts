// `install` / `uninstall` on real repositories: plain hooks dir, core.hooksPath, husky,
// worktrees, idempotency, byte-for-byte restore, and the project uuid.
import test from 'ava';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HUSKY_MARKER, install, InstallError, ORIG_SUFFIX, SHIM_MARKER, uninstall } from '../../lib/setup/install.js';
import { ConfigFileError } from '../../lib/setup/project-uuid.js';
import { commitSync as commit, commonDir, gitSyncOk as gitOk, makeRepoSync as makeRepo, writeFilesSync } from '../support/git.js';
import { makeFakeCli, TempDirs, type CliCall } from '../support/fake-cli.js';
import { cleanEnv as gitEnv } from '../support/proc.js';

const temp = new TempDirs();
test.after.always(() => temp.cleanup());

const postCommits = (calls: CliCall[]) => calls.filter((c) => c.argv.join(' ') === 'hook post-commit');

/** Every file under dir with its mode and bytes, for before/after comparisons. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = `${(st.mode & 0o7777).toString(8)} ${st.isSymbolicLink() ? 'link' : readFileSync(p).toString('base64')}`;
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

test('install into a plain repository: launchers in the common dir, shims in .git/hooks, commit runs the launcher', async (t) => {
  const repo = makeRepo(temp);
  const cli = makeFakeCli(temp);
  const result = await install({ repo, cliPath: cli.cliPath });
  t.is(result.mode, 'hooks');
  t.false(result.alreadyInstalled);
  const launcher = path.join(commonDir(repo), 'kitty-sync', 'hooks', 'post-commit');
  t.true((statSync(launcher).mode & 0o111) !== 0);
  const text = readFileSync(launcher, 'utf8');
  t.true(text.includes(`node='${process.execPath}'`));
  t.true(text.includes(`cli='${cli.cliPath}'`));
  t.false(text.includes('@KITTY_SYNC_'));
  for (const hook of ['post-commit', 'pre-push']) {
    const shim = path.join(repo, '.git', 'hooks', hook);
    t.true(readFileSync(shim, 'utf8').includes(SHIM_MARKER));
    t.true((statSync(shim).mode & 0o111) !== 0);
  }
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' }).status, 0);
  t.is(postCommits(cli.calls()).length, 1);
});

test('install twice changes nothing and says already installed', async (t) => {
  const repo = makeRepo(temp);
  const cli = makeFakeCli(temp);
  await install({ repo, cliPath: cli.cliPath });
  const before = snapshot(path.join(repo, '.git'));
  const config = readFileSync(path.join(repo, '.kittify', 'config.yaml'), 'utf8');
  const second = await install({ repo, cliPath: cli.cliPath });
  t.true(second.alreadyInstalled);
  t.false(second.projectUuid?.written);
  t.deepEqual(snapshot(path.join(repo, '.git')), before);
  t.is(readFileSync(path.join(repo, '.kittify', 'config.yaml'), 'utf8'), config);
  // And the hook still runs once per commit (not chained to itself).
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' }).status, 0);
  t.is(postCommits(cli.calls()).length, 1);
});

test('a new CLI path (agent moved) updates the launchers in place', async (t) => {
  const repo = makeRepo(temp);
  await install({ repo, cliPath: makeFakeCli(temp).cliPath });
  const cli2 = makeFakeCli(temp);
  const r = await install({ repo, cliPath: cli2.cliPath });
  t.false(r.alreadyInstalled);
  t.deepEqual(
    r.changes.filter((c) => c.kind !== 'unchanged').map((c) => `${c.kind} ${c.what}`),
    ['updated launcher', 'updated launcher'],
  );
  commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' });
  t.is(postCommits(cli2.calls()).length, 1);
});

test('uninstall restores pre-existing hooks byte for byte with their mode, and removes only what install added', async (t) => {
  const repo = makeRepo(temp);
  const hooks = path.join(repo, '.git', 'hooks');
  writeFileSync(path.join(hooks, 'post-commit'), '#!/bin/sh\n# mine\r\necho "$@"');
  chmodSync(path.join(hooks, 'post-commit'), 0o750);
  symlinkSync('/bin/true', path.join(hooks, 'pre-push'));
  // The state dir holds the queue: uninstall must leave it. (Owner-only, as kitty-sync writes it:
  // install tightens looser modes in the state dir, issue 12.)
  mkdirSync(path.join(repo, '.git', 'kitty-sync'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(repo, '.git', 'kitty-sync', 'queue.sqlite'), 'data', { mode: 0o600 });
  const before = snapshot(path.join(repo, '.git'));

  const cli = makeFakeCli(temp);
  const r = await install({ repo, cliPath: cli.cliPath, skipProjectUuid: true });
  t.deepEqual(
    r.changes.filter((c) => c.kind === 'moved').map((c) => path.basename(c.path)),
    [`post-commit${ORIG_SUFFIX}`, `pre-push${ORIG_SUFFIX}`],
  );
  const u = await uninstall({ repo });
  t.false(u.notInstalled);
  t.deepEqual(snapshot(path.join(repo, '.git')), before);
  t.true((await uninstall({ repo })).notInstalled);
});

test('install refuses rather than overwrite a kept original', async (t) => {
  const repo = makeRepo(temp);
  const hooks = path.join(repo, '.git', 'hooks');
  writeFileSync(path.join(hooks, 'post-commit'), '#!/bin/sh\necho new\n');
  writeFileSync(path.join(hooks, `post-commit${ORIG_SUFFIX}`), '#!/bin/sh\necho old\n');
  const err = await t.throwsAsync(install({ repo, cliPath: makeFakeCli(temp).cliPath, skipProjectUuid: true }));
  t.true(err instanceof InstallError);
  t.regex(err!.message, /post-commit/);
  t.is(readFileSync(path.join(hooks, 'post-commit'), 'utf8'), '#!/bin/sh\necho new\n');
  t.false(existsSync(path.join(commonDir(repo), 'kitty-sync', 'hooks')));
});

test('a relative core.hooksPath is resolved against the work tree root, also from a subdirectory', async (t) => {
  const repo = makeRepo(temp);
  gitOk(repo, ['config', 'core.hooksPath', 'githooks']);
  mkdirSync(path.join(repo, 'src', 'deep'), { recursive: true });
  const cli = makeFakeCli(temp);
  const r = await install({ repo: path.join(repo, 'src', 'deep'), cliPath: cli.cliPath, skipProjectUuid: true });
  t.is(r.layout.hooksDir, path.join(repo, 'githooks'));
  t.true(readFileSync(path.join(repo, 'githooks', 'post-commit'), 'utf8').includes(SHIM_MARKER));
  t.false(existsSync(path.join(repo, '.git', 'hooks', 'post-commit')));
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' }).status, 0);
  t.is(postCommits(cli.calls()).length, 1);
});

test('husky-managed repository: one marked line in .husky/<hook>, .husky/_ untouched, uninstall restores', async (t) => {
  const repo = makeRepo(temp);
  const huskyBin = fileURLToPath(new URL('../../../node_modules/husky/bin.js', import.meta.url));
  execFileSync(process.execPath, [huskyBin], { cwd: repo, env: gitEnv() });
  t.is(gitOk(repo, ['config', 'core.hooksPath']).trim(), '.husky/_');
  writeFilesSync(repo, { '.husky/pre-push': 'npm run lint' }); // an existing script without a final newline
  const husky_ = snapshot(path.join(repo, '.husky', '_'));
  const before = snapshot(path.join(repo, '.husky'));

  const cli = makeFakeCli(temp);
  const r = await install({ repo, cliPath: cli.cliPath, skipProjectUuid: true });
  t.is(r.mode, 'husky');
  t.deepEqual(snapshot(path.join(repo, '.husky', '_')), husky_);
  const pre = readFileSync(path.join(repo, '.husky', 'pre-push'), 'utf8').split('\n');
  t.is(pre[0], 'npm run lint');
  t.true(pre[1].endsWith(HUSKY_MARKER));
  const post = readFileSync(path.join(repo, '.husky', 'post-commit'), 'utf8');
  t.is(post.split('\n').filter((l) => l.includes(HUSKY_MARKER)).length, 1);
  t.true((statSync(path.join(repo, '.husky', 'post-commit')).mode & 0o111) !== 0);
  t.false(existsSync(path.join(repo, '.git', 'hooks', 'post-commit')));

  // Real husky wrapper -> .husky/post-commit -> launcher -> CLI.
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' }).status, 0);
  t.is(postCommits(cli.calls()).length, 1);

  t.true((await install({ repo, cliPath: cli.cliPath, skipProjectUuid: true })).alreadyInstalled);
  t.is(readFileSync(path.join(repo, '.husky', 'post-commit'), 'utf8'), post);

  await uninstall({ repo });
  t.deepEqual(snapshot(path.join(repo, '.husky')), before);
});

test('husky line is harmless on a clone where kitty-sync is not installed', async (t) => {
  const repo = makeRepo(temp);
  const huskyBin = fileURLToPath(new URL('../../../node_modules/husky/bin.js', import.meta.url));
  execFileSync(process.execPath, [huskyBin], { cwd: repo, env: gitEnv() });
  const cli = makeFakeCli(temp);
  await install({ repo, cliPath: cli.cliPath, skipProjectUuid: true });
  // Simulate a teammate: the committed .husky line is there, the machine-local launcher is not.
  const committed = readFileSync(path.join(repo, '.husky', 'post-commit'), 'utf8');
  await uninstall({ repo });
  writeFilesSync(repo, { '.husky/post-commit': committed });
  t.false(existsSync(path.join(repo, '.git', 'kitty-sync', 'hooks', 'post-commit')));
  const r = commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' });
  t.is(r.status, 0);
  t.is(r.stderr, '');
  t.deepEqual(cli.calls(), []);
});

test('two worktrees share one install (launchers in the common dir)', async (t) => {
  const repo = makeRepo(temp);
  commit(repo, { 'README.md': 'x\n' });
  const wt = path.join(temp.make(), 'wt');
  gitOk(repo, ['worktree', 'add', '-q', '-b', 'other', wt]);
  const cli = makeFakeCli(temp);
  const r = await install({ repo: wt, cliPath: cli.cliPath, skipProjectUuid: true });
  t.is(r.layout.commonDir, path.join(repo, '.git'));
  t.is(r.layout.launcherDir, path.join(repo, '.git', 'kitty-sync', 'hooks'));
  t.true((await install({ repo, cliPath: cli.cliPath, skipProjectUuid: true })).alreadyInstalled);
  t.is(commit(wt, { 'kitty-specs/001-a/spec.md': '# spec\n' }).status, 0);
  t.is(commit(repo, { 'kitty-specs/002-b/spec.md': '# spec\n' }).status, 0);
  const calls = postCommits(cli.calls());
  t.deepEqual(calls.map((c) => c.cwd).sort(), [repo, wt].sort());
});

test('install writes a project uuid (v4) when missing, keeping other content and comments', async (t) => {
  const repo = makeRepo(temp);
  const original = 'vcs:\n  type: git   # keep this comment\nagents:\n  available:\n  - claude\n# trailing comment\n';
  writeFilesSync(repo, { '.kittify/config.yaml': original });
  const r = await install({ repo, cliPath: makeFakeCli(temp).cliPath });
  t.true(r.projectUuid?.written);
  t.regex(r.projectUuid!.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.is(readFileSync(path.join(repo, '.kittify', 'config.yaml'), 'utf8'), `${original}project:\n  uuid: ${r.projectUuid!.uuid}\n`);
});

test('a malformed config.yaml stops install before anything changes, and is not overwritten', async (t) => {
  const repo = makeRepo(temp);
  const bad = 'project:\n  slug: [unclosed\n';
  writeFilesSync(repo, { '.kittify/config.yaml': bad });
  const err = await t.throwsAsync(install({ repo, cliPath: makeFakeCli(temp).cliPath }));
  t.true(err instanceof ConfigFileError);
  t.true(err!.message.includes(path.join(repo, '.kittify', 'config.yaml')));
  t.regex(err!.message, /invalid YAML/);
  t.is(readFileSync(path.join(repo, '.kittify', 'config.yaml'), 'utf8'), bad);
  t.false(existsSync(path.join(repo, '.git', 'hooks', 'post-commit')));
});

test('outside a Git work tree: a clear InstallError', async (t) => {
  const dir = temp.make();
  const err = await t.throwsAsync(install({ repo: dir, cliPath: '/x' }));
  t.true(err instanceof InstallError);
  t.true(err!.message.includes(dir));
});
