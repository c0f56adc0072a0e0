// The server URL policy (SPEC §8): which base URLs and tokens kitty-sync will use at all. A refusal
// is a configuration problem (exit 2), not a delivery failure.

/** Bad server URL or an insecure scheme: a configuration problem (exit 2), not a delivery failure. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Why `token` cannot be sent in an Authorization header (a line break, another control character, a
 * character outside Latin-1), or null. Names the position and the character, never the token.
 */
export function tokenProblem(token: string | null | undefined): string | null {
  if (!token) return null;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === 0x09 || (c >= 0x20 && c !== 0x7f && c <= 0xff)) continue;
    const what = c === 0x0a || c === 0x0d ? 'a line break' : c > 0xff ? 'a character outside Latin-1' : 'a control character';
    return `KITTY_SYNC_TOKEN contains ${what} (U+${c.toString(16).toUpperCase().padStart(4, '0')} at character ${i + 1}), which an HTTP header cannot carry: set it to the token alone`;
  }
  return null;
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Validates a server base URL (SPEC §8: plain http only for loopback unless opted in). */
export function parseServerUrl(serverUrl: string, allowInsecureHttp = false): URL {
  let url: URL;
  try {
    url = new URL(serverUrl);
  } catch {
    throw new ConfigError(`server URL ${JSON.stringify(serverUrl)} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`server URL must use https:// (or http:// for loopback), not ${url.protocol}`);
  }
  if (url.username || url.password) {
    // Credentials in the URL would end up in logs and error messages; the token has its own setting.
    throw new ConfigError('server URL must not contain credentials; store the token with `kitty-sync login` or set KITTY_SYNC_TOKEN');
  }
  if (url.protocol === 'http:' && !allowInsecureHttp && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(`refusing plain http:// to ${url.hostname}: the token would travel unencrypted; use https://, or allow it with KITTY_SYNC_ALLOW_INSECURE_HTTP=1 (or sync.allow_insecure_http: true)`);
  }
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}
