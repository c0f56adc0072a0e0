// The dossier dashboard over HTTP (no browser): pages, rendering and sanitizing, search, diff,
// security headers, the token login, live events. The browser test is test/e2e/dashboard-browser.test.ts.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { exposureWarning } from '../../bin/commands/serve.js';
import { renderContent, renderDiff, sanitize } from '../../server/dashboard/render.js';
import type { NamespaceRef } from '../../lib/contract/wire.js';
import { indexEvent, pushRequest, startTestReceiver, testNamespace, type TestReceiver } from '../support/receiver.js';
import { CLI_PATH } from '../support/proc.js';
import { XSS_FIXTURES } from '../support/xss.js';

const execFileP = promisify(execFile);
type Teardown = { teardown(fn: () => unknown): void };

async function receiver(t: Teardown, token: string | null = null): Promise<TestReceiver> {
  const r = await startTestReceiver({ token });
  t.teardown(() => r.close());
  return r;
}

/** Indexes and uploads files (path → content) into `ns`, as a client would. */
async function deliver(r: TestReceiver, ns: NamespaceRef, files: Record<string, string>, token: string | null = null): Promise<void> {
  const auth: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const events = Object.entries(files).map(([p, text]) => indexEvent(ns, p, text));
  const res = await fetch(`${r.url}/api/v1/events/batch/`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', ...auth }, body: gzipSync(JSON.stringify({ events })) });
  if (res.status !== 200) throw new Error(`events: ${res.status}`);
  for (const [p, text] of Object.entries(files)) {
    const b = await fetch(`${r.url}/api/dossier/push-content/`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...auth }, body: JSON.stringify(pushRequest(ns, p, text)) });
    if (b.status !== 201 && b.status !== 200) throw new Error(`push ${p}: ${b.status}`);
  }
}

async function page(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, { headers, redirect: 'manual' });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

function links(htmlText: string): string[] {
  return [...htmlText.matchAll(/href="([^"]+)"/g)].map((m) => m[1].replaceAll('&amp;', '&'));
}

// ---- rendering (unit) ----

