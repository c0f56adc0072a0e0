import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const moduleUrl = new URL('../../lib/run/compile-cache.js', import.meta.url).href;

/** A CommonJS program whose output shows it ran as a main module with the usual globals. */
const program = (answer: number): string => `
function answer() { return ${answer}; }
process.stdout.write(JSON.stringify({ answer: answer(), file: __filename, dir: __dirname, join: typeof require('node:path').join, exports: module.exports === exports }));
`;

/** Runs `file` through runWithCompileCache in a fresh Node process (a cache is only used by a new compile). */
function run(file: string, cache: 'beside' | 'none' | string): { status: string; out: Record<string, unknown>; code: number | null } {
  const cacheExpr = cache === 'beside' ? 'cacheFileFor(file)' : cache === 'none' ? 'null' : JSON.stringify(cache);
  const script = `import { runWithCompileCache, cacheFileFor } from ${JSON.stringify(moduleUrl)};
const file = ${JSON.stringify(file)};
process.stderr.write(runWithCompileCache(file, ${cacheExpr}));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return { status: r.stderr.trim(), out: r.stdout ? JSON.parse(r.stdout) : {}, code: r.status };
}

function tmp(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-cc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const caches = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.cache'));

test('the first run writes a cache, later runs compile from it; the program runs as a main module either way', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'prog.cjs');
  writeFileSync(file, program(42));
  const expected = { answer: 42, file, dir, join: 'function', exports: true };

  const first = run(file, 'beside');
  t.is(first.status, 'absent');
  t.deepEqual(first.out, expected);
  t.is(caches(dir).length, 1);

  const second = run(file, 'beside');
  t.is(second.status, 'accepted');
  t.deepEqual(second.out, expected);
});

test('a damaged cache is refused, the program still runs, and the cache is rewritten', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'prog.cjs');
  writeFileSync(file, program(7));
  run(file, 'beside');
  const [cache] = caches(dir);
  writeFileSync(path.join(dir, cache), 'not a V8 code cache');
  const refused = run(file, 'beside');
  t.is(refused.status, 'rejected');
  t.is(refused.out.answer, 7);
  t.is(run(file, 'beside').status, 'accepted');
});

test('a changed program never runs from the old cache, even at the same length', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'prog.cjs');
  writeFileSync(file, program(1));
  t.is(run(file, 'beside').out.answer, 1);
  // V8 checks only the length of a cached script: the cache name carries size and mtime.
  writeFileSync(file, program(2));
  utimesSync(file, new Date(), new Date(Date.now() + 5_000));
  const changed = run(file, 'beside');
  t.is(changed.status, 'absent');
  t.is(changed.out.answer, 2);
});

test('no cache location, or one that cannot be written: the program runs, nothing is left behind', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'prog.cjs');
  writeFileSync(file, program(3));
  const off = run(file, 'none');
  t.is(off.status, 'off');
  t.is(off.out.answer, 3);
  t.deepEqual(caches(dir), []);

  const nowhere = path.join(dir, 'missing-dir', 'prog.cache');
  const unwritable = run(file, nowhere);
  t.is(unwritable.code, 0);
  t.is(unwritable.status, 'absent');
  t.is(unwritable.out.answer, 3);
  t.false(existsSync(path.dirname(nowhere)));
});

test('the bundle entry runs hooks through the cached CommonJS agent when it is there', (t) => {
  // dist/bundle is built by `npm test`; the unbundled dist/bin entry falls back to the ESM modules.
  const bundle = fileURLToPath(new URL('../../bundle/hook.cjs', import.meta.url));
  t.true(existsSync(bundle));
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../bundle/kitty-sync.js', import.meta.url)), 'hook', 'no-such-hook'], {
    encoding: 'utf8',
    env: { ...process.env, KITTY_SYNC_TRACE: '1', KITTY_SYNC_COMPILE_CACHE: '0' },
  });
  t.is(r.status, 0);
  t.regex(r.stderr, /unknown hook "no-such-hook"/);
  t.regex(r.stderr, /compile cache off/);
});

test('the bundle entry runs the other commands through the cached CommonJS CLI, and serve from the ESM modules', (t) => {
  const entry = fileURLToPath(new URL('../../bundle/kitty-sync.js', import.meta.url));
  t.true(existsSync(fileURLToPath(new URL('../../bundle/cli.cjs', import.meta.url))));
  // ASCII only (its licence comments are in cli.cjs.LEGAL.txt): V8 reads and hashes it as one-byte text.
  t.false(/[^\x00-\x7f]/.test(readFileSync(fileURLToPath(new URL('../../bundle/cli.cjs', import.meta.url)), 'latin1')));
  const env = { ...process.env, KITTY_SYNC_TRACE: '1', KITTY_SYNC_COMPILE_CACHE: '0' };
  const help = spawnSync(process.execPath, [entry, 'sync', '--help'], { encoding: 'utf8', env });
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /index whole feature\(s\) at a revision/);
  t.regex(help.stderr, /compile cache off/);
  const usage = spawnSync(process.execPath, [entry, 'no-such-command'], { encoding: 'utf8', env });
  t.is(usage.status, 2);
  t.regex(usage.stderr, /See `kitty-sync --help`/);
  const serve = spawnSync(process.execPath, [entry, 'serve', '--help'], { encoding: 'utf8', env });
  t.is(serve.status, 0, serve.stderr);
  t.regex(serve.stdout, /--fail-rate/);
  t.notRegex(serve.stderr, /compile cache/);
});
