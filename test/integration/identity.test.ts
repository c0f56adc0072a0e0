import test from 'ava';
import { BlobReader } from '../../lib/collect/blobs.js';
import { openRepo } from '../../lib/collect/git.js';
import { commitContext, featureNamespace, projectIdentity, repoSlugFromUrl } from '../../lib/collect/identity.js';
import { commitAll, gitOk, makeRepo, TEST_UUID, type TestRepo, writeFiles } from '../support/git.js';

async function setup(t: { teardown(fn: () => unknown): void }, opts: Parameters<typeof makeRepo>[0] = {}): Promise<{ r: TestRepo; blobs: BlobReader }> {
  const r = await makeRepo(opts);
  t.teardown(r.cleanup);
  const blobs = new BlobReader(r.root);
  t.teardown(() => blobs.close());
  return { r, blobs };
}

test('project uuid and slug are read from config.yaml at the commit, not the working tree', async (t) => {
  const { r, blobs } = await setup(t);
  const sha = await commitAll(r, 'init');
  await writeFiles(r, { '.kittify/config.yaml': 'project:\n  uuid: 11111111-1111-4111-8111-111111111111\n' });
  const id = await projectIdentity(blobs, sha);
  t.deepEqual(id, { uuid: TEST_UUID, slug: 'kitty-test', problem: null });
});

test('missing config, missing uuid, non-v4 uuid, bad YAML: clear problems naming the file', async (t) => {
  const { r, blobs } = await setup(t, { uuid: null });
  await writeFiles(r, { 'x.md': 'x' });
  const none = await projectIdentity(blobs, await commitAll(r, 'no config'));
  t.is(none.uuid, null);
  t.regex(none.problem!, /\.kittify\/config\.yaml.*does not exist.*kitty-sync install/);

  await writeFiles(r, { '.kittify/config.yaml': 'project:\n  name: p\n' });
  const noUuid = await projectIdentity(blobs, await commitAll(r, 'no uuid'));
  t.regex(noUuid.problem!, /config\.yaml.*no project\.uuid.*kitty-sync install/);
  t.is(noUuid.slug, 'p');

  // 047 accepts any UUID version.
  await writeFiles(r, { '.kittify/config.yaml': 'project:\n  uuid: 3f2b8c1e-9d4a-1f6b-8a2c-1e5d7f9b0c3a\n' });
  const v1 = await projectIdentity(blobs, await commitAll(r, 'v1'));
  t.is(v1.uuid, '3f2b8c1e-9d4a-1f6b-8a2c-1e5d7f9b0c3a');
  await writeFiles(r, { '.kittify/config.yaml': 'project:\n  uuid: not-a-uuid\n' });
  const junk = await projectIdentity(blobs, await commitAll(r, 'junk'));
  t.regex(junk.problem!, /config\.yaml.*is not a UUID/);

  await writeFiles(r, { '.kittify/config.yaml': 'project: [unclosed\n' });
  const bad = await projectIdentity(blobs, await commitAll(r, 'bad'));
  t.regex(bad.problem!, /config\.yaml.*invalid YAML/);
});

test('featureNamespace: meta.json fields and fallbacks', async (t) => {
  const { r, blobs } = await setup(t);
  await writeFiles(r, {
    'kitty-specs/001-full/meta.json': JSON.stringify({ target_branch: 'feature/x', mission_type: 'research', slug: 'other-slug' }),
    'kitty-specs/002-old/meta.json': JSON.stringify({ mission: 'documentation' }),
    'kitty-specs/003-none/spec.md': 'no meta',
    'kitty-specs/004-blank/meta.json': JSON.stringify({ target_branch: '  ', mission_type: '' }),
    'kitty-specs/005-custom/meta.json': JSON.stringify({ mission_type: 'custom-mission' }),
  });
  const sha = await commitAll(r, 'features');
  const ns = async (featureSlug: string, defaultBranch = 'main') => {
    const res = await featureNamespace({ blobs, rev: sha, featureSlug, projectUuid: TEST_UUID, defaultTargetBranch: async () => defaultBranch });
    if (!res.ok) throw new Error(res.detail);
    return res.namespace;
  };
  t.deepEqual(await ns('001-full'), { project_uuid: TEST_UUID, feature_slug: '001-full', target_branch: 'feature/x', mission_key: 'research', manifest_version: '1' });
  t.like(await ns('002-old'), { mission_key: 'documentation', target_branch: 'main' });
  t.like(await ns('003-none', 'develop'), { mission_key: 'software-dev', target_branch: 'develop' });
  t.like(await ns('004-blank'), { mission_key: 'software-dev', target_branch: 'main' });
  t.like(await ns('005-custom'), { mission_key: 'custom-mission', manifest_version: '1' });
  // The default branch is asked only when meta.json names no target branch.
  let asked = 0;
  const remote = async (): Promise<string> => (asked++, 'develop');
  await featureNamespace({ blobs, rev: sha, featureSlug: '001-full', projectUuid: TEST_UUID, defaultTargetBranch: remote });
  t.is(asked, 0);
  await featureNamespace({ blobs, rev: sha, featureSlug: '003-none', projectUuid: TEST_UUID, defaultTargetBranch: remote });
  t.is(asked, 1);
});

