// The hook agent as one CommonJS file, dist/bundle/hook.cjs (`npm run bundle`), which
// bin/kitty-sync.ts runs through V8's code cache for `kitty-sync hook …`.
import { argv } from 'node:process';
import { runHookCli } from './hook-entry.js';

void runHookCli(argv.slice(3));
