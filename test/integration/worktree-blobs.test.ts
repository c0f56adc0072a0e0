import test from 'ava';
import { execFileSync } from 'node:child_process';
import { rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { collectArtifacts } from '../../lib/collect/artifacts.js';
import { openRepo } from '../../lib/collect/git.js';
import { readBlobFromWorkTree } from '../../lib/collect/worktree-blobs.js';
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
  // A device that never ends (a symlink to /dev/zero): null, without reading forever.
  await rm(path.join(r.root, 'kitty-specs/001-a/spec.md'));
  await symlink('/dev/zero', path.join(r.root, 'kitty-specs/001-a/spec.md'));
  t.is(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/spec.md', spec.id, null), null);
  t.is(readBlobFromWorkTree(r.root, 'kitty-specs/001-a/spec.md', spec.id, spec.size), null);
});

test('small, empty and large work-tree files are read whole, with or without the blob size', async (t) => {
  // Sizes around the reader's 256 KB scratch buffer (files that fit it are read without an fstat).
  const sizes = { empty: 0, small: 10, fits: 256 * 1024 - 33, edge: 256 * 1024 - 32, over: 256 * 1024 - 31, large: 600_000 };
  const files = Object.fromEntries(Object.entries(sizes).map(([name, n]) => [`kitty-specs/001-a/${name}.md`, Array.from({ length: n }, (_, i) => String.fromCharCode(97 + (i % 26))).join('')]));
  const { r, ids } = await committed(files);
  t.teardown(r.cleanup);
  for (const [p, text] of Object.entries(files)) {
    const blob = ids.get(p)!;
    t.is(blob.size, text.length);
    for (const size of [null, blob.size]) t.deepEqual(readBlobFromWorkTree(r.root, p, blob.id, size), Buffer.from(text), `${p} (size ${size})`);
  }
  // One byte more than the blob, in a file that fits the scratch buffer and in one that does not: not the blob.
  for (const name of ['small', 'large']) {
    const p = `kitty-specs/001-a/${name}.md`;
    await writeFile(path.join(r.root, p), `${files[p]}x`);
    t.is(readBlobFromWorkTree(r.root, p, ids.get(p)!.id, null), null);
  }
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