test('featureNamespace: meta.json at the commit, not the working tree', async (t) => {
  const { r, blobs } = await setup(t);
  await writeFiles(r, { 'kitty-specs/001-a/meta.json': JSON.stringify({ target_branch: 'committed' }) });
  const sha = await commitAll(r, 'one');
  await writeFiles(r, { 'kitty-specs/001-a/meta.json': '{ broken' });
  const res = await featureNamespace({ blobs, rev: sha, featureSlug: '001-a', projectUuid: TEST_UUID, defaultTargetBranch: async () => 'main' });
  t.true(res.ok && res.namespace.target_branch === 'committed');
});

test('featureNamespace: any directory name is a feature; malformed metadata is a skip naming the file', async (t) => {
  const { r, blobs } = await setup(t);
  await writeFiles(r, {
    'kitty-specs/001-broken/meta.json': '{ "target_branch": ',
    'kitty-specs/002-array/meta.json': '[1,2]',
    'kitty-specs/003-typed/meta.json': JSON.stringify({ target_branch: 42 }),
    'kitty-specs/feature-alias-removal-01KW0N87/spec.md': 'x',
    'kitty-specs/Docs/spec.md': 'x',
  });
  const sha = await commitAll(r, 'bad');
  const run = (featureSlug: string) => featureNamespace({ blobs, rev: sha, featureSlug, projectUuid: TEST_UUID, defaultTargetBranch: async () => 'main' });
  // 047 takes any folder under kitty-specs/: today's `<slug>-<ULID>` names and older ones alike.
  for (const f of ['feature-alias-removal-01KW0N87', 'Docs']) t.like(await run(f), { ok: true, namespace: { feature_slug: f } }, f);
  for (const [f, re] of [
    ['001-broken', /invalid JSON/],
    ['002-array', /not a JSON object/],
    ['003-typed', /target_branch must be a string/],
  ] as const) {
    const res = await run(f);
    t.like(res, { ok: false, reason: 'invalid_metadata' }, f);
    if (!res.ok) {
      t.regex(res.detail, new RegExp(`kitty-specs/${f}/meta\\.json`));
      t.regex(res.detail, re);
    }
  }
});

test('a repository manifest override is ignored, as in 047', async (t) => {
  const { r, blobs } = await setup(t);
  await writeFiles(r, {
    'kitty-specs/001-a/meta.json': JSON.stringify({ mission_type: 'software-dev' }),
    '.kittify/missions/software-dev/expected-artifacts.yaml': 'manifest_version: "2"\n',
  });
  const sha = await commitAll(r, 'override');
  const res = await featureNamespace({ blobs, rev: sha, featureSlug: '001-a', projectUuid: TEST_UUID, defaultTargetBranch: async () => 'main' });
  t.true(res.ok && res.namespace.manifest_version === '1');
});

test('commitContext: slugs, branch, head sha', async (t) => {
  const { r, blobs } = await setup(t, { name: 'my-project' });
  const sha = await commitAll(r, 'init');
  const repo = await openRepo(r.root);
  const id = await projectIdentity(blobs, sha);
  // No origin: repo_slug is null, as 047 sends it.
  t.deepEqual(await commitContext(repo, 'HEAD', id, 'local'), { team_slug: 'local', project_slug: 'kitty-test', repo_slug: null, git_branch: 'main', head_commit_sha: sha });
  // Without a project given, the slug is read from config.yaml at the revision.
  t.like(await commitContext(repo, 'HEAD', undefined, 'acme-team'), { project_slug: 'kitty-test', team_slug: 'acme-team' });
  t.like(await commitContext(repo, 'HEAD', { slug: null }, 'local'), { project_slug: 'my-project' });
  await gitOk(r, ['remote', 'add', 'origin', 'https://github.com/acme/widgets.git']);
  await gitOk(r, ['checkout', '-q', '--detach']);
  // The branch is the one HEAD was on when the repository was opened.
  t.like(await commitContext(await openRepo(r.root), 'HEAD', id, 'local'), { repo_slug: 'acme/widgets', git_branch: 'HEAD' });
  await t.throwsAsync(commitContext(repo, 'nope', id, 'local'), { message: /does not name a commit/ });
  // origin's URL asked early by the caller (sync) is used as given.
  t.like(await commitContext(repo, 'HEAD', id, 'local', Promise.resolve('git@example.com:team/tool.git')), { repo_slug: 'team/tool' });
  t.like(await commitContext(repo, 'HEAD', id, 'local', Promise.resolve(null)), { repo_slug: null });
});

test('repoSlugFromUrl', (t) => {
  t.is(repoSlugFromUrl('git@github.com:acme/widgets.git'), 'acme/widgets');
  t.is(repoSlugFromUrl('https://github.com/acme/widgets'), 'acme/widgets');
  t.is(repoSlugFromUrl('https://gitlab.com/group/sub/widgets.git/'), 'sub/widgets');
  t.is(repoSlugFromUrl('ssh://git@host:2222/acme/widgets.git'), 'acme/widgets');
  t.is(repoSlugFromUrl('/srv/git/widgets.git'), 'git/widgets');
  t.is(repoSlugFromUrl('widgets'), null);
});
