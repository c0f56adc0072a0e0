import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { headChanges, NotAGitRepoError, openRepo, openRepoEarly, parseLsTree } from '../../lib/collect/git.js';
import { commitAll, gitOk, makeRepo, writeFiles } from '../support/git.js';

test('openRepo finds root, git dir and common dir from a subdirectory', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 'x' });
  const repo = await openRepo(path.join(r.root, 'kitty-specs', '001-a'));
  t.is(repo.paths.root, r.root);
  t.is(repo.paths.gitDir, path.join(r.root, '.git'));
  t.is(repo.paths.commonDir, path.join(r.root, '.git'));
});

test('a linked worktree shares the common dir', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await commitAll(r, 'init');
  const wt = path.join(path.dirname(r.root), 'wt');
  await gitOk(r, ['worktree', 'add', '-q', wt, '-b', 'other']);
  const repo = await openRepo(wt);
  t.is(repo.paths.root, await realpath(wt));
  t.is(repo.paths.commonDir, path.join(r.root, '.git'));
  t.not(repo.paths.gitDir, repo.paths.commonDir);
  t.is(await repo.headBranch(), 'other');
});

test('openRepo outside a repository throws NotAGitRepoError', async (t) => {
  const dir = await mkdtemp(path.join(await realpath(tmpdir()), 'kitty-sync-nogit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.throwsAsync(openRepo(dir), { instanceOf: NotAGitRepoError });
});

test('revParse, headBranch', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  const sha = await commitAll(r, 'one');
  const repo = await openRepo(r.root);
  t.is(await repo.revParse('HEAD'), sha);
  t.is(await repo.revParse('main'), sha);
  t.is(await repo.revParse('nope'), null);
  t.is(await repo.revParse('HEAD~5'), null);
  t.is(await repo.headBranch(), 'main');
  // The branch is HEAD's when the repository was opened (asked in the same git call as headAtOpen).
  await gitOk(r, ['checkout', '-q', '--detach']);
  t.is(await repo.headBranch(), 'main');
  t.is(await (await openRepo(r.root)).headBranch(), null);
  await gitOk(r, ['checkout', '-q', '-b', 'feature/x']);
  t.is(await (await openRepo(r.root)).headBranch(), 'feature/x');
});

test('headBranch of an unborn HEAD is the branch it will be born on', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  const repo = await openRepo(r.root);
  t.is(repo.headAtOpen, null);
  t.is(await repo.headBranch(), 'main');
});

test('changedPaths: root commit lists all files; later commits vs first parent incl. deletions; odd names', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  const odd = 'kitty-specs/001-a/research/über notes\nline.md';
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': '1', 'kitty-specs/001-a/plan.md': 'p', 'README.md': 'r', [odd]: 'o' });
  const c1 = await commitAll(r, 'root');
  const repo = await openRepo(r.root);
  t.deepEqual((await repo.changedPaths(c1, { under: 'kitty-specs' })).sort(), ['kitty-specs/001-a/plan.md', odd, 'kitty-specs/001-a/spec.md'].sort());
  t.true((await repo.changedPaths(c1)).includes('README.md'));

  await writeFiles(r, { 'kitty-specs/001-a/spec.md': '2', 'kitty-specs/002-b/spec with space.md': 's', 'README.md': 'r2' });
  await gitOk(r, ['rm', '-q', 'kitty-specs/001-a/plan.md']);
  const c2 = await commitAll(r, 'second');
  t.deepEqual((await repo.changedPaths(c2, { under: 'kitty-specs' })).sort(), ['kitty-specs/001-a/plan.md', 'kitty-specs/001-a/spec.md', 'kitty-specs/002-b/spec with space.md']);
  t.deepEqual(await repo.changedPathsBetween(c1, c2, { under: 'kitty-specs/002-b' }), ['kitty-specs/002-b/spec with space.md']);
});

test('changedPaths of a merge compares with the first parent only', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': '1' });
  await commitAll(r, 'root');
  await gitOk(r, ['checkout', '-q', '-b', 'side']);
  await writeFiles(r, { 'kitty-specs/001-a/plan.md': 'side' });
  await commitAll(r, 'side');
  await gitOk(r, ['checkout', '-q', 'main']);
  await writeFiles(r, { 'kitty-specs/001-a/tasks.md': 'main' });
  await commitAll(r, 'main');
  await gitOk(r, ['merge', '-q', '--no-edit', 'side']);
  const repo = await openRepo(r.root);
  t.deepEqual(await repo.changedPaths('HEAD'), ['kitty-specs/001-a/plan.md']);
});

