// File names as Git stores them: bytes, not text. simple-git decodes git's output as UTF-8, which
// turns every invalid byte into U+FFFD, so `a\xff.md` and `a\xfe.md` would both read as `a\uFFFD.md`.
// Git's own C-style quoting (core.quotePath=true) prints any name in plain ASCII, losslessly; these
// helpers turn a quoted name back into its bytes and then into a string that keeps its identity:
// valid UTF-8 is decoded as usual, and each byte that is not part of a valid UTF-8 sequence becomes
// the lone surrogate U+DC80+byte (Python's "surrogateescape"). Lone surrogates never come out of
// decoding valid UTF-8, so such a name can never collide with a real one, and a name containing one
// is known to be not valid UTF-8 (it cannot travel in JSON as the file's real name).
import { isUtf8 } from 'node:buffer';

const NAMED_ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 0x22, '\\': 0x5c };

/** The bytes of a name as git prints it: `"…"` with C escapes when quoted, else as is (ASCII). */
export function unquoteGitPath(printed: string): Buffer {
  if (printed.length < 2 || !printed.startsWith('"') || !printed.endsWith('"')) return Buffer.from(printed, 'utf8');
  const s = printed.slice(1, -1);
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\') {
      // Unquoted characters are ASCII when core.quotePath is on; anything else is taken as UTF-8.
      for (const b of Buffer.from(c, 'utf8')) out.push(b);
      continue;
    }
    const next = s[i + 1];
    if (next !== undefined && /[0-7]/.test(next)) {
      out.push(parseInt(s.slice(i + 1, i + 4), 8) & 0xff);
      i += 3;
    } else if (next !== undefined && next in NAMED_ESCAPES) {
      out.push(NAMED_ESCAPES[next]);
      i += 1;
    } else {
      out.push(0x5c);
    }
  }
  return Buffer.from(out);
}

/** Bytes → string: valid UTF-8 as text, every other byte as U+DC80+byte (reversible, never ambiguous). */
export function decodePathBytes(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const len = sequenceLength(bytes[i]);
    if (len > 0 && i + len <= bytes.length && isUtf8(bytes.subarray(i, i + len))) {
      out += bytes.toString('utf8', i, i + len);
      i += len;
    } else {
      out += String.fromCharCode(0xdc00 + bytes[i]);
      i += 1;
    }
  }
  return out;
}

/** A name as git prints it (quoted or not) → its string form (see decodePathBytes). */
export function gitPathFromOutput(printed: string): string {
  return printed.startsWith('"') ? decodePathBytes(unquoteGitPath(printed)) : printed;
}

const ESCAPED_BYTE = /[\uDC80-\uDCFF]/g;

/** True when the name held bytes that are not valid UTF-8. */
export function hasInvalidEncoding(name: string): boolean {
  ESCAPED_BYTE.lastIndex = 0;
  return ESCAPED_BYTE.test(name);
}

/** For people: each invalid byte as `\xHH` (printing a lone surrogate would show U+FFFD). */
export function displayPath(text: string): string {
  return text.replace(ESCAPED_BYTE, (c) => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16).padStart(2, '0')}`);
}

function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}
