import test from 'ava';
import { decodeId, encodeId, IdEncoder, KIND_EVENT, KIND_UPLOAD, nodeBits } from '../../lib/queue/task-ids.js';

const node = nodeBits('01JNODE0000000000000000000');
const other = nodeBits('01JOTHER000000000000000000');

test('an id is a 26-character ULID that decodes back to its row', (t) => {
  const id = encodeId(node, KIND_UPLOAD, 1_764_000_000_000, 123_456);
  t.regex(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  t.deepEqual(decodeId(node, KIND_UPLOAD, id), { seq: 123_456, createdAt: 1_764_000_000_000 });
  t.deepEqual(decodeId(node, KIND_UPLOAD, id.toLowerCase()), { seq: 123_456, createdAt: 1_764_000_000_000 });
});

test('ids of another kind, another queue or malformed text do not decode', (t) => {
  const id = encodeId(node, KIND_UPLOAD, 1_764_000_000_000, 7);
  t.is(decodeId(node, KIND_EVENT, id), null);
  t.is(decodeId(other, KIND_UPLOAD, id), null);
  t.is(decodeId(node, KIND_UPLOAD, id.slice(1)), null);
  t.is(decodeId(node, KIND_UPLOAD, `${id.slice(0, 25)}!`), null);
});

test('ids sort by creation time, like any ULID', (t) => {
  const a = encodeId(node, KIND_EVENT, 1_000, 99);
  const b = encodeId(node, KIND_EVENT, 2_000, 1);
  t.true(a < b);
});

/** The layout written out with BigInt, as first implemented: the encoding must not change. */
function reference(node: number, kind: number, createdAt: number, seq: number): string {
  let v = (BigInt(createdAt) << 80n) | (BigInt(node) << 41n) | (BigInt(kind) << 40n) | BigInt(seq);
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'[Number(v & 31n)] + out;
    v >>= 5n;
  }
  return out;
}

test('ids are the same bits as the BigInt layout, at the edges of every field', (t) => {
  const nodes = [0, 1, node, other, 2 ** 39 - 1];
  const times = [0, 1, 1_764_000_000_000, 2 ** 48 - 1, 2 ** 50 - 1];
  const seqs = [0, 1, 31, 32, 123_456, 2 ** 32, 2 ** 40 - 1];
  for (const n of nodes)
    for (const kind of [KIND_UPLOAD, KIND_EVENT])
      for (const time of times)
        for (const seq of seqs) {
          const id = encodeId(n, kind, time, seq);
          t.is(id, reference(n, kind, time, seq));
          t.deepEqual(decodeId(n, kind, id), { seq, createdAt: time });
        }
});

test('IdEncoder gives encodeId, whatever order times and seqs come in', (t) => {
  const enc = new IdEncoder(node, KIND_UPLOAD);
  const cases: [number, number][] = [
    [1_764_000_000_000, 1],
    [1_764_000_000_000, 2],
    [1_764_000_000_001, 3],
    [1_764_000_000_000, 4],
    [0, 0],
    [1_764_000_000_000.7, 2 ** 40 - 1],
  ];
  for (const [at, seq] of cases) t.is(enc.id(at, seq), encodeId(node, KIND_UPLOAD, at, seq), `${at} ${seq}`);
  t.not(new IdEncoder(node, KIND_EVENT).id(5, 5), enc.id(5, 5), 'the kind is part of the id');
});
