import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLock, LockTimeoutError, withLock } from '../../lib/queue/lock.js';

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
