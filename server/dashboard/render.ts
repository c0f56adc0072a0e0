// Turns untrusted artifact text into safe HTML: Markdown (markdown-it) then sanitize-html; JSON and
// YAML highlighted by highlight.js; CSV as a table (csv-parse); line diffs (diff). Loaded on the first
// dashboard page only, so the API alone starts fast.
import path from 'node:path';
import MarkdownIt from 'markdown-it';
import sanitizeHtml from 'sanitize-html';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import diffLang from 'highlight.js/lib/languages/diff';
import ini from 'highlight.js/lib/languages/ini';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import plaintext from 'highlight.js/lib/languages/plaintext';
import python from 'highlight.js/lib/languages/python';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { parse as parseCsv } from 'csv-parse/sync';
import { diffLines } from 'diff';
import { esc, html, Html } from './html.js';

for (const [name, lang] of Object.entries({ bash, diff: diffLang, ini, javascript, json, markdown, plaintext, python, sql, typescript, xml, yaml })) {
  hljs.registerLanguage(name, lang);
}
hljs.registerAliases(['sh', 'shell', 'console'], { languageName: 'bash' });
hljs.registerAliases(['toml'], { languageName: 'ini' });
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });

/** Above this, highlighting costs more than it helps: plain escaped text. */
const HIGHLIGHT_LIMIT = 256 * 1024;
const CSV_ROW_LIMIT = 5000;

export type ContentKind = 'markdown' | 'json' | 'yaml' | 'csv' | 'text';

export function contentKind(artifactPath: string): ContentKind {
  const ext = path.posix.extname(artifactPath).toLowerCase();
  if (ext === '.md' || ext === '.markdown') return 'markdown';
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.csv') return 'csv';
  return 'text';
}

function highlight(code: string, language: string): string {
  if (code.length > HIGHLIGHT_LIMIT || !hljs.getLanguage(language)) return esc(code);
  // hljs escapes the code itself; the spans it adds carry only hljs-* classes.
  return hljs.highlight(code, { language, ignoreIllegals: true }).value;
}

const md = new MarkdownIt({
  // Raw HTML in Markdown is common in specs (<details>, <br>); it passes only through the sanitizer.
  html: true,
  linkify: true,
  highlight: (code, lang) => (lang ? highlight(code, lang.toLowerCase()) : esc(code)),
});

/** Where a relative link in an artifact points: the artifact page of its target, if inside the feature. */
function resolveLink(href: string, namespaceId: number, artifactPath: string): string | null {
  if (href.startsWith('#')) return href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(href)) return /^(https?|mailto):/i.test(href) ? href : null;
  if (href.startsWith('/') || href.startsWith('\\')) return null;
  const [target, fragment] = href.split('#', 2);
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(artifactPath), decodeSafe(target.split('?')[0])));
  if (resolved.startsWith('..') || resolved === '.' || resolved.startsWith('/')) return null;
  return `/ns/${namespaceId}/artifact?path=${encodeURIComponent(resolved)}${fragment ? `#${encodeURIComponent(fragment)}` : ''}`;
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function sanitizeOptions(namespaceId: number, artifactPath: string): sanitizeHtml.IOptions {
  return {
    allowedTags: [...sanitizeHtml.defaults.allowedTags, 'img', 'details', 'summary', 'del', 'ins', 'input'],
    allowedAttributes: {
      a: ['href', 'title', 'rel'],
      img: ['src', 'alt', 'title'],
      th: ['colspan', 'rowspan'],
      td: ['colspan', 'rowspan'],
      ol: ['start'],
      input: ['type', 'checked', 'disabled'],
      code: ['class'],
      span: ['class'],
    },
    allowedClasses: { code: ['hljs', 'language-*'], span: ['hljs-*'] },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: ['data'] },
    allowProtocolRelative: false,
    transformTags: {
      a: (tagName, attribs) => {
        const href = attribs.href === undefined ? null : resolveLink(attribs.href, namespaceId, artifactPath);
        const out: Record<string, string> = { ...attribs, rel: 'noopener noreferrer nofollow' };
        if (href === null) delete out.href;
        else out.href = href;
        return { tagName, attribs: out };
      },
      // Only inline data images: a remote image would tell a third party who reads the page (and the
      // CSP would refuse it anyway), and a relative one has nothing to load here.
      img: (tagName, attribs) => {
        if (/^data:image\/(png|gif|jpe?g|webp);/i.test(attribs.src ?? '')) return { tagName, attribs };
        return { tagName: 'span', attribs: { class: 'hljs-comment' }, text: `[image${attribs.alt ? `: ${attribs.alt}` : ''}]` };
      },
      // Task-list checkboxes only, never a form control a page could use.
      input: (tagName, attribs) =>
        attribs.type === 'checkbox' ? { tagName, attribs: { type: 'checkbox', disabled: '', ...(attribs.checked !== undefined ? { checked: '' } : {}) } } : { tagName: 'span', attribs: {} },
    },
  };
}

