import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BUILTIN_MANIFESTS, BUILTIN_MISSIONS, builtinManifest, classFromName, classify, fallbackKey, globToRegExp, manifestVersion } from '../../lib/collect/manifest.js';
import { PROJECT_ROOT } from '../support/proc.js';

const CONFORMANCE = process.env.KITTY_SYNC_CONFORMANCE ?? path.resolve(PROJECT_ROOT, '../shared/conformance/047');
const sd = BUILTIN_MANIFESTS['software-dev'];

test("the built-in manifests are 047's packaged ones, entry for entry and in order", (t) => {
  for (const mission of BUILTIN_MISSIONS) {
    const doc = parseYaml(readFileSync(path.join(CONFORMANCE, 'manifests', `${mission}.yaml`), 'utf8')) as Record<string, unknown>;
    const entries = (list: unknown) => ((list ?? []) as Record<string, unknown>[]).map((e) => ({ artifact_key: e.artifact_key, artifact_class: e.artifact_class, path_pattern: e.path_pattern }));
    const m = BUILTIN_MANIFESTS[mission];
    t.is(m.manifest_version, String(doc.manifest_version), mission);
    t.deepEqual(m.required_always, entries(doc.required_always), mission);
    t.deepEqual(m.optional_always, entries(doc.optional_always), mission);
    t.deepEqual(
      m.required_by_step,
      Object.entries(doc.required_by_step as Record<string, unknown>).map(([step, list]) => [step, entries(list)]),
      mission,
    );
  }
});

test('manifest_version: "1" for the built-ins and for an unknown mission', (t) => {
  for (const m of BUILTIN_MISSIONS) t.is(manifestVersion(m), '1');
  t.is(manifestVersion('mystery'), '1');
  t.is(builtinManifest('mystery'), null);
});

test('keys by file name, class by relative path, required by key (the wire.json examples)', (t) => {
  t.deepEqual(classify(sd, 'spec.md'), { artifact_key: 'input.spec.main', artifact_class: 'input', wp_id: null, step_id: null, required_status: 'required' });
  t.like(classify(sd, 'tasks.md'), { artifact_key: 'output.tasks.list', artifact_class: 'output', required_status: 'required' });
  t.like(classify(sd, 'quickstart.md'), { artifact_key: 'evidence.quickstart', artifact_class: 'evidence', required_status: 'optional' });
  t.like(classify(sd, 'meta.json'), { artifact_key: 'artifact.meta', artifact_class: 'output' });
  t.like(classify(sd, 'status.events.jsonl'), { artifact_key: 'artifact.status.events', artifact_class: 'output' });
  t.like(classify(sd, 'checklists/requirements.md'), { artifact_key: 'artifact.requirements', artifact_class: 'policy' });
  t.like(classify(sd, 'tasks/WP01-foundation-namespace-and-shared-types.md'), {
    artifact_key: 'artifact.wp01-foundation-namespace-and-shared-types',
    artifact_class: 'workflow',
    wp_id: null,
  });
  t.like(classify(sd, 'contracts/push-content-api.md'), { artifact_key: 'artifact.push-content-api', artifact_class: 'output' });
  // The key matches on the name, so a nested spec.md is still input.spec.main (and required); the
  // class matches on the path, so it falls back to the name rules.
  t.like(classify(sd, 'research/spec.md'), { artifact_key: 'input.spec.main', artifact_class: 'input', required_status: 'required' });
});

test('the other missions use their own keys', (t) => {
  t.like(classify(BUILTIN_MANIFESTS.research, 'spec.md'), { artifact_key: 'input.spec.research', required_status: 'required' });
  t.like(classify(BUILTIN_MANIFESTS.research, 'research.md'), { artifact_key: 'evidence.research-log', artifact_class: 'evidence', required_status: 'optional' });
  t.like(classify(BUILTIN_MANIFESTS.documentation, 'plan.md'), { artifact_key: 'workflow.plan.documentation', artifact_class: 'workflow', required_status: 'required' });
  t.like(classify(BUILTIN_MANIFESTS.documentation, 'docs/guide/intro.md'), { artifact_key: 'artifact.intro', artifact_class: 'output' });
  t.like(classify(null, 'spec.md'), { artifact_key: 'artifact.spec', artifact_class: 'input', required_status: 'optional' });
});

test('fallback keys: lower-cased stem, `_` and spaces to `-`', (t) => {
  t.is(fallbackKey('WP12_My Notes.md'), 'artifact.wp12-my-notes');
  t.is(fallbackKey('status.events.jsonl'), 'artifact.status.events');
  t.is(fallbackKey('README'), 'artifact.readme');
});

test('classes by name, first hit wins', (t) => {
  t.is(classFromName('Specification.md'), 'input');
  t.is(classFromName('plan.md'), 'workflow');
  t.is(classFromName('wp03-x.md'), 'workflow');
  t.is(classFromName('test-coverage.txt'), 'evidence');
  t.is(classFromName('adr-001.md'), 'policy');
  t.is(classFromName('code-review.md'), 'output');
  t.is(classFromName('generated-index.json'), 'runtime');
  t.is(classFromName('notes.md'), 'output');
});

test("globs read as Python's fnmatch: * crosses /, case-sensitive", (t) => {
  t.true(globToRegExp('docs/**/*.md').test('docs/a/b/x.md'));
  t.false(globToRegExp('docs/**/*.md').test('docs/x.md'));
  t.true(globToRegExp('tasks/*.md').test('tasks/a/WP01.md'));
  t.false(globToRegExp('spec.md').test('specxmd'));
  t.false(globToRegExp('spec.md').test('SPEC.md'));
  t.true(globToRegExp('a?.md').test('ab.md'));
  t.true(globToRegExp('[ab].md').test('b.md'));
});
