// The dashboard's pages, as server-rendered HTML: projects → features → artifacts → artifact
// (rendered content, versions, diff), search, login. Content HTML comes from render.ts (sanitized).
import type { DashboardQueries, ArtifactRow, FeatureRow, VersionRow } from './queries.js';
import { formatBytes, formatTime, html, layout, type Crumb, type Html } from './html.js';
import type * as Render from './render.js';

export interface PageContext {
  q: DashboardQueries;
  render: typeof Render;
  loggedIn: boolean;
}

export interface Page {
  status: number;
  body: string;
  /** Content-Type when not HTML. */
  type?: string;
}

export const notFound = (ctx: PageContext, what: string): Page => ({
  status: 404,
  body: layout({ title: 'Not found', crumbs: [{ label: 'projects', href: '/' }], main: html`<h1>Not found</h1><p>${what}</p>`, loggedIn: ctx.loggedIn, scope: { live: false } }),
});

function short(hash: string | null | undefined): string {
  return hash ? hash.slice(0, 12) : '';
}

export const projectHref = (uuid: string): string => `/p/${encodeURIComponent(uuid)}`;
export const featureHref = (id: number): string => `/ns/${id}`;
export const artifactHref = (id: number, p: string, extra = ''): string => `/ns/${id}/artifact?path=${encodeURIComponent(p)}${extra}`;

function projectLabel(p: { project_slug: string | null; project_uuid: string }): string {
  return p.project_slug || p.project_uuid;
}

export function projectsPage(ctx: PageContext): Page {
  const projects = ctx.q.projects();
  const main = html`<h1>Projects</h1>
${
  projects.length === 0
    ? html`<p class="empty">Nothing received yet. Point a repository at this server (<code>KITTY_SYNC_SERVER_URL</code>) and commit, or run <code>kitty-sync sync --all</code>. A project appears with its first accepted event.</p>`
    : html`<table class="list">
<thead><tr><th>project</th><th>uuid</th><th>team</th><th>features</th><th>last event</th></tr></thead>
<tbody>${projects.map(
        (p) =>
          html`<tr><td><a href="${projectHref(p.project_uuid)}">${projectLabel(p)}</a></td><td><code>${p.project_uuid}</code></td><td>${p.team_slug ?? ''}</td><td class="num">${p.features}</td><td>${formatTime(p.last_seen_ms)}</td></tr>`,
      )}</tbody></table>`
}`;
  return { status: 200, body: layout({ title: 'Projects', crumbs: [{ label: 'projects' }], main, loggedIn: ctx.loggedIn }) };
}

function searchForm(uuid: string, q = '', where: 'path' | 'text' = 'text'): Html {
  return html`<form class="search" method="get" action="${projectHref(uuid)}/search" role="search">
<input type="search" name="q" value="${q}" placeholder="search paths or text" aria-label="search" required>
<select name="in" aria-label="search in"><option value="text"${where === 'text' ? html` selected` : ''}>in text</option><option value="path"${where === 'path' ? html` selected` : ''}>in paths</option></select>
<button type="submit">Search</button>
</form>`;
}

function projectCrumbs(p: { project_slug: string | null; project_uuid: string }): Crumb[] {
  return [
    { label: 'projects', href: '/' },
    { label: projectLabel(p), href: projectHref(p.project_uuid) },
  ];
}

export function projectPage(ctx: PageContext, uuid: string): Page {
  const project = ctx.q.project(uuid);
  if (!project) return notFound(ctx, 'No such project on this server.');
  const features = ctx.q.features(uuid);
  const main = html`<h1>${projectLabel(project)}</h1>
<p class="meta"><code>${project.project_uuid}</code>${project.team_slug ? html` · team ${project.team_slug}` : ''}</p>
${searchForm(uuid)}
<h2>Features</h2>
${featureTable(features)}`;
  return { status: 200, body: layout({ title: projectLabel(project), crumbs: projectCrumbs(project), main, loggedIn: ctx.loggedIn, scope: { project: uuid } }) };
}

function featureTable(features: FeatureRow[]): Html {
  if (features.length === 0) return html`<p class="empty">No feature yet.</p>`;
  return html`<table class="list features">
<thead><tr><th>feature</th><th>target branch</th><th>mission</th><th>manifest</th><th>artifacts</th><th>last delivered</th></tr></thead>
<tbody>${features.map(
    (f) =>
      html`<tr><td><a href="${featureHref(f.id)}">${f.feature_slug}</a></td><td><code>${f.target_branch}</code></td><td>${f.mission_key}</td><td>${f.manifest_version}</td><td class="num">${f.delivered} / ${f.indexed}</td><td>${formatTime(f.last_received_ms)}</td></tr>`,
  )}</tbody></table>`;
}

