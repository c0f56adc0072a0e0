// Security (issue 6 item 3), end to end through the built CLI and the installed hooks:
// the token comes from the environment only and never reaches the state directory or any
// output; Authorization never crosses origins on a redirect; plain http:// to a non-loopback
// host is refused unless opted in (and no traffic is ever sent to one here); install and the
// hooks never execute content from the repository.
// The receiver's own validation (path traversal, oversized bodies, hash mismatch) is covered by
// test/receiver.test.ts ('push-content: invalid bodies are 400 …', '… over 512 KiB is 413 …').
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, cli, type Proc } from '../support/proc.js';
import { git, gitOk, makeRepo, writeFiles } from '../support/git.js';
import { startTestReceiver } from '../support/receiver.js';

const TOKEN = 'kst_SECRET_e2e_9c1f7a42b6d84e03';

/** Every file under dir (recursively), with its bytes. */
function allFiles(dir: string): { file: string; bytes: Buffer }[] {
  const out: { file: string; bytes: Buffer }[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) out.push(...allFiles(p));
    else if (d.isFile()) out.push({ file: p, bytes: readFileSync(p) });
  }
  return out;
}

/** A server that answers every request with `answer` and records the headers it saw. */
async function startRecordingServer(answer: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void) {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      seen.push(req.headers);
      answer(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function repoWithHooks(t: { teardown(fn: () => unknown): void }, env: NodeJS.ProcessEnv, configExtra?: string) {
  const repo = await makeRepo({ configExtra });
  t.teardown(() => repo.cleanup());
  writeFileSync(path.join(repo.root, 'README.md'), 'base\n');
  await gitOk(repo.root, ['add', '-A'], env);
  await gitOk(repo.root, ['commit', '-q', '-m', 'base'], env);
  const install = await cli(repo.root, ['install', '--repo', repo.root], env);
  if (install.code !== 0) throw new Error(install.stderr);
  return { root: repo.root, stateDir: path.join(repo.root, '.git', 'kitty-sync'), install };
}

test('the token never reaches the state directory, the log, error messages or --json output (401s, echoing servers, dead letters)', async (t) => {
  // A receiver that wants another token (every request is a 401), then a server that echoes the
  // request headers into its error text: as 500 (retry reasons) and as 400 (dead-letter reasons).
  const receiver = await startTestReceiver({ token: 'the-right-token' });
  let mode: 500 | 400 = 500;
  const echo = await startRecordingServer((req, res) => {
    res.writeHead(mode, { 'Content-Type': 'application/json', 'X-Echo-Authorization': String(req.headers.authorization) });
    res.end(JSON.stringify({ error: 'echo', detail: `you sent ${JSON.stringify(req.headers)}` }));
  });
  t.teardown(async () => {
    await receiver.close();
    await echo.close();
  });
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_TOKEN: TOKEN, KITTY_SYNC_BUDGET_MS: '30000' });
  const s = await repoWithHooks(t, env);
  const outputs: { what: string; r: Proc }[] = [{ what: 'install', r: s.install }];

  await writeFiles(s.root, { 'kitty-specs/001-secret/spec.md': '# spec\n', 'kitty-specs/001-secret/plan.md': '# plan\n' });
  await gitOk(s.root, ['add', '-A'], env);
  const commit = await git(s.root, ['commit', '-q', '-m', 'feature'], env);
  t.is(commit.code, 0);
  outputs.push({ what: 'commit (401)', r: commit });
  t.regex(commit.stderr, /401|token/i);
  t.true(receiver.stats().unauthorized > 0, 'the receiver saw the (wrong) token and refused it');

  for (const args of [['drain', '--json'], ['drain'], ['status', '--json'], ['status'], ['sync', '--all', '--json'], ['log', '--json'], ['log']]) {
    outputs.push({ what: `${args.join(' ')} (401)`, r: await cli(s.root, args, env) });
  }
  const echoEnv = { ...env, KITTY_SYNC_SERVER_URL: echo.url };
  outputs.push({ what: 'drain --force (echo 500)', r: await cli(s.root, ['drain', '--force', '--json'], echoEnv) });
  mode = 400;
  outputs.push({ what: 'drain --force (echo 400)', r: await cli(s.root, ['drain', '--force', '--json'], echoEnv) });
  outputs.push({ what: 'drain --force --verbose (echo 400)', r: await cli(s.root, ['drain', '--force', '--verbose'], echoEnv) });
  for (const args of [['failed', '--json'], ['failed'], ['log', '--json'], ['status', '--json'], ['retry', '--all', '--json']]) {
    outputs.push({ what: args.join(' '), r: await cli(s.root, args, echoEnv) });
  }
  t.true(echo.seen.length > 0 && echo.seen.every((h) => h.authorization === `Bearer ${TOKEN}`), 'the echo server got the token (so it could have leaked)');
  const failed = outputs.find((o) => o.what === 'failed --json')!.r;
  t.regex(failed.stdout, /echo/, 'dead letters carry the server text (minus the token)');

  for (const { what, r } of outputs) {
    t.false(r.stdout.includes(TOKEN), `${what}: stdout has the token`);
    t.false(r.stderr.includes(TOKEN), `${what}: stderr has the token`);
  }
  const files = allFiles(s.stateDir);
  t.true(files.some((f) => f.file.endsWith('queue.sqlite')) && files.some((f) => f.file.endsWith('outcomes.log')));
  const needle = Buffer.from(TOKEN);
  const needle16 = Buffer.from(TOKEN, 'utf16le');
  for (const f of files) t.false(f.bytes.includes(needle) || f.bytes.includes(needle16), `${f.file} contains the token`);
});

