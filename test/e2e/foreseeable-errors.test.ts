// Issue 12 item 7: failures a user can foresee and fix (a file where a directory should be, a lock held
// by another process, a full disk, a read-only state directory) are one line naming the path and the
// remedy, exit 2; the stack trace only with --verbose. The hook's disk-full line names the path.
import test from 'ava';
import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LockTimeoutError } from '../../lib/queue/lock.js';
import { describeForeseeable } from '../../lib/run/foreseeable.js';
import { cleanEnv, cli, holdQueueLock, run } from '../support/proc.js';
import { git, gitOk, makeRepo, writeFiles } from '../support/git.js';
import { startTestReceiver } from '../support/receiver.js';

const STACK_LINE = /^\s+at /m;

async function queuedRepo(t: { teardown(fn: () => unknown): void }) {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  await writeFiles(repo.root, { 'kitty-specs/001-errs/spec.md': '# spec\n', 'kitty-specs/001-errs/plan.md': '# plan\n' });
  await gitOk(repo.root, ['add', '-A'], cleanEnv());
  await gitOk(repo.root, ['commit', '-q', '-m', 'feature'], cleanEnv());
  const sync = await cli(repo.root, ['sync', '--all'], cleanEnv());
  if (sync.code !== 75) throw new Error(`offline sync should queue: ${sync.code} ${sync.stderr}`);
  return { root: repo.root, stateDir: path.join(repo.root, '.git', 'kitty-sync') };
}

test('drain with its state directory below a file (ENOTDIR): one line naming the file and the remedy, exit 2; the stack only with --verbose', async (t) => {
  const { root } = await queuedRepo(t);
  const blocker = path.join(path.dirname(root), 'not-a-dir');
  writeFileSync(blocker, 'a file where a directory should be\n');
  const env = cleanEnv({ KITTY_SYNC_HOME: path.join(blocker, 'state') });
  const r = await cli(root, ['drain'], env);
  t.log(r.stderr);
  t.is(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, 'one line');
  t.true(lines[0].includes(blocker), 'names the path');
  t.regex(lines[0], /move it aside/);
  t.notRegex(r.stderr, STACK_LINE);
  t.notRegex(r.stderr, /unexpected error/);
  const verbose = await cli(root, ['drain', '--verbose'], env);
  t.is(verbose.code, 2);
  t.regex(verbose.stderr, STACK_LINE, '--verbose adds the stack');
});

test('a link where spool/ should be: moved aside, never followed; the work it held fails visibly and `sync --all` recovers it', async (t) => {
  const receiver = await startTestReceiver();
  t.teardown(() => receiver.close());
  const { root, stateDir } = await queuedRepo(t);
  const spool = path.join(stateDir, 'spool');
  t.true(
    readdirSync(spool).some((f) => f.endsWith('.ksp')),
    'the queued work lives in a pack',
  );
  // The packs end up outside the state directory, reachable only through a link.
  const outside = path.join(path.dirname(root), 'elsewhere');
  renameSync(spool, outside);
  symlinkSync(outside, spool);
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url });
  const r = await cli(root, ['drain'], env);
  t.log(r.stderr);
  t.regex(r.stderr, new RegExp(`${spool.replace(/[/.]/g, '\\$&')} was a symbolic link \\(to ${outside.replace(/[/.]/g, '\\$&')}\\); kitty-sync never follows links`));
  t.notRegex(r.stderr, STACK_LINE);
  t.true(lstatSync(spool).isDirectory(), 'a fresh spool directory in its place');
  t.regex(r.stderr, /failed.*local_event_corrupt|local_event_corrupt/, 'the work whose stored events are out of reach is reported as failed');
  t.deepEqual(receiver.artifacts(), [], 'nothing was read through the link');
  const sync = await cli(root, ['sync', '--all'], env);
  t.is(sync.code, 0, sync.stderr);
  t.deepEqual(
    receiver
      .artifacts()
      .map((a) => a.artifact_path)
      .sort(),
    ['plan.md', 'spec.md'],
  );
});

