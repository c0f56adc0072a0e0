// The client stays lean: no hook and no client command loads server/ (the dashboard's renderers,
// better-sqlite3, a native module). Checked on the built bundle (dist/bundle/), which is what runs.
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceImports } from '../support/source-imports.js';

const BUNDLE = fileURLToPath(new URL('../../bundle/', import.meta.url));
const SERVER_MARKERS = [/from\s*["']better-sqlite3["']/, /require\(["']better-sqlite3["']\)/, /sanitize-html|markdown-it|highlight\.js/];

/** Files a bundle file imports statically (`import … from "./x.js"`, `import "./x.js"`). */
function staticImports(file: string): string[] {
  const text = readFileSync(path.join(BUNDLE, file), 'utf8');
  return [...text.matchAll(/(?:^|[;\n}])\s*import\s*(?:[^'"();]*?\sfrom\s*)?["'](\.\/[^"']+)["']/g)].map((m) => path.posix.normalize(m[1]));
}

/** Every file loaded with `file`, before any dynamic import() runs. */
function closure(file: string): Set<string> {
  const seen = new Set<string>();
  const visit = (f: string): void => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const dep of staticImports(f)) visit(dep);
  };
  visit(file);
  return seen;
}

const hasServerCode = (file: string): boolean => SERVER_MARKERS.some((re) => re.test(readFileSync(path.join(BUNDLE, file), 'utf8')));

test('the hook agent bundle (hook.cjs) holds no server code', (t) => {
  t.false(hasServerCode('hook.cjs'));
  t.notRegex(readFileSync(path.join(BUNDLE, 'hook.cjs'), 'utf8'), /kitty_sync_session|Content-Security-Policy/);
});

test('the cached CLI bundle (cli.cjs) holds no server code: serve runs from the ESM modules', (t) => {
  t.false(hasServerCode('cli.cjs'));
  t.notRegex(readFileSync(path.join(BUNDLE, 'cli.cjs'), 'utf8'), /kitty_sync_session|Content-Security-Policy/);
});

test('the entry (kitty-sync.js) loads no other file of the bundle up front, and holds no server code', (t) => {
  t.false(hasServerCode('kitty-sync.js'));
  const text = readFileSync(path.join(BUNDLE, 'kitty-sync.js'), 'utf8');
  t.deepEqual(
    [...text.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]).filter((m) => !m.startsWith('node:')),
    [],
  );
  t.regex(text, /kitty-sync\.mjs/, 'serve runs from the ES module build');
});

test('the CLI loads server code only through serve’s dynamic import', (t) => {
  const files = readdirSync(BUNDLE).filter((f) => f.endsWith('.mjs'));
  const cli = files.find((f) => /^cli-[A-Z0-9]+\.mjs$/.test(f));
  t.truthy(cli);
  // Everything the ES module entry and the yargs commands load up front.
  const upFront = new Set([...closure('kitty-sync.mjs'), ...closure(cli!)]);
  t.true(upFront.size > 2, 'the import scan finds the static imports');
  t.deepEqual([...upFront].filter(hasServerCode), []);
  // The check can fail: the server's own chunks do hold it.
  const receiver = files.find((f) => /^receiver-[A-Z0-9]+\.mjs$/.test(f));
  t.truthy(receiver);
  t.true([...closure(receiver!)].some(hasServerCode));
});

test('module boundaries: server/ imports only lib/contract/ from lib/; lib/ never imports server/', (t) => {
  const server = sourceImports('server');
  t.true(
    server.some((i) => i.to.startsWith('lib/contract/')),
    'the scan sees server imports',
  );
  t.deepEqual(
    server.filter((i) => !i.to.startsWith('server/') && !i.to.startsWith('lib/contract/')),
    [],
  );
  const lib = sourceImports('lib');
  t.true(lib.length > 20);
  t.deepEqual(
    lib.filter((i) => i.to.startsWith('server/')),
    [],
  );
  t.deepEqual(
    sourceImports('lib/contract').filter((i) => !i.to.startsWith('lib/contract/')),
    [],
    'the contract depends on nothing else',
  );
});
