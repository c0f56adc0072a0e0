// Tokens through Git's credential helpers (issue 13 item 1), with a real `git credential-store`
// configured in a temporary HOME / global config: the lookup never prompts and never puts the token
// on a command line; `kitty-sync login` / `logout` store and remove it; a hook run without
// KITTY_SYNC_TOKEN (as from a GUI client) delivers with it; KITTY_SYNC_TOKEN still wins.
import test from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { approveToken, fillToken, rejectToken } from '../../lib/delivery/credentials.js';
import { startTestReceiver } from '../support/receiver.js';
import { boundFor, timed } from '../support/timing.js';
import { cleanEnv, cli, CLI_PATH, run } from '../support/proc.js';
import { writeFiles } from '../support/git.js';
import { commit, feature, installHooks, newRepo, summaryOf } from '../support/hooks.js';

const TOKEN = 'kst_cred_7d1f3a9e52b84c06a1e3';

interface CredHome {
  dir: string;
  store: string;
  /** Environment pointing git at this home's global config (a credential-store helper). */
  env: NodeJS.ProcessEnv;
}

/** A temporary HOME whose global git config uses `git credential-store` with its own file. */
function credHome(t: { teardown(fn: () => unknown): void }, opts: { helper?: boolean; extraConfig?: string } = {}): CredHome {
  const dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'ks-cred-')));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = path.join(dir, 'git-credentials');
  const config = path.join(dir, 'gitconfig');
  writeFileSync(config, `${opts.helper === false ? '' : `[credential]\n\thelper = store --file=${store}\n`}${opts.extraConfig ?? ''}`);
  return { dir, store, env: { HOME: dir, GIT_CONFIG_GLOBAL: config, XDG_CONFIG_HOME: path.join(dir, '.config') } };
}

test('fill finds nothing without a helper and never prompts, even with an askpass configured; approve/fill/reject round-trip through credential-store', async (t) => {
  const home = credHome(t, { helper: false });
  // An askpass that would answer (and leave a mark): Git must not call it, nor the terminal.
  const askpass = path.join(home.dir, 'askpass.sh');
  const mark = path.join(home.dir, 'askpass-called');
  writeFileSync(askpass, `#!/bin/sh\necho called >> '${mark}'\necho leaked-by-askpass\n`);
  chmodSync(askpass, 0o755);
  writeFileSync(home.env.GIT_CONFIG_GLOBAL!, `[core]\n\taskPass = ${askpass}\n`);
  const env = cleanEnv({ ...home.env, GIT_ASKPASS: askpass, SSH_ASKPASS: askpass, GIT_TERMINAL_PROMPT: '1' });
  t.is(await fillToken('https://dash.example.com', { cwd: home.dir, env }), null);
  t.false(existsSync(mark), 'no askpass program was run');

  const withStore = credHome(t);
  const env2 = cleanEnv(withStore.env);
  const url = 'https://dash.example.com:8443/sync';
  t.deepEqual(await approveToken(url, TOKEN, { cwd: withStore.dir, env: env2 }), { ok: true });
  t.regex(readFileSync(withStore.store, 'utf8'), /kitty-sync:kst_cred_7d1f3a9e52b84c06a1e3@dash\.example\.com%3a8443/);
  t.is(await fillToken(url, { cwd: withStore.dir, env: env2 }), TOKEN);
  // Keyed by origin: another port or scheme is another server.
  t.is(await fillToken('https://dash.example.com', { cwd: withStore.dir, env: env2 }), null);
  t.is(await fillToken('http://dash.example.com:8443', { cwd: withStore.dir, env: env2 }), null);
  t.deepEqual(await rejectToken(url, { cwd: withStore.dir, env: env2 }), { ok: true });
  t.is(await fillToken(url, { cwd: withStore.dir, env: env2 }), null);
});

test("the user's own Git login for the same host is never taken for the token", async (t) => {
  const home = credHome(t);
  // A forge password stored by Git for the same host under the user's name.
  writeFileSync(home.store, 'https://alice:forge-password@dash.example.com\n');
  t.is(await fillToken('https://dash.example.com', { cwd: home.dir, env: cleanEnv(home.env) }), null);
});

