// `kitty-sync doctor` (issue 13 item 3) end to end: the built CLI against a real `kitty-sync serve`
// process and real repositories. Each check flips from ✓ to ✗ on the failure it is there for, the
// exit code follows the checks delivery needs, and the probe stores nothing on the server.
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnReceiver, type SpawnedReceiver } from '../support/receiver.js';
import { cleanEnv, cli, CLI_PATH, run } from '../support/proc.js';
import { writeFiles } from '../support/git.js';
import { commit, deadUrl, feature, type HookRepo, installHooks, newRepo, OFF } from '../support/hooks.js';

const TOKEN = 'kst_doctor_5a0e7c3d91b2';

interface Check {
  id: string;
  ok: boolean;
  required: boolean;
  summary: string;
  fix: string | null;
}

let serve: SpawnedReceiver;
test.before(async () => {
  serve = await spawnReceiver({ token: TOKEN });
});
test.after.always(async () => {
  await serve?.stop();
});

async function doctor(root: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; checks: Record<string, Check>; text: string }> {
  const json = await cli(root, ['doctor', '--json'], env);
  const parsed = JSON.parse(json.stdout) as { ok: boolean; checks: Check[] };
  t_assert(parsed.ok === (json.code === 0), `doctor --json: ok ${parsed.ok} but exit ${json.code}`);
  const text = await cli(root, ['doctor'], env);
  return { code: json.code, checks: Object.fromEntries(parsed.checks.map((c) => [c.id, c])), text: text.stdout };
}

function t_assert(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

/** A repository installed the way the README says: hooks, the uuid committed, a feature delivered. */
async function readyRepo(t: { teardown(fn: () => unknown): void }): Promise<HookRepo> {
  const repo = await newRepo();
  t.teardown(() => repo.cleanup());
  await installHooks(repo.root);
  await commit(repo.root, 'uuid', OFF);
  return repo;
}

test('a repository set up as the README says: every check ✓, exit 0, and the probe stores nothing on the server', async (t) => {
  const repo = await readyRepo(t);
  // Its own server, so that the request counts are this test's alone.
  const own = await spawnReceiver({ token: TOKEN });
  t.teardown(() => own.stop());
  const env = { KITTY_SYNC_SERVER_URL: own.url, KITTY_SYNC_TOKEN: TOKEN };
  const before = await own.stats();
  const d = await doctor(repo.root, env);
  t.is(d.code, 0, d.text);
  for (const c of Object.values(d.checks)) t.true(c.ok, `${c.id}: ${c.summary}`);
  t.deepEqual(Object.keys(d.checks), ['git', 'node', 'hooks', 'hook-manager', 'project-uuid', 'server', 'token', 'protocol', 'state-dir', 'queue']);
  t.regex(d.checks.protocol.summary, /\{"results":\[\]\}/);
  t.regex(d.checks.token.summary, /accepted \(from KITTY_SYNC_TOKEN\)/);
  t.regex(d.checks.node.summary, /the hooks run/);
  // Text form: one line per check with its mark.
  t.is(d.text.split('\n').filter((l) => /^[✓✗] /.test(l)).length, 10);
  const after = await own.stats();
  t.is(after.requests.events, before.requests.events + 2, 'one empty batch per doctor run (--json and text)');
  t.deepEqual(after.store, before.store, 'the empty batch stored nothing');
  t.is(after.events.success, before.events.success);
  t.false(d.text.includes(TOKEN));
});

test("token: refused → ✗ with `kitty-sync login`; from Git's credential helper → ✓; none → ✗", async (t) => {
  const repo = await readyRepo(t);
  const wrong = await doctor(repo.root, { KITTY_SYNC_SERVER_URL: serve.url, KITTY_SYNC_TOKEN: 'kst_wrong_0000000000' });
  t.is(wrong.code, 1);
  t.false(wrong.checks.token.ok);
  t.regex(wrong.checks.token.summary, /refused the token from KITTY_SYNC_TOKEN/);
  t.true(wrong.checks.server.ok, 'the server was reached');

  const none = await doctor(repo.root, { KITTY_SYNC_SERVER_URL: serve.url });
  t.is(none.code, 1);
  t.regex(none.checks.token.fix ?? '', /kitty-sync login/);

  // A credential-store helper holding the token (stored by `kitty-sync login`).
  const home = realpathSync(mkdtempSync(path.join(tmpdir(), 'ks-doctor-home-')));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  writeFileSync(path.join(home, 'gitconfig'), `[credential]\n\thelper = store --file=${path.join(home, 'creds')}\n`);
  const credEnv = { HOME: home, GIT_CONFIG_GLOBAL: path.join(home, 'gitconfig'), KITTY_SYNC_SERVER_URL: serve.url };
  const login = await run(process.execPath, [CLI_PATH, 'login'], { cwd: repo.root, env: cleanEnv(credEnv), input: `${TOKEN}\n` });
  t.is(login.code, 0, login.stderr);
  const viaHelper = await doctor(repo.root, credEnv);
  t.is(viaHelper.code, 0, viaHelper.text);
  t.regex(viaHelper.checks.token.summary, /accepted \(from Git's credential helper\)/);
});

test('server unreachable, 410 and 412 answers: ✗ explained, exit 1', async (t) => {
  const repo = await readyRepo(t);
  const down = await doctor(repo.root, { KITTY_SYNC_SERVER_URL: await deadUrl(), KITTY_SYNC_TOKEN: TOKEN });
  t.is(down.code, 1);
  t.regex(down.checks.server.summary, /unreachable: connection_refused/);
  t.regex(down.checks.server.fix ?? '', /server running/);
  t.regex(down.checks.token.summary, /not checked/);

  let status = 410;
  const raw = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(status === 410 ? { error: 'legacy_ingress_retired' } : { error: 'protocol_version_unsupported' }));
    });
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => raw.close(() => r())));
  const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
  const gone = await doctor(repo.root, { KITTY_SYNC_SERVER_URL: url, KITTY_SYNC_TOKEN: TOKEN });
  t.is(gone.code, 1);
  t.true(gone.checks.server.ok);
  t.regex(gone.checks.protocol.summary, /410 Gone: the server retired this endpoint \(legacy_ingress_retired\)/);
  t.regex(gone.checks.protocol.fix ?? '', /kitty-sync serve|upgrade/);
  status = 412;
  const refused = await doctor(repo.root, { KITTY_SYNC_SERVER_URL: url, KITTY_SYNC_TOKEN: TOKEN });
  t.is(refused.code, 1);
  t.regex(refused.checks.protocol.summary, /412 Precondition Failed: the server refused this client's protocol \(protocol_version_unsupported\)/);
});