export function featurePage(ctx: PageContext, id: number): Page {
  const f = ctx.q.feature(id);
  if (!f) return notFound(ctx, 'No such feature on this server.');
  const artifacts = ctx.q.artifacts(id);
  const snap = ctx.q.snapshot(id);
  const counts = (snap?.payload.artifact_counts ?? null) as Record<string, number> | null;
  const main = html`<h1>${f.feature_slug}</h1>
<dl class="namespace">
<dt>target branch</dt><dd><code>${f.target_branch}</code></dd>
<dt>mission</dt><dd>${f.mission_key}</dd>
<dt>manifest version</dt><dd>${f.manifest_version}</dd>
${snap ? html`<dt>completeness</dt><dd class="status-${String(snap.payload.completeness_status ?? 'unknown')}">${String(snap.payload.completeness_status ?? 'unknown')}${counts ? html` (required ${counts.required_present ?? '?'}/${counts.required ?? '?'}, ${counts.total ?? '?'} files indexed)` : ''} · ${formatTime(snap.received_ms)}</dd>` : ''}
</dl>
<h2>Artifacts</h2>
${artifactTable(id, artifacts)}`;
  return {
    status: 200,
    body: layout({
      title: f.feature_slug,
      crumbs: [...projectCrumbs(f), { label: `${f.feature_slug} @ ${f.target_branch}` }],
      main,
      loggedIn: ctx.loggedIn,
      scope: { project: f.project_uuid, namespaceId: id },
    }),
  };
}

function artifactState(a: ArtifactRow): Html {
  if (a.content_hash === null) return html`<span class="state none" title="indexed; no body received (not eligible, or not delivered yet)">no body</span>`;
  if (a.content_hash !== a.index_hash) return html`<span class="state pending" title="the index names newer content whose body has not arrived">newer pending</span>`;
  return html`<span class="state ok">current</span>`;
}

function artifactTable(id: number, artifacts: ArtifactRow[]): Html {
  if (artifacts.length === 0) return html`<p class="empty">Nothing indexed yet.</p>`;
  return html`<table class="list artifacts">
<thead><tr><th>path</th><th>class</th><th>size</th><th>last delivered</th><th>versions</th><th>state</th></tr></thead>
<tbody>${artifacts.map(
    (a) =>
      html`<tr data-path="${a.artifact_path}"><td>${a.content_hash !== null ? html`<a href="${artifactHref(id, a.artifact_path)}">${a.artifact_path}</a>` : html`<span>${a.artifact_path}</span>`}</td><td>${a.artifact_class}</td><td class="num">${formatBytes(Number(a.size_bytes ?? a.index_size))}</td><td>${formatTime(a.last_received_ms)}</td><td class="num versions">${a.version_count ?? 0}</td><td>${artifactState(a)}</td></tr>`,
  )}</tbody></table>`;
}

export function artifactPage(ctx: PageContext, id: number, artifactPath: string, seq: number | null): Page {
  const f = ctx.q.feature(id);
  const a = f ? ctx.q.artifact(id, artifactPath) : null;
  if (!f || !a) return notFound(ctx, 'No such artifact in this feature.');
  const versions = ctx.q.versions(id, artifactPath);
  const shown = seq !== null ? versions.find((v) => v.seq === seq) : versions.find((v) => v.content_hash === a.content_hash);
  if (seq !== null && !shown) return notFound(ctx, 'No such version of this artifact.');
  const text = shown ? ctx.q.body(shown.content_hash) : null;
  const rendered = text !== null ? ctx.render.renderContent(text, artifactPath, id) : null;
  const isCurrent = shown !== undefined && shown.content_hash === a.content_hash && seq === null;
  const main = html`<h1 class="path">${artifactPath}</h1>
<p class="meta">${a.artifact_class} · <code>${a.artifact_key}</code> · ${a.required_status} · ${artifactState(a)}</p>
${
  shown
    ? html`<p class="meta">${isCurrent ? 'current version' : html`version #${shown.seq} (<a href="${artifactHref(id, artifactPath)}">see the current one</a>)`} · <code>${short(shown.content_hash)}</code> · ${formatBytes(Number(shown.size_bytes))} · received ${formatTime(shown.received_ms)} · <a href="${`/ns/${id}/raw?path=${encodeURIComponent(artifactPath)}&v=${shown.seq}`}">raw</a></p>`
    : ''
}
<section class="content" id="content">${rendered ? rendered.html : html`<p class="empty">No body received for this artifact.</p>`}</section>
<h2>Versions</h2>
${versionTable(id, artifactPath, versions, a.content_hash)}`;
  return {
    status: 200,
    body: layout({
      title: `${artifactPath} · ${f.feature_slug}`,
      crumbs: [...projectCrumbs(f), { label: `${f.feature_slug} @ ${f.target_branch}`, href: featureHref(id) }, { label: artifactPath }],
      main,
      loggedIn: ctx.loggedIn,
      scope: { project: f.project_uuid, namespaceId: id, artifactPath, live: seq === null },
    }),
  };
}

