import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile, readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { UnknownRevisionError, collectArtifacts, normalizeFeatureName, splitSpecsPath } from '../../lib/collect/artifacts.js';
import { openRepo } from '../../lib/collect/git.js';
import type { UploadOutcome } from '../../lib/types.js';
import { commitAll, copyCorpusFeatures, gitOk, makeRepo, TEST_UUID, writeFiles } from '../support/git.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function walk(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    // Hidden files and folders are never scanned (047's rule 1).
    if (d.name.startsWith('.')) continue;
    if (d.isDirectory()) out.push(...(await walk(path.join(dir, d.name), rel)));
    else out.push(rel);
  }
  return out;
}

/** The SPEC §3 rules (047's surfaces) restated independently of lib/eligibility.ts, for corpus files (all regular). */
function expectedEligible(rel: string, bytes: Buffer): boolean {
  const surface = /^(spec|plan|tasks|research|quickstart|data-model)\.md$/.test(rel) || /^(research|contracts|checklists)\/.+/.test(rel) || /^tasks\/WP[0-9].*\.md$/.test(rel);
  const format = /\.(md|json|ya?ml|csv)$/i.test(rel);
  const utf8 = Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
  return surface && format && bytes.length <= 524288 && !bytes.includes(0) && utf8;
}

const CORPUS_PICK = [
  '042-local-mission-dossier-authority-parity-export', // contracts, checklists, WP prompts
  '004-modular-code-refactoring', // a NUL byte, invalid UTF-8 CSVs, research/
  '041-enable-plan-mission-runtime-support', // contracts/*.txt
  '039-cli-2x-readiness', // nested checklists
  '045-agent-profile-system', // target_branch with '/'
  '012-documentation-mission',
];

test('corpus features: every file gets one outcome; eligible hashes match node:crypto over the files', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await copyCorpusFeatures(r, CORPUS_PICK);
  const sha = await commitAll(r, 'corpus');
  const repo = await openRepo(r.root);
  const res = await collectArtifacts(repo, { rev: 'HEAD', features: 'all' });
  t.is(res.rev, sha);
  t.is(res.projectUuid, TEST_UUID);
  t.is(res.projectSlug, 'kitty-test');
  t.deepEqual(res.problems, []);
  t.deepEqual(Object.keys(res.namespaces).sort(), [...CORPUS_PICK].sort());

  let total = 0;
  for (const feature of CORPUS_PICK) {
    const dir = path.join(r.root, 'kitty-specs', feature);
    const files = await walk(dir);
    total += files.length;
    const meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as Record<string, string>;
    t.deepEqual(res.namespaces[feature], {
      project_uuid: TEST_UUID,
      feature_slug: feature,
      target_branch: meta.target_branch ?? 'main',
      mission_key: meta.mission_type ?? meta.mission ?? 'software-dev',
      manifest_version: '1',
    });
    for (const rel of files) {
      const bytes = await readFile(path.join(dir, rel));
      const el = res.eligible.find((a) => a.namespace.feature_slug === feature && a.artifact_path === rel);
      const sk = res.skipped.find((s) => s.feature_slug === feature && s.artifact_path === rel);
      t.true(Boolean(el) !== Boolean(sk), `${feature}/${rel} has exactly one outcome`);
      t.is(Boolean(el), expectedEligible(rel, bytes), `${feature}/${rel}`);
      if (el) {
        t.is(el.content_hash, sha256(bytes), `${feature}/${rel}`);
        t.is(el.size_bytes, bytes.length);
        t.true(el.body.equals(bytes));
      }
    }
  }
  t.is(res.eligible.length + res.skipped.length, total);
  // The corpus' known odd files.
  const reason = (f: string, p: string) => res.skipped.find((s) => s.feature_slug === f && s.artifact_path === p)?.reason;
  t.is(reason('004-modular-code-refactoring', 'research.md'), 'binary');
  t.is(reason('004-modular-code-refactoring', 'research/evidence-log.csv'), 'not_valid_utf8');
  t.is(reason('041-enable-plan-mission-runtime-support', 'contracts/test-coverage.txt'), 'unsupported_format');
  t.is(reason('042-local-mission-dossier-authority-parity-export', 'meta.json'), 'unsupported_surface');
  t.is(reason('042-local-mission-dossier-authority-parity-export', 'status.json'), 'unsupported_surface');
  t.true(res.namespaces['045-agent-profile-system'].target_branch.includes('/'));
  const wp = res.eligible.find((a) => a.artifact_path === 'tasks/WP02-manifests.md');
  t.like(wp, { artifact_key: 'artifact.wp02-manifests', wp_id: null, artifact_class: 'workflow' });
});