test('a queue lock held by another live process: one line naming the lock and the remedy, exit 2', async (t) => {
  const { root, stateDir } = await queuedRepo(t);
  await holdQueueLock(t, stateDir);
  const r = await cli(root, ['retry', '--all'], cleanEnv());
  t.log(r.stderr);
  t.is(r.code, 2);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1);
  t.true(lines[0].includes(path.join(stateDir, 'queue.lock')));
  t.regex(lines[0], /if no other kitty-sync .*is running.*remove/i);
  t.notRegex(r.stderr, STACK_LINE);
});

test('the hook out of space while writing its capture: its line names the path; the commit succeeds', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: '' });
  writeFileSync(path.join(repo.root, 'README.md'), 'x\n');
  await gitOk(repo.root, ['add', '-A'], env);
  await gitOk(repo.root, ['commit', '-q', '-m', 'base'], env);
  const install = await cli(repo.root, ['install', '--repo', repo.root], env);
  t.is(install.code, 0, install.stderr);
  // A body far larger than the file-size limit: its write fails (EFBIG, as a full disk would with ENOSPC).
  await writeFiles(repo.root, { 'kitty-specs/001-big/spec.md': `# big\n${'x'.repeat(200_000)}\n` });
  await gitOk(repo.root, ['add', '-A'], env);
  const r = await run('bash', ['-c', 'ulimit -f 16 && exec git -c commit.gpgsign=false commit -q -m big'], { cwd: repo.root, env });
  t.is(r.code, 0, r.stderr);
  t.log(r.stderr);
  const line = r.stderr.split('\n').find((l) => /could not finish/.test(l)) ?? '';
  t.regex(line, /EFBIG|no space|size limit/i);
  t.true(line.includes(path.join(repo.root, '.git', 'kitty-sync', 'spool')), `names the path: ${line}`);
  await git(repo.root, ['status'], env);
});

test('describeForeseeable: ENOSPC, EROFS, EACCES, ENOTDIR and lock timeouts name the path and a remedy; other errors are not foreseeable', (t) => {
  const errno = (code: string, p?: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: failed${p ? `, open '${p}'` : ''}`), { code, ...(p ? { path: p } : {}) });
  const enospc = describeForeseeable(errno('ENOSPC', '/s/bodies/abc'))!;
  t.regex(enospc, /\/s\/bodies\/abc/);
  t.regex(enospc, /free some space/);
  const erofs = describeForeseeable(errno('EROFS', '/s/queue.sqlite.tmp-1'))!;
  t.regex(erofs, /read-only/);
  t.regex(erofs, /KITTY_SYNC_HOME/);
  t.regex(describeForeseeable(errno('EACCES', '/s/outcomes.log'))!, /permission/);
  const dir = path.join(fileURLToPath(new URL('.', import.meta.url)), `enotdir-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'bodies'), '');
  const enotdir = describeForeseeable(errno('ENOTDIR', path.join(dir, 'bodies', 'abc')))!;
  t.regex(enotdir, new RegExp(`${path.join(dir, 'bodies').replace(/[/.]/g, '\\$&')} is a file`));
  // Wrapped (cause chain) and path-less errors are still recognised; the path given by the wrapper is kept.
  const wrapped = new Error('could not save the queue /s/queue.sqlite (ENOSPC: no space left on device, write); the previous queue file is unchanged', { cause: errno('ENOSPC') });
  t.regex(describeForeseeable(wrapped)!, /\/s\/queue\.sqlite.*free some space/);
  const lock = describeForeseeable(new LockTimeoutError('/s/queue.lock', 30000))!;
  t.regex(lock, /\/s\/queue\.lock/);
  t.is(describeForeseeable(new TypeError('x is undefined')), null);
  t.is(describeForeseeable(errno('ECONNRESET')), null);
});
