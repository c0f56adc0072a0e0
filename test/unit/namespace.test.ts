import test from 'ava';
import { artifactKey, isUuid, namespaceKey, namespaceProblems } from '../../lib/contract/namespace.js';
import { NAMESPACE_FIELDS, type NamespaceRef } from '../../lib/contract/wire.js';
import { isFeatureSlug } from '../../lib/collect/identity.js';

const ns: NamespaceRef = {
  project_uuid: '3f2b8c1e-9d4a-4f6b-8a2c-1e5d7f9b0c3a',
  feature_slug: '047-namespace-aware-artifact-body-sync',
  target_branch: 'feature/x',
  mission_key: 'software-dev',
  manifest_version: '1',
};

test('any canonical UUID is a project uuid, as in 047 (junk is not)', (t) => {
  t.true(isUuid(ns.project_uuid));
  t.true(isUuid('3f2b8c1e-9d4a-1f6b-8a2c-1e5d7f9b0c3a'), 'version 1');
  t.true(isUuid('C0FFEE00-1234-4ABC-8DEF-0123456789AB'), 'upper case');
  t.false(isUuid('3f2b8c1e9d4a1f6b8a2c1e5d7f9b0c3a'), 'not canonical');
  t.false(isUuid('not-a-uuid'));
});

test('feature slugs: any non-hidden directory name, as 047 takes them', (t) => {
  for (const slug of ['001-a', '047-namespace-aware-artifact-body-sync', 'feature-alias-removal-01KW0N87', '47-short', '047_Under', 'documentation-mission']) {
    t.true(isFeatureSlug(slug), slug);
  }
  for (const slug of ['', '.hidden', 'a/b', 'tab\there']) t.false(isFeatureSlug(slug), JSON.stringify(slug));
});

test('namespaceProblems names every empty field and bad value', (t) => {
  t.deepEqual(namespaceProblems(ns), []);
  const problems = namespaceProblems({ ...ns, target_branch: '', mission_key: '  ', project_uuid: 'x' });
  t.true(problems.some((p) => p.startsWith('target_branch')));
  t.true(problems.some((p) => p.startsWith('mission_key')));
  t.true(problems.some((p) => p.includes('is not a canonical UUID')));
});

test('namespace keys separate branches that only differ by a slash position', (t) => {
  const a = namespaceKey({ ...ns, target_branch: 'a/b', mission_key: 'c' });
  const b = namespaceKey({ ...ns, target_branch: 'a', mission_key: 'b/c' });
  t.not(a, b);
  t.not(artifactKey(ns, 'spec.md'), artifactKey({ ...ns, target_branch: 'main' }, 'spec.md'));
});

test('a namespace key is its five fields in wire order, joined by NUL (queues store hashes of it)', (t) => {
  const key = namespaceKey(ns);
  t.is(key, NAMESPACE_FIELDS.map((f) => ns[f]).join('\u0000'));
  t.is(artifactKey(ns, 'plan.md'), `${key}\u0000plan.md`);
});
