// ensureProjectUuid: writes project.uuid only when missing, keeps every other byte when it
// can, and never overwrites a file it cannot understand.
import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ConfigFileError, ensureProjectUuid } from '../../lib/setup/project-uuid.js';
import { isUuid } from '../../lib/contract/namespace.js';

const UUID = '0b6f5e1c-3f2a-4c8e-9d7b-1a2b3c4d5e6f';
const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function repoWith(config: string | null): { root: string; file: string } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-uuid-'));
  dirs.push(root);
  const file = path.join(root, '.kittify', 'config.yaml');
  if (config !== null) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, config);
  }
  return { root, file };
}

test('no file: creates .kittify/config.yaml with project.uuid', (t) => {
  const { root, file } = repoWith(null);
  const r = ensureProjectUuid(root, () => UUID);
  t.deepEqual(r, { file, uuid: UUID, written: true, createdFile: true, valid: true });
  t.is(readFileSync(file, 'utf8'), `project:\n  uuid: ${UUID}\n`);
});

test('default uuids are v4 and differ', (t) => {
  const a = ensureProjectUuid(repoWith(null).root).uuid;
  const b = ensureProjectUuid(repoWith(null).root).uuid;
  t.true(isUuid(a));
  t.true(isUuid(b));
  t.not(a, b);
});

test('an existing project section gets uuid as its first key; every other byte stays', (t) => {
  const original = [
    'vcs:',
    '  type: git',
    'agents:',
    '  available:',
    '  - claude',
    '  - codex',
    'project:',
    '  slug: spec-kitty    # the slug',
    '  node_id: d036a097a835',
    '# Charter pointer: resolves to charter.yaml,',
    '# the activation authority.',
    'charter: .kittify/charter/charter.yaml',
    'flow: {a: 1, b: [1, 2]}',
    `long: ${'word '.repeat(40).trim()}`,
    '',
  ].join('\n');
  const { root, file } = repoWith(original);
  t.true(ensureProjectUuid(root, () => UUID).written);
  t.is(readFileSync(file, 'utf8'), original.replace('project:\n', `project:\n  uuid: ${UUID}\n`));
});

test('an existing uuid is kept, file untouched; an invalid one is reported, not replaced', (t) => {
  const good = `# c\nproject:\n  uuid: ${UUID}\n`;
  const a = repoWith(good);
  t.deepEqual(
    ensureProjectUuid(a.root, () => 'never'),
    { file: a.file, uuid: UUID, written: false, createdFile: false, valid: true },
  );
  t.is(readFileSync(a.file, 'utf8'), good);

  const b = repoWith('project:\n  uuid: not-a-uuid\n');
  const r = ensureProjectUuid(b.root, () => 'never');
  t.false(r.written);
  t.false(r.valid);
  t.is(readFileSync(b.file, 'utf8'), 'project:\n  uuid: not-a-uuid\n');
});

test('empty file, comment-only file, `project:` with no value, no final newline', (t) => {
  for (const [before, after] of [
    ['', `project:\n  uuid: ${UUID}\n`],
    ['# just a comment\n', `# just a comment\nproject:\n  uuid: ${UUID}\n`],
    ['sync:\n  server_url: http://127.0.0.1:8000', `sync:\n  server_url: http://127.0.0.1:8000\nproject:\n  uuid: ${UUID}\n`],
  ]) {
    const { root, file } = repoWith(before);
    ensureProjectUuid(root, () => UUID);
    t.is(readFileSync(file, 'utf8'), after);
  }
  const { root, file } = repoWith('project:\nsync: {}\n');
  ensureProjectUuid(root, () => UUID);
  t.deepEqual(parse(readFileSync(file, 'utf8')), { project: { uuid: UUID }, sync: {} });
});

test('layouts that cannot be patched as text still keep content and comments', (t) => {
  const { root, file } = repoWith('# top\n{vcs: git, project: {slug: x}}  # flow\n');
  ensureProjectUuid(root, () => UUID);
  const text = readFileSync(file, 'utf8');
  t.deepEqual(parse(text), { vcs: 'git', project: { slug: 'x', uuid: UUID } });
  t.true(text.includes('# top'));
});

test('malformed or unusable files are never overwritten; the error names the file and the reason', (t) => {
  for (const [text, reason] of [
    ['project:\n  slug: [unclosed\n', /invalid YAML/],
    ['- a\n- b\n', /top level is not a mapping/],
    ['project: just-a-string\n', /'project' is not a mapping/],
    ['project:\n  uuid: [1, 2]\n', /'project.uuid' is not a string/],
    ['a: 1\n---\nb: 2\n', /invalid YAML/],
  ] as const) {
    const { root, file } = repoWith(text);
    const err = t.throws(() => ensureProjectUuid(root, () => UUID), { instanceOf: ConfigFileError });
    t.true(err!.message.startsWith(`${file}: `));
    t.regex(err!.message, reason);
    t.is(readFileSync(file, 'utf8'), text);
  }
});

test('an unreadable path (a directory) is reported, not replaced', (t) => {
  const { root, file } = repoWith(null);
  mkdirSync(file, { recursive: true });
  t.throws(() => ensureProjectUuid(root, () => UUID), { instanceOf: ConfigFileError, message: /cannot be read/ });
  t.true(existsSync(file));
});