export function sanitize(dirty: string, namespaceId: number, artifactPath: string): string {
  return sanitizeHtml(dirty, sanitizeOptions(namespaceId, artifactPath));
}

/** The artifact's content as safe HTML, by its file type. */
export function renderContent(text: string, artifactPath: string, namespaceId: number): { kind: ContentKind; html: Html } {
  const kind = contentKind(artifactPath);
  switch (kind) {
    case 'markdown':
      return { kind, html: new Html(`<article class="markdown">${sanitize(md.render(text), namespaceId, artifactPath)}</article>`) };
    case 'json':
    case 'yaml':
      return { kind, html: new Html(`<pre class="code"><code class="hljs language-${kind}">${sanitize(highlight(text, kind), namespaceId, artifactPath)}</code></pre>`) };
    case 'csv':
      return { kind, html: renderCsv(text) };
    default:
      return { kind, html: html`<pre class="code"><code>${text}</code></pre>` };
  }
}

function renderCsv(text: string): Html {
  let rows: string[][];
  try {
    rows = parseCsv(text, { bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true }) as string[][];
  } catch (err) {
    return html`<p class="notice">This CSV could not be read as a table (${err instanceof Error ? err.message : String(err)}); shown as text.</p><pre class="code"><code>${text}</code></pre>`;
  }
  if (rows.length === 0) return html`<p class="muted">(empty)</p>`;
  const [head, ...body] = rows;
  const shown = body.slice(0, CSV_ROW_LIMIT);
  return html`<div class="table-wrap"><table class="csv">
<thead><tr>${head.map((c) => html`<th>${c}</th>`)}</tr></thead>
<tbody>${shown.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody>
</table></div>${body.length > shown.length ? html`<p class="muted">${body.length - shown.length} more rows not shown.</p>` : ''}`;
}

/** Lines of unchanged text kept around each change. */
const CONTEXT = 3;

/** A line diff between two texts as an HTML table, unchanged stretches folded. */
export function renderDiff(before: string, after: string): { added: number; removed: number; html: Html } {
  const parts = diffLines(before, after);
  let added = 0;
  let removed = 0;
  let oldNo = 1;
  let newNo = 1;
  const rows: Html[] = [];
  parts.forEach((part, index) => {
    const lines = part.value.replace(/\n$/, '').split('\n');
    if (part.added || part.removed) {
      for (const line of lines) {
        if (part.added) {
          added++;
          rows.push(html`<tr class="add"><td class="ln"></td><td class="ln">${newNo++}</td><td class="mark">+</td><td class="text">${line}</td></tr>`);
        } else {
          removed++;
          rows.push(html`<tr class="del"><td class="ln">${oldNo++}</td><td class="ln"></td><td class="mark">-</td><td class="text">${line}</td></tr>`);
        }
      }
      return;
    }
    const keepHead = index === 0 ? 0 : CONTEXT;
    const keepTail = index === parts.length - 1 ? 0 : CONTEXT;
    lines.forEach((line, i) => {
      const folded = i >= keepHead && i < lines.length - keepTail;
      if (folded) {
        if (i === keepHead) rows.push(html`<tr class="fold"><td colspan="4">… ${lines.length - keepHead - keepTail} unchanged lines …</td></tr>`);
      } else rows.push(html`<tr class="ctx"><td class="ln">${oldNo}</td><td class="ln">${newNo}</td><td class="mark"></td><td class="text">${line}</td></tr>`);
      oldNo++;
      newNo++;
    });
  });
  return { added, removed, html: html`<table class="diff">${rows}</table>` };
}
