import test from 'ava';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bodiesDir, bodyPath, readBody, removeBodies, sweepBodies, writeBodies } from '../../lib/queue/bodystore.js';
import { sha256 } from '../support/artifacts.js';

function tmp(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-bodies-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('writes each distinct body once, under its hash, and reads it back', async (t) => {
  const dir = tmp(t);
  const a = Buffer.from('alpha');
  const b = Buffer.from('beta');
  t.is(
    await writeBodies(dir, [
      { hash: sha256(a), body: a },
      { hash: sha256(a), body: a },
      { hash: sha256(b), body: b },
    ]),
    2,
  );
  t.is(await writeBodies(dir, [{ hash: sha256(a), body: a }]), 0, 'already stored');
  t.deepEqual(readdirSync(bodiesDir(dir)).sort(), [sha256(a), sha256(b)].sort());
  t.deepEqual(await readBody(dir, sha256(b)), b);
  t.is(await readBody(dir, sha256('missing')), null);
});

test('rejects anything that is not a sha256 hex name (no path tricks)', (t) => {
  t.throws(() => bodyPath('/x', '../../etc/passwd'), { message: /invalid content hash/ });
  t.throws(() => bodyPath('/x', 'A'.repeat(64)), { message: /invalid content hash/ });
});

test('removeBodies keeps referenced files; sweepBodies removes orphans and temp leftovers but not foreign files', async (t) => {
  const dir = tmp(t);
  const a = Buffer.from('a');
  const b = Buffer.from('b');
  await writeBodies(dir, [
    { hash: sha256(a), body: a },
    { hash: sha256(b), body: b },
  ]);
  t.is(await removeBodies(dir, [sha256(a), sha256(b)], (h) => h === sha256(a)), 1);
  t.true(existsSync(bodyPath(dir, sha256(a))));
  t.false(existsSync(bodyPath(dir, sha256(b))));
  writeFileSync(path.join(bodiesDir(dir), '.tmp-abc-1-2'), 'x');
  writeFileSync(path.join(bodiesDir(dir), 'README'), 'not ours');
  t.is(await sweepBodies(dir, new Set()), 2);
  t.deepEqual(readdirSync(bodiesDir(dir)), ['README']);
  t.is(await sweepBodies(path.join(dir, 'none'), new Set()), 0);
});
