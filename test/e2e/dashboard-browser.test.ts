// The dossier dashboard in a real browser: headless Debian Chromium (/usr/bin/chromium, installed by
// .ci/run when missing) driven by playwright-core, against a real `kitty-sync serve` process that
// received real commits through the real post-commit hook of a real repository.
import test from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { spawnReceiver, type SpawnedReceiver } from '../support/receiver.js';
import { XSS_FIXTURES } from '../support/xss.js';
import { cli } from '../support/proc.js';
import { writeFiles } from '../support/git.js';
import { commit, type HookRepo, installHooks, newRepo } from '../support/hooks.js';

const CHROMIUM = process.env.KITTY_SYNC_CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'dashboard-e2e-token';
const FEATURE = '047-dashboard-demo';
const SECOND_LINE = 'A line added by the second commit.';

const SPEC = `# Dashboard demo spec

Documents that **kitty-sync** delivered.

- first point
- second point

| field | value |
|---|---|
| mission | software-dev |

\`\`\`json
{"answer": 42}
\`\`\`
`;

const FILES: Record<string, string> = {
  [`kitty-specs/${FEATURE}/meta.json`]: JSON.stringify({ feature_slug: FEATURE, target_branch: 'main', mission_type: 'software-dev' }),
  [`kitty-specs/${FEATURE}/spec.md`]: SPEC,
  [`kitty-specs/${FEATURE}/plan.md`]: '# Plan\n\n1. build\n2. test\n',
  [`kitty-specs/${FEATURE}/contracts/api.yaml`]: 'openapi: 3.0.0\ninfo:\n  title: Demo\n  version: "1"\npaths: {}\n',
  [`kitty-specs/${FEATURE}/research/data.csv`]: 'option,cost\nsqlite,low\n"postgres, later",medium\n',
  ...Object.fromEntries(Object.entries(XSS_FIXTURES).map(([name, text]) => [`kitty-specs/${FEATURE}/research/xss-${name}.md`, text])),
};

interface Ctx {
  receiver: SpawnedReceiver;
  repo: HookRepo;
  browser: BrowserContext;
  page: Page;
  /** Everything that would show an injected script ran, or any page error. */
  dialogs: string[];
  consoleErrors: string[];
  pageErrors: string[];
  env: NodeJS.ProcessEnv;
}

let ctx: Ctx;

/** Commits with the hooks installed, then drains whatever the hook's time budget left queued. */
async function commitAndDeliver(repo: HookRepo, env: NodeJS.ProcessEnv, message: string): Promise<void> {
  const c = await commit(repo.root, message, env);
  if (c.code !== 0) throw new Error(c.stderr);
  const d = await cli(repo.root, ['drain'], env);
  if (d.code !== 0) throw new Error(`drain: ${d.code} ${d.stderr}`);
}

async function launchBrowser(): Promise<{ browser: BrowserContext; userDataDir: string }> {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'ks-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
  return { browser, userDataDir };
}