test('changedPathsInRevs: union over a range not yet on the remote', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': '1' });
  const base = await commitAll(r, 'root');
  await gitOk(r, ['update-ref', 'refs/remotes/origin/main', base]);
  await writeFiles(r, { 'kitty-specs/001-a/plan.md': 'p' });
  await commitAll(r, 'two');
  await writeFiles(r, { 'kitty-specs/002-b/spec.md': 's', 'other.txt': 'o' });
  await gitOk(r, ['rm', '-q', 'kitty-specs/001-a/spec.md']);
  const tip = await commitAll(r, 'three');
  const repo = await openRepo(r.root);
  t.deepEqual((await repo.changedPathsInRevs([tip, '--not', '--remotes=origin'], { under: 'kitty-specs' })).sort(), ['kitty-specs/001-a/plan.md', 'kitty-specs/001-a/spec.md', 'kitty-specs/002-b/spec.md']);
  t.deepEqual(await repo.changedPathsInRevs([base, '--not', '--remotes=origin']), []);
});

test('listTree: modes, kinds, sizes; symlinks and gitlinks', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 'hello', 'kitty-specs/001-a/contracts/ä b.json': '{}' });
  const first = await commitAll(r, 'root');
  const { symlink } = await import('node:fs/promises');
  await symlink('spec.md', path.join(r.root, 'kitty-specs/001-a/plan.md'));
  await gitOk(r, ['update-index', '--add', '--cacheinfo', `160000,${first},kitty-specs/001-a/research/sub`]);
  await gitOk(r, ['add', 'kitty-specs/001-a/plan.md']);
  await gitOk(r, ['commit', '-q', '-m', 'links']);
  const repo = await openRepo(r.root);
  const entries = await repo.listTree('HEAD', 'kitty-specs/001-a');
  const by = new Map(entries.map((e) => [e.path, e]));
  t.is(entries.length, 4);
  t.like(by.get('kitty-specs/001-a/spec.md'), { kind: 'blob', mode: '100644', size: 5 });
  t.like(by.get('kitty-specs/001-a/contracts/ä b.json'), { kind: 'blob', size: 2 });
  t.like(by.get('kitty-specs/001-a/plan.md'), { kind: 'symlink', mode: '120000' });
  t.like(by.get('kitty-specs/001-a/research/sub'), { kind: 'submodule', mode: '160000', objectId: first, size: 0 });
  t.deepEqual(await repo.listTree('HEAD', []), []);
  t.is((await repo.listTree('HEAD', ['kitty-specs/001-a/contracts', 'kitty-specs/none'])).length, 1);
  // Without sizes: the same entries, blob sizes null (a submodule's still 0).
  const bare = new Map((await repo.listTree('HEAD', 'kitty-specs/001-a', { sizes: false })).map((e) => [e.path, e]));
  t.deepEqual([...bare.keys()].sort(), [...by.keys()].sort());
  t.like(bare.get('kitty-specs/001-a/spec.md'), { kind: 'blob', mode: '100644', objectId: by.get('kitty-specs/001-a/spec.md')!.objectId, size: null });
  t.like(bare.get('kitty-specs/001-a/plan.md'), { kind: 'symlink', size: null });
  t.like(bare.get('kitty-specs/001-a/research/sub'), { kind: 'submodule', objectId: first, size: 0 });
});

test('parseLsTree tolerates tabs and newlines in names', (t) => {
  // git quotes such names (core.quotePath=true): "a\tb\nc.md".
  const out = '100644 blob aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa      12\t"a\\tb\\nc.md"\n';
  t.deepEqual(parseLsTree(out), [{ path: 'a\tb\nc.md', mode: '100644', kind: 'blob', objectId: 'a'.repeat(40), size: 12 }]);
});

