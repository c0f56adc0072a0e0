// The launcher scripts (hooks/post-commit, hooks/pre-push) and the shims, run by real
// `git commit` and `git push`, with a fake CLI recording whether and how Node was started.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { install } from '../../lib/setup/install.js';
import { commitSync as commit, commonDir, gitSync as git, gitSyncOk as gitOk, makeRepoSync as makeRepo } from '../support/git.js';
import { makeFakeCli, TempDirs, type CliCall } from '../support/fake-cli.js';
import { cleanEnv as gitEnv } from '../support/proc.js';

const temp = new TempDirs();
test.after.always(() => temp.cleanup());

async function setup(files: Record<string, string> = { 'README.md': 'hello\n' }) {
  const repo = makeRepo(temp);
  const cli = makeFakeCli(temp);
  if (Object.keys(files).length > 0) {
    const r = commit(repo, files, {}, 'root');
    if (r.status !== 0) throw new Error(r.stderr);
  }
  await install({ repo, cliPath: cli.cliPath, skipProjectUuid: true });
  return { repo, cli };
}

const hookCalls = (calls: CliCall[], name: string) => calls.filter((c) => c.argv[0] === 'hook' && c.argv[1] === name);

test('post-commit: a commit that touches no kitty-specs/ file, nothing pending, does not start the CLI', async (t) => {
  const { repo, cli } = await setup();
  const r = commit(repo, { 'src/a.txt': 'a\n' });
  t.is(r.status, 0, r.stderr);
  t.deepEqual(cli.calls(), []);
});

test('post-commit: a commit that touches kitty-specs/ starts the CLI once, at the work tree root', async (t) => {
  const { repo, cli } = await setup();
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' }).status, 0);
  const calls = cli.calls();
  t.deepEqual(
    calls.map((c) => c.argv),
    [['hook', 'post-commit']],
  );
  t.is(calls[0].cwd, repo);
});

test('post-commit: a root commit with kitty-specs/ files starts the CLI', async (t) => {
  const { repo, cli } = await setup({});
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' }).status, 0);
  t.is(hookCalls(cli.calls(), 'post-commit').length, 1);
});

test('post-commit: a merge is judged against its first parent', async (t) => {
  const { repo, cli } = await setup();
  gitOk(repo, ['checkout', '-q', '-b', 'side']);
  commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' });
  gitOk(repo, ['checkout', '-q', 'main']);
  commit(repo, { 'other.txt': 'x\n' });
  cli.reset();
  // `git merge` runs post-merge, not post-commit; a merge concluded by `git commit`
  // (as after resolving conflicts) runs post-commit. Merging side into main brings
  // kitty-specs/ changes: the agent must run.
  gitOk(repo, ['merge', '-q', '--no-commit', '--no-ff', 'side']);
  t.is(git(repo, ['commit', '-q', '--no-edit']).status, 0);
  t.is(gitOk(repo, ['rev-list', '--parents', '-1', 'HEAD']).trim().split(' ').length, 3, 'a merge commit');
  t.is(hookCalls(cli.calls(), 'post-commit').length, 1);
  // Merging main into side brings only other.txt: no Node.
  gitOk(repo, ['checkout', '-q', 'side']);
  commit(repo, { 'side.txt': 'y\n' });
  cli.reset();
  gitOk(repo, ['checkout', '-q', 'side']);
  gitOk(repo, ['merge', '-q', '--no-commit', '--no-ff', 'main']);
  t.is(git(repo, ['commit', '-q', '--no-edit']).status, 0);
  t.deepEqual(cli.calls(), []);
});

