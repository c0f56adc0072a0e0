// HTML building blocks for the dashboard: escaping, the page layout and its security headers.
// Every value that came from a client (paths, slugs, branches, content) goes through esc().

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Already-safe HTML: built by these helpers or returned by the sanitizer. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Tagged template: interpolated values are escaped unless they are Html (or arrays of Html). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1];
  });
  return new Html(out);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return esc(v);
}

/** Scripts only from this origin (none inline), no plugins, no framing, no <base> games. */
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

export interface PageScope {
  project?: string;
  namespaceId?: number;
  artifactPath?: string;
  /** Refresh <main> when the store changes within the scope (off for fixed views like a diff). */
  live?: boolean;
}

export interface Crumb {
  label: string;
  href?: string;
}

export function layout(opts: { title: string; crumbs: Crumb[]; main: Html; scope?: PageScope; loggedIn?: boolean }): string {
  const s = opts.scope ?? {};
  const crumbs = opts.crumbs.map((c, i) => html`${i > 0 ? html`<span class="sep">/</span>` : ''}${c.href ? html`<a href="${c.href}">${c.label}</a>` : html`<span>${c.label}</span>`}`);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title} · kitty-sync</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script>
</head>
<body data-live="${s.live === false ? 'off' : 'on'}" data-project="${s.project ?? ''}" data-ns="${s.namespaceId ?? ''}" data-path="${s.artifactPath ?? ''}">
<header class="top">
<a class="brand" href="/">kitty-sync</a>
<nav class="crumbs">${crumbs}</nav>
<span id="live-status" class="live" aria-live="polite"></span>
${opts.loggedIn ? html`<form method="post" action="/logout" class="logout"><button type="submit">Log out</button></form>` : ''}
</header>
<main id="main">
${opts.main}
</main>
</body>
</html>
`.value;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatTime(ms: number | null | undefined): Html {
  if (ms === null || ms === undefined) return html`<span class="muted">never</span>`;
  const iso = new Date(Number(ms)).toISOString();
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}</time>`;
}