test('remote default branch and url (no network)', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await commitAll(r, 'root');
  const repo = await openRepo(r.root);
  t.is(await repo.remoteDefaultBranch(), null);
  t.is(await repo.remoteUrl(), null);
  await gitOk(r, ['remote', 'add', 'origin', 'git@github.com:acme/widgets.git']);
  await gitOk(r, ['symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/release/2.x']);
  t.is(await repo.remoteDefaultBranch(), 'release/2.x');
  t.is(await repo.remoteUrl(), 'git@github.com:acme/widgets.git');
  t.is(await repo.remoteDefaultBranch('upstream'), null);
});

test('localBranches lists branches with their commits', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  const sha = await commitAll(r, 'root');
  await gitOk(r, ['branch', 'feature/x']);
  const repo = await openRepo(r.root);
  t.deepEqual(
    (await repo.localBranches()).sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: 'feature/x', sha },
      { name: 'main', sha },
    ],
  );
});

test('headChanges names the commit it compared and the paths under the directory, from any subdirectory', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'README.md': 'x', 'kitty-specs/001-a/spec.md': 'a', 'kitty-specs/001-a/plan.md': 'p' });
  const root = await commitAll(r, 'root');
  t.deepEqual(await headChanges(r.root, 'kitty-specs'), { commit: root, paths: ['kitty-specs/001-a/plan.md', 'kitty-specs/001-a/spec.md'] });

  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 'a2', 'src/x.txt': 'x' });
  const second = await commitAll(r, 'second');
  // The pathspec is anchored at the top, so a hook started in a subdirectory sees the same.
  t.deepEqual(await headChanges(path.join(r.root, 'kitty-specs', '001-a'), 'kitty-specs'), { commit: second, paths: ['kitty-specs/001-a/spec.md'] });

  await writeFiles(r, { 'src/y.txt': 'y' });
  const third = await commitAll(r, 'no specs');
  // Nothing changed under the directory: still the commit id, so the caller knows which HEAD it was.
  t.deepEqual(await headChanges(r.root, 'kitty-specs'), { commit: third, paths: [] });
});

test('openRepoEarly answers like openRepo and headChanges, and an error waits for its caller', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 'a' });
  const sha = await commitAll(r, 'root');
  const early = openRepoEarly(r.root, 'kitty-specs');
  t.is((await early.repo).headAtOpen, sha);
  t.deepEqual(await early.head, { commit: sha, paths: ['kitty-specs/001-a/spec.md'] });
  t.is(openRepoEarly(r.root, null).head, null);

  const dir = await mkdtemp(path.join(await realpath(tmpdir()), 'kitty-sync-nogit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const outside = openRepoEarly(dir, 'kitty-specs');
  await new Promise((resolve) => setTimeout(resolve, 50)); // no unhandled rejection meanwhile
  await t.throwsAsync(outside.repo, { instanceOf: NotAGitRepoError });
  await t.throwsAsync(outside.head!);
});

// simple-git's default takes a command as done 50 ms after git exits, whatever it has read by then: a
// busy process read a 5,000-file commit's path list cut short at 176 KiB, and lost 811 files. Here a
// fake git exits at once while a child it leaves behind writes the output 300 ms later, holding the
// pipe open: the output must still be read whole (in a child process, for its own PATH).
test('a git command is read to the end of its output, not cut short when git exits first', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ks-late-output-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const commit = 'a'.repeat(40);
  const paths = Array.from({ length: 3000 }, (_, i) => `kitty-specs/001-late/research/note-${i}.md`);
  await writeFile(path.join(dir, 'listing.txt'), [commit, ...paths, ''].join('\n'));
  await writeFile(path.join(dir, 'git'), `#!/bin/sh\n( sleep 0.3; cat '${path.join(dir, 'listing.txt')}' ) &\nexit 0\n`, { mode: 0o755 });
  const gitModule = fileURLToPath(new URL('../../lib/collect/git.js', import.meta.url));
  const script = `import { headChanges } from ${JSON.stringify(gitModule)}; process.stdout.write(JSON.stringify(await headChanges(process.cwd(), 'kitty-specs')));`;
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  const got = JSON.parse(out) as { commit: string; paths: string[] } | null;
  t.is(got?.commit, commit);
  t.is(got?.paths.length, paths.length);
  t.deepEqual(got?.paths.slice(-2), paths.slice(-2));
});