test('post-commit: commits replayed by a rebase do not start the CLI; ordinary commits still do', async (t) => {
  const { repo, cli } = await setup();
  const base = gitOk(repo, ['rev-parse', 'HEAD']).trim();
  gitOk(repo, ['checkout', '-q', '-b', 'topic']);
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# one\n' }).status, 0);
  t.is(commit(repo, { 'kitty-specs/001-a/plan.md': '# two\n' }).status, 0);
  gitOk(repo, ['checkout', '-q', 'main']);
  t.is(commit(repo, { 'src/other.txt': 'x\n' }).status, 0);
  const before = hookCalls(cli.calls(), 'post-commit').length;
  t.is(before, 2);
  gitOk(repo, ['checkout', '-q', 'topic']);
  gitOk(repo, ['rebase', '-q', 'main']);
  t.not(gitOk(repo, ['merge-base', 'HEAD', 'main']).trim(), base, 'the topic branch was rebased');
  t.is(hookCalls(cli.calls(), 'post-commit').length, before, 'no agent for the replayed commits');
  t.is(commit(repo, { 'kitty-specs/001-a/tasks.md': '# three\n' }).status, 0);
  t.is(hookCalls(cli.calls(), 'post-commit').length, before + 1);
});

test('post-commit: a rebase in a linked worktree (.git is a file there) does not start the CLI either', async (t) => {
  const { repo, cli } = await setup();
  const wt = path.join(temp.make(), 'wt');
  gitOk(repo, ['worktree', 'add', '-q', '-b', 'topic', wt]);
  t.is(commit(wt, { 'kitty-specs/001-a/spec.md': '# one\n' }).status, 0);
  t.is(commit(repo, { 'src/other.txt': 'x\n' }).status, 0);
  const before = hookCalls(cli.calls(), 'post-commit').length;
  t.is(before, 1);
  gitOk(wt, ['rebase', '-q', 'main']);
  t.is(hookCalls(cli.calls(), 'post-commit').length, before, 'no agent for the replayed commit');
  t.is(commit(wt, { 'kitty-specs/001-a/plan.md': '# two\n' }).status, 0);
  t.is(hookCalls(cli.calls(), 'post-commit').length, before + 1);
});

test('post-commit: the pending marker starts the CLI even without kitty-specs/ changes', async (t) => {
  const { repo, cli } = await setup();
  writeFileSync(path.join(commonDir(repo), 'kitty-sync', 'pending'), '');
  commit(repo, { 'src/a.txt': 'a\n' });
  t.is(hookCalls(cli.calls(), 'post-commit').length, 1);
});

test('post-commit: a marker that holds the queue (the server is away) starts the CLI only for kitty-specs/ changes, until the hold ends', async (t) => {
  const { repo, cli } = await setup();
  const marker = path.join(commonDir(repo), 'kitty-sync', 'pending');
  writeFileSync(marker, `hold_until=${Date.now() + 600_000}\npending=3\n`);
  commit(repo, { 'src/a.txt': 'a\n' });
  t.deepEqual(cli.calls(), [], 'held: nothing could be sent, so a commit outside kitty-specs/ does not start Node');
  commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' });
  t.is(hookCalls(cli.calls(), 'post-commit').length, 1, 'a kitty-specs/ change is still captured');
  writeFileSync(marker, `hold_until=${Date.now() - 1000}\npending=3\n`);
  commit(repo, { 'src/b.txt': 'b\n' });
  t.is(hookCalls(cli.calls(), 'post-commit').length, 2, 'the hold is over: pending work starts the CLI again');
  for (const text of ['hold_until=0\n', 'hold_until=garbage\n', 'something else\n']) {
    writeFileSync(marker, text);
    commit(repo, { [`src/${text.length}.txt`]: 'c\n' });
  }
  t.is(hookCalls(cli.calls(), 'post-commit').length, 5, 'no hold, or one the launcher cannot read, starts the CLI');
});

test('post-commit: the marker is looked for in KITTY_SYNC_HOME when set', async (t) => {
  const { repo, cli } = await setup();
  const home = temp.make();
  writeFileSync(path.join(home, 'pending'), '');
  commit(repo, { 'src/a.txt': 'a\n' });
  t.deepEqual(cli.calls(), [], 'no marker in the default state dir');
  commit(repo, { 'src/b.txt': 'b\n' }, { KITTY_SYNC_HOME: home });
  t.is(hookCalls(cli.calls(), 'post-commit').length, 1);
});

