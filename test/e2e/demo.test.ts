// Issue 12 item 14: ./demo.sh left its receiver running: its cleanup killed the shell that wrapped
// `kitty-sync serve`, not the node process, so the port stayed taken and a second ./demo.sh failed
// with EADDRINUSE. After the demo nothing listens on its port, and it can run again.
import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cleanEnv, PROJECT_ROOT, run } from '../support/proc.js';
import { deadPort } from '../support/receiver.js';

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Processes whose command line mentions `marker` (the demo's scratch directory): an orphan, if any. */
function processesMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

test('./demo.sh stops its receiver when it ends: the port is free and a second run succeeds', async (t) => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'ks-demo-test-'));
  t.teardown(() => {
    // Should the receiver be orphaned (the bug), end it by its pid so the machine is left clean.
    for (const pid of processesMentioning(scratch)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    rmSync(scratch, { recursive: true, force: true });
  });
  const port = await deadPort();
  const env = cleanEnv({ KITTY_SYNC_DEMO_PORT: String(port), TMPDIR: scratch });
  const first = await run(path.join(PROJECT_ROOT, 'demo.sh'), [], { cwd: PROJECT_ROOT, env });
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /artifact\(s\)/);
  t.false(await listening(port), 'nothing listens on the demo port after the demo');
  t.deepEqual(processesMentioning(scratch), [], 'no receiver left running');
  const second = await run(path.join(PROJECT_ROOT, 'demo.sh'), [], { cwd: PROJECT_ROOT, env });
  t.is(second.code, 0, second.stderr);
  t.notRegex(second.stderr, /EADDRINUSE|did not start/);
  t.false(await listening(port));
});
