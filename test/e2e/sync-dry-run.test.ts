// Runs the built CLI as a user would: `node dist/bundle/kitty-sync.js sync ... --dry-run`.
import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { cleanEnv, CLI_PATH } from '../support/proc.js';
import { commitAll, copyCorpusFeatures, gitOk, makeRepo, TEST_UUID, writeFiles } from '../support/git.js';

const execFileP = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(cwd: string, ...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLI_PATH, ...args], { cwd, env: cleanEnv({ KITTY_SYNC_SERVER_URL: '' }), maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface Report {
  rev: string;
  namespaces: Record<string, { project_uuid: string; feature_slug: string; target_branch: string; mission_key: string; manifest_version: string }>;
  outcomes: { feature_slug: string; artifact_path: string; content_hash: string | null; size_bytes: number | null; status: string; reason: string | null }[];
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue;
    n += d.isDirectory() ? await countFiles(path.join(dir, d.name)) : 1;
  }
  return n;
}

test('sync --all --dry-run --json over all corpus features classifies every file', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  const features = await copyCorpusFeatures(r, 'all');
  // Any folder is a feature, as in 047 (no NNN-slug pattern).
  await writeFiles(r, { 'kitty-specs/Any_Dir/spec.md': 'x' });
  const sha = await commitAll(r, 'corpus');
  const run = await cli(r.root, 'sync', '--all', '--dry-run', '--json');
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as Report;
  t.is(report.rev, sha);
  t.is(Object.keys(report.namespaces).length, features.length + 1);
  for (const ns of Object.values(report.namespaces)) t.is(ns.project_uuid, TEST_UUID);

  // Every file but hidden ones (never scanned, as in 047) gets exactly one outcome.
  t.is(report.outcomes.length, await countFiles(path.join(r.root, 'kitty-specs')));
  t.deepEqual(
    report.outcomes.filter((o) => o.feature_slug === 'Any_Dir').map((o) => [o.artifact_path, o.status]),
    [['spec.md', 'queued']],
  );
  for (const o of report.outcomes) {
    t.true(o.status === 'queued' ? o.reason === 'dry_run' : o.status === 'skipped' && typeof o.reason === 'string', JSON.stringify(o));
  }
  // Every queued hash matches the file on disk (committed == working tree here).
  const queued = report.outcomes.filter((o) => o.status === 'queued');
  t.true(queued.length > 900);
  for (const o of queued) {
    const bytes = await readFile(path.join(r.root, 'kitty-specs', o.feature_slug, o.artifact_path));
    t.is(o.content_hash, createHash('sha256').update(bytes).digest('hex'));
    t.is(o.size_bytes, bytes.length);
  }
});

test('text output, named features, --rev, --repo; nothing changes on disk', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 'v1', 'kitty-specs/001-a/meta.json': '{"target_branch":"feature/a"}', 'kitty-specs/002-b/plan.md': 'p' });
  const c1 = await commitAll(r, 'one');
  await writeFiles(r, { 'kitty-specs/001-a/plan.md': 'later' });
  await commitAll(r, 'two');
  const before = await gitOk(r, ['status', '--porcelain', '--ignored']);
  const run = await cli(path.dirname(r.root), 'sync', '001-a', '--rev', c1, '--dry-run', '--repo', r.root);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /001-a {2}\(branch feature\/a, mission software-dev, manifest 1\)/);
  t.regex(run.stdout, /would queue .* spec\.md/);
  t.regex(run.stdout, /skip unsupported_surface .* meta\.json/);
  t.notRegex(run.stdout, /plan\.md|002-b/);
  t.regex(run.stdout, /1 feature\(s\): 1 would be queued, 1 skipped/);
  t.is(await gitOk(r, ['status', '--porcelain', '--ignored']), before);
});

test('usage and configuration errors exit 2 with a clear message', async (t) => {
  const r = await makeRepo({ uuid: null });
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 's' });
  await commitAll(r, 'one');
  const noUuid = await cli(r.root, 'sync', '--all', '--dry-run');
  t.is(noUuid.code, 2);
  t.regex(noUuid.stderr, /kitty-sync install/);

  await writeFiles(r, { '.kittify/config.yaml': `project:\n  uuid: ${TEST_UUID}\n` });
  await commitAll(r, 'uuid');
  const nothing = await cli(r.root, 'sync', '--dry-run');
  t.is(nothing.code, 2);
  t.regex(nothing.stderr, /--all/);
  const missing = await cli(r.root, 'sync', '009-none', '--dry-run');
  t.is(missing.code, 2);
  t.regex(missing.stderr, /kitty-specs\/009-none/);
  const badRev = await cli(r.root, 'sync', '--all', '--rev', 'nope', '--dry-run');
  t.is(badRev.code, 2);
  t.regex(badRev.stderr, /nope does not name a commit/);
  // Without --dry-run and without a server, sync queues the work and says so (exit 75: work remains queued).
  const noServer = await cli(r.root, 'sync', '--all');
  t.is(noServer.code, 75);
  t.regex(noServer.stderr, /no server configured/);
  t.regex(noServer.stderr, /001-a: 0 uploaded, 0 already_exists, 1 queued/);
  const help = await cli(r.root, 'sync', '--help');
  t.is(help.code, 0);
  t.regex(help.stdout, /--dry-run/);
});
