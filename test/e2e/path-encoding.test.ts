// Issue 12 item 1: file names that are not valid UTF-8. Git stores names as bytes; two names that
// differ only in invalid bytes must never collapse into one (U+FFFD) path. Each keeps its exact
// identity or is skipped on its own with `invalid_path_encoding`; every file gets one outcome.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodePathBytes, displayPath, hasInvalidEncoding, unquoteGitPath } from '../../lib/collect/git-paths.js';
import { cleanEnv, cli } from '../support/proc.js';
import { git, gitOk, makeRepo, writeFiles } from '../support/git.js';
import { startTestReceiver } from '../support/receiver.js';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** Writes a file whose name is given as raw bytes (relative to root). */
function writeRaw(root: string, relBytes: Buffer, content: string): void {
  const full = Buffer.concat([Buffer.from(`${root}/`), relBytes]);
  mkdirSync(full.subarray(0, full.lastIndexOf(0x2f)), { recursive: true });
  writeFileSync(full, content);
}

const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

test('two names differing only in invalid bytes: each skipped on its own as invalid_path_encoding, nothing uploaded under a made-up path', async (t) => {
  const repo = await makeRepo();
  const receiver = await startTestReceiver();
  t.teardown(async () => {
    await receiver.close();
    await repo.cleanup();
  });
  const env = cleanEnv({ KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_BUDGET_MS: '20000' });
  writeFileSync(path.join(repo.root, 'README.md'), 'base\n');
  await gitOk(repo.root, ['add', '-A'], env);
  await gitOk(repo.root, ['commit', '-q', '-m', 'base'], env);
  const install = await cli(repo.root, ['install', '--repo', repo.root], env);
  t.is(install.code, 0, install.stderr);

  const f = 'kitty-specs/001-names';
  // A valid UTF-8 name still travels as itself when it forms an artifact key; one that cannot
  // (047's key rule) is skipped for that reason, never for its encoding.
  await writeFiles(repo.root, { [`${f}/spec.md`]: '# spec\n', [`${f}/research/ok-name.md`]: '# fine name\n', [`${f}/research/ok-ünï 文.md`]: '# fine unicode name\n' });
  writeRaw(repo.root, bytes(`${f}/research/a`, [0xff], '.md'), '# ff\n');
  writeRaw(repo.root, bytes(`${f}/research/a`, [0xfe], '.md'), '# fe\n');
  await gitOk(repo.root, ['add', '-A'], env);
  const r = await git(repo.root, ['commit', '-q', '-m', 'odd names'], env);
  t.is(r.code, 0, r.stderr);
  t.log(r.stderr);

  t.regex(r.stderr, /skipped 001-names\/research\/a\\xff\.md \(invalid_path_encoding/);
  t.regex(r.stderr, /skipped 001-names\/research\/a\\xfe\.md \(invalid_path_encoding/);
  t.regex(r.stderr, /skipped 001-names\/research\/ok-ünï 文\.md \(invalid_artifact_key/);
  t.regex(r.stderr, /001-names: 2 uploaded, 0 already_exists, 0 queued, 3 skipped, 0 failed/);
  t.false(r.stderr.includes('\uFFFD'), 'no replacement character is printed');

  const got = new Map(receiver.artifacts().map((a) => [a.artifact_path, a.latest_hash]));
  t.deepEqual([...got.keys()].sort(), ['research/ok-name.md', 'spec.md']);
  t.is(got.get('research/ok-name.md'), sha256('# fine name\n'));

  // The dry run reports each file exactly once, under distinct names.
  const dry = await cli(repo.root, ['sync', '--all', '--dry-run', '--json'], env);
  t.is(dry.code, 0, dry.stderr);
  const outcomes = (JSON.parse(dry.stdout) as { outcomes: { artifact_path: string; reason: string | null }[] }).outcomes;
  const odd = outcomes.filter((o) => o.reason === 'invalid_path_encoding').map((o) => o.artifact_path);
  t.is(odd.length, 2);
  t.is(new Set(odd).size, 2, 'two files, two distinct paths');
  t.deepEqual(odd.map(displayPath).sort(), ['research/a\\xfe.md', 'research/a\\xff.md']);
  t.is(outcomes.filter((o) => o.artifact_path.startsWith('research/a')).length, 2, 'each file exactly one outcome');
  const text = await cli(repo.root, ['sync', '--all', '--dry-run'], env);
  t.regex(text.stdout, /skip invalid_path_encoding.*research\/a\\xff\.md/);
  t.regex(text.stdout, /skip invalid_path_encoding.*research\/a\\xfe\.md/);
});

test('a feature directory whose name is not valid UTF-8 is skipped as a whole with invalid_path_encoding', async (t) => {
  const repo = await makeRepo();
  t.teardown(() => repo.cleanup());
  const env = cleanEnv();
  writeRaw(repo.root, bytes('kitty-specs/002-caf', [0xe9], '/spec.md'), '# latin-1 dir\n');
  await writeFiles(repo.root, { 'kitty-specs/003-fine/spec.md': '# fine\n' });
  await gitOk(repo.root, ['add', '-A'], env);
  await gitOk(repo.root, ['commit', '-q', '-m', 'odd dir'], env);
  const dry = await cli(repo.root, ['sync', '--all', '--dry-run', '--json'], env);
  t.is(dry.code, 0, dry.stderr);
  const outcomes = (JSON.parse(dry.stdout) as { outcomes: { feature_slug: string; artifact_path: string; reason: string | null; status: string }[] }).outcomes;
  const odd = outcomes.filter((o) => hasInvalidEncoding(o.feature_slug));
  t.is(odd.length, 1);
  t.is(odd[0].reason, 'invalid_path_encoding');
  t.is(displayPath(odd[0].feature_slug), '002-caf\\xe9');
  t.truthy(outcomes.find((o) => o.feature_slug === '003-fine' && o.artifact_path === 'spec.md' && o.status === 'queued'));
});

test('git path quoting: every byte round-trips; valid UTF-8 decodes to its text, invalid bytes stay distinct', (t) => {
  for (let b = 1; b < 256; b++) {
    const name = Buffer.from([0x61, b, 0x62]);
    const quoted = gitQuote(name);
    t.deepEqual(unquoteGitPath(quoted), name, `byte ${b}`);
  }
  t.is(decodePathBytes(Buffer.from('ünï 文.md')), 'ünï 文.md');
  const ff = decodePathBytes(Buffer.from([0x61, 0xff]));
  const fe = decodePathBytes(Buffer.from([0x61, 0xfe]));
  t.not(ff, fe);
  t.true(hasInvalidEncoding(ff));
  t.false(hasInvalidEncoding('ünï'));
  t.is(displayPath(ff), 'a\\xff');
  // A valid sequence next to an invalid byte keeps its character.
  t.is(displayPath(decodePathBytes(Buffer.concat([Buffer.from('é'), Buffer.from([0xc3])]))), 'é\\xc3');
});

/** What git prints for a name with core.quotePath=true (C-style quoting). */
function gitQuote(name: Buffer): string {
  let needs = false;
  let out = '';
  for (const b of name) {
    if (b === 0x22 || b === 0x5c) {
      needs = true;
      out += `\\${String.fromCharCode(b)}`;
    } else if (b < 0x20 || b >= 0x7f) {
      needs = true;
      const named: Record<number, string> = { 7: 'a', 8: 'b', 9: 't', 10: 'n', 11: 'v', 12: 'f', 13: 'r' };
      out += named[b] ? `\\${named[b]}` : `\\${b.toString(8).padStart(3, '0')}`;
    } else {
      out += String.fromCharCode(b);
    }
  }
  return needs ? `"${out}"` : out;
}
