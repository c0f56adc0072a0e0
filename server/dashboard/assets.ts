// The dashboard's static files (server/dashboard/static/): its one script, its style sheet and icon.
// Plain files, no build step. Found beside the esbuild bundle (dist/bundle/static/, copied by
// `npm run bundle`) or, from tsc's output, in the source tree.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

const CANDIDATES = [new URL('./static/', import.meta.url), new URL('../../../server/dashboard/static/', import.meta.url)];

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const cache = new Map<string, Asset>();

export function staticDir(): string | null {
  for (const c of CANDIDATES) {
    const dir = fileURLToPath(c);
    if (existsSync(`${dir}dashboard.js`)) return dir;
  }
  return null;
}

/** A known asset by file name, or null (names outside the list are never read from disk). */
export function asset(name: string): Asset | null {
  const type = TYPES[name];
  if (!type) return null;
  const hit = cache.get(name);
  if (hit) return hit;
  const dir = staticDir();
  if (!dir) return null;
  const body = readFileSync(`${dir}${name}`);
  const a = { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
  cache.set(name, a);
  return a;
}
