// Issue 12 item 11: a server URL's user:pass@ and query (?token=…) never appear in any output, and a
// token that HTTP headers cannot carry (a line break, a character outside Latin-1) is a clear
// configuration error, not `network_error: ERR_INVALID_CHAR` on every request.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { redactText, redactUrl } from '../../lib/redact.js';
import { cleanEnv, cli } from '../support/proc.js';
import { git, gitOk, makeRepo, writeFiles } from '../support/git.js';
import { startTestReceiver } from '../support/receiver.js';

const SECRETS = ['alice', 's3cretPass', 'tok_QUERY_123', 'other_val_9'];

function assertNoSecret(t: { false(v: boolean, m?: string): void }, what: string, text: string): void {
  for (const s of SECRETS) t.false(text.includes(s), `${what} shows ${s}: ${text}`);
}

async function committedRepo(t: { teardown(fn: () => unknown): void }) {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  await writeFiles(repo.root, { 'kitty-specs/001-red/spec.md': '# spec\n' });
  await gitOk(repo.root, ['add', '-A'], cleanEnv());
  await gitOk(repo.root, ['commit', '-q', '-m', 'feature'], cleanEnv());
  return repo.root;
}

test('status, drain and sync never print a server URL’s credentials or query', async (t) => {
  const urls = [
    `https://alice:s3cretPass@dash.example.invalid/sync?token=tok_QUERY_123&x=other_val_9`,
    `https://dash.example.invalid/sync?token=tok_QUERY_123`,
    `http://alice:s3cretPass@10.1.2.3:8080/?token=tok_QUERY_123`,
  ];
  // One repository per URL, the URLs at the same time: each URL's commands still run in order on
  // their own queue, as a user runs them; the three chains no longer wait for one another.
  const roots = await Promise.all(urls.map(() => committedRepo(t)));
  await Promise.all(
    urls.map(async (url, i) => {
      const env = cleanEnv({ KITTY_SYNC_SERVER_URL: url });
      for (const args of [['status'], ['status', '--json'], ['drain'], ['drain', '--json'], ['sync', '--all'], ['sync', '--all', '--json']]) {
        const r = await cli(roots[i], args, env);
        assertNoSecret(t, `${args.join(' ')} with ${url}`, r.stdout + r.stderr);
      }
    }),
  );
  const shown = await cli(roots[1], ['status'], cleanEnv({ KITTY_SYNC_SERVER_URL: urls[1] }));
  t.regex(shown.stdout, /server:\s+https:\/\/dash\.example\.invalid\/sync\?token=\[redacted\]/, 'the URL is still recognisable');
});

test('a token with a line break or a character outside Latin-1: one configuration line, exit 2, never ERR_INVALID_CHAR', async (t) => {
  const receiver = await startTestReceiver();
  t.teardown(() => receiver.close());
  const root = await committedRepo(t);
  for (const [token, why] of [
    ['abc\ndef', /line break/],
    ['abc€def', /outside Latin-1/],
  ] as const) {
    const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_TOKEN: token });
    const r = await cli(root, ['drain'], env);
    t.log(r.stderr);
    t.is(r.code, 2);
    t.regex(r.stderr, /KITTY_SYNC_TOKEN/);
    t.regex(r.stderr, why);
    t.notRegex(r.stderr, /ERR_INVALID_CHAR|network_error/);
    t.false(r.stderr.includes('def'), 'the token is not printed');
    const status = await cli(root, ['status'], env);
    t.regex(status.stdout, /token:\s+set, but unusable/);
  }
});

test('the hook with an unusable token says so in one line, queues the work, and the commit succeeds', async (t) => {
  const receiver = await startTestReceiver();
  const repo = await makeRepo();
  t.teardown(async () => {
    await receiver.close();
    await repo.cleanup();
  });
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_TOKEN: 'tok\u2028en' });
  writeFileSync(path.join(repo.root, 'README.md'), 'x\n');
  await gitOk(repo.root, ['add', '-A'], env);
  await gitOk(repo.root, ['commit', '-q', '-m', 'base'], env);
  t.is((await cli(repo.root, ['install', '--repo', repo.root], env)).code, 0);
  await writeFiles(repo.root, { 'kitty-specs/001-red/spec.md': '# spec\n' });
  await gitOk(repo.root, ['add', '-A'], env);
  const r = await git(repo.root, ['commit', '-q', '-m', 'feature'], env);
  t.is(r.code, 0);
  t.regex(r.stderr, /KITTY_SYNC_TOKEN .*outside Latin-1.*work stays queued/);
  t.regex(r.stderr, /001-red: 0 uploaded, 0 already_exists, 1 queued/);
  t.notRegex(r.stderr, /ERR_INVALID_CHAR/);
  t.is(receiver.stats().requests.push_content, 0);
});

test('redactUrl / redactText: userinfo and every query value hidden, the rest kept', (t) => {
  t.is(redactUrl('https://u:p@h.example/a/b?token=x&y=z#frag'), 'https://[redacted]@h.example/a/b?token=[redacted]&y=[redacted]#frag');
  t.is(redactUrl('https://h.example/a'), 'https://h.example/a');
  t.is(redactText('server: https://u:p@h.example/?k=v, next'), 'server: https://[redacted]@h.example/?k=[redacted], next');
  t.is(redactText('{"server_url": "http://u@127.0.0.1:1/?t=1"}'), '{"server_url": "http://[redacted]@127.0.0.1:1/?t=[redacted]"}');
  t.is(redactText('no url here: kitty-specs/001-a/spec.md'), 'no url here: kitty-specs/001-a/spec.md');
});