test('odd inputs: every rule and reason code in one commit', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  const f = 'kitty-specs/001-odd';
  const files: Record<string, string | Buffer> = {
    [`${f}/meta.json`]: JSON.stringify({ target_branch: 'feature/odd', mission_type: 'software-dev' }),
    [`${f}/status.json`]: '{}',
    [`${f}/spec.md`]: Buffer.alloc(524_288, 0x61),
    [`${f}/plan.md`]: Buffer.alloc(524_289, 0x61),
    [`${f}/tasks.md`]: Buffer.from([0xef, 0xbb, 0xbf, 0x23, 0x0a]),
    [`${f}/research.md`]: Buffer.from('nul\u0000here'),
    [`${f}/quickstart.md`]: Buffer.from([0x61, 0xff, 0x62]),
    [`${f}/tasks/WP01-x.md`]: 'wp',
    [`${f}/tasks/README.md`]: 'readme',
    [`${f}/tasks/notes-WP01.md`]: 'notes',
    [`${f}/tasks/WP03.MD`]: 'upper-case extension: not a prompt for 047',
    [`${f}/tasks/WP02-x/review-cycle-1.md`]: 'nested review file: a prompt for 047',
    [`${f}/notes (copy).md`]: 'no valid artifact key',
    [`${f}/research/deep/nested/Sources ü.CSV`]: 'a,b\n',
    [`${f}/research/deep/nested/Sources.CSV`]: 'a,b\n',
    [`${f}/contracts/v1/api spec.YAML`]: 'a: 1\n',
    [`${f}/checklists/sub/req.md`]: '- [ ] x\n',
    [`${f}/checklists/.gitkeep`]: '',
    [`${f}/.review/WP01.md`]: 'hidden folder: never scanned',
    [`${f}/contracts/notes.txt`]: 'txt',
    [`${f}/extra.md`]: 'not a surface',
    'kitty-specs/Not-A-Slug/spec.md': 'x',
    'kitty-specs/Not-A-Slug/plan.md': 'y',
    'kitty-specs/README.md': 'top-level file, not a feature',
  };
  await writeFiles(r, files);
  const first = await commitAll(r, 'files');
  await symlink('spec.md', path.join(r.root, f, 'data-model.md'));
  await gitOk(r, ['update-index', '--add', '--cacheinfo', `160000,${first},${f}/research/submodule.md`]);
  await gitOk(r, ['add', `${f}/data-model.md`]);
  await gitOk(r, ['commit', '-q', '-m', 'links']);
  const repo = await openRepo(r.root);
  const res = await collectArtifacts(repo, {});
  const outcome = (p: string): string | null => {
    if (res.eligible.some((a) => a.namespace.feature_slug === '001-odd' && a.artifact_path === p)) return 'eligible';
    return res.skipped.find((s) => s.feature_slug === '001-odd' && s.artifact_path === p)?.reason ?? null;
  };
  const expected: Record<string, string> = {
    'meta.json': 'unsupported_surface',
    'status.json': 'unsupported_surface',
    'spec.md': 'eligible',
    'plan.md': 'oversized',
    'tasks.md': 'eligible',
    'research.md': 'binary',
    'quickstart.md': 'not_valid_utf8',
    'tasks/WP01-x.md': 'eligible',
    'tasks/README.md': 'unsupported_surface',
    'tasks/notes-WP01.md': 'unsupported_surface',
    'tasks/WP03.MD': 'unsupported_surface',
    'tasks/WP02-x/review-cycle-1.md': 'eligible',
    'notes (copy).md': 'invalid_artifact_key',
    // ü cannot be in an artifact key (047 would drop the whole feature; kitty-sync skips the file).
    'research/deep/nested/Sources ü.CSV': 'invalid_artifact_key',
    'research/deep/nested/Sources.CSV': 'eligible',
    'contracts/v1/api spec.YAML': 'eligible',
    'checklists/sub/req.md': 'eligible',
    'contracts/notes.txt': 'unsupported_format',
    'extra.md': 'unsupported_surface',
    'data-model.md': 'not_regular_file',
    'research/submodule.md': 'not_regular_file',
  };
  for (const [p, want] of Object.entries(expected)) t.is(outcome(p), want, p);
  for (const hidden of ['checklists/.gitkeep', '.review/WP01.md']) t.is(outcome(hidden), null, `${hidden} is never scanned`);
  const odd = (x: { feature_slug: string }) => x.feature_slug === '001-odd';
  t.is(res.eligible.filter((a) => odd(a.namespace)).length + res.skipped.filter(odd).length, Object.keys(expected).length);

  const bom = res.eligible.find((a) => a.artifact_path === 'tasks.md')!;
  t.deepEqual([...bom.body.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  t.is(bom.content_hash, sha256(files[`${f}/tasks.md`] as Buffer));
  t.is(res.eligible.find((a) => a.artifact_path === 'spec.md')!.size_bytes, 524_288);
  t.is(res.namespaces['001-odd'].target_branch, 'feature/odd');

  // Any folder is a feature, as in 047.
  t.true('Not-A-Slug' in res.namespaces);
  t.deepEqual(
    res.eligible.filter((a) => a.namespace.feature_slug === 'Not-A-Slug').map((a) => a.artifact_path),
    ['plan.md', 'spec.md'],
  );
  // Indexed: every present file of 001-odd but the symlink, the submodule, the invalid UTF-8 one and the bad key.
  const oddIndex = res.indexes.find((i) => i.namespace.feature_slug === '001-odd')!;
  t.false(oddIndex.artifacts.some((a) => ['data-model.md', 'research/submodule.md', 'quickstart.md', 'notes (copy).md'].includes(a.artifact_path)));
  t.true(oddIndex.artifacts.some((a) => a.artifact_path === 'meta.json'));
  t.true(
    oddIndex.artifacts.some((a) => a.artifact_path === 'research.md'),
    'valid UTF-8 with NUL is indexed (only its body is binary)',
  );
  t.false(res.skipped.some((s) => s.feature_slug === 'README.md'));
  // Sizes as git has them: a symlink's blob is its target's name (7 bytes: spec.md), a file's its bytes.
  const skippedSize = (p: string) => res.skipped.find((s) => s.feature_slug === '001-odd' && s.artifact_path === p)?.size_bytes;
  t.is(skippedSize('data-model.md'), 'spec.md'.length);
  t.is(skippedSize('research/submodule.md'), 0);
  t.is(skippedSize('extra.md'), Buffer.byteLength(files[`${f}/extra.md`]));
});

test('working tree differs from the commit: the committed bytes are used', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 'committed\n', 'kitty-specs/001-a/meta.json': '{"target_branch":"committed"}' });
  await commitAll(r, 'one');
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 'edited, not committed\n', 'kitty-specs/001-a/plan.md': 'untracked', 'kitty-specs/001-a/meta.json': '{"target_branch":"edited"}' });
  await gitOk(r, ['add', 'kitty-specs/001-a/spec.md']); // even staged changes are not committed
  const res = await collectArtifacts(await openRepo(r.root), { features: ['001-a'] });
  t.deepEqual(
    res.eligible.map((a) => a.artifact_path),
    ['spec.md'],
  );
  t.is(res.eligible[0].content_hash, sha256(Buffer.from('committed\n')));
  t.is(res.namespaces['001-a'].target_branch, 'committed');
});

