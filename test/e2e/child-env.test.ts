// Issue 12 item 2: KITTY_SYNC_TOKEN (and every other secret setting) must not be in the environment
// of any git process kitty-sync starts, where /proc/<pid>/environ would show it: not in the agent's
// git children (simple-git's and the `git cat-file --batch` it spawns), not in the launchers' own
// git calls. The agent itself still gets the token (it has to send it).
//
// A `git` wrapper first on PATH records /proc/$$/environ of every git call, then execs the real git
// (exec keeps that environment, so it is exactly what the real git process sees). The launchers and
// the agent are started directly, not from `git commit`: git puts its own exec-path first on the
// hooks' PATH, which would bypass the wrapper.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simpleGit } from 'simple-git';
import { childEnv, simpleGitEnv } from '../../lib/child-env.js';
import { install } from '../../lib/setup/install.js';
import { cleanEnv, cli, run } from '../support/proc.js';
import { gitOk, makeRepo, writeFiles } from '../support/git.js';
import { startTestReceiver } from '../support/receiver.js';

const TOKEN = 'kst_child_env_SECRET_51c0ffee';
const SERVE_TOKEN = 'kst_serve_SECRET_77aa';
const URL_SECRET = 'urlsecret_9f3e';

interface GitCall {
  args: string;
  env: string[];
}

function gitWrapper(t: { teardown(fn: () => void): void }): { binDir: string; calls: () => GitCall[] } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-gitwrap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  const log = path.join(dir, 'calls.log');
  const bin = path.join(dir, 'bin');
  execFileSync('mkdir', ['-p', bin]);
  writeFileSync(path.join(bin, 'git'), `#!/bin/sh\n{ printf 'CALL %s\\n' "$*"; tr '\\000' '\\n' < /proc/$$/environ; printf '\\nEND\\n'; } >> '${log}'\nexec '${realGit}' "$@"\n`);
  chmodSync(path.join(bin, 'git'), 0o755);
  return {
    binDir: bin,
    calls: () => {
      if (!existsSync(log)) return [];
      const out: GitCall[] = [];
      for (const block of readFileSync(log, 'utf8').split('\nEND\n')) {
        const lines = block.split('\n').filter((l) => l !== '');
        if (lines.length === 0 || !lines[0].startsWith('CALL ')) continue;
        out.push({ args: lines[0].slice(5), env: lines.slice(1) });
      }
      return out;
    },
  };
}

function leaks(calls: GitCall[]): string[] {
  return calls.filter((c) => c.env.some((l) => l.includes(TOKEN) || l.includes(SERVE_TOKEN) || l.includes(URL_SECRET) || l.startsWith('KITTY_SYNC_TOKEN='))).map((c) => c.args);
}

test('the agent (hook, sync, status, drain, install) starts no git process that can see the token; the server still gets it', async (t) => {
  const receiver = await startTestReceiver({ token: TOKEN });
  const repo = await makeRepo();
  t.teardown(async () => {
    await receiver.close();
    await repo.cleanup();
  });
  const wrap = gitWrapper(t);
  const base = cleanEnv();
  const env = cleanEnv({
    PATH: `${wrap.binDir}:${base.PATH}`,
    KITTY_SYNC_TOKEN: TOKEN,
    KITTY_SYNC_SERVE_TOKEN: SERVE_TOKEN,
    KITTY_SYNC_SERVER_URL: `${receiver.url}/?note=${URL_SECRET}`,
    KITTY_SYNC_BUDGET_MS: '20000',
  });
  await writeFiles(repo.root, { 'kitty-specs/001-env/spec.md': '# spec\n', 'kitty-specs/001-env/plan.md': '# plan\n' });
  await gitOk(repo.root, ['add', '-A'], base);
  await gitOk(repo.root, ['commit', '-q', '-m', 'feature'], base);
  // An edit not committed: that file's committed bytes come from git's batch reader, whose process is checked too.
  await writeFiles(repo.root, { 'kitty-specs/001-env/spec.md': '# spec, edited\n' });

  const hook = await cli(repo.root, ['hook', 'post-commit'], env);
  t.is(hook.code, 0, hook.stderr);
  t.regex(hook.stderr, /001-env: 2 uploaded/, 'the agent had the token: the server accepted the uploads');
  for (const args of [['sync', '--all'], ['status', '--json'], ['drain'], ['install', '--repo', repo.root]]) {
    const r = await cli(repo.root, args, env);
    t.true(r.code === 0 || r.code === 75, `${args.join(' ')}: ${r.stderr}`);
  }
  const calls = wrap.calls();
  t.log(`${calls.length} git calls recorded`);
  t.true(
    calls.some((c) => c.args.startsWith('cat-file --batch')),
    'the batch reader went through the wrapper',
  );
  t.true(
    calls.some((c) => /(^| )ls-tree /.test(c.args)),
    'simple-git calls went through the wrapper',
  );
  t.true(calls.some((c) => /(^| )rev-parse /.test(c.args)));
  t.deepEqual(leaks(calls), [], 'no git child saw a secret');
  t.true(
    calls.every((c) => c.env.some((l) => l.startsWith('PATH='))),
    'the rest of the environment is passed on',
  );
});

