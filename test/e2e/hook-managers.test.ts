// Other hook managers (issue 13 item 4), with the real tools: lefthook (npm) and the pre-commit
// framework (Debian's package; .ci/run installs it). For each, kitty-sync is installed before and
// after the manager, real commits and pushes run both (each exactly once), reinstalling the manager
// keeps both, and `kitty-sync uninstall` leaves the manager working.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, cli, PROJECT_ROOT, run } from '../support/proc.js';
import { git, gitOk, writeFiles } from '../support/git.js';
import { addBareRemote, commit, feature, fileReceiver, type HookRepo, installHooks, newRepo, OFF, onlineEnv } from '../support/hooks.js';

// The tests run at the same time: each has its own repository, remote, PRE_COMMIT_HOME, project uuid
// and feature, and each is one long chain of processes (hooks, managers, pushes), so one at a time
// left a core idle. They share only the receiver, where their namespaces differ.
const receiver = fileReceiver(test);
const LEFTHOOK = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'lefthook');

const LEFTHOOK_YML = `# the team's lefthook configuration
pre-commit:
  commands:
    lint:
      run: echo LEFTHOOK-PRE-COMMIT-RAN
post-commit:
  commands:
    notify:
      run: echo LEFTHOOK-POST-COMMIT-RAN
pre-push:
  commands:
    tests:
      run: echo LEFTHOOK-PRE-PUSH-RAN
`;

const PRE_COMMIT_YAML = `repos:
  - repo: local
    hooks:
      - id: after-commit
        name: after-commit
        entry: echo PRECOMMIT-POST-COMMIT-RAN
        language: system
        always_run: true
        pass_filenames: false
        stages: [post-commit]
      - id: before-push
        name: before-push
        entry: echo PRECOMMIT-PRE-PUSH-RAN
        language: system
        always_run: true
        pass_filenames: false
        stages: [push]
`;

/** How many times kitty-sync's summary for `slug` appears: once per hook run. */
function runs(out: string, slug: string): number {
  return out.split('\n').filter((l) => l.startsWith(`kitty-sync: ${slug}: `)).length;
}

function both(p: { stdout: string; stderr: string }): string {
  return `${p.stdout}\n${p.stderr}`;
}

async function tool(_t: unknown, cmd: string, args: string[], repo: HookRepo, env: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(cmd, args, { cwd: repo.root, env: cleanEnv(env) });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return both(r);
}

/** A repository whose team configuration for the manager is committed (as in any repo that uses it). */
async function managedRepo(t: { teardown(fn: () => unknown): void }, files: Record<string, string>): Promise<HookRepo> {
  const repo = await newRepo();
  t.teardown(() => repo.cleanup());
  await addBareRemote(repo);
  await writeFiles(repo.root, files);
  await commit(repo.root, 'team setup', OFF);
  await gitOk(repo.root, ['push', '-q', 'origin', 'main'], OFF);
  return repo;
}

/** Commits a new version of a feature and checks who ran; then the same for a push. */
function commitAndPush(
  t: import('ava').ExecutionContext,
  repo: HookRepo,
  slug: string,
  tag: string,
  expect: { kittySync: boolean; managerCommit: RegExp | null; managerPush: RegExp | null; push?: boolean },
): Promise<string> {
  return commitAndPushWith(t, repo, slug, tag, expect, {});
}

const lefthookEnv = { NO_COLOR: '1', LEFTHOOK_BIN: LEFTHOOK };

test('lefthook installed first, then kitty-sync: both run once per commit and push; reinstalling lefthook keeps both; uninstall leaves lefthook', async (t) => {
  const repo = await managedRepo(t, { 'lefthook.yml': LEFTHOOK_YML });
  await tool(t, LEFTHOOK, ['install'], repo, lefthookEnv);
  const install = await installHooks(repo.root);
  t.regex(install.stdout, /lefthook local configuration/);
  t.true(existsSync(path.join(repo.root, 'lefthook-local.yml')));
  // Machine-local: ignored through .git/info/exclude, so it never shows as untracked.
  t.is(await gitOk(repo.root, ['status', '--porcelain']), '');
  const lefthookYml = readFileSync(path.join(repo.root, 'lefthook.yml'), 'utf8');
  t.is(lefthookYml, LEFTHOOK_YML, 'the committed lefthook.yml is untouched');

  const manager = { managerCommit: /LEFTHOOK-POST-COMMIT-RAN/, managerPush: /LEFTHOOK-PRE-PUSH-RAN/ };
  await commitAndPush(t, repo, '001-lefthook-first', 'v1', { kittySync: true, ...manager });

  // `npm install` reruns lefthook's install: nothing of kitty-sync's is lost.
  await tool(t, LEFTHOOK, ['install'], repo, lefthookEnv);
  await commitAndPush(t, repo, '001-lefthook-first', 'v2', { kittySync: true, ...manager, push: false });

  const un = await cli(repo.root, ['uninstall']);
  t.is(un.code, 0, un.stderr);
  t.false(existsSync(path.join(repo.root, 'lefthook-local.yml')), 'the local configuration install created is gone');
  t.false(readFileSync(path.join(repo.stateDir, '..', 'info', 'exclude'), 'utf8').includes('lefthook-local.yml'));
  await commitAndPush(t, repo, '001-lefthook-first', 'v3', { kittySync: false, ...manager });
  t.is(readFileSync(path.join(repo.root, 'lefthook.yml'), 'utf8'), LEFTHOOK_YML);
});

