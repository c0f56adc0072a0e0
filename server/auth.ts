// Who may use the receiver when it has a token: the API by bearer token only; the dashboard by
// bearer token or by the session cookie its login form sets (HttpOnly, SameSite=Strict).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';

export const SESSION_COOKIE = 'kitty_sync_session';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function equalDigests(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export class Auth {
  private readonly expectedBearer: Buffer | null;
  private readonly expectedToken: Buffer | null;
  /** The cookie value: an HMAC of the token under a key made at start, so a restart logs everyone out. */
  private readonly session: string | null;

  constructor(token: string | null) {
    this.expectedBearer = token ? digest(`Bearer ${token}`) : null;
    this.expectedToken = token ? digest(token) : null;
    this.session = token ? createHmac('sha256', randomBytes(32)).update(token).digest('base64url') : null;
  }

  get required(): boolean {
    return this.expectedBearer !== null;
  }

  /** `Authorization: Bearer <token>` (or no token configured). */
  bearer(req: http.IncomingMessage): boolean {
    if (!this.expectedBearer) return true;
    return equalDigests(digest(req.headers.authorization ?? ''), this.expectedBearer);
  }

  /** The dashboard: the session cookie or the bearer token. */
  dashboard(req: http.IncomingMessage): boolean {
    if (!this.session) return true;
    const cookie = parseCookies(req.headers.cookie ?? '')[SESSION_COOKIE];
    if (cookie !== undefined && equalDigests(digest(cookie), digest(this.session))) return true;
    return this.bearer(req);
  }

  /** Checks a token typed into the login form. */
  tokenMatches(candidate: string): boolean {
    if (!this.expectedToken) return true;
    return equalDigests(digest(candidate), this.expectedToken);
  }

  /** The Set-Cookie header for a successful login. No `Secure`: serve speaks plain HTTP. */
  loginCookie(): string {
    return `${SESSION_COOKIE}=${this.session ?? ''}; Path=/; HttpOnly; SameSite=Strict`;
  }

  static logoutCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}

export function parseCookies(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    try {
      out[name] = decodeURIComponent(value);
    } catch {
      out[name] = value;
    }
  }
  return out;
}
