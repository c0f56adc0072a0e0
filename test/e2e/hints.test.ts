// Issue 12 item 19: missing hints. status says when the hooks are not installed in this repository;
// the refusal of plain http:// names the setting that allows it; the README documents every
// KITTY_SYNC_* variable kitty-sync reads (KITTY_SYNC_BIN_DIR was missing).
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, cli, PROJECT_ROOT } from '../support/proc.js';
import { makeRepo } from '../support/git.js';

test('status says whether the hooks are installed in this repository, and how to install them', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const before = await cli(repo.root, ['status'], cleanEnv());
  t.is(before.code, 0, before.stderr);
  t.regex(before.stdout, /hooks:\s+not installed in this repository.*kitty-sync install/);
  const json = JSON.parse((await cli(repo.root, ['status', '--json'], cleanEnv())).stdout) as { hooks_installed: Record<string, boolean> };
  t.deepEqual(json.hooks_installed, { 'post-commit': false, 'pre-push': false });

  t.is((await cli(repo.root, ['install', '--repo', repo.root], cleanEnv())).code, 0);
  const after = await cli(repo.root, ['status'], cleanEnv());
  t.regex(after.stdout, /hooks:\s+installed \(post-commit, pre-push\)/);
  t.deepEqual((JSON.parse((await cli(repo.root, ['status', '--json'], cleanEnv())).stdout) as { hooks_installed: Record<string, boolean> }).hooks_installed, {
    'post-commit': true,
    'pre-push': true,
  });
});

test('the refusal of plain http:// to another host names KITTY_SYNC_ALLOW_INSECURE_HTTP', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const r = await cli(repo.root, ['drain'], cleanEnv({ KITTY_SYNC_SERVER_URL: 'http://dashboard.example.invalid' }));
  t.is(r.code, 2);
  t.regex(r.stderr, /refusing plain http:\/\/.*KITTY_SYNC_ALLOW_INSECURE_HTTP=1/);
});

test('the README documents every KITTY_SYNC_* variable that kitty-sync, its launchers and its scripts read', (t) => {
  const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  const sources: string[] = [];
  for (const dir of ['lib', 'bin', 'hooks']) {
    for (const f of readdirSync(path.join(PROJECT_ROOT, dir), { withFileTypes: true, recursive: true })) if (f.isFile()) sources.push(path.join(f.parentPath, f.name));
  }
  sources.push(path.join(PROJECT_ROOT, 'install.sh'), path.join(PROJECT_ROOT, 'demo.sh'));
  const vars = new Set<string>();
  for (const f of sources) {
    // @KITTY_SYNC_NODE@ and @KITTY_SYNC_CLI@ are template placeholders, <<KITTY_SYNC_EOF a here-document's end: not variables.
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?<![@\w])KITTY_SYNC_[A-Z_]*[A-Z](?![\w@])/g)) if (!text.includes(`<<${m[0]}`)) vars.add(m[0]);
  }
  t.true(vars.has('KITTY_SYNC_BIN_DIR'));
  const missing = [...vars].filter((v) => !new RegExp(`\\b${v}\\b`).test(readme)).sort();
  t.deepEqual(missing, [], `undocumented in README.md: ${missing.join(', ')}`);
});