test('the token goes to git on stdin only, never in its arguments', async (t) => {
  const home = credHome(t);
  // A git wrapper first on PATH that logs every argument list it is started with.
  const bin = path.join(home.dir, 'bin');
  mkdirSync(bin);
  const log = path.join(home.dir, 'argv.log');
  const realGit = (await run('sh', ['-c', 'command -v git'], { cwd: home.dir })).stdout.trim();
  writeFileSync(path.join(bin, 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${realGit}' "$@"\n`);
  chmodSync(path.join(bin, 'git'), 0o755);
  const env = cleanEnv({ ...home.env, PATH: `${bin}:${process.env.PATH}` });
  t.true((await approveToken('https://dash.example.com', TOKEN, { cwd: home.dir, env })).ok);
  t.is(await fillToken('https://dash.example.com', { cwd: home.dir, env }), TOKEN);
  const argv = readFileSync(log, 'utf8');
  t.regex(argv, /credential approve/);
  t.regex(argv, /credential fill/);
  t.false(argv.includes(TOKEN), 'the token was on a command line');
});

test('a helper that hangs is given up on: no token, no hang', async (t) => {
  const home = credHome(t, { helper: false });
  // The baseline: the same lookup with no helper configured (nothing to wait for).
  const baseline = await timed(() => fillToken('https://dash.example.com', { cwd: home.dir, env: cleanEnv(home.env), timeoutMs: 300 }));
  t.is(baseline.value, null);
  const helper = path.join(home.dir, 'slow-helper.sh');
  writeFileSync(helper, '#!/bin/sh\nsleep 60\necho password=too-late\n');
  chmodSync(helper, 0o755);
  writeFileSync(home.env.GIT_CONFIG_GLOBAL!, `[credential]\n\thelper = ${helper}\n`);
  const slow = await timed(() => fillToken('https://dash.example.com', { cwd: home.dir, env: cleanEnv(home.env), timeoutMs: 300 }));
  t.is(slow.value, null);
  // Given up on at its 300 ms timeout, long before the helper could have answered (it sleeps a minute).
  t.log(`lookup with a hung helper: ${slow.ms.toFixed(0)} ms; with none: ${baseline.ms.toFixed(0)} ms`);
  t.true(slow.ms <= boundFor(300, baseline.ms), `the lookup took ${slow.ms.toFixed(0)} ms with a 300 ms timeout (no helper: ${baseline.ms.toFixed(0)} ms)`);
});

test('a hook without KITTY_SYNC_TOKEN (as from a GUI client) delivers with the token from `kitty-sync login`; KITTY_SYNC_TOKEN still wins', async (t) => {
  const receiver = await startTestReceiver({ token: TOKEN });
  t.teardown(() => receiver.close());
  const home = credHome(t);
  const repo = await newRepo();
  t.teardown(() => repo.cleanup());
  await installHooks(repo.root);
  const env = { ...home.env, KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_BUDGET_MS: '30000' };

  // Before login: 401, and the message says how to fix it.
  await writeFiles(repo.root, feature('001-cred', { tag: 'v1' }));
  const first = await commit(repo.root, 'before login', env);
  t.deepEqual(summaryOf(first.stderr, '001-cred'), { uploaded: 0, already_exists: 0, queued: 3, skipped: 1, failed: 0 });
  t.regex(first.stderr, /401.*`kitty-sync login`/);

  // A wrong token is refused and not stored.
  const wrong = await cli(repo.root, ['login'], env);
  t.is(wrong.code, 2, 'no token on stdin is bad usage');
  const refused = await run(process.execPath, [CLI_PATH, 'login'], { cwd: repo.root, env: cleanEnv(env), input: 'kst_not_the_right_one_000000\n' });
  t.is(refused.code, 1);
  t.regex(refused.stderr, /refused this token \(http_401/);
  t.false(existsSync(home.store) && readFileSync(home.store, 'utf8').includes('kst_not_the_right_one'));

  const login = await run(process.execPath, [CLI_PATH, 'login', '--json'], { cwd: repo.root, env: cleanEnv(env), input: `${TOKEN}\n` });
  t.is(login.code, 0, login.stderr);
  t.like(JSON.parse(login.stdout), { stored: true, check: 'accepted', server: receiver.url });
  t.false(login.stdout.includes(TOKEN) || login.stderr.includes(TOKEN));
  const status = await cli(repo.root, ['status', '--json'], env);
  t.like(JSON.parse(status.stdout), { token_configured: true, token_source: 'git-credential' });
  t.false(status.stdout.includes(TOKEN));

  // The next commit delivers with the stored token, and the drain replays what the 401 left queued.
  await writeFiles(repo.root, { 'kitty-specs/001-cred/spec.md': '# spec v2\n' });
  const second = await commit(repo.root, 'after login', env);
  t.regex(second.stderr, /kitty-sync: 001-cred: [1-9]\d* uploaded/);
  t.is(receiver.stats().unauthorized, 1 + 1, 'the 401s before login: the first commit and the refused login check');
  const stored = receiver
    .artifacts()
    .filter((a) => a.namespace.project_uuid === repo.uuid)
    .map((a) => a.artifact_path)
    .sort();
  t.deepEqual(stored, ['plan.md', 'spec.md', 'tasks/WP01-first.md']);

  // KITTY_SYNC_TOKEN wins over the stored token (here a wrong one: 401).
  await writeFiles(repo.root, { 'kitty-specs/001-cred/plan.md': '# plan v3\n' });
  const envWins = await commit(repo.root, 'env wins', { ...env, KITTY_SYNC_TOKEN: 'kst_env_token_that_is_wrong_0000' });
  t.regex(envWins.stderr, /401/);

  // logout removes it: the helper no longer gives a token.
  const logout = await cli(repo.root, ['logout', '--json'], env);
  t.is(logout.code, 0, logout.stderr);
  t.like(JSON.parse(logout.stdout), { removed: true });
  t.false(readFileSync(home.store, 'utf8').includes(TOKEN));
});

test('login without any credential helper says how to configure one and exits 1', async (t) => {
  const receiver = await startTestReceiver({ token: TOKEN });
  t.teardown(() => receiver.close());
  const home = credHome(t, { helper: false });
  const r = await run(process.execPath, [CLI_PATH, 'login', '--server', receiver.url], { cwd: home.dir, env: cleanEnv(home.env), input: `${TOKEN}\n` });
  t.is(r.code, 1);
  t.regex(r.stderr, /no Git credential helper kept the token.*credential\.helper/);
  const noServer = await run(process.execPath, [CLI_PATH, 'login'], { cwd: home.dir, env: cleanEnv(home.env), input: `${TOKEN}\n` });
  t.is(noServer.code, 2);
  t.regex(noServer.stderr, /no server to log in to/);
});

test('on a terminal, login prompts for the token without echoing it', async (t) => {
  const receiver = await startTestReceiver({ token: TOKEN });
  t.teardown(() => receiver.close());
  const home = credHome(t);
  // util-linux `script` gives the CLI a real pseudo-terminal; the test types once the prompt shows.
  const child = spawn('script', ['-qec', `'${process.execPath}' '${CLI_PATH}' login --server ${receiver.url}`, '/dev/null'], {
    cwd: home.dir,
    env: cleanEnv(home.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    const before = screen;
    screen += d;
    if (!before.includes('Token for') && screen.includes('Token for')) setTimeout(() => child.stdin.write(`${TOKEN}\r`), 200);
  });
  t.is(await done, 0, screen);
  t.regex(screen, /Token for http:\/\/127\.0\.0\.1:\d+: /);
  t.regex(screen, /token stored/);
  t.false(screen.includes(TOKEN), 'the token was echoed');
  t.true(readFileSync(home.store, 'utf8').includes(TOKEN));
});
