#!/usr/bin/env node
// The bundle's entry, dist/bundle/kitty-sync.js: the file the hooks and users start. CommonJS
// (dist/bundle/package.json says so), because an ES module entry costs Node its ESM loader on every
// start (~20 ms here, paid on every commit). It only picks what to run:
// - `hook …`: the hook agent, dist/bundle/hook.cjs (bin/hook-main.ts), through V8's code cache;
// - `serve`: the ES module build, dist/bundle/kitty-sync.mjs (bin/kitty-sync.ts). It runs for long,
//   and it alone loads server/ (left out of cli.cjs);
// - anything else: the CLI, dist/bundle/cli.cjs (bin/cli-main.ts), through V8's code cache.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { argv } from 'node:process';
import { pathToFileURL } from 'node:url';
import { CLI_V8_FLAGS, HOOK_V8_FLAGS, runBundle } from '../lib/run/compile-cache.js';

// SIGXFSZ must not kill a save over a file-size limit (the write fails with EFBIG): see bin/kitty-sync.ts.
process.on('SIGXFSZ', () => undefined);

const here = import.meta.dirname;
const hook = argv[2] === 'hook';
const bundled = hook ? path.join(here, 'hook.cjs') : argv.slice(2).includes('serve') ? null : path.join(here, 'cli.cjs');
if (bundled && existsSync(bundled)) {
  // sql.js's loading turns V8 flags on, and V8 accepts a code cache only under the flags it was made
  // with: they are set before the compile (compile-cache.ts).
  runBundle(bundled, hook ? HOOK_V8_FLAGS : CLI_V8_FLAGS);
} else {
  void import(pathToFileURL(path.join(here, 'kitty-sync.mjs')).href);
}
