// Issue 12 item 4: duration settings beyond what a timer can hold (2^31 - 1 ms) made the hook's
// watchdog fire after 1 ms: the hook gave up at once and claimed the work was queued. Every duration
// setting is clamped to a sane range, with one warning line saying so.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveSettings } from '../../lib/config.js';
import { MAX_BUDGET_MS } from '../../lib/durations.js';
import { cleanEnv, cli } from '../support/proc.js';
import { git, gitOk, makeRepo, writeFiles } from '../support/git.js';
import { startTestReceiver } from '../support/receiver.js';

test('KITTY_SYNC_BUDGET_MS=99999999999: the hook still delivers, with one warning line; no timer overflow', async (t) => {
  const receiver = await startTestReceiver({ faults: { latencyMs: { min: 20, max: 20 } } });
  const repo = await makeRepo();
  t.teardown(async () => {
    await receiver.close();
    await repo.cleanup();
  });
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_BUDGET_MS: '99999999999' });
  writeFileSync(path.join(repo.root, 'README.md'), 'x\n');
  await gitOk(repo.root, ['add', '-A'], env);
  await gitOk(repo.root, ['commit', '-q', '-m', 'base'], env);
  const install = await cli(repo.root, ['install', '--repo', repo.root], env);
  t.is(install.code, 0, install.stderr);
  await writeFiles(repo.root, { 'kitty-specs/001-budget/spec.md': '# spec\n', 'kitty-specs/001-budget/plan.md': '# plan\n' });
  await gitOk(repo.root, ['add', '-A'], env);
  const r = await git(repo.root, ['commit', '-q', '-m', 'feature'], env);
  t.is(r.code, 0);
  t.log(r.stderr);
  t.regex(r.stderr, /001-budget: 2 uploaded, 0 already_exists, 0 queued/);
  t.notRegex(r.stderr, /took too long|TimeoutOverflowWarning/);
  const warnings = r.stderr.split('\n').filter((l) => l.includes('KITTY_SYNC_BUDGET_MS'));
  t.is(warnings.length, 1, 'exactly one warning line');
  t.regex(warnings[0], /99999999999.*(maximum|at most).*3600000/);
});

test('drain --budget 99999999h: clamped with one warning, and the drain delivers', async (t) => {
  const receiver = await startTestReceiver({ faults: { latencyMs: { min: 20, max: 20 } } });
  const repo = await makeRepo();
  t.teardown(async () => {
    await receiver.close();
    await repo.cleanup();
  });
  await writeFiles(repo.root, { 'kitty-specs/001-budget/spec.md': '# spec\n' });
  await gitOk(repo.root, ['add', '-A'], cleanEnv());
  await gitOk(repo.root, ['commit', '-q', '-m', 'feature'], cleanEnv());
  const offline = await cli(repo.root, ['sync', '--all'], cleanEnv());
  t.is(offline.code, 75, 'queued, no server');
  const r = await cli(repo.root, ['drain', '--budget', '99999999h'], cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url }));
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /drained: 1 attempted/);
  t.is(r.stderr.split('\n').filter((l) => /--budget/.test(l)).length, 1);
  t.notRegex(r.stderr, /TimeoutOverflowWarning/);
});

test('every duration setting is clamped with one warning naming where it came from; in-range values are kept', (t) => {
  const dir = '/nonexistent-kitty-sync-repo';
  const hook = resolveSettings({ env: { KITTY_SYNC_BUDGET_MS: '1e400' }, commonGitDir: dir, hook: 'post-commit' });
  t.is(hook.budgetMs, 2000, 'Infinity is not a number: ignored, default kept');
  const big = resolveSettings({ env: { KITTY_SYNC_BUDGET_MS: String(2 ** 31), KITTY_SYNC_MAX_TASK_AGE_MS: '1e30', KITTY_SYNC_CONCURRENCY: '1000000000' }, commonGitDir: dir, hook: 'pre-push' });
  t.is(big.budgetMs, MAX_BUDGET_MS);
  t.true(big.maxTaskAgeMs <= 10 * 366 * 24 * 3_600_000);
  t.true(big.concurrency <= 64);
  t.is(big.warnings.length, 3, big.warnings.join('\n'));
  t.true(big.warnings.every((w) => !w.includes('\n')));
  t.regex(big.warnings.join('\n'), /KITTY_SYNC_BUDGET_MS/);
  t.regex(big.warnings.join('\n'), /KITTY_SYNC_MAX_TASK_AGE_MS/);
  t.regex(big.warnings.join('\n'), /KITTY_SYNC_CONCURRENCY/);
  const ok = resolveSettings({ env: { KITTY_SYNC_BUDGET_MS: '0', KITTY_SYNC_MAX_TASK_AGE_MS: '5' }, commonGitDir: dir, hook: 'post-commit' });
  t.is(ok.budgetMs, 0);
  t.is(ok.maxTaskAgeMs, 5);
  t.deepEqual(ok.warnings, []);
});

test('sync.budget_ms in .kittify/config.yaml beyond the maximum: the warning names the file', async (t) => {
  const repo = await makeRepo({ configExtra: 'sync:\n  budget_ms: 99999999999' });
  t.teardown(() => repo.cleanup());
  const s = resolveSettings({ env: {}, repoRoot: repo.root, commonGitDir: path.join(repo.root, '.git'), hook: 'post-commit' });
  t.is(s.budgetMs, MAX_BUDGET_MS);
  t.is(s.warnings.length, 1);
  t.regex(s.warnings[0], /config\.yaml: sync\.budget_ms/);
});