test('XSS fixtures: the sanitized Markdown keeps the text and drops every way to run script', (t) => {
  for (const [name, source] of Object.entries(XSS_FIXTURES)) {
    const out = renderContent(source, 'spec.md', 7).html.value;
    t.notRegex(out, /<script/i, name);
    t.notRegex(out, /<[^>]*\son[a-z]+\s*=/i, `${name}: no event handler attribute`);
    t.notRegex(out, /<[^>]*=\s*["']?\s*(javascript|data:text)/i, `${name}: no script URL in an attribute`);
    t.notRegex(out, /<(svg|iframe|object|embed|style|base|meta|link|form)\b/i, name);
    t.notRegex(out, /<\/title>/i, `${name}: no </title> reaches the page unescaped`);
  }
  const md = renderContent(XSS_FIXTURES.links, 'research/notes.md', 7).html.value;
  t.regex(md, /href="\/ns\/7\/artifact\?path=research%2Fplan-notes\.md"/, 'a relative link points to the artifact page');
  t.regex(md, /href="https:\/\/example\.org\/"[^>]*rel="noopener noreferrer nofollow"/);
  t.regex(md, /\[image: tracker\]/, 'a remote image becomes its alt text');
  t.notRegex(md, /href="\/etc\/passwd"/, 'no absolute path into the dashboard');
});

test('rendering by type: Markdown, JSON and YAML highlighted, CSV as a table, anything else as text', (t) => {
  const md = renderContent('# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```json\n{"k": 1}\n```\n', 'spec.md', 1);
  t.is(md.kind, 'markdown');
  t.regex(md.html.value, /<h1>Title<\/h1>/);
  t.regex(md.html.value, /<table>/);
  t.regex(md.html.value, /<code class="language-json"><span class="hljs-punctuation">\{<\/span><span class="hljs-attr">("|&quot;)k("|&quot;)<\/span>/);
  const json = renderContent('{"name": "<b>x</b>", "n": 2}', 'contracts/api.json', 1);
  t.regex(json.html.value, /class="hljs language-json"/);
  t.regex(json.html.value, /&lt;b&gt;x&lt;\/b&gt;/);
  const yaml = renderContent('openapi: 3.0.0\npaths: {}\n', 'contracts/api.yaml', 1);
  t.regex(yaml.html.value, /<span class="hljs-attr">openapi:<\/span>/);
  const csv = renderContent('id,name\n1,"<img src=x onerror=alert(1)>"\n2,"a, b"\n', 'research/data.csv', 1);
  t.regex(csv.html.value, /<th>id<\/th><th>name<\/th>/);
  t.regex(csv.html.value, /<td>&lt;img src=x onerror=alert\(1\)&gt;<\/td>/);
  t.regex(csv.html.value, /<td>a, b<\/td>/);
  const broken = renderContent('a,"b\n', 'research/bad.csv', 1);
  t.regex(broken.html.value, /could not be read as a table/);
  t.is(renderContent('<script>x</script>', 'notes.txt', 1).html.value, '<pre class="code"><code>&lt;script&gt;x&lt;/script&gt;</code></pre>');
  t.is(sanitize('<p style="color:red" class="x">ok</p>', 1, 'a.md'), '<p>ok</p>', 'no style or class attributes from content');
});

test('diff: added and removed lines counted, unchanged stretches folded, text escaped', (t) => {
  const before = Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join('');
  const after = `${before.replace('line 10', 'line ten <b>')}line 20\n`;
  const d = renderDiff(before, after);
  t.is(d.added, 2);
  t.is(d.removed, 1);
  t.regex(d.html.value, /<tr class="del">.*line 10<\/td><\/tr>/);
  t.regex(d.html.value, /<tr class="add">.*line ten &lt;b&gt;<\/td><\/tr>/);
  t.regex(d.html.value, /… 7 unchanged lines …/);
});

// ---- pages over HTTP ----

test('pages: projects → features (namespace) → artifacts → rendered artifact, with a strict CSP on every page', async (t) => {
  const r = await receiver(t);
  const ns = testNamespace({ feature_slug: '047-demo-feature', target_branch: 'feature/x' });
  await deliver(r, ns, { 'spec.md': '# Demo spec\n\nSome *text*.\n', 'contracts/api.yaml': 'openapi: 3.0.0\n', 'research/data.csv': 'a,b\n1,2\n' });
  const home = await page(`${r.url}/`);
  t.is(home.status, 200);
  const csp = home.headers.get('content-security-policy') ?? '';
  for (const d of ["default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]) t.true(csp.includes(d), d);
  t.false(csp.includes('unsafe-inline'));
  t.is(home.headers.get('x-content-type-options'), 'nosniff');
  t.notRegex(home.text, /<script>/, 'no inline script');
  t.regex(home.text, /<script src="\/static\/dashboard\.js" defer><\/script>/);
  const projectLink = links(home.text).find((l) => l === `/p/${ns.project_uuid}`);
  t.truthy(projectLink);
  const project = await page(`${r.url}${projectLink}`);
  t.regex(project.text, /047-demo-feature/);
  t.regex(project.text, /<code>feature\/x<\/code>/);
  t.regex(project.text, /software-dev/);
  const featureLink = links(project.text).find((l) => /^\/ns\/\d+$/.test(l))!;
  const feature = await page(`${r.url}${featureLink}`);
  for (const p of ['spec.md', 'contracts/api.yaml', 'research/data.csv']) t.regex(feature.text, new RegExp(`data-path="${p.replace('.', '\\.')}"`));
  t.regex(feature.text, /<dt>manifest version<\/dt><dd>1<\/dd>/);
  const specLink = links(feature.text).find((l) => l.endsWith('path=spec.md'))!;
  const spec = await page(`${r.url}${specLink}`);
  t.regex(spec.text, /<h1>Demo spec<\/h1>/);
  t.regex(spec.text, /<em>text<\/em>/);
  const yaml = await page(`${r.url}${links(feature.text).find((l) => l.endsWith('api.yaml'))}`);
  t.regex(yaml.text, /hljs-attr/);
  const css = await fetch(`${r.url}/static/dashboard.css`);
  t.is(css.status, 200);
  t.regex(css.headers.get('content-type') ?? '', /text\/css/);
  t.is((await fetch(`${r.url}/static/../package.json`)).status, 404);
  t.is((await page(`${r.url}/ns/99999`)).status, 404);
});

test('versions, diff between any two, and raw text', async (t) => {
  const r = await receiver(t);
  const ns = testNamespace();
  await deliver(r, ns, { 'plan.md': '# Plan\n\nstep one\n' });
  await deliver(r, ns, { 'plan.md': '# Plan\n\nstep one\nstep two\n' });
  await deliver(r, ns, { 'plan.md': '# Plan\n\nstep 1\nstep two\nstep three\n' });
  const id = r.receiver.store.namespaceId(ns);
  const artifact = await page(`${r.url}/ns/${id}/artifact?path=plan.md`);
  t.regex(artifact.text, /step three/);
  const seqs = [...artifact.text.matchAll(/name="to" value="(\d+)"/g)].map((m) => Number(m[1]));
  t.is(seqs.length, 3);
  const [newest, , oldest] = seqs;
  const diff = await page(`${r.url}/ns/${id}/diff?path=plan.md&from=${oldest}&to=${newest}`);
  t.is(diff.status, 200);
  t.regex(diff.text, /<tr class="del">.*step one<\/td>/);
  t.regex(diff.text, /<tr class="add">.*step three<\/td>/);
  t.regex(diff.text, /\+3<\/span> <span class="removed">−1/);
  const old = await page(`${r.url}/ns/${id}/artifact?path=plan.md&v=${oldest}`);
  t.regex(old.text, /version #\d+/);
  t.notRegex(old.text, /step two/);
  const raw = await page(`${r.url}/ns/${id}/raw?path=plan.md&v=${oldest}`);
  t.is(raw.text, '# Plan\n\nstep one\n');
  t.regex(raw.headers.get('content-type') ?? '', /^text\/plain/);
  t.is((await page(`${r.url}/ns/${id}/diff?path=plan.md&from=${oldest}&to=999999`)).status, 404);
});

test('search within a project: by path and by text, never across projects', async (t) => {
  const r = await receiver(t);
  const ns = testNamespace();
  const other = testNamespace();
  await deliver(r, ns, { 'spec.md': '# Spec\n\nThe QUEUE must be durable.\n', 'research/queue-options.md': '# Options\n' });
  await deliver(r, other, { 'spec.md': 'queue durable elsewhere\n' });
  const byText = await page(`${r.url}/p/${ns.project_uuid}/search?q=queue+must&in=text`);
  t.regex(byText.text, /path=spec\.md/);
  t.regex(byText.text, /The QUEUE must be durable\./, 'the matching line is shown');
  t.notRegex(byText.text, /elsewhere/);
  const byPath = await page(`${r.url}/p/${ns.project_uuid}/search?q=QUEUE-OPT&in=path`);
  t.regex(byPath.text, /research\/queue-options\.md/);
  t.notRegex(byPath.text, /path=spec\.md/);
  const wildcard = await page(`${r.url}/p/${ns.project_uuid}/search?q=%25&in=text`);
  t.regex(wildcard.text, /No artifact text contains/, '% is a literal, not a wildcard');
});

test('an artifact path and content with a </title> breakout are escaped on every page', async (t) => {
  const r = await receiver(t);
  const ns = testNamespace();
  const evilPath = 'research/</title><script>alert(1)<\u002fscript>.md';
  await deliver(r, ns, { [evilPath]: '</title><script>alert(2)</script>\n# ok\n' });
  const id = r.receiver.store.namespaceId(ns);
  for (const url of [`/ns/${id}`, `/ns/${id}/artifact?path=${encodeURIComponent(evilPath)}`, `/p/${ns.project_uuid}/search?q=${encodeURIComponent('</title>')}&in=path`]) {
    const p = await page(`${r.url}${url}`);
    t.is(p.status, 200, url);
    t.is((p.text.match(/<\/title>/g) ?? []).length, 1, `${url}: only the page's own </title>`);
    t.notRegex(p.text, /<script>alert/, url);
  }
});

// ---- token ----

test('with --token: the dashboard needs a login (HttpOnly SameSite=Strict cookie) or the bearer token; the API keeps bearer only', async (t) => {
  const token = 'dash-token-123';
  const r = await receiver(t, token);
  const ns = testNamespace({ feature_slug: 'secret-feature' });
  await deliver(r, ns, { 'spec.md': '# secret\n' }, token);
  const refused = await page(`${r.url}/`);
  t.is(refused.status, 401);
  t.regex(refused.text, /<form method="post" action="\/login"/);
  t.notRegex(refused.text, new RegExp(ns.project_uuid));
  t.is((await page(`${r.url}/ns/1`)).status, 401);
  t.is((await page(`${r.url}/live`)).status, 401);
  t.is((await page(`${r.url}/static/dashboard.js`)).status, 200, 'the script itself holds no data');

  const login = (tok: string, next: string) =>
    fetch(`${r.url}/login`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: tok, next }).toString(), redirect: 'manual' });
  const wrong = await login('nope', '/');
  t.is(wrong.status, 401);
  t.is(wrong.headers.get('set-cookie'), null);
  const ok = await login(token, `/p/${ns.project_uuid}`);
  t.is(ok.status, 303);
  t.is(ok.headers.get('location'), `/p/${ns.project_uuid}`);
  const cookie = ok.headers.get('set-cookie') ?? '';
  t.regex(cookie, /HttpOnly/);
  t.regex(cookie, /SameSite=Strict/);
  t.false(cookie.includes(token), 'the cookie is not the token');
  const session = cookie.split(';')[0];
  const home = await page(`${r.url}/`, { Cookie: session });
  t.is(home.status, 200);
  t.regex(home.text, new RegExp(ns.project_uuid));
  t.regex(home.text, /action="\/logout"/);
  t.is((await page(`${r.url}/`, { Authorization: `Bearer ${token}` })).status, 200, 'bearer works for the dashboard too');
  t.is((await page(`${r.url}/`, { Cookie: 'kitty_sync_session=forged' })).status, 401);
  // The session cookie is no key to the API.
  t.is((await page(`${r.url}/__artifacts`, { Cookie: session })).status, 401);
  const offsite = await login(token, '//evil.example/');
  t.is(offsite.headers.get('location'), '/', 'no open redirect after login');
  const logout = await fetch(`${r.url}/logout`, { method: 'POST', headers: { Cookie: session }, redirect: 'manual' });
  t.regex(logout.headers.get('set-cookie') ?? '', /Max-Age=0/);
});

// ---- live ----

test('live: a stored body is announced on /live with its project, namespace and path', async (t) => {
  const r = await receiver(t);
  const ns = testNamespace();
  await deliver(r, ns, { 'spec.md': 'v1' });
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const res = await fetch(`${r.url}/live`, { signal: controller.signal });
  t.regex(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const until = async (re: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const m = re.exec(text);
      if (m) return m;
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended: ${text}`);
      text += decoder.decode(value);
    }
  };
  await until(/retry: \d+/);
  await deliver(r, ns, { 'spec.md': 'v2' });
  const m = await until(/event: change\ndata: (.*)\n\n(?:[\s\S]*?)event: change\ndata: (.*)\n\n/);
  const changes = [...JSON.parse(m[1]), ...JSON.parse(m[2])] as { kind: string; project_uuid: string; namespace_id: number; artifact_path: string }[];
  t.deepEqual(
    changes.map((c) => [c.kind, c.project_uuid, c.namespace_id, c.artifact_path]),
    [
      ['index', ns.project_uuid, r.receiver.store.namespaceId(ns), 'spec.md'],
      ['body', ns.project_uuid, r.receiver.store.namespaceId(ns), 'spec.md'],
    ],
  );
});

// ---- serve's host ----

test('serve binds 127.0.0.1 by default; --host beyond loopback without --token is warned about', async (t) => {
  const help = await execFileP(process.execPath, [CLI_PATH, 'serve', '--help']);
  t.regex(help.stdout, /--host[^\n]*\[default: "127\.0\.0\.1"\]/);
  t.regex(help.stdout, /--token/);
  t.is(exposureWarning('127.0.0.1', null), null);
  t.is(exposureWarning('localhost', null), null);
  t.is(exposureWarning('0.0.0.0', 'secret'), null);
  t.regex(exposureWarning('0.0.0.0', null) ?? '', /beyond loopback, without --token/);
  t.regex(exposureWarning('192.168.1.10', null) ?? '', /read the dashboard and write to it/);
});
