// bench/hook-fastpath: what the installed hooks add to a commit that touches no kitty-specs/
// file while nothing is pending (the launcher must not start Node). Compares, in one run,
// interleaved: no hooks; kitty-sync installed; an empty Node post-commit hook (reference).
// Usage: node dist/bench/hook-fastpath.js [--runs N]   (median of N commits each, default 20)
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { install } from '../lib/install.js';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const env: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};
delete env.KITTY_SYNC;
delete env.KITTY_SYNC_HOME;

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'commit.gpgsign=false', ...args], { cwd, env, encoding: 'utf8' });

function makeRepo(root: string, name: string): string {
  const dir = path.join(root, name);
  git(root, '-c', 'init.defaultBranch=main', 'init', '-q', dir);
  // A repository with some kitty-specs/ history, like a real one.
  for (let i = 0; i < 20; i++) writeFileSync(path.join(root, name, `f${i}.txt`), `${i}\n`);
  mkdirSync(path.join(dir, 'kitty-specs', '001-bench', 'tasks'), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(path.join(dir, 'kitty-specs', '001-bench', 'tasks', `WP${i}.md`), `# WP${i}\n`);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'root');
  return dir;
}

/** Wall time of one `git commit` that changes src.txt only. */
function timeCommit(dir: string, n: number): number {
  writeFileSync(path.join(dir, 'src.txt'), `change ${n}\n`);
  git(dir, 'add', 'src.txt');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('git', ['-c', 'commit.gpgsign=false', 'commit', '-q', '-m', `c${n}`], { cwd: dir, env, stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`commit failed in ${dir}`);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-bench-hook-'));
  try {
    const plain = makeRepo(root, 'plain');
    const hooked = makeRepo(root, 'kitty-sync');
    // The fast path never reaches the CLI; a CLI that would record a call proves it.
    const cli = path.join(root, 'cli.mjs');
    const calls = path.join(root, 'calls');
    writeFileSync(cli, `import { appendFileSync } from 'node:fs'; appendFileSync(${JSON.stringify(calls)}, 'x');\n`);
    await install({ repo: hooked, cliPath: cli, skipProjectUuid: true });
    const nodeHook = makeRepo(root, 'node-hook');
    const hookFile = path.join(nodeHook, '.git', 'hooks', 'post-commit');
    writeFileSync(hookFile, `#!/bin/sh\nexec '${process.execPath}' -e ''\n`);
    chmodSync(hookFile, 0o755);

    const repos = { 'no hooks': plain, 'kitty-sync fast path': hooked, 'empty Node hook': nodeHook };
    const times: Record<string, number[]> = { 'no hooks': [], 'kitty-sync fast path': [], 'empty Node hook': [] };
    for (const [, dir] of Object.entries(repos)) timeCommit(dir, -1); // warm-up
    for (let i = 0; i < runs; i++) for (const [name, dir] of Object.entries(repos)) times[name].push(timeCommit(dir, i));

    const base = median(times['no hooks']);
    console.log(`commit touching no kitty-specs/ file, empty queue — median of ${runs}:`);
    for (const [name, xs] of Object.entries(times)) {
      const m = median(xs);
      console.log(`  ${name.padEnd(22)} ${m.toFixed(1).padStart(6)} ms  (+${(m - base).toFixed(1)} ms)`);
    }
    const started = existsSync(calls) ? readFileSync(calls, 'utf8').length : 0;
    console.log(`  Node started by the kitty-sync launcher: ${started} time(s) (expected 0)`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
