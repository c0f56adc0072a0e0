import test from 'ava';
import { decodeId, encodeId, KIND_EVENT, KIND_UPLOAD, nodeBits } from '../lib/task-ids.js';

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
