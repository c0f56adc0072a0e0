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
 * what stringifying the decoded text gives, at about half the cost (no UTF-16 round trip).
 */
export function encodePushContent(req: PushContentBody): Buffer {
  const { content_body: body, ...meta } = req;
  if (typeof body === 'string') return Buffer.from(JSON.stringify(req), 'utf8');
  if (!isUtf8(body)) return Buffer.from(JSON.stringify({ ...meta, content_body: body.toString('utf8') }), 'utf8');
  const head = JSON.stringify(meta);
  const parts = [Buffer.from(`${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"content_body":`, 'utf8'), Buffer.from(JSON.stringify(body.toString('latin1')), 'latin1'), CLOSE_BRACE];
  return Buffer.concat(parts, parts[0].length + parts[1].length + 1);
}
const CLOSE_BRACE = Buffer.from('}');
