// Install layouts end to end: the real husky, pre-existing hooks that must keep running
// (and keep their verdict), and uninstall restoring the hooks exactly.
import test from 'ava';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, cli, run } from '../support/proc.js';
import { git, gitOk, writeFiles } from '../support/git.js';
import { addBareRemote, blobAt, commit, feature, fileReceiver, type HookRepo, installHooks, namespace, newRepo, OFF, onlineEnv, summaryOf } from '../support/hooks.js';

const HUSKY_BIN = fileURLToPath(new URL('../../../node_modules/.bin/husky', import.meta.url));

const receiver = fileReceiver(test);

const online = (): NodeJS.ProcessEnv => onlineEnv(receiver().url);

async function fresh(t: { teardown(fn: () => Promise<void>): void }): Promise<HookRepo> {
  const repo = await newRepo();
  t.teardown(repo.cleanup);
  return repo;
}

async function assertDelivered(t: { deepEqual(a: unknown, b: unknown, m?: string): void }, repo: HookRepo, slug: string, rev: string, paths: string[]): Promise<void> {
  for (const p of paths) {
    const got = await receiver().latestContent(namespace(repo.uuid, slug), p);
    t.deepEqual(got === null ? null : Buffer.from(got, 'utf8'), await blobAt(repo.root, rev, `kitty-specs/${slug}/${p}`), `${slug}/${p}`);
  }
}

