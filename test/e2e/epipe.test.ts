// Issue 12 item 15: `kitty-sync log | head -1` died with an unhandled `write EPIPE` stack trace
// (exit 1). A reader that goes away ends the output quietly, exit 0, for every command.
import test from 'ava';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, CLI_PATH, run } from '../support/proc.js';
import { copyCorpusFeatures, CORPUS_DIR, gitOk, makeRepo } from '../support/git.js';

test('output into a pipe closed early (log, log --json, sync --dry-run | head -1): quiet, exit 0', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  // A long outcome log: far more than a pipe buffer (64 KiB), so the writer meets the closed pipe.
  const stateDir = path.join(repo.root, '.git', 'kitty-sync');
  mkdirSync(stateDir, { recursive: true });
  const at = new Date().toISOString();
  const lines = Array.from({ length: 6000 }, (_, i) =>
    JSON.stringify({ at, source: 'drain', feature_slug: '001-pipe', artifact_path: `research/note-${i}.md`, content_hash: 'a'.repeat(64), status: 'uploaded', reason: null }),
  );
  writeFileSync(path.join(stateDir, 'outcomes.log'), `${lines.join('\n')}\n`);
  await copyCorpusFeatures(repo, readdirSync(CORPUS_DIR).sort().slice(0, 12));
  await gitOk(repo.root, ['add', '-A'], cleanEnv());
  await gitOk(repo.root, ['commit', '-q', '-m', 'corpus'], cleanEnv());

  for (const args of ['log --limit 6000', 'log --limit 6000 --json', 'sync --all --dry-run', 'sync --all --dry-run --json']) {
    const r = await run('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI_PATH}" ${args} | head -c 20 >/dev/null`], { cwd: repo.root, env: cleanEnv() });
    t.is(r.code, 0, `${args}: exit ${r.code}: ${r.stderr}`);
    t.is(r.stderr, '', `${args}: nothing on stderr`);
  }
});
