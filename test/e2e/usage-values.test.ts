// Issue 12 item 16: values that were not checked (log --limit x|0|1e9|-1, drain --budget -5s,
// serve --port abc, KITTY_SYNC_SERVER_URL=notaurl in status) each give one clear line and exit 2;
// a usage error prints the error and a one-line hint, never the whole help.
import test from 'ava';
import { cleanEnv, cli } from '../support/proc.js';
import { makeRepo } from '../support/git.js';

function usage(
  t: { is(a: unknown, b: unknown, m?: string): void; true(v: boolean, m?: string): void; notRegex(s: string, r: RegExp, m?: string): void; regex(s: string, r: RegExp, m?: string): void },
  r: { code: number | null; stderr: string },
  what: string,
  expect: RegExp,
): void {
  t.is(r.code, 2, `${what}: exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  t.true(lines.length >= 1 && lines.length <= 2, `${what}: one line and at most a hint: ${r.stderr}`);
  t.regex(lines[0], expect, what);
  t.notRegex(r.stderr, /Options:|Commands:|NaN|Unknown arguments: 5, s/, `${what}: no help dump, no NaN`);
}

test('bad values: one clear line each, exit 2', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const env = cleanEnv();
  for (const v of ['x', '0', '1e9', '-1', '2.5', '']) {
    usage(t, await cli(repo.root, ['log', '--limit', v], env), `log --limit ${v}`, /^kitty-sync: --limit: .*(whole number|at most)/);
  }
  usage(t, await cli(repo.root, ['drain', '--budget', '-5s'], env), 'drain --budget -5s', /^kitty-sync: --budget: .*-5s/);
  usage(t, await cli(repo.root, ['drain', '--budget', 'soon'], env), 'drain --budget soon', /^kitty-sync: --budget: invalid duration "soon"/);
  usage(t, await cli(repo.root, ['serve', '--port', 'abc'], env), 'serve --port abc', /^kitty-sync: --port: "abc" is not a port number/);
  usage(t, await cli(repo.root, ['serve', '--port', '70000'], env), 'serve --port 70000', /^kitty-sync: --port: "70000" is not a port number/);
  for (const args of [['status'], ['status', '--json']]) {
    const r = await cli(repo.root, args, cleanEnv({ KITTY_SYNC_SERVER_URL: 'notaurl' }));
    usage(t, r, `${args.join(' ')} with KITTY_SYNC_SERVER_URL=notaurl`, /^kitty-sync: server URL "notaurl" is not a valid URL.*KITTY_SYNC_SERVER_URL/);
    t.false(r.stdout.includes('server_configured'), 'no status claiming a configured server');
  }
  const ok = await cli(repo.root, ['log', '--limit', '5'], env);
  t.is(ok.code, 0, ok.stderr);
});

test('usage errors: the error and a one-line hint naming the command’s --help, not the whole help', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const env = cleanEnv();
  const unknownOpt = await cli(repo.root, ['status', '--bogus'], env);
  usage(t, unknownOpt, 'status --bogus', /^kitty-sync: Unknown argument: bogus/);
  t.regex(unknownOpt.stderr, /kitty-sync status --help/);
  const unknownCmd = await cli(repo.root, ['frobnicate'], env);
  usage(t, unknownCmd, 'frobnicate', /^kitty-sync: Unknown argument: frobnicate/);
  t.regex(unknownCmd.stderr, /kitty-sync --help/);
  const none = await cli(repo.root, [], env);
  usage(t, none, 'no command', /^kitty-sync: Name a command/);
});