/** Every entry under dir: relative path -> mode and bytes (symlinks: their target). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const full = path.join(d, name);
      const st = lstatSync(full);
      const rel = path.relative(dir, full);
      if (st.isDirectory()) {
        out[`${rel}/`] = (st.mode & 0o7777).toString(8);
        walk(full);
      } else {
        out[rel] = `${(st.mode & 0o7777).toString(8)} ${readFileSync(full).toString('base64')}`;
      }
    }
  };
  walk(dir);
  return out;
}

test('husky-managed repository (real husky): a commit and a push deliver; .husky/_ untouched', async (t) => {
  const repo = await fresh(t);
  const h = await run(HUSKY_BIN, [], { cwd: repo.root, env: cleanEnv() });
  t.is(h.code, 0, h.stdout + h.stderr);
  t.is((await gitOk(repo.root, ['config', 'core.hooksPath'])).trim(), '.husky/_');
  const huskyInternals = snapshot(path.join(repo.root, '.husky', '_'));
  const inst = await installHooks(repo.root);
  t.regex(inst.stdout, /husky/);
  t.deepEqual(snapshot(path.join(repo.root, '.husky', '_')), huskyInternals);
  t.false(existsSync(path.join(repo.root, '.git', 'hooks', 'post-commit')), 'nothing written where Git does not look');

  const slug = '020-husky';
  await writeFiles(repo.root, feature(slug));
  const c = await commit(repo.root, 'husky commit', online());
  t.deepEqual(summaryOf(c.stderr, slug), { uploaded: 3, already_exists: 0, queued: 0, skipped: 1, failed: 0 }, c.stderr);
  await assertDelivered(t, repo, slug, c.sha, ['spec.md', 'plan.md', 'tasks/WP01-first.md']);

  // pre-push through husky's wrapper: a commit made with kitty-sync off is delivered by the push.
  await addBareRemote(repo);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/plan.md`]: '# plan pushed through husky\n' });
  const c2 = await commit(repo.root, 'off', OFF);
  const push = await git(repo.root, ['push', '-u', 'origin', 'main'], online());
  t.is(push.code, 0, push.stderr);
  t.is(summaryOf(push.stderr, slug)?.uploaded, 1, push.stderr);
  await assertDelivered(t, repo, slug, c2.sha, ['plan.md']);
});

test("pre-existing post-commit and pre-push hooks keep running (with Git's stdin) alongside kitty-sync", async (t) => {
  const repo = await fresh(t);
  const hooks = path.join(repo.root, '.git', 'hooks');
  const trace = path.join(repo.base, 'user-hooks.log');
  writeFileSync(path.join(hooks, 'post-commit'), `#!/bin/sh\necho "post-commit $(git rev-parse HEAD)" >> ${JSON.stringify(trace)}\n`);
  writeFileSync(path.join(hooks, 'pre-push'), `#!/bin/sh\necho "pre-push $1 $2" >> ${JSON.stringify(trace)}\ncat >> ${JSON.stringify(trace)}\nexit 0\n`);
  chmodSync(path.join(hooks, 'post-commit'), 0o755);
  chmodSync(path.join(hooks, 'pre-push'), 0o755);
  await installHooks(repo.root);
  const bare = await addBareRemote(repo);

  const slug = '021-chained';
  await writeFiles(repo.root, feature(slug));
  const c1 = await commit(repo.root, 'chained', online());
  t.is(summaryOf(c1.stderr, slug)?.uploaded, 3, c1.stderr);
  await writeFiles(repo.root, { [`kitty-specs/${slug}/spec.md`]: '# spec v2, committed with kitty-sync off\n' });
  const c2 = await commit(repo.root, 'off', OFF);
  const push = await git(repo.root, ['push', 'origin', 'main'], online());
  t.is(push.code, 0, push.stderr);
  t.is(summaryOf(push.stderr, slug)?.uploaded, 1, push.stderr);
  await assertDelivered(t, repo, slug, c2.sha, ['spec.md']);
  await assertDelivered(t, repo, slug, c1.sha, ['plan.md']);

  // The user's hooks ran every time, KITTY_SYNC=0 included, and pre-push saw Git's ref lines.
  t.deepEqual(readFileSync(trace, 'utf8').split('\n'), [`post-commit ${c1.sha}`, `post-commit ${c2.sha}`, `pre-push origin ${bare}`, `refs/heads/main ${c2.sha} refs/heads/main ${'0'.repeat(40)}`, '']);
});

test('a failing pre-existing pre-push still blocks the push, and nothing is synced', async (t) => {
  const repo = await fresh(t);
  const prePush = path.join(repo.root, '.git', 'hooks', 'pre-push');
  writeFileSync(prePush, '#!/bin/sh\necho "lint failed" >&2\nexit 3\n');
  chmodSync(prePush, 0o755);
  await installHooks(repo.root);
  await addBareRemote(repo);
  const slug = '022-blocked';
  await writeFiles(repo.root, feature(slug));
  await commit(repo.root, 'off', OFF);

  const push = await git(repo.root, ['push', 'origin', 'main'], online());
  t.not(push.code, 0);
  t.regex(push.stderr, /lint failed/);
  t.notRegex(push.stderr, /kitty-sync: /);
  t.is((await git(repo.base, ['--git-dir', 'remote.git', 'rev-parse', '--verify', '-q', 'main'])).stdout, '');
  t.is(
    receiver()
      .artifacts()
      .filter((a) => a.namespace.project_uuid === repo.uuid).length,
    0,
  );
});

test('uninstall leaves the hooks directory byte for byte as before install (plain and husky)', async (t) => {
  // Plain hooks dir with a pre-existing hook and Git's samples.
  const repo = await fresh(t);
  const hooks = path.join(repo.root, '.git', 'hooks');
  writeFileSync(path.join(hooks, 'pre-push'), '#!/bin/sh\nexit 0\n');
  chmodSync(path.join(hooks, 'pre-push'), 0o750);
  const before = snapshot(hooks);
  await installHooks(repo.root);
  t.notDeepEqual(snapshot(hooks), before);
  await writeFiles(repo.root, feature('023-uninstall'));
  const c = await commit(repo.root, 'with hooks', online());
  t.is(summaryOf(c.stderr, '023-uninstall')?.uploaded, 3, c.stderr);
  const un = await cli(repo.root, ['uninstall', '--repo', repo.root]);
  t.is(un.code, 0, un.stderr);
  t.deepEqual(snapshot(hooks), before);
  t.false(existsSync(path.join(repo.stateDir, 'hooks')), 'launchers removed');
  // And the hooks are really gone: a commit no longer syncs.
  await writeFiles(repo.root, { 'kitty-specs/023-uninstall/spec.md': '# after uninstall\n' });
  const after = await commit(repo.root, 'without hooks', online());
  t.notRegex(after.stderr, /kitty-sync/);

  // husky: the user's .husky scripts are restored exactly.
  const hrepo = await fresh(t);
  t.is((await run(HUSKY_BIN, [], { cwd: hrepo.root, env: cleanEnv() })).code, 0);
  writeFileSync(path.join(hrepo.root, '.husky', 'pre-push'), 'npm test'); // no final newline
  const huskyBefore = snapshot(path.join(hrepo.root, '.husky'));
  await installHooks(hrepo.root);
  t.notDeepEqual(snapshot(path.join(hrepo.root, '.husky')), huskyBefore);
  const hun = await cli(hrepo.root, ['uninstall', '--repo', hrepo.root]);
  t.is(hun.code, 0, hun.stderr);
  t.deepEqual(snapshot(path.join(hrepo.root, '.husky')), huskyBefore);
});
