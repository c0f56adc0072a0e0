import test from 'ava';
import { createHash } from 'node:crypto';
import { checkEligibility, hasAllowedExtension, isHiddenPath, isStrictUtf8, sha256Hex, surfaceOf } from '../../lib/collect/eligibility.js';
import { MAX_BODY_BYTES } from '../../lib/contract/limits.js';
import type { ArtifactCandidate, GitEntryKind } from '../../lib/types.js';

function cand(artifact_path: string, kind: GitEntryKind = 'blob', size_bytes = 10): ArtifactCandidate {
  return { feature_dir: 'kitty-specs/001-x', artifact_path, kind, object_id: kind === 'missing' ? null : 'a'.repeat(40), size_bytes };
}
const text = (s: string) => Buffer.from(s, 'utf8');

test('top-level surfaces by exact name', (t) => {
  for (const p of ['spec.md', 'plan.md', 'tasks.md', 'research.md', 'quickstart.md', 'data-model.md']) t.true(surfaceOf(p), p);
  for (const p of ['SPEC.md', 'notes.md', 'README.md', 'meta.json', 'status.json', 'status.events.jsonl', 'x/spec.md']) t.false(surfaceOf(p), p);
});

test('research/, contracts/, checklists/ are surfaces recursively', (t) => {
  for (const p of ['research/a.md', 'research/deep/er/b.csv', 'contracts/api.yaml', 'contracts/v1/schemas/x.json', 'checklists/requirements.md', 'checklists/a/b.md']) {
    t.true(surfaceOf(p), p);
  }
  t.false(surfaceOf('researchers/a.md'));
  t.false(surfaceOf('other/contracts/a.md'));
});

test('work-package prompts: ^tasks/WP\\d+.*\\.md$, as 047', (t) => {
  t.true(surfaceOf('tasks/WP01-x.md'));
  t.true(surfaceOf('tasks/WP1.md'));
  t.false(surfaceOf('tasks/WP01-x.MD'), 'case-sensitive, as 047');
  t.true(surfaceOf('tasks/WP03-x/review-cycle-1.md'), 'the .* crosses folders, as 047');
  t.false(surfaceOf('tasks/README.md'));
  t.false(surfaceOf('tasks/notes-WP01.md'));
  t.false(surfaceOf('tasks/WPx-01.md'));
  t.false(surfaceOf('tasks/wp01-x.md'));
  t.false(surfaceOf('tasks/sub/WP01-x.md'));
  t.false(surfaceOf('tasks/WP01-x.json'));
});

test('meta.json and status.json are unsupported_surface', (t) => {
  t.is(checkEligibility(cand('meta.json'), text('{}')), 'unsupported_surface');
  t.is(checkEligibility(cand('status.json'), text('{}')), 'unsupported_surface');
  t.is(checkEligibility(cand('tasks/README.md'), text('x')), 'unsupported_surface');
  t.is(checkEligibility(cand('tasks/notes-WP01.md'), text('x')), 'unsupported_surface');
});

test('extension allow-list is case-insensitive', (t) => {
  for (const p of ['research/a.md', 'research/a.MD', 'contracts/a.JSON', 'contracts/a.Yaml', 'contracts/a.yml', 'research/a.CSV']) {
    t.true(hasAllowedExtension(p), p);
    t.is(checkEligibility(cand(p), text('ok')), null, p);
  }
  for (const p of ['contracts/test-coverage.txt', 'research/data.jsonl', 'checklists/.gitkeep', 'research/noext', 'research/.md', 'research/a.md.bak']) {
    t.false(hasAllowedExtension(p), p);
    t.is(checkEligibility(cand(p), text('ok')), 'unsupported_format', p);
  }
});

test('symlinks and submodules are not_regular_file', (t) => {
  t.is(checkEligibility(cand('spec.md', 'symlink'), null), 'not_regular_file');
  t.is(checkEligibility(cand('contracts/sub.md', 'submodule', 0), null), 'not_regular_file');
});

