// The request bodies on the wire (SPEC §5): push-content JSON, and the gzipped events batch.
import { isUtf8 } from 'node:buffer';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { DossierEvent, PushContentRequest } from '../types.js';

/** A push-content request whose body may still be the stored UTF-8 bytes (cheaper to encode). */
export type PushContentBody = Omit<PushContentRequest, 'content_body'> & { content_body: string | Buffer };

const gzip = promisify(gzipCb);

/** The events batch (`{"events":[…]}`), gzipped as 047 sends it. */
export function encodeEvents(events: DossierEvent[]): Promise<Buffer> {
  return gzip(Buffer.from(JSON.stringify({ events }), 'utf8'));
}

/**
 * The JSON request body. Stored bytes that are valid UTF-8 are escaped without decoding them:
 * read as latin1 they are one char per byte, JSON.stringify escapes only ASCII ('"', '\\', controls)
 * and leaves bytes >= 0x80 alone, and writing latin1 back restores them. The result is byte for byte
 * what stringifying the decoded text gives, at about half the cost (no UTF-16 round trip). It is
 * written into one buffer: each off-heap buffer per body counts towards the external memory that
 * triggers full garbage collections, and a drain makes thousands.
 */
export function encodePushContent(req: PushContentBody): Buffer {
  const { content_body: body, ...meta } = req;
  if (typeof body === 'string') return Buffer.from(JSON.stringify(req), 'utf8');
  if (!isUtf8(body)) return Buffer.from(JSON.stringify({ ...meta, content_body: body.toString('utf8') }), 'utf8');
  const head = JSON.stringify(meta);
  const prefix = `${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"content_body":`;
  const escaped = JSON.stringify(body.toString('latin1'));
  const prefixBytes = Buffer.byteLength(prefix, 'utf8');
  const out = Buffer.allocUnsafe(prefixBytes + escaped.length + 1);
  out.write(prefix, 0, 'utf8');
  out.write(escaped, prefixBytes, 'latin1');
  out[out.length - 1] = 0x7d; // '}'
  return out;
}
