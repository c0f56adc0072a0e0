// bench/credentials: what taking the token from Git's credential helper (issue 13) adds to a hook.
// Interleaved, in one run, against a real `kitty-sync serve` on 127.0.0.1 that wants a token:
//   env     a commit whose hook gets the token from KITTY_SYNC_TOKEN (no lookup)
//   helper  the same commit whose hook finds no KITTY_SYNC_TOKEN and asks `git credential fill`
//           (a real `git credential-store` helper in a temporary HOME)
// plus `git credential fill` alone (through lib/credentials.ts) with the store helper and with none.
// Usage: node dist/bench/credentials.js [--runs N]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { approveToken, fillToken } from '../lib/delivery/credentials.js';
import { median } from './median.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg('--runs')) || 15;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(ROOT, 'dist/bundle/kitty-sync.js');
const TOKEN = 'kst_bench_credentials_0123456789';

const base = mkdtempSync(path.join(os.tmpdir(), 'ks-bench-cred-'));
const home = path.join(base, 'home');
mkdirSync(home);
writeFileSync(path.join(home, 'gitconfig'), `[credential]\n\thelper = store --file=${path.join(home, 'creds')}\n`);

const env: NodeJS.ProcessEnv = {};
for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KITTY_SYNC') && !k.startsWith('GIT_')) env[k] = v;
Object.assign(env, {
  HOME: home,
  GIT_CONFIG_GLOBAL: path.join(home, 'gitconfig'),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.invalid',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.invalid',
  KITTY_SYNC_BUDGET_MS: '30000',
});
const noHelperEnv = { ...env, GIT_CONFIG_GLOBAL: '/dev/null' };

const git = (cwd: string, args: string[], e = env) => execFileSync('git', args, { cwd, env: e, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** user+sys ms of one `git credential fill` and everything it started (from /usr/bin/time on stderr). */
function spawnSyncTime(cwd: string, host: string): number {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME %U %S', 'git', '-c', 'credential.interactive=false', 'credential', 'fill'], {
    cwd,
    env: { ...env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '' },
    input: `protocol=http\nhost=${host}\nusername=kitty-sync\n\n`,
    encoding: 'utf8',
  });
  const m = /TIME (\d+\.\d+) (\d+\.\d+)/.exec(r.stderr);
  if (!m) throw new Error(`no timing from /usr/bin/time: ${r.stderr}`);
  return (Number(m[1]) + Number(m[2])) * 1000;
}

async function main(): Promise<void> {
  const serve = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data', path.join(base, 'serve'), '--token', TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) => {
    let out = '';
    serve.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
  });
  try {
    // fill alone
    const fills: Record<string, number[]> = { 'fill, store helper': [], 'fill, no helper': [] };
    if (!(await approveToken(url, TOKEN, { cwd: base, env })).ok) throw new Error('approve failed');
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      if ((await fillToken(url, { cwd: base, env })) !== TOKEN) throw new Error('fill did not return the token');
      fills['fill, store helper'].push(performance.now() - t0);
      t0 = performance.now();
      await fillToken(url, { cwd: base, env: noHelperEnv });
      fills['fill, no helper'].push(performance.now() - t0);
    }

    // CPU time of one lookup (git and the helper it starts), which load on the machine does not inflate
    // the way it inflates wall time: /usr/bin/time counts every waited-for descendant.
    const host = new URL(url).host;
    const cpu = Array.from({ length: RUNS }, () => spawnSyncTime(base, host));

    // whole commits, interleaved
    const repos: Record<string, { dir: string; env: NodeJS.ProcessEnv }> = {
      env: { dir: path.join(base, 'env'), env: { ...env, KITTY_SYNC_SERVER_URL: url, KITTY_SYNC_TOKEN: TOKEN } },
      helper: { dir: path.join(base, 'helper'), env: { ...env, KITTY_SYNC_SERVER_URL: url } },
    };
    for (const { dir, env: e } of Object.values(repos)) {
      git(base, ['-c', 'init.defaultBranch=main', 'init', '-q', dir]);
      git(dir, ['config', 'commit.gpgsign', 'false']);
      execFileSync(process.execPath, [CLI, 'install', '--repo', dir], { env: e, stdio: 'ignore' });
      mkdirSync(path.join(dir, 'kitty-specs', '001-bench'), { recursive: true });
      writeFileSync(path.join(dir, 'kitty-specs', '001-bench', 'meta.json'), '{"target_branch":"main","mission_type":"software-dev"}\n');
      writeFileSync(path.join(dir, 'kitty-specs', '001-bench', 'spec.md'), '# spec 0\n');
      git(dir, ['add', '-A'], e);
      git(dir, ['commit', '-q', '-m', 'first'], e);
    }
    const times: Record<string, number[]> = { env: [], helper: [] };
    for (let i = 1; i <= RUNS; i++) {
      for (const [name, { dir, env: e }] of Object.entries(repos)) {
        writeFileSync(path.join(dir, 'kitty-specs', '001-bench', 'spec.md'), `# spec ${i}\n`);
        git(dir, ['add', '-A'], e);
        const t0 = performance.now();
        const out = execFileSync('git', ['commit', '-q', '-m', `run ${i}`], { cwd: dir, env: e, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        times[name].push(performance.now() - t0);
        void out;
      }
    }
    const uploaded = (dir: string) => execFileSync(process.execPath, [CLI, 'status', '--json'], { cwd: dir, env: repos.env.env, encoding: 'utf8' });
    for (const [name, { dir }] of Object.entries(repos)) {
      const s = JSON.parse(uploaded(dir)) as { pending: number };
      if (s.pending !== 0) throw new Error(`${name}: ${s.pending} still pending: the hook did not deliver`);
    }

    console.log(
      `bench/credentials: ${RUNS} runs each, load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    for (const [name, xs] of Object.entries(fills)) console.log(`  ${name.padEnd(28)} median ${median(xs).toFixed(1)} ms wall`);
    console.log(`  fill, store helper, CPU       median ${median(cpu).toFixed(1)} ms (user+sys of git and the helper)`);
    for (const [name, xs] of Object.entries(times)) console.log(`  commit, token from ${name.padEnd(9)} median ${median(xs).toFixed(1)} ms`);
    console.log(`  added by the lookup (helper - env):  ${(median(times.helper) - median(times.env)).toFixed(1)} ms per commit that sends`);
  } finally {
    serve.kill();
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