test('exactly 524,288 bytes accepted, 524,289 oversized', (t) => {
  t.is(MAX_BODY_BYTES, 524_288);
  const ok = Buffer.alloc(524_288, 0x61);
  const big = Buffer.alloc(524_289, 0x61);
  t.is(checkEligibility(cand('spec.md', 'blob', ok.length), ok), null);
  t.is(checkEligibility(cand('spec.md', 'blob', big.length), big), 'oversized');
  // Without bytes, the tree's size decides (so oversized blobs are never read).
  t.is(checkEligibility(cand('spec.md', 'blob', 524_289), null), 'oversized');
  t.is(checkEligibility(cand('spec.md', 'blob', 524_288), null), null);
});

test('oversized is checked before binary and utf-8', (t) => {
  const big = Buffer.alloc(524_289, 0);
  t.is(checkEligibility(cand('spec.md', 'blob', big.length), big), 'oversized');
});

test('a NUL byte is binary', (t) => {
  t.is(checkEligibility(cand('spec.md'), Buffer.from([0x61, 0x00, 0x62])), 'binary');
  // NUL wins over invalid UTF-8 (checked first).
  // Not UTF-8 at all: 047's text check comes first.
  t.is(checkEligibility(cand('spec.md'), Buffer.from([0xff, 0x00])), 'not_valid_utf8');
});

test('invalid UTF-8 is not_valid_utf8', (t) => {
  for (const bad of [[0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
    t.false(isStrictUtf8(Buffer.from(bad)), JSON.stringify(bad));
    t.is(checkEligibility(cand('plan.md'), Buffer.from(bad)), 'not_valid_utf8');
  }
  t.true(isStrictUtf8(text('héllo ✓ 😀')));
  t.true(isStrictUtf8(Buffer.alloc(0)));
});

test('a UTF-8 BOM is valid, kept in the body and in the hash', (t) => {
  const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text('# Spec\n')]);
  t.is(checkEligibility(cand('spec.md'), bytes), null);
  const body = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  t.is(body.charCodeAt(0), 0xfeff);
  t.deepEqual(Buffer.from(body, 'utf8'), bytes);
  t.is(sha256Hex(bytes), createHash('sha256').update(bytes).digest('hex'));
});

test('a missing path is deleted, after the path checks', (t) => {
  t.is(checkEligibility(cand('spec.md', 'missing', 0), null), 'deleted');
  t.is(checkEligibility(cand('meta.json', 'missing', 0), null), 'unsupported_surface');
  t.is(checkEligibility(cand('research/x.txt', 'missing', 0), null), 'unsupported_format');
});

test('unicode and space-containing paths are ordinary', (t) => {
  t.is(checkEligibility(cand('research/notes über café.md'), text('x')), null);
  t.is(checkEligibility(cand('contracts/my api.yaml'), text('a: 1')), null);
  t.is(checkEligibility(cand('tasks/WP02 – straße.md'), text('x')), null);
});

test('an empty file is eligible', (t) => {
  t.is(checkEligibility(cand('research/empty.md', 'blob', 0), Buffer.alloc(0)), null);
});

test('sha256Hex is lowercase hex of the bytes', (t) => {
  t.is(sha256Hex(Buffer.alloc(0)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  t.regex(sha256Hex(text('abc')), /^[0-9a-f]{64}$/);
});

test('hidden paths: any part starting with a dot, wherever it is', (t) => {
  const byParts = (p: string) => p.split('/').some((part) => part.startsWith('.'));
  const paths = ['.review/WP01.md', 'checklists/.gitkeep', 'a/.b/c.md', 'a/b/.', 'spec.md', 'a..b/c.md', 'research/v1.2/notes.md', 'tasks/WP01.md', 'a//.b', '', '.', 'x.'];
  for (const p of paths) t.is(isHiddenPath(p), byParts(p), JSON.stringify(p));
  t.true(isHiddenPath('checklists/.gitkeep'));
  t.false(isHiddenPath('research/v1.2/notes.md'));
});