test('the token comes from the environment only: sync.token in config.yaml is ignored', async (t) => {
  const receiver = await startTestReceiver({ token: TOKEN });
  t.teardown(() => receiver.close());
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_BUDGET_MS: '30000' });
  const s = await repoWithHooks(t, env, `sync:\n  token: ${TOKEN}\n`);
  const status = await cli(s.root, ['status', '--json'], env);
  t.is((JSON.parse(status.stdout) as { token_configured: boolean }).token_configured, false);

  await writeFiles(s.root, { 'kitty-specs/001-x/spec.md': '# spec\n' });
  await gitOk(s.root, ['add', '-A'], env);
  t.is((await git(s.root, ['commit', '-q', '-m', 'x'], env)).code, 0);
  t.is(receiver.artifacts().length, 0, 'the config file token was not used');
  t.true(receiver.stats().unauthorized > 0);

  const withEnv = await cli(s.root, ['drain', '--force'], { ...env, KITTY_SYNC_TOKEN: TOKEN });
  t.is(withEnv.code, 0, withEnv.stderr);
  t.is(receiver.artifacts().length, 1, 'the environment token works');
});

test('drain: a 307 to another origin is not followed and the other origin never sees Authorization', async (t) => {
  const b = await startRecordingServer((_req, res) => {
    res.writeHead(201, { 'Content-Type': 'application/json' });
    res.end('{"status":"stored"}');
  });
  const a = await startRecordingServer((req, res) => {
    res.writeHead(307, { Location: `${b.url}${req.url}` });
    res.end();
  });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: a.url, KITTY_SYNC_TOKEN: TOKEN });
  const s = await repoWithHooks(t, { ...env, KITTY_SYNC: '0' });
  await writeFiles(s.root, { 'kitty-specs/001-x/spec.md': '# spec\n' });
  await gitOk(s.root, ['add', '-A'], env);
  await gitOk(s.root, ['commit', '-q', '-m', 'x'], { ...env, KITTY_SYNC: '0' });
  const sync = await cli(s.root, ['sync', '--all', '--json'], { ...env, KITTY_SYNC_SERVER_URL: '' });
  t.is(sync.code, 75, 'queued without a server');

  const drain = await cli(s.root, ['drain', '--force', '--json'], env);
  t.true(a.seen.length > 0, 'A was asked');
  t.true(
    a.seen.every((h) => h.authorization === `Bearer ${TOKEN}`),
    'A (the configured origin) gets the token',
  );
  t.true(
    b.seen.every((h) => h.authorization === undefined),
    'B never sees Authorization',
  );
  t.is(b.seen.length, 0, 'the cross-origin redirect is not followed at all');
  t.regex(drain.stdout, /redirect_to_other_origin/);
  const failed = await cli(s.root, ['failed', '--json'], env);
  t.regex(failed.stdout, /redirect_to_other_origin/, 'the work is kept as a dead letter, not dropped');
});

test('plain http:// to a non-loopback host is refused unless opted in; no traffic is sent', async (t) => {
  // 192.0.2.0/24 is TEST-NET-1 (never routed); the queue stays empty when opted in, so even then
  // nothing is sent anywhere.
  const remote = 'http://192.0.2.10:8787';
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: remote, KITTY_SYNC_TOKEN: TOKEN });
  const s = await repoWithHooks(t, { ...env, KITTY_SYNC: '0' });

  const refused = await cli(s.root, ['drain'], env);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /refusing plain http:\/\/ to 192\.0\.2\.10/);
  t.false(refused.stderr.includes(TOKEN));

  const optedIn = await cli(s.root, ['drain', '--json'], { ...env, KITTY_SYNC_ALLOW_INSECURE_HTTP: '1' });
  t.is(optedIn.code, 0, optedIn.stderr);
  t.notRegex(optedIn.stderr, /refusing/);
  t.is((JSON.parse(optedIn.stdout) as { outcomes: unknown[] }).outcomes.length, 0);

  // Through the hook: the commit succeeds, the user is told, the work stays queued.
  await writeFiles(s.root, { 'kitty-specs/001-x/spec.md': '# spec\n' });
  await gitOk(s.root, ['add', '-A'], env);
  const commit = await git(s.root, ['commit', '-q', '-m', 'x'], env);
  t.is(commit.code, 0);
  t.regex(commit.stderr, /refusing plain http:\/\/ to 192\.0\.2\.10.*work stays queued/);
  const status = await cli(s.root, ['status', '--json'], env);
  t.is((JSON.parse(status.stdout) as { pending: number }).pending, 1);
});

