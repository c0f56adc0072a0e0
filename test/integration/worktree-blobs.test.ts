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
