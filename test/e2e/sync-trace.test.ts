// bench/backfill splits a cold `sync --all` into phases from KITTY_SYNC_TRACE's marks (issue 16):
// the sync command must mark the end of collection and of its report, and the marks stay on
// stderr, so `--json` output is still one parseable document.
import test from 'ava';
import { cli } from '../support/proc.js';
import { commitAll, makeRepo, writeFiles } from '../support/git.js';

test('sync --all with KITTY_SYNC_TRACE=1: collect and report marks on stderr, stdout still JSON', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  await writeFiles(repo, { 'kitty-specs/001-trace/spec.md': '# spec\n', 'kitty-specs/001-trace/plan.md': '# plan\n' });
  await commitAll(repo);
  // No server: the work is queued (exit 75), which is enough to pass every mark.
  const traced = await cli(repo.root, ['sync', '--all', '--json'], { KITTY_SYNC_TRACE: '1' });
  t.is(traced.code, 75, traced.stderr);
  const labels = traced.stderr
    .split('\n')
    .filter((l) => l.startsWith('kitty-sync trace:'))
    .map((l) => l.replace(/^.*cpu\s+\d+ ms \(\+\s*\d+\)\s+/, ''));
  t.deepEqual(
    labels.filter((l) => l.startsWith('sync:')),
    ['sync: modules loaded', 'sync: 2 artifacts collected', 'sync: reported'],
  );
  t.true(labels.indexOf('sync: 2 artifacts collected') < labels.indexOf('spooled'), labels.join(' | '));
  t.is((JSON.parse(traced.stdout) as { outcomes: unknown[] }).outcomes.length, 2);

  // Off by default: no trace lines at all.
  const quiet = await cli(repo.root, ['sync', '--all', '--json'], {});
  t.false(quiet.stderr.includes('kitty-sync trace:'), quiet.stderr);
});
