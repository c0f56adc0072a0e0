import test from 'ava';
import { createHash } from 'node:crypto';
import { BlobReader } from '../../lib/collect/blobs.js';
import { commitAll, gitOk, makeRepo, writeFiles } from '../support/git.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('reads exact bytes by object id and by <rev>:<path>, many at once through one process', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 200; i++) files[`d/f${i}.md`] = Buffer.from(`file ${i}\n`.repeat(i));
  files['d/big.bin'] = Buffer.from(Array.from({ length: 700_000 }, (_, i) => (i * 31) % 256));
  files['d/bom.md'] = Buffer.from([0xef, 0xbb, 0xbf, 0x41, 0x0a]);
  files['d/empty.md'] = Buffer.alloc(0);
  files['d/späce ü.md'] = Buffer.from('unicode name');
  await writeFiles(r, files);
  await commitAll(r, 'blobs');
  const reader = new BlobReader(r.root);
  t.teardown(() => reader.close());
  const names = Object.keys(files);
  const got = await Promise.all(names.map((n) => reader.read(`HEAD:${n}`)));
  names.forEach((n, i) => t.is(sha(got[i]!), sha(files[n]), n));
  const id = (await gitOk(r, ['rev-parse', 'HEAD:d/big.bin'])).trim();
  const obj = await reader.readObject(id);
  t.is(obj?.type, 'blob');
  t.is(obj?.objectId, id);
  t.true(obj?.bytes.equals(files['d/big.bin']));
});

test('missing objects and paths give null; other reads continue', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'a.md': 'A' });
  await commitAll(r, 'a');
  const reader = new BlobReader(r.root);
  t.teardown(() => reader.close());
  const [a, none, badId, b] = await Promise.all([reader.read('HEAD:a.md'), reader.read('HEAD:nope.md'), reader.read('0123456789012345678901234567890123456789'), reader.read('HEAD:a.md')]);
  t.is(a?.toString(), 'A');
  t.is(none, null);
  t.is(badId, null);
  t.is(b?.toString(), 'A');
  // A tree is not a blob.
  t.is(await reader.read('HEAD:'), null);
  t.is((await reader.readObject('HEAD^{tree}'))?.type, 'tree');
});

test('a spec with a newline is refused, not misread', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await commitAll(r, 'empty');
  const reader = new BlobReader(r.root);
  t.teardown(() => reader.close());
  await t.throwsAsync(reader.read('HEAD:a\nb.md'), { message: /newline/ });
});

test('close ends the process; later reads fail clearly', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'a.md': 'A' });
  await commitAll(r, 'a');
  const reader = new BlobReader(r.root);
  const pending = reader.read('HEAD:a.md');
  await reader.close();
  t.is((await pending)?.toString(), 'A');
  await t.throwsAsync(reader.read('HEAD:a.md'), { message: /closed/ });
});

test('outside a repository, reads reject instead of hanging', async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = await mkdtemp(path.join(tmpdir(), 'kitty-sync-nogit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const reader = new BlobReader(dir);
  await t.throwsAsync(reader.read('HEAD:a.md'), { message: /cat-file/ });
  await reader.close();
});

test('many reads in flight at once: each gets its own blob, a missing one null', async (t) => {
  const r = await makeRepo();
  t.teardown(r.cleanup);
  await writeFiles(r, { 'a.md': 'A', 'b.md': 'B' });
  await commitAll(r, 'ab');
  const reader = new BlobReader(r.root);
  t.teardown(() => reader.close());
  const got = await Promise.all(['HEAD:a.md', 'HEAD:b.md', 'HEAD:c.md', 'HEAD:a.md'].map((s) => reader.read(s)));
  t.deepEqual(
    got.map((b) => b?.toString() ?? null),
    ['A', 'B', null, 'A'],
  );
});
