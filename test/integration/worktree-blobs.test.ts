import test from 'ava';
import { execFileSync } from 'node:child_process';
import { rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { collectArtifacts } from '../../lib/collect/artifacts.js';
import { openRepo } from '../../lib/collect/git.js';
import { BodyArena, readBlobFromWorkTree } from '../../lib/collect/worktree-blobs.js';
import { commitAll, gitOk, makeRepo, writeFiles } from '../support/git.js';

async function committed(files: Record<string, string>) {
  const r = await makeRepo();
  await writeFiles(r, files);
  await commitAll(r, 'one');
  const tree = await gitOk(r, ['ls-tree', '-r', '-l', 'HEAD']);
  const ids = new Map(
    tree
      .trim()
      .split('\n')
      .map((l) => {
        const [meta, p] = l.split('\t');
        const [, , id, size] = meta.split(/\s+/);
        return [p, { id, size: Number(size) }] as const;
      }),
  );
  return { r, ids };
}

test('the work-tree copy is used only when it is the committed blob', async (t) => {
  const { r, ids } = await committed({ 'kitty-specs/001-a/spec.md': 'committed\n', 'kitty-specs/001-a/plan.md': 'plan\n' });
  t.teardown(r.cleanup);
  const spec = ids.get('kitty-specs/001-a/spec.md')!;
  t.deepEqual(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/spec.md', spec.id, spec.size), Buffer.from('committed\n'));
  // The size unknown (a listing without sizes): the file's, checked with its bytes against the id.
  t.deepEqual(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/spec.md', spec.id, null), Buffer.from('committed\n'));
  t.is(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/plan.md', spec.id, null), null);
  // Same size, other bytes: not the blob.
  await writeFile(path.join(r.root, 'kitty-specs/001-a/spec.md'), 'COMMITTED\n');
  t.is(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/spec.md', spec.id, spec.size), null);
  // Missing, a directory, an unknown id format: null, never a throw.
  t.is(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/gone.md', spec.id, spec.size), null);
  t.is(readBlobFromWorkTree(r.root, 'kitty-specs/001-a', spec.id, spec.size), null);
  t.is(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/plan.md', 'abc', 5), null);
  // A symlink to a file holding exactly the blob's bytes: those bytes are the committed ones.
  await writeFile(path.join(r.base, 'elsewhere.md'), 'committed\n');
  await rm(path.join(r.root, 'kitty-specs/001-a/spec.md'));
  await symlink(path.join(r.base, 'elsewhere.md'), path.join(r.root, 'kitty-specs/001-a/spec.md'));
  t.deepEqual(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/spec.md', spec.id, spec.size), Buffer.from('committed\n'));
});

test('collecting with edited work-tree files (same size, a FIFO, a changed meta.json and config) reads the committed bytes', async (t) => {
  const { r } = await committed({
    'kitty-specs/001-a/spec.md': 'committed\n',
    'kitty-specs/001-a/plan.md': 'plan\n',
    'kitty-specs/001-a/meta.json': '{"target_branch":"committed"}',
  });
  t.teardown(r.cleanup);
  await writeFiles(r, {
    'kitty-specs/001-a/spec.md': 'COMMITTED\n',
    'kitty-specs/001-a/meta.json': '{"target_branch":"worktree!"}',
    '.kittify/config.yaml': 'project:\n  uuid: 00000000-0000-4000-8000-000000000000\n',
  });
  // A FIFO nobody writes to: opening it for reading must not block the collection.
  await rm(path.join(r.root, 'kitty-specs/001-a/plan.md'));
  execFileSync('mkfifo', [path.join(r.root, 'kitty-specs/001-a/plan.md')]);
  const res = await collectArtifacts(await openRepo(r.root), { features: ['001-a'] });
  t.deepEqual(
    res.eligible.map((a) => [a.artifact_path, a.body.toString()]),
    [
      ['plan.md', 'plan\n'],
      ['spec.md', 'committed\n'],
    ],
  );
  t.is(res.namespaces['001-a'].target_branch, 'committed');
  t.is(res.projectUuid, r.uuid);
});

test('bodies read into an arena are views that stay whole while later files are read, across slabs; a large file gets its own buffer', async (t) => {
  // ~40 KB each: 60 of them fill more than two 1 MB slabs; plus one file larger than a slab piece.
  const files: Record<string, string> = {};
  for (let i = 0; i < 60; i++) files[`kitty-specs/001-a/doc-${i}.md`] = `${i}:`.padEnd(40_000 + i, String.fromCharCode(97 + (i % 26)));
  files['kitty-specs/001-a/big.md'] = 'B'.repeat(300_000);
  const { r, ids } = await committed(files);
  t.teardown(r.cleanup);
  const arena = new BodyArena();
  const read = Object.keys(files).map((p) => [p, readBlobFromWorkTree(r.root, p, ids.get(p)!.id, ids.get(p)!.size, arena)] as const);
  for (const [p, body] of read) t.is(body?.toString(), files[p], p);
  const slabs = new Set(read.map(([, b]) => b!.buffer));
  t.true(slabs.size >= 3 && slabs.size < read.length, `${slabs.size} backing buffers for ${read.length} files`);
  const big = read.find(([p]) => p.endsWith('big.md'))![1]!;
  t.false(read.some(([p, b]) => !p.endsWith('big.md') && b!.buffer === big.buffer));
  // A file that is not the blob leaves nothing readable behind: null, and the next read is whole.
  await writeFile(path.join(r.root, 'kitty-specs/001-a/doc-0.md'), files['kitty-specs/001-a/doc-1.md']);
  t.is(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/doc-0.md', ids.get('kitty-specs/001-a/doc-0.md')!.id, null, arena), null);
  t.is(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/doc-2.md', ids.get('kitty-specs/001-a/doc-2.md')!.id, null, arena)?.toString(), files['kitty-specs/001-a/doc-2.md']);
});
