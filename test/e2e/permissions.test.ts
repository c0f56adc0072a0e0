// Issue 12 item 8: the state directory holds queued documents, the outcome log and the launchers.
// Every directory in it is 0700 and every file 0600 (the launcher scripts 0700: owner-only, still
// executable), also for what an older version created with looser modes (fixed on the next run),
// and for the lock directories and lock-owner files while a lock is held.
import test from 'ava';
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, cli, holdQueueLock } from '../support/proc.js';
import { git, gitOk, makeRepo, writeFiles } from '../support/git.js';

interface Entry {
  file: string;
  mode: number;
  dir: boolean;
}

function walk(dir: string): Entry[] {
  const out: Entry[] = [{ file: dir, mode: lstatSync(dir).mode & 0o777, dir: true }];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...walk(p));
    else out.push({ file: p, mode: st.mode & 0o777, dir: false });
  }
  return out;
}

function wrongModes(stateDir: string): string[] {
  return walk(stateDir)
    .filter((e) => {
      if (e.dir) return e.mode !== 0o700;
      if (path.basename(path.dirname(e.file)) === 'hooks' && !e.file.endsWith('.json')) return e.mode !== 0o700;
      return e.mode !== 0o600;
    })
    .map((e) => `${path.relative(stateDir, e.file) || '.'} ${e.mode.toString(8)}`);
}

async function installedRepo(t: { teardown(fn: () => unknown): void }) {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: '' });
  await writeFiles(repo.root, { 'README.md': 'x\n' });
  await gitOk(repo.root, ['add', '-A'], env);
  await gitOk(repo.root, ['commit', '-q', '-m', 'base'], env);
  const install = await cli(repo.root, ['install', '--repo', repo.root], env);
  if (install.code !== 0) throw new Error(install.stderr);
  await writeFiles(repo.root, { 'kitty-specs/001-perm/spec.md': '# spec\n' });
  await gitOk(repo.root, ['add', '-A'], env);
  const commit = await git(repo.root, ['commit', '-q', '-m', 'feature'], env);
  if (commit.code !== 0) throw new Error(commit.stderr);
  return { root: repo.root, stateDir: path.join(repo.root, '.git', 'kitty-sync'), env };
}

test('install, a hook and a drain leave every directory of the state dir 0700 and every file 0600', async (t) => {
  const { root, stateDir, env } = await installedRepo(t);
  await cli(root, ['drain'], env);
  const entries = walk(stateDir);
  t.true(
    entries.some((e) => e.file.endsWith('queue.sqlite')),
    'the queue exists',
  );
  t.true(
    entries.some((e) => e.file.includes(`${path.sep}spool${path.sep}`) && e.file.endsWith('.ksp')),
    'captures (packs of bodies and events) exist',
  );
  t.true(
    entries.some((e) => e.file.endsWith(`hooks${path.sep}post-commit`)),
    'launchers exist',
  );
  t.deepEqual(wrongModes(stateDir), []);
});

test('modes left loose by an older version (0755 dirs, 0644 files) are fixed on the next run', async (t) => {
  const { root, stateDir, env } = await installedRepo(t);
  for (const e of walk(stateDir)) chmodSync(e.file, e.dir ? 0o755 : e.file.includes(`hooks${path.sep}`) && !e.file.endsWith('.json') ? 0o755 : 0o644);
  t.true(wrongModes(stateDir).length > 3, 'loosened');
  const r = await cli(root, ['status'], env);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(wrongModes(stateDir), []);
});

test('a held lock: its directory is 0700 and its owner file 0600', async (t) => {
  const { stateDir } = await installedRepo(t);
  await holdQueueLock(t, stateDir);
  t.is(lstatSync(path.join(stateDir, 'queue.lock')).mode & 0o777, 0o700);
  t.is(lstatSync(path.join(stateDir, 'queue.lock', 'owner')).mode & 0o777, 0o600);
});
