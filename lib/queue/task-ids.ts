// Task ids. upload_id and event_id are not stored (they were most of a row): both are ULIDs whose
// time part is the row's created_at and whose 80 random bits are 39 bits of the queue's node id,
// one kind bit and the 40-bit seq. They are unique across nodes like any ULID, stable while the
// row is pending, and decode back to the row they name.
import { createHash } from 'node:crypto';
const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const DIGIT = new Map(
  [...B32].flatMap((c, i) => [
    [c, i],
    [c.toLowerCase(), i],
  ]),
);
export const KIND_UPLOAD = 0;
export const KIND_EVENT = 1;

/** 39 bits of the queue's node id. */
export function nodeBits(nodeId: string): number {
  return Number(BigInt(`0x${createHash('sha256').update(nodeId).digest('hex').slice(0, 10)}`) & ((1n << 39n) - 1n));
}

// The 130 bits are three whole groups of base-32 digits, each small enough for a double:
// 10 digits of created_at (50 bits), 8 of node and kind (39 + 1), 8 of seq (40). Plain number
// arithmetic, not BigInt: a drain encodes and decodes two ids per artifact.

function digits(value: number, count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) {
    out = B32[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

function number(id: string, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = DIGIT.get(id[i]);
    if (d === undefined) return NaN;
    v = v * 32 + d;
  }
  return v;
}

/** An id's time and node parts (the first 18 of its 26 digits). */
function idPrefix(node: number, kind: number, createdAt: number): string {
  return digits(Math.max(0, Math.floor(createdAt)), 10) + digits(node * 2 + kind, 8);
}

export function encodeId(node: number, kind: number, createdAt: number, seq: number): string {
  return idPrefix(node, kind, createdAt) + digits(seq, 8);
}

/**
 * encodeId for one node and kind, keeping the last time part: the tasks of one capture share their
 * created_at, so a drain reading thousands of them encodes only their seq.
 */
export class IdEncoder {
  private at = NaN;
  private prefix = '';

  constructor(
    private readonly node: number,
    private readonly kind: number,
  ) {}

  id(createdAt: number, seq: number): string {
    if (createdAt !== this.at) {
      this.at = createdAt;
      this.prefix = idPrefix(this.node, this.kind, createdAt);
    }
    return this.prefix + digits(seq, 8);
  }
}

export function decodeId(node: number, kind: number, id: string): { seq: number; createdAt: number } | null {
  if (typeof id !== 'string' || id.length !== 26) return null;
  const createdAt = number(id, 0, 10);
  const owner = number(id, 10, 18);
  const seq = number(id, 18, 26);
  if (Number.isNaN(createdAt) || Number.isNaN(seq) || owner !== node * 2 + kind) return null;
  return { seq, createdAt };
}