test('kitty-sync installed first, then lefthook: both run once; lefthook uninstall hands the hooks back to kitty-sync; kitty-sync uninstall leaves lefthook', async (t) => {
  const repo = await managedRepo(t, { 'lefthook.yml': LEFTHOOK_YML });
  await installHooks(repo.root);
  // Before lefthook's hooks exist, kitty-sync's own shims run.
  await commitAndPush(t, repo, '002-kitty-first', 'v1', { kittySync: true, managerCommit: null, managerPush: null, push: false });

  const lh = await tool(t, LEFTHOOK, ['install'], repo, lefthookEnv);
  t.regex(lh, /sync hooks/);
  const manager = { managerCommit: /LEFTHOOK-POST-COMMIT-RAN/, managerPush: /LEFTHOOK-PRE-PUSH-RAN/ };
  await commitAndPush(t, repo, '002-kitty-first', 'v2', { kittySync: true, ...manager });

  // lefthook uninstall restores the hooks it moved aside: kitty-sync's shims, which keep working.
  await tool(t, LEFTHOOK, ['uninstall'], repo, lefthookEnv);
  await commitAndPush(t, repo, '002-kitty-first', 'v3', { kittySync: true, managerCommit: null, managerPush: null, push: false });
  await tool(t, LEFTHOOK, ['install'], repo, lefthookEnv);

  const un = await cli(repo.root, ['uninstall']);
  t.is(un.code, 0, un.stderr);
  await commitAndPush(t, repo, '002-kitty-first', 'v4', { kittySync: false, ...manager, push: false });
  // lefthook can still reinstall itself (no leftover .old of ours in its way).
  await tool(t, LEFTHOOK, ['install'], repo, lefthookEnv);
});

function preCommitEnv(repo: HookRepo): NodeJS.ProcessEnv {
  // pre-commit keeps its cache under PRE_COMMIT_HOME; local `language: system` hooks need no network.
  return { PRE_COMMIT_HOME: path.join(repo.base, 'pre-commit-home') };
}

function preCommitBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v pre-commit'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('pre-commit is not installed: `apt-get install -y pre-commit` (.ci/run does it)');
  }
}

test('pre-commit installed first, then kitty-sync (as <hook>.legacy): both run once; reinstalling pre-commit keeps both; uninstall leaves pre-commit', async (t) => {
  const bin = preCommitBinary();
  const repo = await managedRepo(t, { '.pre-commit-config.yaml': PRE_COMMIT_YAML });
  const env = preCommitEnv(repo);
  await tool(t, bin, ['install', '-t', 'post-commit', '-t', 'pre-push'], repo, env);
  const install = await installHooks(repo.root);
  t.regex(install.stdout, /run by pre-commit/);
  t.true(existsSync(path.join(repo.root, '.git', 'hooks', 'post-commit.legacy')));

  const manager = { managerCommit: /after-commit\.+Passed/, managerPush: /before-push\.+Passed/ };
  const withEnv = (tag: string, kittySync: boolean, push = true) => commitAndPushWith(t, repo, '003-precommit-first', tag, { kittySync, ...manager, push }, env);
  await withEnv('v1', true);
  await tool(t, bin, ['install', '-t', 'post-commit', '-t', 'pre-push'], repo, env);
  await withEnv('v2', true, false);

  const un = await cli(repo.root, ['uninstall']);
  t.is(un.code, 0, un.stderr);
  t.false(existsSync(path.join(repo.root, '.git', 'hooks', 'post-commit.legacy')));
  await withEnv('v3', false);
});