test('the launchers keep secrets from their own git calls and hand the token to the agent only', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const wrap = gitWrapper(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'ks-fakecli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seen = path.join(dir, 'seen.jsonl');
  const fakeCli = path.join(dir, 'cli.mjs');
  writeFileSync(
    fakeCli,
    `import { appendFileSync, readFileSync } from 'node:fs';
const stdin = process.argv[3] === 'pre-push' ? readFileSync(0, 'utf8') : '';
appendFileSync(${JSON.stringify(seen)}, JSON.stringify({ argv: process.argv.slice(2), token: process.env.KITTY_SYNC_TOKEN ?? null, url: process.env.KITTY_SYNC_SERVER_URL ?? null, serve: process.env.KITTY_SYNC_SERVE_TOKEN ?? null, stdin }) + '\\n');\n`,
  );
  const base = cleanEnv();
  await writeFiles(repo.root, { 'README.md': 'x\n' });
  await gitOk(repo.root, ['add', '-A'], base);
  await gitOk(repo.root, ['commit', '-q', '-m', 'base'], base);
  const before = (await gitOk(repo.root, ['rev-parse', 'HEAD'], base)).trim();
  await install({ repo: repo.root, cliPath: fakeCli, skipProjectUuid: true });
  await writeFiles(repo.root, { 'kitty-specs/001-env/spec.md': '# spec\n' });
  await gitOk(repo.root, ['add', '-A'], base);
  await gitOk(repo.root, ['commit', '-q', '-m', 'feature'], { ...base, KITTY_SYNC: '0' });
  const head = (await gitOk(repo.root, ['rev-parse', 'HEAD'], base)).trim();

  const env = cleanEnv({ PATH: `${wrap.binDir}:${base.PATH}`, KITTY_SYNC_TOKEN: TOKEN, KITTY_SYNC_SERVE_TOKEN: SERVE_TOKEN, KITTY_SYNC_SERVER_URL: `https://example.test/?k=${URL_SECRET}` });
  const launchers = path.join(repo.root, '.git', 'kitty-sync', 'hooks');
  const pc = await run('sh', [path.join(launchers, 'post-commit')], { cwd: repo.root, env });
  t.is(pc.code, 0, pc.stderr);
  const pp = await run('sh', [path.join(launchers, 'pre-push'), 'origin', 'file:///nowhere'], {
    cwd: repo.root,
    env,
    input: `refs/heads/main ${head} refs/heads/main ${before}\n`,
  });
  t.is(pp.code, 0, pp.stderr);

  const calls = wrap.calls();
  t.true(
    calls.some((c) => c.args.startsWith('diff-tree')),
    'post-commit asked git',
  );
  t.true(
    calls.some((c) => c.args.startsWith('diff ')),
    'pre-push asked git',
  );
  t.deepEqual(leaks(calls), [], 'no launcher git call saw a secret');
  const agent = readFileSync(seen, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { argv: string[]; token: string | null; url: string | null; serve: string | null });
  t.deepEqual(
    agent.map((a) => a.argv[1]),
    ['post-commit', 'pre-push'],
  );
  for (const a of agent) {
    t.is(a.token, TOKEN, 'the agent still gets the token');
    t.is(a.url, `https://example.test/?k=${URL_SECRET}`, 'and the server URL');
    t.is(a.serve, null, 'the receiver token is no business of a hook');
  }
});

test('childEnv drops every secret setting and keeps the rest; simple-git accepts it even with guarded variables set', async (t) => {
  const env = {
    PATH: '/bin',
    HOME: '/h',
    KITTY_SYNC_TOKEN: 'a',
    KITTY_SYNC_SERVE_TOKEN: 'b',
    KITTY_SYNC_SERVER_URL: 'https://u:p@x/',
    KITTY_SYNC_API_KEY: 'c',
    KITTY_SYNC_HOME: '/s',
    EDITOR: 'vi',
    PAGER: 'less',
    GIT_DIR: '/elsewhere',
    GIT_SSH_COMMAND: 'ssh',
  };
  const c = childEnv(env);
  t.is(c.PATH, '/bin');
  t.is(c.KITTY_SYNC_HOME, '/s');
  for (const k of ['KITTY_SYNC_TOKEN', 'KITTY_SYNC_SERVE_TOKEN', 'KITTY_SYNC_SERVER_URL', 'KITTY_SYNC_API_KEY']) t.false(k in c, k);
  const sg = simpleGitEnv(env);
  t.false('GIT_DIR' in sg);
  t.false('EDITOR' in sg);
  // simple-git refuses an explicit environment holding variables it guards (EDITOR, GIT_*): this one passes.
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const out = await simpleGit({ baseDir: repo.root })
    .env(simpleGitEnv({ ...process.env, ...env, PATH: process.env.PATH }))
    .raw(['rev-parse', '--is-inside-work-tree']);
  t.is(out.trim(), 'true');
});
