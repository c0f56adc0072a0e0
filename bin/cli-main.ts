// The CLI (every command but serve) as one CommonJS file, dist/bundle/cli.cjs (`npm run bundle`),
// which bin/kitty-sync.ts runs through V8's code cache, as it runs the hook agent (bin/hook-main.ts).
import { argv } from 'node:process';
import { runCli } from './cli.js';

void runCli(argv.slice(2));
