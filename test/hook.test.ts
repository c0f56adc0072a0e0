import test from 'ava';
import { parsePrePushInput } from '../lib/hook.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const Z = '0'.repeat(40);

test("pre-push input: one update per well-formed line of Git's ref lines", (t) => {
  const input = `refs/heads/main ${A} refs/heads/main ${B}\nrefs/heads/new ${A} refs/heads/new ${Z}\n(delete) ${Z} refs/heads/old ${B}\n\ngarbage line\n`;
  t.deepEqual(parsePrePushInput(input), [
    { localRef: 'refs/heads/main', localSha: A, remoteRef: 'refs/heads/main', remoteSha: B },
    { localRef: 'refs/heads/new', localSha: A, remoteRef: 'refs/heads/new', remoteSha: Z },
    { localRef: '(delete)', localSha: Z, remoteRef: 'refs/heads/old', remoteSha: B },
  ]);
});

test('pre-push input: empty (consumed by another hook command) gives no updates', (t) => {
  t.deepEqual(parsePrePushInput(''), []);
});