test('install and the hooks never execute content from the repository', async (t) => {
  const receiver = await startTestReceiver();
  t.teardown(() => receiver.close());
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const root = repo.root;
  const marker = path.join(path.dirname(root), 'EXECUTED');
  const trap = (name: string): string => `#!/bin/sh\necho "${name} $0 $*" >> "${marker}"\nexit 0\n`;
  // Scripts named like hooks, like the CLI, like node and git, in every place a careless
  // launcher might look: committed, executable, and on PATH the way npm scripts put them.
  const traps: Record<string, string> = {
    'node_modules/.bin/kitty-sync': trap('node_modules/.bin/kitty-sync'),
    'node_modules/.bin/node': trap('node_modules/.bin/node'),
    'node_modules/kitty-sync/dist/bin/kitty-sync.js': `require('fs').appendFileSync(${JSON.stringify(marker)}, 'repo cli\\n')\n`,
    'bin/git': trap('bin/git'),
    'bin/node': trap('bin/node'),
    'bin/kitty-sync': trap('bin/kitty-sync'),
    'kitty-specs/001-x/post-commit': trap('kitty-specs post-commit'),
    'kitty-specs/001-x/pre-push': trap('kitty-specs pre-push'),
    'kitty-specs/001-x/research/post-commit.md': trap('post-commit.md'),
    '.kittify/hooks/post-commit': trap('.kittify/hooks/post-commit'),
    '.kittify/post-commit': trap('.kittify/post-commit'),
    '.husky/_/post-commit': trap('.husky/_/post-commit'),
    '.husky/_/h': trap('.husky/_/h'),
    '.husky/post-commit': trap('.husky/post-commit'),
    '.husky/pre-push': trap('.husky/pre-push'),
    'hooks/post-commit': trap('hooks/post-commit'),
  };
  await writeFiles(root, { ...traps, 'kitty-specs/001-x/spec.md': '# spec\n' });
  for (const p of Object.keys(traps)) chmodSync(path.join(root, p), 0o755);
  const basePath = cleanEnv().PATH ?? '';
  const env = cleanEnv({
    KITTY_SYNC_SERVER_URL: receiver.url,
    KITTY_SYNC_BUDGET_MS: '30000',
    // npm scripts (and husky) run git with the repo's node_modules/.bin first on PATH. A `git` there
    // would be run by the user's own git command before any hook, so it is not ours to defend;
    // `kitty-sync` and `node` there are what a careless launcher would pick up.
    PATH: [path.join(root, 'node_modules/.bin'), basePath].join(path.delimiter),
  });
  const setupEnv = cleanEnv();
  await gitOk(root, ['add', '-A'], setupEnv);
  await gitOk(root, ['commit', '-q', '-m', 'traps'], { ...setupEnv, KITTY_SYNC: '0' });

  const install = await cli(root, ['install', '--repo', root], env);
  t.is(install.code, 0, install.stderr);
  t.false(existsSync(marker), `install ran repository content: ${existsSync(marker) ? readFileSync(marker, 'utf8') : ''}`);

  // A commit (post-commit) and a push (pre-push) through the installed hooks, plus sync and drain.
  await writeFiles(root, { 'kitty-specs/001-x/plan.md': '# plan\n' });
  await gitOk(root, ['add', '-A'], setupEnv);
  const commit = await git(root, ['commit', '-q', '-m', 'plan'], { ...env, PATH: env.PATH });
  t.is(commit.code, 0, commit.stderr);
  const bare = path.join(path.dirname(root), 'remote.git');
  await gitOk(path.dirname(root), ['init', '-q', '--bare', bare], setupEnv);
  await gitOk(root, ['remote', 'add', 'origin', bare], setupEnv);
  await writeFiles(root, { 'kitty-specs/001-x/tasks.md': '# tasks\n' });
  await gitOk(root, ['add', '-A'], setupEnv);
  await gitOk(root, ['commit', '-q', '-m', 'tasks'], { ...setupEnv, KITTY_SYNC: '0' });
  const push = await git(root, ['push', '-q', 'origin', 'main'], env);
  t.is(push.code, 0, push.stderr);
  for (const args of [['sync', '--all'], ['drain', '--force'], ['status']]) {
    const r = await cli(root, args, env);
    t.true(r.code === 0, `${args.join(' ')}: ${r.stderr}`);
  }
  t.false(existsSync(marker), `repository content was executed: ${existsSync(marker) ? readFileSync(marker, 'utf8') : ''}`);

  // The hooks did run (and delivered), so the check above is meaningful.
  const got = new Set(receiver.artifacts().map((a) => a.artifact_path));
  t.true(got.has('plan.md') && got.has('tasks.md') && got.has('spec.md'), [...got].join(', '));
  const launcher = readFileSync(path.join(root, '.git', 'kitty-sync', 'hooks', 'post-commit'), 'utf8');
  t.regex(launcher, new RegExp(`node='?${process.execPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'the launcher names node by absolute path');
  t.true(statSync(path.join(root, '.git', 'hooks', 'post-commit')).isFile());
});