/** Writes the branch's watermark as the agent would (lib/watermark.ts). */
function setWatermark(repo: string, branch: string, sha: string): void {
  const file = path.join(commonDir(repo), 'kitty-sync', 'watermark', ...branch.split('/'));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${sha}\n`);
}

test('post-commit watermark: nothing under kitty-specs/ differs from the watermark, no CLI; a change since it (in any commit) starts the CLI with --since', async (t) => {
  const { repo, cli } = await setup();
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# one\n' }).status, 0);
  const captured = gitOk(repo, ['rev-parse', 'HEAD']).trim();
  setWatermark(repo, 'main', captured);
  cli.reset();
  // A commit the hook skipped (KITTY_SYNC=0) changed kitty-specs/ after the watermark ...
  t.is(commit(repo, { 'kitty-specs/001-a/plan.md': '# skipped\n' }, { KITTY_SYNC: '0' }).status, 0);
  // ... so the next commit, touching nothing there itself, still starts the agent, from the watermark.
  t.is(commit(repo, { 'src/a.txt': 'a\n' }).status, 0);
  t.deepEqual(
    hookCalls(cli.calls(), 'post-commit').map((c) => c.argv),
    [['hook', 'post-commit', '--since', captured]],
  );
  // Caught up: the watermark is HEAD; a commit without kitty-specs/ changes starts nothing.
  setWatermark(repo, 'main', gitOk(repo, ['rev-parse', 'HEAD']).trim());
  cli.reset();
  t.is(commit(repo, { 'src/b.txt': 'b\n' }).status, 0);
  t.deepEqual(cli.calls(), []);
});

test('post-commit watermark: a branch name with a slash, in a linked worktree (.git is a file), read without git', async (t) => {
  const { repo, cli } = await setup();
  const wt = path.join(path.dirname(repo), `${path.basename(repo)}-wt`);
  gitOk(repo, ['worktree', 'add', '-q', '-b', 'feature/x', wt]);
  t.is(commit(wt, { 'kitty-specs/001-a/spec.md': '# one\n' }).status, 0);
  setWatermark(repo, 'feature/x', gitOk(wt, ['rev-parse', 'HEAD']).trim());
  cli.reset();
  t.is(commit(wt, { 'src/a.txt': 'a\n' }).status, 0);
  t.deepEqual(cli.calls(), [], 'nothing under kitty-specs/ since the watermark');
  t.is(commit(wt, { 'kitty-specs/001-a/spec.md': '# two\n' }).status, 0);
  t.is(hookCalls(cli.calls(), 'post-commit').length, 1);
});

test('post-commit watermark: a watermark git no longer knows (history rewritten, pruned) falls through to the agent', async (t) => {
  const { repo, cli } = await setup();
  setWatermark(repo, 'main', 'f'.repeat(40));
  t.is(commit(repo, { 'src/a.txt': 'a\n' }).status, 0);
  t.deepEqual(
    hookCalls(cli.calls(), 'post-commit').map((c) => c.argv),
    [['hook', 'post-commit', '--since', 'f'.repeat(40)]],
  );
});

test('KITTY_SYNC=0: neither hook starts the CLI', async (t) => {
  const { repo, cli } = await setup();
  const bare = path.join(temp.make(), 'remote.git');
  gitOk(repo, ['init', '-q', '--bare', bare]);
  gitOk(repo, ['remote', 'add', 'origin', bare]);
  writeFileSync(path.join(commonDir(repo), 'kitty-sync', 'pending'), '');
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' }, { KITTY_SYNC: '0' }).status, 0);
  t.is(git(repo, ['push', '-q', 'origin', 'main'], { KITTY_SYNC: '0' }).status, 0);
  t.deepEqual(cli.calls(), []);
});

test('the agent removed (CLI or node gone): each hook says in one stderr line that kitty-sync is disabled and `kitty-sync install` fixes it; Git succeeds', async (t) => {
  // Issue 12 item 13: they used to step aside silently, so nobody knew the dashboard stopped updating.
  const { repo, cli } = await setup();
  const bare = path.join(temp.make(), 'remote.git');
  gitOk(repo, ['-c', 'init.defaultBranch=main', 'init', '-q', '--bare', bare]);
  gitOk(repo, ['remote', 'add', 'origin', bare]);
  rmSync(cli.cliPath);
  const disabled = (stderr: string, gone: string) => {
    const lines = stderr.split('\n').filter((l) => l !== '');
    t.is(lines.length, 1, stderr);
    t.regex(lines[0], /^kitty-sync: .*disabled/);
    t.true(lines[0].includes(gone), `names ${gone}: ${lines[0]}`);
    t.regex(lines[0], /run `kitty-sync install`/);
  };
  const r = commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' });
  t.is(r.status, 0);
  disabled(r.stderr, cli.cliPath);
  const p = git(repo, ['push', '-q', 'origin', 'main']);
  t.is(p.status, 0, p.stderr);
  disabled(p.stderr, cli.cliPath);
  // node gone: reinstall pointing at a node that does not exist.
  const cli2 = makeFakeCli(temp);
  await install({ repo, cliPath: cli2.cliPath, nodePath: '/nonexistent/node', skipProjectUuid: true });
  const r2 = commit(repo, { 'kitty-specs/001-a/plan.md': '# plan\n' });
  t.is(r2.status, 0);
  disabled(r2.stderr, '/nonexistent/node');
  t.deepEqual(cli2.calls(), []);
});

test('paths with spaces and quotes survive the substitution', async (t) => {
  const repo = makeRepo(temp);
  const dir = path.join(temp.make(), "odd dir 'q'");
  mkdirSync(dir);
  const cli = makeFakeCli(temp);
  const cliPath = path.join(dir, 'cli.mjs');
  writeFileSync(cliPath, readFileSync(cli.cliPath));
  await install({ repo, cliPath, skipProjectUuid: true });
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' }).status, 0);
  t.is(hookCalls(cli.calls(), 'post-commit').length, 1);
});

// --- pre-push -------------------------------------------------------------------------

async function withRemote() {
  const s = await setup();
  const bare = path.join(temp.make(), 'remote.git');
  gitOk(s.repo, ['-c', 'init.defaultBranch=main', 'init', '-q', '--bare', bare]);
  gitOk(s.repo, ['remote', 'add', 'origin', bare]);
  return { ...s, bare };
}

const sha = (repo: string, rev: string) => gitOk(repo, ['rev-parse', rev]).trim();

/** Commits under kitty-specs/, pushes a new branch, and checks the CLI got the remote, url and Git's exact stdin. */
function firstPushStartsCliWithGitsStdin(t: ExecutionContext, repo: string, cli: { reset(): void; calls(): CliCall[] }, bare: string): void {
  commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' });
  cli.reset();
  t.is(git(repo, ['push', '-q', 'origin', 'main']).status, 0);
  const calls = hookCalls(cli.calls(), 'pre-push');
  t.is(calls.length, 1);
  t.deepEqual(calls[0].argv, ['hook', 'pre-push', 'origin', bare]);
  t.is(calls[0].stdin, `refs/heads/main ${sha(repo, 'main')} refs/heads/main ${'0'.repeat(40)}\n`);
}

test("pre-push: a new branch touching kitty-specs/ starts the CLI with the remote, url and Git's exact stdin", async (t) => {
  const { repo, cli, bare } = await withRemote();
  firstPushStartsCliWithGitsStdin(t, repo, cli, bare);
});

test('pre-push: an existing branch is judged by the pushed range', async (t) => {
  const { repo, cli } = await withRemote();
  commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' });
  gitOk(repo, ['push', '-q', 'origin', 'main']);
  commit(repo, { 'src/a.txt': 'a\n' });
  cli.reset();
  t.is(git(repo, ['push', '-q', 'origin', 'main']).status, 0);
  t.deepEqual(cli.calls(), [], 'range without kitty-specs/ changes: no Node');

  const before = sha(repo, 'main');
  commit(repo, { 'kitty-specs/001-a/plan.md': '# plan\n' }, { KITTY_SYNC: '0' });
  commit(repo, { 'src/b.txt': 'b\n' });
  cli.reset();
  t.is(git(repo, ['push', '-q', 'origin', 'main']).status, 0);
  const calls = hookCalls(cli.calls(), 'pre-push');
  t.is(calls.length, 1, 'a kitty-specs/ change anywhere in the range counts, even if made with KITTY_SYNC=0');
  t.is(calls[0].stdin, `refs/heads/main ${sha(repo, 'main')} refs/heads/main ${before}\n`);
});

test('pre-push: a new branch whose commits are all on the remote already does not start the CLI', async (t) => {
  const { repo, cli } = await withRemote();
  commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' });
  gitOk(repo, ['push', '-q', 'origin', 'main']);
  gitOk(repo, ['checkout', '-q', '-b', 'feature/x']);
  commit(repo, { 'src/a.txt': 'a\n' });
  cli.reset();
  t.is(git(repo, ['push', '-q', 'origin', 'feature/x']).status, 0);
  t.deepEqual(cli.calls(), []);

  gitOk(repo, ['checkout', '-q', '-b', 'feature/y']);
  commit(repo, { 'kitty-specs/002-b/spec.md': '# b\n' }, { KITTY_SYNC: '0' });
  cli.reset();
  t.is(git(repo, ['push', '-q', 'origin', 'feature/y']).status, 0);
  t.is(hookCalls(cli.calls(), 'pre-push').length, 1);
});

test('pre-push: deletions are ignored', async (t) => {
  const { repo, cli } = await withRemote();
  gitOk(repo, ['checkout', '-q', '-b', 'gone']);
  commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' });
  gitOk(repo, ['push', '-q', 'origin', 'gone']);
  gitOk(repo, ['checkout', '-q', 'main']);
  cli.reset();
  t.is(git(repo, ['push', '-q', 'origin', ':gone']).status, 0);
  t.deepEqual(cli.calls(), []);
});

test('pre-push: a remote sha unknown locally is assumed to touch kitty-specs/', async (t) => {
  const { repo, cli } = await withRemote();
  gitOk(repo, ['push', '-q', 'origin', 'main']);
  // Someone else pushed to the remote; we force-push over a commit we never fetched.
  const other = path.join(temp.make(), 'other');
  gitOk(repo, ['clone', '-q', gitOk(repo, ['remote', 'get-url', 'origin']).trim(), other]);
  commit(other, { 'x.txt': 'x\n' });
  gitOk(other, ['push', '-q', 'origin', 'main']);
  commit(repo, { 'y.txt': 'y\n' });
  cli.reset();
  t.is(git(repo, ['push', '-q', '--force', 'origin', 'main']).status, 0);
  t.is(hookCalls(cli.calls(), 'pre-push').length, 1);
});

test('pre-push: the pending marker starts the CLI, and a failing CLI never blocks the push', async (t) => {
  const { repo, cli } = await withRemote();
  gitOk(repo, ['push', '-q', 'origin', 'main']);
  writeFileSync(path.join(commonDir(repo), 'kitty-sync', 'pending'), '');
  writeFileSync(cli.cliPath, `${readFileSync(cli.cliPath, 'utf8')}\nprocess.exit(3);\n`);
  commit(repo, { 'src/a.txt': 'a\n' });
  cli.reset();
  t.is(git(repo, ['push', '-q', 'origin', 'main']).status, 0);
  t.is(hookCalls(cli.calls(), 'pre-push').length, 1);
});

// --- pre-existing hooks --------------------------------------------------------------

function recordingHook(file: string, log: string, exitCode: number): void {
  writeFileSync(file, `#!/bin/sh\necho "args: $*" >> '${log}'\ncat >> '${log}'\nexit ${exitCode}\n`);
  chmodSync(file, 0o755);
}