test('a malformed meta.json skips that feature with a message naming the file; others are fine', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await copyCorpusFeatures(r, ['042-local-mission-dossier-authority-parity-export']);
  await writeFiles(r, { 'kitty-specs/050-broken/meta.json': '{"target_branch": "main",', 'kitty-specs/050-broken/spec.md': '# s' });
  await commitAll(r, 'broken meta');
  const res = await collectArtifacts(await openRepo(r.root), { features: 'all' });
  const broken = res.skipped.filter((s) => s.feature_slug === '050-broken');
  t.is(broken.length, 1);
  t.like(broken[0], { artifact_path: '', reason: 'invalid_metadata' });
  t.regex(broken[0].detail!, /kitty-specs\/050-broken\/meta\.json.*invalid JSON/);
  t.false('050-broken' in res.namespaces);
  t.true(res.eligible.filter((a) => a.namespace.feature_slug === '042-local-mission-dossier-authority-parity-export').length > 20);
});

test('paths mode: only the named files; a path gone at the commit is deleted', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 's', 'kitty-specs/001-a/plan.md': 'p', 'kitty-specs/002-b/spec.md': 'b' });
  await commitAll(r, 'one');
  await gitOk(r, ['rm', '-q', 'kitty-specs/001-a/plan.md']);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 's2', 'docs/x.md': 'x' });
  const sha = await commitAll(r, 'two');
  const repo = await openRepo(r.root);
  const paths = await repo.changedPaths(sha);
  const res = await collectArtifacts(repo, { rev: sha, paths });
  t.deepEqual(
    res.eligible.map((a) => `${a.namespace.feature_slug}/${a.artifact_path}`),
    ['001-a/spec.md'],
  );
  t.deepEqual(
    res.skipped.map((s: UploadOutcome) => [s.feature_slug, s.artifact_path, s.reason]),
    [['001-a', 'plan.md', 'deleted']],
  );
  t.deepEqual(Object.keys(res.namespaces), ['001-a']);
  const filtered = await collectArtifacts(repo, { rev: sha, paths, features: ['002-b'] });
  t.is(filtered.eligible.length + filtered.skipped.length, 0);
  const outside = await collectArtifacts(repo, { rev: sha, paths: ['docs/x.md', 'kitty-specs/README.md'] });
  t.is(outside.eligible.length + outside.skipped.length, 0);
});

