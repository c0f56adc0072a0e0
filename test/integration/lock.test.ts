import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLock, LockTimeoutError, processStartTime, withLock } from '../../lib/queue/lock.js';

const holder = fileURLToPath(new URL('../support/lock-holder.js', import.meta.url));

function tmp(t: { teardown: (fn: () => void) => void }): { target: string; lockPath: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { target: path.join(dir, 'queue.sqlite'), lockPath: path.join(dir, 'queue.lock') };
}

test('mutual exclusion within a process: critical sections never overlap', async (t) => {
  const { target, lockPath } = tmp(t);
  let inside = 0;
  let maxInside = 0;
  await Promise.all(
    Array.from({ length: 5 }, () =>
      withLock(target, lockPath, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await new Promise((r) => setTimeout(r, 15));
        inside--;
      }),
    ),
  );
  t.is(maxInside, 1);
  t.false(existsSync(lockPath), 'released');
});

test('a lock held by a live process times out with a clear error', async (t) => {
  const { target, lockPath } = tmp(t);
  const held = await acquireLock(target, lockPath);
  const err = await t.throwsAsync(acquireLock(target, lockPath, { timeoutMs: 150 }));
  t.true(err instanceof LockTimeoutError);
  t.regex(err!.message, /queue\.lock is held by another kitty-sync process/);
  await held.release();
});

test('a lock left by a SIGKILLed process is taken over at once (dead owner)', async (t) => {
  const { target, lockPath } = tmp(t);
  const child = spawn(process.execPath, [holder, target, lockPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', () => reject(new Error('holder exited early')));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  t.true(existsSync(lockPath), 'the killed process left its lock behind');
  // Far below the stale period: only the dead-owner check can grant this.
  const lock = await acquireLock(target, lockPath, { staleMs: 60_000, timeoutMs: 3000 });
  await lock.release();
  t.pass();
});

test('a lock without owner information is recovered once its mtime is stale', async (t) => {
  const { target, lockPath } = tmp(t);
  mkdirSync(lockPath);
  const old = new Date(Date.now() - 60_000);
  utimesSync(lockPath, old, old);
  const lock = await acquireLock(target, lockPath, { staleMs: 2000, timeoutMs: 3000 });
  t.true(existsSync(lockPath));
  await lock.release();
  t.false(existsSync(lockPath));
});

/** Starts a child that takes the lock and keeps it; resolves once it holds it. */
async function liveHolder(t: { teardown: (fn: () => void) => void }, target: string, lockPath: string) {
  const child = spawn(process.execPath, [holder, target, lockPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', () => reject(new Error('holder exited early')));
  });
  return child;
}

test('a live holder keeps its lock however long it has held it (staleness is liveness, not age)', async (t) => {
  const { target, lockPath } = tmp(t);
  await liveHolder(t, target, lockPath);
  // Its lock looks ancient by every clock: the directory, the owner file, the recorded time.
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(lockPath, old, old);
  utimesSync(path.join(lockPath, 'owner'), old, old);
  const err = await t.throwsAsync(acquireLock(target, lockPath, { timeoutMs: 300, staleMs: 1 }));
  t.true(err instanceof LockTimeoutError);
  t.regex(err!.message, /pid \d+/);
});

test('a lock whose pid now belongs to another process (other start time) is stale', async (t) => {
  const { target, lockPath } = tmp(t);
  mkdirSync(lockPath);
  // Our own pid, but not our start time: the process that took it is gone and the pid was reused.
  const os2 = await import('node:os');
  writeFileSync(path.join(lockPath, 'owner'), JSON.stringify({ host: os2.hostname(), boot: '', pid: process.pid, start: String(Number(processStartTime(process.pid)) - 1), nonce: 'x', at: Date.now() }));
  const lock = await acquireLock(target, lockPath, { timeoutMs: 0 });
  await lock.release();
  t.false(existsSync(lockPath));
});

for (const [kind, make] of [
  ['a dangling symbolic link', (p: string) => symlinkSync('/nonexistent/kitty-sync-target', p)],
  ['a regular file', (p: string) => writeFileSync(p, 'not a lock')],
  ['a directory that is not a lock', (p: string) => (mkdirSync(p), writeFileSync(path.join(p, 'stuff.txt'), 'x'))],
] as const) {
  test(`a foreign entry at the lock path (${kind}) is moved aside at once with one line, and the lock is taken`, async (t) => {
    const { target, lockPath } = tmp(t);
    make(lockPath);
    const notices: string[] = [];
    const started = performance.now();
    const lock = await acquireLock(target, lockPath, { timeoutMs: 30_000, onNotice: (m) => notices.push(m) });
    const waited = performance.now() - started;
    await lock.release();
    t.is(notices.length, 1);
    t.true(notices[0].startsWith(lockPath), notices[0]);
    t.regex(notices[0], /not a kitty-sync lock.*moved to/);
    t.true(
      readdirSync(path.dirname(lockPath)).some((f) => f.startsWith('queue.lock.moved-aside-')),
      'kept for inspection',
    );
    // Far below the 30 s wait the old lock took for a dangling link.
    t.true(waited < 30_000 / 10, `took ${waited.toFixed(0)} ms`);
  });
}
