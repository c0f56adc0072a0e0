import test from 'ava';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseDuration, resolveSettings } from '../../lib/config.js';

function repoWithConfig(yaml: string): string {
  const root = mkdtempSync(path.join(tmpdir(), 'ks-config-'));
  mkdirSync(path.join(root, '.kittify'));
  writeFileSync(path.join(root, '.kittify', 'config.yaml'), yaml);
  return root;
}

test('precedence: flag > env > config.yaml > default', (t) => {
  const root = repoWithConfig('sync:\n  server_url: http://file.example/\n  budget_ms: 1234\n');
  const base = { repoRoot: root, commonGitDir: '/repo/.git', hook: 'post-commit' as const };
  t.is(resolveSettings({ ...base, env: {} }).serverUrl, 'http://file.example');
  t.is(resolveSettings({ ...base, env: {} }).budgetMs, 1234);
  t.is(resolveSettings({ ...base, env: { KITTY_SYNC_SERVER_URL: 'http://env', KITTY_SYNC_BUDGET_MS: '99' } }).serverUrl, 'http://env');
  t.is(resolveSettings({ ...base, env: { KITTY_SYNC_BUDGET_MS: '99' } }).budgetMs, 99);
  t.is(resolveSettings({ ...base, env: { KITTY_SYNC_SERVER_URL: 'http://env' }, flags: { serverUrl: 'http://flag' } }).serverUrl, 'http://flag');
});

test('defaults: hook budgets, state dir under the common git dir, no server', (t) => {
  const s = resolveSettings({ commonGitDir: '/repo/.git', env: {}, hook: 'pre-push' });
  t.is(s.budgetMs, 5000);
  t.is(s.serverUrl, null);
  t.is(s.stateDir, path.join('/repo/.git', 'kitty-sync'));
  t.true(s.enabled);
  t.is(resolveSettings({ commonGitDir: '/repo/.git', env: {}, hook: 'post-commit' }).budgetMs, 2000);
  t.is(resolveSettings({ commonGitDir: '/repo/.git', env: {} }).budgetMs, null);
  t.false(resolveSettings({ commonGitDir: '/g', env: { KITTY_SYNC: '0' } }).enabled);
  t.is(resolveSettings({ commonGitDir: '/g', env: { KITTY_SYNC_HOME: '/tmp/ks' } }).stateDir, '/tmp/ks');
});

test('malformed config.yaml is a warning naming the file, not a crash', (t) => {
  const root = repoWithConfig('sync: [unclosed\n');
  const s = resolveSettings({ repoRoot: root, commonGitDir: '/g', env: {} });
  t.is(s.serverUrl, null);
  t.is(s.warnings.length, 1);
  t.true(s.warnings[0].includes(path.join(root, '.kittify', 'config.yaml')));
  t.true(s.warnings[0].includes('invalid YAML'));
});

test('token comes only from the environment', (t) => {
  const root = repoWithConfig('sync:\n  token: leaked\n');
  t.is(resolveSettings({ repoRoot: root, commonGitDir: '/g', env: {} }).token, null);
  t.is(resolveSettings({ repoRoot: root, commonGitDir: '/g', env: { KITTY_SYNC_TOKEN: 'abc' } }).token, 'abc');
});

test('parseDuration', (t) => {
  t.is(parseDuration('500ms'), 500);
  t.is(parseDuration('5s'), 5000);
  t.is(parseDuration('2m'), 120000);
  t.is(parseDuration('250'), 250);
  t.throws(() => parseDuration('soon'));
});