test('a whole feature deleted: its changed paths are deleted outcomes', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 's', 'kitty-specs/001-a/meta.json': '{}' });
  await commitAll(r, 'one');
  await gitOk(r, ['rm', '-q', '-r', 'kitty-specs/001-a']);
  const sha = await commitAll(r, 'gone');
  const repo = await openRepo(r.root);
  const res = await collectArtifacts(repo, { rev: sha, paths: await repo.changedPaths(sha) });
  t.deepEqual(
    res.skipped.map((s) => [s.artifact_path, s.reason]),
    [
      ['meta.json', 'unsupported_surface'],
      ['spec.md', 'deleted'],
    ],
  );
});

test('named features: normalized names, missing ones reported', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 's', 'kitty-specs/002-b/spec.md': 'b' });
  await commitAll(r, 'one');
  const res = await collectArtifacts(await openRepo(r.root), { features: ['kitty-specs/002-b/', '009-none'] });
  t.deepEqual(Object.keys(res.namespaces), ['002-b']);
  t.deepEqual(res.missingFeatures, ['009-none']);
  t.is(normalizeFeatureName('./kitty-specs/001-a/'), '001-a');
  t.deepEqual(splitSpecsPath('kitty-specs/001-a/tasks/WP01.md'), { feature: '001-a', artifactPath: 'tasks/WP01.md' });
  t.is(splitSpecsPath('kitty-specs/README.md'), null);
});

test('reads at an older revision', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 'v1' });
  const c1 = await commitAll(r, 'one');
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 'v2', 'kitty-specs/001-a/plan.md': 'p' });
  await commitAll(r, 'two');
  const res = await collectArtifacts(await openRepo(r.root), { rev: c1 });
  t.is(res.rev, c1);
  t.deepEqual(
    res.eligible.map((a) => [a.artifact_path, a.content_hash]),
    [['spec.md', sha256(Buffer.from('v1'))]],
  );
});

test('no project uuid at the commit: a problem telling the user to install, nothing collected', async (t) => {
  const r = await makeRepo({ uuid: null });
  t.teardown(r.cleanup);
  await writeFiles(r, { 'kitty-specs/001-a/spec.md': 's' });
  await commitAll(r, 'one');
  const res = await collectArtifacts(await openRepo(r.root), {});
  t.is(res.projectUuid, null);
  t.is(res.eligible.length, 0);
  t.regex(res.problems.join('\n'), /kitty-sync install/);
});

test('unknown revision throws UnknownRevisionError', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await commitAll(r, 'one');
  await t.throwsAsync(collectArtifacts(await openRepo(r.root), { rev: 'no-such-branch' }), { instanceOf: UnknownRevisionError });
});