/** The feature page's URL, found the way a reader would (project page → feature link), over plain HTTP. */
async function featureUrl(): Promise<string> {
  const res = await fetch(`${ctx.receiver.url}/p/${ctx.repo.uuid}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const m = /href="(\/ns\/\d+)"/.exec(await res.text());
  if (!m) throw new Error('no feature link on the project page');
  return `${ctx.receiver.url}${m[1]}`;
}

/** Undone in reverse order after the tests, even when the set-up failed halfway. */
const cleanups: (() => unknown)[] = [];

test.before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
  const [receiver, repo] = await Promise.all([spawnReceiver({ token: TOKEN }), newRepo()]);
  cleanups.push(
    () => receiver.stop(),
    () => repo.cleanup(),
  );
  const env = { KITTY_SYNC_SERVER_URL: receiver.url, KITTY_SYNC_TOKEN: TOKEN };
  // The browser starts while the first commit is made and delivered.
  const [{ browser }] = await Promise.all([
    launchBrowser().then((b) => {
      cleanups.push(
        () => rmSync(b.userDataDir, { recursive: true, force: true, maxRetries: 5 }),
        () => b.browser.close(),
      );
      return b;
    }),
    (async () => {
      await installHooks(repo.root);
      await writeFiles(repo.root, FILES);
      await commitAndDeliver(repo, env, 'Add the dashboard demo feature');
    })(),
  ]);
  const page = browser.pages()[0] ?? (await browser.newPage());
  ctx = { receiver, repo, browser, page, dialogs: [], consoleErrors: [], pageErrors: [], env };
  page.on('dialog', (d) => {
    ctx.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error') ctx.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => ctx.pageErrors.push(e.message));
});

test.after.always(async () => {
  for (const undo of cleanups.reverse()) {
    try {
      await undo();
    } catch {
      /* keep undoing the rest */
    }
  }
});

const featureRow = (p: string): string => `tr[data-path="${p}"]`;

test.serial('without the token the dashboard is refused; the login form lets the team in', async (t) => {
  const { page, receiver, repo } = ctx;
  const refused = await page.goto(`${receiver.url}/`);
  t.is(refused?.status(), 401);
  t.is(await page.locator('form[action="/login"]').count(), 1);
  t.false((await page.content()).includes(repo.uuid), 'nothing of the project is shown');
  await page.fill('input[name=token]', 'not-the-token');
  await Promise.all([page.waitForURL(`${receiver.url}/login`), page.click('button[type=submit]')]);
  t.is(await page.locator('[role=alert]').count(), 1);
  await page.fill('input[name=token]', TOKEN);
  await Promise.all([page.waitForURL(`${receiver.url}/`), page.click('button[type=submit]')]);
  t.true(await page.locator(`a[href="/p/${repo.uuid}"]`).isVisible());
  const cookies = await ctx.browser.cookies(receiver.url);
  t.like(
    cookies.find((c) => c.name === 'kitty_sync_session'),
    { httpOnly: true, sameSite: 'Strict' },
  );
  // The two refusals above were logged by the browser as failed loads (401): expected, so forgotten.
  t.is(ctx.consoleErrors.filter((e) => /status of 401/.test(e)).length, ctx.consoleErrors.length);
  ctx.consoleErrors.length = 0;
});

test.serial('the pages list the feature and its artifacts, and render Markdown, YAML and CSV', async (t) => {
  const { page, receiver, repo } = ctx;
  await page.goto(`${receiver.url}/`);
  await page.click(`a[href="/p/${repo.uuid}"]`);
  await page.click(`text=${FEATURE}`);
  t.regex(await page.locator('h1').innerText(), new RegExp(FEATURE));
  t.regex(await page.locator('dl.namespace').innerText(), /target branch\s+main[\s\S]*mission\s+software-dev[\s\S]*manifest version\s+1/);
  for (const p of ['spec.md', 'plan.md', 'contracts/api.yaml', 'research/data.csv', 'research/xss-script.md']) {
    t.true(await page.locator(featureRow(p)).isVisible(), p);
  }
  t.is(await page.locator(`${featureRow('spec.md')} td.versions`).innerText(), '1');
  t.is(await page.locator(`${featureRow('spec.md')} td:nth-child(2)`).innerText(), 'input');

  await page.click(`${featureRow('spec.md')} a`);
  t.is(await page.locator('article.markdown h1').innerText(), 'Dashboard demo spec');
  t.is(await page.locator('article.markdown strong').innerText(), 'kitty-sync');
  t.is(await page.locator('article.markdown li').count(), 2);
  t.is(await page.locator('article.markdown table td').first().innerText(), 'mission');
  t.true((await page.locator('article.markdown code.language-json .hljs-number').count()) > 0, 'code fences are highlighted');

  await page.goBack();
  await page.click(`${featureRow('contracts/api.yaml')} a`);
  t.true((await page.locator('code.language-yaml .hljs-attr').count()) >= 3);
  await page.goBack();
  await page.click(`${featureRow('research/data.csv')} a`);
  t.deepEqual(await page.locator('table.csv th').allInnerTexts(), ['option', 'cost']);
  t.deepEqual(await page.locator('table.csv tbody tr:nth-child(2) td').allInnerTexts(), ['postgres, later', 'medium']);
});

test.serial('the XSS fixtures never execute: no dialog, no console error, no page error', async (t) => {
  const { page } = ctx;
  const feature = await featureUrl();
  for (const name of Object.keys(XSS_FIXTURES)) {
    await page.goto(`${feature}/artifact?path=${encodeURIComponent(`research/xss-${name}.md`)}`);
    t.is(await page.locator('article.markdown h1').count(), 1, `${name}: the document itself is shown`);
    // Give anything injected a chance to run (load, hover and click handlers).
    await page.locator('article.markdown').click({ position: { x: 5, y: 5 } });
    t.is(await page.evaluate(() => document.querySelectorAll('article.markdown script, article.markdown svg, article.markdown iframe').length), 0, name);
  }
  t.deepEqual(ctx.dialogs, [], 'no alert() ran');
  t.deepEqual(ctx.consoleErrors, [], 'no console error');
  t.deepEqual(ctx.pageErrors, [], 'no page error');
});

test.serial('a second commit appears live, without a reload; a diff shows the change', async (t) => {
  const { page, repo } = ctx;
  await page.goto(await featureUrl());
  await page.waitForFunction(() => document.getElementById('live-status')?.textContent === 'live');
  await page.evaluate(() => ((window as unknown as { kittyMarker: number }).kittyMarker = 42));
  t.is(await page.locator(featureRow('research/new-note.md')).count(), 0);

  await writeFiles(repo.root, {
    [`kitty-specs/${FEATURE}/spec.md`]: `${SPEC}\n${SECOND_LINE}\n`,
    [`kitty-specs/${FEATURE}/research/new-note.md`]: '# A new note\n',
  });
  await commitAndDeliver(repo, ctx.env, 'Second commit');
  await page.locator(featureRow('research/new-note.md')).waitFor({ timeout: 20_000 });
  await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === '2', `${featureRow('spec.md')} td.versions`, { timeout: 20_000 });
  t.is(await page.evaluate(() => (window as unknown as { kittyMarker?: number }).kittyMarker), 42, 'the page was updated in place, not reloaded');
  t.regex(await page.locator('#live-status').innerText(), /^updated/);

  await page.click(`${featureRow('spec.md')} a`);
  t.is(await page.locator('form.versions tbody tr').count(), 2);
  await Promise.all([page.waitForURL(/\/diff\?/), page.click('#compare')]);
  t.deepEqual(await page.locator('table.diff tr.add td.text').allInnerTexts(), ['', SECOND_LINE]);
  t.is(await page.locator('table.diff tr.del').count(), 0);
  t.regex(await page.locator('.meta').innerText(), /\+2\s+−0/);
  t.deepEqual(ctx.consoleErrors, [], 'no console error on the way');
});
