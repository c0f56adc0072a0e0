import test from 'ava';
import { artifactKey, isFeatureSlug, isUuidV4, namespaceKey, namespaceProblems } from '../lib/namespace.js';
import type { NamespaceRef } from '../lib/types.js';

const ns: NamespaceRef = {
  project_uuid: '3f2b8c1e-9d4a-4f6b-8a2c-1e5d7f9b0c3a',
  feature_slug: '047-namespace-aware-artifact-body-sync',
  target_branch: 'feature/x',
  mission_key: 'software-dev',
  manifest_version: '1',
};

test('UUID v4 is required (v1 and junk are rejected)', (t) => {
  t.true(isUuidV4(ns.project_uuid));
  t.false(isUuidV4('3f2b8c1e-9d4a-1f6b-8a2c-1e5d7f9b0c3a'));
  t.false(isUuidV4('3f2b8c1e-9d4a-4f6b-7a2c-1e5d7f9b0c3a'));
  t.false(isUuidV4('not-a-uuid'));
});

test('slug pattern', (t) => {
  t.true(isFeatureSlug('001-a'));
  t.true(isFeatureSlug('047-namespace-aware-artifact-body-sync'));
  t.false(isFeatureSlug('47-short'));
  t.false(isFeatureSlug('047-Upper'));
  t.false(isFeatureSlug('047_under'));
  t.false(isFeatureSlug('documentation-mission'));
});

test('namespaceProblems names every empty field and bad value', (t) => {
  t.deepEqual(namespaceProblems(ns), []);
  const problems = namespaceProblems({ ...ns, target_branch: '', mission_key: '  ', project_uuid: 'x' });
  t.true(problems.some((p) => p.startsWith('target_branch')));
  t.true(problems.some((p) => p.startsWith('mission_key')));
  t.true(problems.some((p) => p.includes('UUID version 4')));
});

test('namespace keys separate branches that only differ by a slash position', (t) => {
  const a = namespaceKey({ ...ns, target_branch: 'a/b', mission_key: 'c' });
  const b = namespaceKey({ ...ns, target_branch: 'a', mission_key: 'b/c' });
  t.not(a, b);
  t.not(artifactKey(ns, 'spec.md'), artifactKey({ ...ns, target_branch: 'main' }, 'spec.md'));
});