test('kitty-sync installed first (over a hook of the user), then pre-commit: all three run; uninstalls restore the user hook byte for byte', async (t) => {
  const bin = preCommitBinary();
  const repo = await managedRepo(t, { '.pre-commit-config.yaml': PRE_COMMIT_YAML });
  const env = preCommitEnv(repo);
  const userHook = path.join(repo.root, '.git', 'hooks', 'post-commit');
  const userScript = '#!/bin/sh\necho USER-POST-COMMIT-RAN\n';
  writeFileSync(userHook, userScript, { mode: 0o755 });
  await installHooks(repo.root);
  const pc = await tool(t, bin, ['install', '-t', 'post-commit', '-t', 'pre-push'], repo, env);
  t.regex(pc, /migration mode/);

  const c = await commitAndPushWith(t, repo, '004-kitty-first', 'v1', { kittySync: true, managerCommit: /after-commit\.+Passed/, managerPush: /before-push\.+Passed/ }, env);
  t.regex(c, /USER-POST-COMMIT-RAN/);

  const un = await cli(repo.root, ['uninstall']);
  t.is(un.code, 0, un.stderr);
  const after = await commitOnly(repo, '004-kitty-first', 'v2', env);
  t.regex(after, /USER-POST-COMMIT-RAN/);
  t.regex(after, /after-commit\.+Passed/);
  t.is(runs(after, '004-kitty-first'), 0);

  await tool(t, bin, ['uninstall', '-t', 'post-commit', '-t', 'pre-push'], repo, env);
  t.is(readFileSync(userHook, 'utf8'), userScript, "the user's hook is back in place, byte for byte");
});

async function commitAndPushWith(
  t: import('ava').ExecutionContext,
  repo: HookRepo,
  slug: string,
  tag: string,
  expect: { kittySync: boolean; managerCommit: RegExp | null; managerPush: RegExp | null; push?: boolean },
  extraEnv: NodeJS.ProcessEnv,
): Promise<string> {
  const env = { ...onlineEnv(receiver().url), ...extraEnv };
  await writeFiles(repo.root, feature(slug, { tag }));
  const c = await commit(repo.root, `commit ${tag}`, env);
  t.is(runs(both(c), slug), expect.kittySync ? 1 : 0, `commit ${tag}: kitty-sync runs\n${both(c)}`);
  if (expect.kittySync) t.regex(c.stderr, new RegExp(`kitty-sync: ${slug}: [1-9]\\d* uploaded`), both(c));
  if (expect.managerCommit) t.regex(both(c), expect.managerCommit, `commit ${tag}: the manager's hook\n${both(c)}`);
  if (expect.push === false) return both(c);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/plan.md`]: `# plan ${tag} pushed\n` });
  await commit(repo.root, `quiet ${tag}`, { ...OFF, ...extraEnv });
  const p = await git(repo.root, ['push', 'origin', 'main'], env);
  t.is(p.code, 0, both(p));
  t.is(runs(both(p), slug), expect.kittySync ? 1 : 0, `push ${tag}: kitty-sync runs\n${both(p)}`);
  if (expect.kittySync) t.regex(p.stderr, new RegExp(`kitty-sync: ${slug}: 1 uploaded`), both(p));
  if (expect.managerPush) t.regex(both(p), expect.managerPush, `push ${tag}: the manager's hook\n${both(p)}`);
  return both(c);
}

async function commitOnly(repo: HookRepo, slug: string, tag: string, extraEnv: NodeJS.ProcessEnv): Promise<string> {
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: `# spec ${tag}\n` });
  return both(await commit(repo.root, `commit ${tag}`, { ...onlineEnv(receiver().url), ...extraEnv }));
}

test('lefthook adopted after kitty-sync (no lefthook configuration when kitty-sync was installed): doctor names it, `kitty-sync install` again wires kitty-sync in', async (t) => {
  const repo = await newRepo();
  t.teardown(() => repo.cleanup());
  await addBareRemote(repo);
  await installHooks(repo.root);
  await commit(repo.root, 'uuid', OFF);
  // The team adopts lefthook later: its configuration arrives, and its install moves our shims aside.
  await writeFiles(repo.root, { 'lefthook.yml': LEFTHOOK_YML });
  await commit(repo.root, 'adopt lefthook', OFF);
  await tool(t, LEFTHOOK, ['install'], repo, lefthookEnv);
  const env = { KITTY_SYNC_SERVER_URL: receiver().url, KITTY_SYNC_TOKEN: '' };
  const before = JSON.parse((await cli(repo.root, ['doctor', '--json'], env)).stdout) as { checks: { id: string; ok: boolean; summary: string; fix: string | null }[] };
  const hooks = before.checks.find((c) => c.id === 'hooks')!;
  t.false(hooks.ok);
  t.regex(hooks.summary, /lefthook owns .*post-commit and its configuration does not run kitty-sync/);
  t.regex(hooks.fix ?? '', /kitty-sync install/);

  await installHooks(repo.root);
  const after = JSON.parse((await cli(repo.root, ['doctor', '--json'], env)).stdout) as { checks: { id: string; ok: boolean; summary: string }[] };
  t.regex(after.checks.find((c) => c.id === 'hooks')!.summary, /post-commit \(kitty-sync command in lefthook-local\.yml\)/);
  await commitAndPush(t, repo, '005-lefthook-later', 'v1', { kittySync: true, managerCommit: /LEFTHOOK-POST-COMMIT-RAN/, managerPush: /LEFTHOOK-PRE-PUSH-RAN/ });
});