test('hooks, project uuid, state dir and queue: each ✗ on its own failure', async (t) => {
  const env = { KITTY_SYNC_SERVER_URL: serve.url, KITTY_SYNC_TOKEN: TOKEN };
  const bare = await newRepo();
  t.teardown(() => bare.cleanup());
  const fresh = await doctor(bare.root, env);
  t.is(fresh.code, 1);
  t.regex(fresh.checks.hooks.summary, /not installed/);
  t.regex(fresh.checks['project-uuid'].summary, /not committed/);
  t.regex(fresh.checks['project-uuid'].fix ?? '', /git add \.kittify\/config\.yaml/);

  const repo = await readyRepo(t);
  // A launcher whose node is gone (Node upgraded or moved).
  const launcher = path.join(repo.stateDir, 'hooks', 'post-commit');
  const original = readFileSync(launcher, 'utf8');
  writeFileSync(launcher, original.replace(/^node='[^']*'$/m, "node='/nonexistent/node'"));
  const moved = await doctor(repo.root, env);
  t.is(moved.code, 1);
  t.regex(moved.checks.hooks.summary, /post-commit: the launcher's node \/nonexistent\/node does not exist/);
  t.regex(moved.checks.hooks.fix ?? '', /kitty-sync install/);
  writeFileSync(launcher, original);

  // A state dir others can write: flagged, but delivery still works (exit 0).
  chmodSync(repo.stateDir, 0o777);
  const loose = await doctor(repo.root, env);
  t.false(loose.checks['state-dir'].ok);
  t.false(loose.checks['state-dir'].required);
  t.regex(loose.checks['state-dir'].fix ?? '', /chmod go-w/);
  t.is(loose.code, 0, loose.text);
  chmodSync(repo.stateDir, 0o700);

  // Work queued while the server was down: counted, still fine.
  await writeFiles(repo.root, feature('001-doctor'));
  await commit(repo.root, 'feature', OFF);
  await cli(repo.root, ['sync', '--all'], { KITTY_SYNC_SERVER_URL: await deadUrl(), KITTY_SYNC_TOKEN: TOKEN });
  const pending = await doctor(repo.root, env);
  t.regex(pending.checks.queue.summary, /^[1-9]\d* pending \(.*\), [1-9]\d* index events pending, 0 failed, oldest \d+s$/);
  t.true(pending.checks.queue.ok);

  // A server that refuses everything for good (400): dead letters. Queue ✗, not needed for delivery.
  const refuser = await answering(t, 400, { error: 'bad_request' });
  await cli(repo.root, ['drain', '--force'], { KITTY_SYNC_SERVER_URL: refuser, KITTY_SYNC_TOKEN: TOKEN });
  const failed = await doctor(repo.root, env);
  t.false(failed.checks.queue.ok);
  t.false(failed.checks.queue.required);
  t.regex(failed.checks.queue.summary, /[1-9]\d* failed/);
  t.regex(failed.checks.queue.fix ?? '', /kitty-sync retry --all/);
  t.is(failed.code, 0, failed.text);
});

/** A loopback server answering every request with `status` and `body`. */
async function answering(t: { teardown(fn: () => unknown): void }, status: number, body: unknown): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