test('a pre-existing post-commit hook still runs, with its arguments, before ours', async (t) => {
  const repo = makeRepo(temp);
  const cli = makeFakeCli(temp);
  const log = path.join(temp.make(), 'orig.log');
  recordingHook(path.join(repo, '.git', 'hooks', 'post-commit'), log, 0);
  await install({ repo, cliPath: cli.cliPath, skipProjectUuid: true });
  t.is(commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' }).status, 0);
  t.regex(readFileSync(log, 'utf8'), /^args: \n/);
  t.is(hookCalls(cli.calls(), 'post-commit').length, 1);
});

test('a pre-existing pre-push hook gets the same stdin as ours; if it fails, the push fails', async (t) => {
  const { repo, cli } = await withRemote();
  // The original hook replaced by install; reinstall after creating it.
  const hook = path.join(repo, '.git', 'hooks', 'pre-push');
  rmSync(hook);
  const log = path.join(temp.make(), 'orig.log');
  recordingHook(hook, log, 0);
  await install({ repo, cliPath: cli.cliPath, skipProjectUuid: true });
  commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' });
  cli.reset();
  t.is(git(repo, ['push', '-q', 'origin', 'main']).status, 0);
  const calls = hookCalls(cli.calls(), 'pre-push');
  t.is(calls.length, 1);
  const bare = gitOk(repo, ['remote', 'get-url', 'origin']).trim();
  t.is(readFileSync(log, 'utf8'), `args: origin ${bare}\n${calls[0].stdin}`);

  // Now the original refuses: the push fails and our agent is not started.
  recordingHook(`${hook}.kitty-sync-orig`, log, 1);
  commit(repo, { 'kitty-specs/001-a/plan.md': '# plan\n' });
  cli.reset();
  const r = git(repo, ['push', '-q', 'origin', 'main']);
  t.not(r.status, 0);
  t.deepEqual(hookCalls(cli.calls(), 'pre-push'), []);
  t.not(gitOk(repo, ['rev-parse', 'main']).trim(), gitOk(repo, ['ls-remote', 'origin', 'refs/heads/main']).split('\t')[0]);
});

test('pre-push launcher with empty stdin (another husky command read it): falls back to local branches not on the remote', async (t) => {
  const { repo, cli, bare } = await withRemote();
  const launcher = path.join(commonDir(repo), 'kitty-sync', 'hooks', 'pre-push');
  const run = () => spawnSync('sh', [launcher, 'origin', bare], { cwd: repo, env: gitEnv(), input: '', encoding: 'utf8' });
  commit(repo, { 'src/a.txt': 'a\n' });
  gitOk(repo, ['push', '-q', 'origin', 'main']);
  cli.reset();
  t.is(run().status, 0);
  t.deepEqual(cli.calls(), [], 'everything is on the remote');
  commit(repo, { 'kitty-specs/001-a/spec.md': '# spec\n' }, { KITTY_SYNC: '0' });
  t.is(run().status, 0);
  const calls = hookCalls(cli.calls(), 'pre-push');
  t.is(calls.length, 1);
  t.is(calls[0].stdin, '');
});

test("husky-managed repository: pre-push through the real husky wrapper gets Git's stdin", async (t) => {
  const repo = makeRepo(temp);
  execFileSync(process.execPath, [fileURLToPath(new URL('../../../node_modules/husky/bin.js', import.meta.url))], { cwd: repo, env: gitEnv() });
  const cli = makeFakeCli(temp);
  await install({ repo, cliPath: cli.cliPath, skipProjectUuid: true });
  const bare = path.join(temp.make(), 'remote.git');
  gitOk(repo, ['-c', 'init.defaultBranch=main', 'init', '-q', '--bare', bare]);
  gitOk(repo, ['remote', 'add', 'origin', bare]);
  firstPushStartsCliWithGitsStdin(t, repo, cli, bare);
});
