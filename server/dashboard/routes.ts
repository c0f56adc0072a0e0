// The dashboard's HTTP side: which paths are its own, the login gate, security headers, static
// assets and the live stream. Pages are rendered by pages.ts; the renderers load on first use.
import type http from 'node:http';
import { Auth } from '../auth.js';
import type { LiveHub } from '../live.js';
import type { ReceiverStore } from '../store.js';
import { asset } from './assets.js';
import { SECURITY_HEADERS } from './html.js';
import { artifactPage, diffPage, featurePage, loginPage, notFound, projectPage, projectsPage, searchPage, type Page, type PageContext } from './pages.js';
import { DashboardQueries } from './queries.js';

/** A `next` after login may only be a path on this server (no //host, no scheme). */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

function positiveInt(text: string | null): number | null {
  return text !== null && /^\d{1,15}$/.test(text) ? Number(text) : null;
}

export class Dashboard {
  private readonly q: DashboardQueries;
  private render: Promise<typeof import('./render.js')> | null = null;

  constructor(
    store: ReceiverStore,
    private readonly live: LiveHub,
    private readonly auth: Auth,
  ) {
    this.q = new DashboardQueries(store.db);
  }

  handles(pathname: string): boolean {
    return (
      pathname === '/' ||
      pathname === '/live' ||
      pathname === '/login' ||
      pathname === '/logout' ||
      pathname === '/favicon.ico' ||
      pathname.startsWith('/p/') ||
      pathname.startsWith('/ns/') ||
      pathname.startsWith('/static/')
    );
  }

  /** Answers one dashboard request; returns the status sent. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, raw: Buffer): Promise<number> {
    const p = url.pathname;
    if (p.startsWith('/static/')) return this.sendAsset(req, res, p.slice('/static/'.length));
    if (p === '/favicon.ico') return this.send(res, 204, '', 'text/plain');
    if (p === '/login') return this.login(req, res, url, raw);
    if (p === '/logout') {
      if (req.method !== 'POST') return this.methodNotAllowed(res, 'POST');
      res.writeHead(303, { ...SECURITY_HEADERS, Location: '/', 'Set-Cookie': Auth.logoutCookie() });
      res.end();
      return 303;
    }
    if (!this.auth.dashboard(req)) {
      if (p === '/live') return this.send(res, 401, 'unauthorized\n', 'text/plain; charset=utf-8');
      return this.send(res, 401, loginPage(`${url.pathname}${url.search}`, false), 'text/html; charset=utf-8');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.methodNotAllowed(res, 'GET');
    if (p === '/live') {
      this.live.open(req, res, SECURITY_HEADERS);
      return 200;
    }
    const page = await this.page(url);
    return this.send(res, page.status, page.body, page.type ?? 'text/html; charset=utf-8');
  }

  private async page(url: URL): Promise<Page> {
    this.render ??= import('./render.js');
    const ctx: PageContext = { q: this.q, render: await this.render, loggedIn: this.auth.required };
    let parts: string[];
    try {
      parts = url.pathname
        .split('/')
        .filter(Boolean)
        .map((s) => decodeURIComponent(s));
    } catch {
      return notFound(ctx, 'That address is not valid.');
    }
    const params = url.searchParams;
    if (parts.length === 0) return projectsPage(ctx);
    if (parts[0] === 'p' && parts.length === 2) return projectPage(ctx, parts[1]);
    if (parts[0] === 'p' && parts.length === 3 && parts[2] === 'search') {
      return searchPage(ctx, parts[1], (params.get('q') ?? '').slice(0, 200), params.get('in') === 'path' ? 'path' : 'text');
    }
    const id = positiveInt(parts[1] ?? null);
    if (parts[0] === 'ns' && id !== null) {
      const artifactPath = params.get('path');
      if (parts.length === 2) return featurePage(ctx, id);
      if (parts[2] === 'artifact' && artifactPath) return artifactPage(ctx, id, artifactPath, positiveInt(params.get('v')));
      if (parts[2] === 'diff' && artifactPath) {
        const from = positiveInt(params.get('from'));
        const to = positiveInt(params.get('to'));
        if (from !== null && to !== null) return diffPage(ctx, id, artifactPath, from, to);
      }
      if (parts[2] === 'raw' && artifactPath) return this.raw(id, artifactPath, positiveInt(params.get('v')));
    }
    return notFound(ctx, 'No such page.');
  }

  /** The stored text itself, as text/plain that no browser will run or sniff. */
  private raw(id: number, artifactPath: string, seq: number | null): Page {
    const a = this.q.artifact(id, artifactPath);
    const v = seq !== null ? this.q.version(id, artifactPath, seq) : null;
    const body = v ? v.body : a?.content_hash ? this.q.body(a.content_hash) : null;
    return body === null ? { status: 404, body: 'not found\n', type: 'text/plain; charset=utf-8' } : { status: 200, body, type: 'text/plain; charset=utf-8' };
  }

  private login(req: http.IncomingMessage, res: http.ServerResponse, url: URL, raw: Buffer): number {
    if (req.method === 'GET') return this.send(res, 200, loginPage(safeNext(url.searchParams.get('next')), false), 'text/html; charset=utf-8');
    if (req.method !== 'POST') return this.methodNotAllowed(res, 'GET, POST');
    const form = new URLSearchParams(raw.toString('utf8'));
    const next = safeNext(form.get('next'));
    if (!this.auth.tokenMatches(form.get('token') ?? '')) return this.send(res, 401, loginPage(next, true), 'text/html; charset=utf-8');
    res.writeHead(303, { ...SECURITY_HEADERS, Location: next, 'Set-Cookie': this.auth.loginCookie() });
    res.end();
    return 303;
  }

  private sendAsset(req: http.IncomingMessage, res: http.ServerResponse, name: string): number {
    const a = asset(name);
    if (!a) return this.send(res, 404, 'not found\n', 'text/plain; charset=utf-8');
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, { ETag: a.etag });
      res.end();
      return 304;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': a.type, 'Content-Length': a.body.length, ETag: a.etag, 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : a.body);
    return 200;
  }

  private methodNotAllowed(res: http.ServerResponse, allow: string): number {
    res.writeHead(405, { ...SECURITY_HEADERS, Allow: allow, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('method not allowed\n');
    return 405;
  }

  private send(res: http.ServerResponse, status: number, body: string, type: string): number {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return status;
  }
}