function versionTable(id: number, artifactPath: string, versions: VersionRow[], currentHash: string | null): Html {
  if (versions.length === 0) return html`<p class="empty">No version stored.</p>`;
  // Newest first; "from" defaults to the previous version, "to" to the newest.
  return html`<form method="get" action="/ns/${id}/diff" class="versions">
<input type="hidden" name="path" value="${artifactPath}">
<table class="list">
<thead><tr><th>#</th><th>hash</th><th>size</th><th>received</th><th>from</th><th>to</th><th></th></tr></thead>
<tbody>${versions.map(
    (
      v,
      i,
    ) => html`<tr><td class="num">${v.seq}</td><td><code>${short(v.content_hash)}</code>${v.content_hash === currentHash ? html` <span class="state ok">current</span>` : ''}</td><td class="num">${formatBytes(Number(v.size_bytes))}</td><td>${formatTime(v.received_ms)}</td>
<td><input type="radio" name="from" value="${v.seq}" aria-label="from version ${v.seq}"${i === 1 || (versions.length === 1 && i === 0) ? html` checked` : ''}></td>
<td><input type="radio" name="to" value="${v.seq}" aria-label="to version ${v.seq}"${i === 0 ? html` checked` : ''}></td>
<td><a href="${artifactHref(id, artifactPath, `&v=${v.seq}`)}">view</a></td></tr>`,
  )}</tbody></table>
${versions.length > 1 ? html`<button type="submit" id="compare">Compare</button>` : ''}
</form>`;
}

export function diffPage(ctx: PageContext, id: number, artifactPath: string, fromSeq: number, toSeq: number): Page {
  const f = ctx.q.feature(id);
  const from = f ? ctx.q.version(id, artifactPath, fromSeq) : null;
  const to = f ? ctx.q.version(id, artifactPath, toSeq) : null;
  if (!f || !from || !to) return notFound(ctx, 'No such versions of this artifact.');
  const d = ctx.render.renderDiff(from.body, to.body);
  const main = html`<h1 class="path">${artifactPath}</h1>
<p class="meta">changes from version #${from.seq} (<code>${short(from.content_hash)}</code>, ${formatTime(from.received_ms)}) to #${to.seq} (<code>${short(to.content_hash)}</code>, ${formatTime(to.received_ms)}): <span class="added">+${d.added}</span> <span class="removed">−${d.removed}</span></p>
<div class="table-wrap">${d.html}</div>`;
  return {
    status: 200,
    body: layout({
      title: `diff ${artifactPath} · ${f.feature_slug}`,
      crumbs: [
        ...projectCrumbs(f),
        { label: `${f.feature_slug} @ ${f.target_branch}`, href: featureHref(id) },
        { label: artifactPath, href: artifactHref(id, artifactPath) },
        { label: `#${from.seq} → #${to.seq}` },
      ],
      main,
      loggedIn: ctx.loggedIn,
      scope: { live: false },
    }),
  };
}

export function searchPage(ctx: PageContext, uuid: string, q: string, where: 'path' | 'text'): Page {
  const project = ctx.q.project(uuid);
  if (!project) return notFound(ctx, 'No such project on this server.');
  const hits = q.trim() === '' ? [] : ctx.q.search(uuid, q, where);
  const main = html`<h1>Search ${projectLabel(project)}</h1>
${searchForm(uuid, q, where)}
${
  q.trim() === ''
    ? ''
    : hits.length === 0
      ? html`<p class="empty">No artifact ${where === 'path' ? 'path' : 'text'} contains “${q}”.</p>`
      : html`<ul class="hits">${hits.map(
          (h) =>
            html`<li><a href="${artifactHref(h.namespace_id, h.artifact_path)}">${h.artifact_path}</a> <span class="muted">in ${h.feature_slug} @ ${h.target_branch}</span>${h.snippet !== null ? html`<div class="snippet">${h.snippet}</div>` : ''}</li>`,
        )}</ul>`
}`;
  return { status: 200, body: layout({ title: `search · ${projectLabel(project)}`, crumbs: [...projectCrumbs(project), { label: 'search' }], main, loggedIn: ctx.loggedIn, scope: { live: false } }) };
}

export function loginPage(next: string, failed: boolean): string {
  return layout({
    title: 'Log in',
    crumbs: [],
    scope: { live: false },
    main: html`<h1>Log in</h1>
<p>This kitty-sync server needs its token (the one <code>kitty-sync serve --token</code> was started with).</p>
${failed ? html`<p class="notice" role="alert">That token is not the right one.</p>` : ''}
<form method="post" action="/login" class="login">
<input type="hidden" name="next" value="${next}">
<label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button>
</form>`,
  });
}
