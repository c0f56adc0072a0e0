// Task ids. upload_id and event_id are not stored (they were most of a row): both are ULIDs whose
// time part is the row's created_at and whose 80 random bits are 39 bits of the queue's node id,
// one kind bit and the 40-bit seq. They are unique across nodes like any ULID, stable while the
// row is pending, and decode back to the row they name.
import { createHash } from 'node:crypto';
const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const KIND_UPLOAD = 0n;
export const KIND_EVENT = 1n;
const SEQ_BITS = 40n;

export function nodeBits(nodeId: string): bigint {
  return BigInt(`0x${createHash('sha256').update(nodeId).digest('hex').slice(0, 10)}`) & ((1n << 39n) - 1n);
}

export function encodeId(node: bigint, kind: bigint, createdAt: number, seq: number): string {
  let v = (BigInt(Math.max(0, Math.floor(createdAt))) << 80n) | (node << 41n) | (kind << SEQ_BITS) | BigInt(seq);
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = B32[Number(v & 31n)] + out;
    v >>= 5n;
  }
  return out;
}

export function decodeId(node: bigint, kind: bigint, id: string): { seq: number; createdAt: number } | null {
  if (typeof id !== 'string' || id.length !== 26) return null;
  let v = 0n;
  for (const ch of id.toUpperCase()) {
    const d = B32.indexOf(ch);
    if (d < 0) return null;
    v = (v << 5n) | BigInt(d);
  }
  const rand = v & ((1n << 80n) - 1n);
  if (rand >> 41n !== node || ((rand >> SEQ_BITS) & 1n) !== kind) return null;
  return { seq: Number(rand & ((1n << SEQ_BITS) - 1n)), createdAt: Number(v >> 80n) };
}
