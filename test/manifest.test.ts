import test from 'ava';
import { BUILTIN_MANIFESTS, builtinManifest, classify, globToRegExp, loadManifest, manifestOverridePath, parseManifest } from '../lib/manifest.js';

const sd = BUILTIN_MANIFESTS['software-dev'];

test('built-in manifests declare version "1"', (t) => {
  for (const m of ['software-dev', 'research', 'documentation'] as const) t.is(BUILTIN_MANIFESTS[m].manifest_version, '1');
  const unknown = builtinManifest('mystery');
  t.is(unknown.manifest_version, '1');
  t.deepEqual(unknown.required_always, []);
  t.deepEqual(unknown.optional_always, []);
});

test('software-dev classification follows the 042 design', (t) => {
  t.deepEqual(classify(sd, 'spec.md'), { artifact_key: 'input.spec.main', artifact_class: 'input', wp_id: null, step_id: 'specify', required_status: 'required' });
  t.like(classify(sd, 'plan.md'), { artifact_key: 'output.plan.main', artifact_class: 'output', step_id: 'plan', required_status: 'required' });
  t.like(classify(sd, 'tasks.md'), { artifact_key: 'output.tasks.list', step_id: 'plan', required_status: 'required' });
  t.like(classify(sd, 'research.md'), { artifact_key: 'evidence.research', artifact_class: 'evidence', step_id: null, required_status: 'optional' });
  t.like(classify(sd, 'tasks/WP03-indexing.md'), { artifact_key: 'workflow.task.wp', artifact_class: 'workflow', wp_id: 'WP03' });
  t.like(classify(sd, 'contracts/v1/api.yaml'), { artifact_key: 'output.contracts', artifact_class: 'output', wp_id: null });
  t.like(classify(sd, 'checklists/requirements.md'), { artifact_key: 'evidence.checklists' });
  t.like(classify(sd, 'research/deep/sources.csv'), { artifact_key: 'evidence.research.notes' });
});

test('no matching entry: artifact.<stem>, class other, optional', (t) => {
  t.deepEqual(classify(sd, 'notes/extra.md'), { artifact_key: 'artifact.extra', artifact_class: 'other', wp_id: null, step_id: null, required_status: 'optional' });
  t.like(classify(builtinManifest('mystery'), 'spec.md'), { artifact_key: 'artifact.spec', artifact_class: 'other' });
  t.like(classify(builtinManifest('mystery'), 'tasks/WP12-y.md'), { artifact_key: 'artifact.WP12-y', wp_id: 'WP12' });
});

test('documentation mission keys', (t) => {
  t.like(classify(BUILTIN_MANIFESTS.documentation, 'spec.md'), { artifact_key: 'input.spec.documentation', step_id: 'discover' });
  t.like(classify(BUILTIN_MANIFESTS.documentation, 'plan.md'), { artifact_key: 'workflow.plan.documentation', step_id: 'audit' });
});

test('globs: * within a segment, ** across segments', (t) => {
  t.true(globToRegExp('tasks/*.md').test('tasks/WP01.md'));
  t.false(globToRegExp('tasks/*.md').test('tasks/a/WP01.md'));
  t.true(globToRegExp('contracts/**').test('contracts/a/b/c.json'));
  t.true(globToRegExp('docs/**/*.md').test('docs/x.md'));
  t.true(globToRegExp('docs/**/*.md').test('docs/a/b/x.md'));
  t.false(globToRegExp('spec.md').test('specxmd'));
  t.true(globToRegExp('a?.md').test('ab.md'));
});

test('override parses, keeps its own version and entries', (t) => {
  const yaml = `manifest_version: "7"\nrequired_always:\n  - artifact_key: input.brief\n    artifact_class: input\n    path_pattern: brief.md\n    blocking: true\noptional_always:\n  - artifact_key: x.notes\n    artifact_class: evidence\n    path_pattern: research/*.md\n`;
  const r = parseManifest(yaml, 'custom', manifestOverridePath('custom'));
  if (!r.ok) return t.fail(r.problem);
  t.is(r.manifest.manifest_version, '7');
  t.like(classify(r.manifest, 'brief.md'), { artifact_key: 'input.brief', required_status: 'required', step_id: null });
  t.like(classify(r.manifest, 'research/a.md'), { artifact_key: 'x.notes', required_status: 'optional' });
  t.like(classify(r.manifest, 'spec.md'), { artifact_key: 'artifact.spec' });
});

test('a numeric manifest_version is accepted as a string', (t) => {
  const r = parseManifest('manifest_version: 2\n', 'm', 'f.yaml');
  t.true(r.ok && r.manifest.manifest_version === '2');
});

test('bad overrides name the file and the reason', (t) => {
  const file = '.kittify/missions/research/expected-artifacts.yaml';
  const cases: [string, RegExp][] = [
    ['manifest_version: "1"\nrequired_always: [unclosed', /invalid YAML/],
    ['- just\n- a list\n', /not a YAML mapping/],
    ['required_always: []\n', /manifest_version is missing/],
    ['manifest_version: "1"\nrequired_always:\n  - artifact_key: k\n    artifact_class: c\n', /required_always\[0\]\.path_pattern is missing/],
    ['manifest_version: "1"\noptional_always:\n  - {artifact_key: k, artifact_class: c, path_pattern: ../x.md}\n', /must be relative/],
    ['manifest_version: "1"\nrequired_by_step: [a]\n', /required_by_step is not a mapping/],
  ];
  for (const [yaml, re] of cases) {
    const r = parseManifest(yaml, 'research', file);
    t.false(r.ok, yaml);
    if (!r.ok) {
      t.true(r.problem.startsWith(file), r.problem);
      t.regex(r.problem, re);
    }
  }
});

test('loadManifest: override at the commit wins, else built-in', async (t) => {
  const files: Record<string, string> = { '.kittify/missions/software-dev/expected-artifacts.yaml': 'manifest_version: "3"\n' };
  const read = async (p: string) => (p in files ? Buffer.from(files[p]) : null);
  const over = await loadManifest(read, 'software-dev');
  t.true(over.ok && over.manifest.manifest_version === '3');
  const builtin = await loadManifest(read, 'research');
  t.true(builtin.ok && builtin.manifest === BUILTIN_MANIFESTS.research);
  const unknown = await loadManifest(read, '../../etc');
  t.true(unknown.ok && unknown.manifest.manifest_version === '1');
});
