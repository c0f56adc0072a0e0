#!/usr/bin/env node
// The ES module entry: dist/bin/kitty-sync.js (tsc's module tree, used when there is no bundle) and
// dist/bundle/kitty-sync.mjs (the bundle's `serve`; bin/bundle-entry.ts runs every other command
// from a CommonJS file). Hooks take a lean path (no yargs, no command modules) because every
// millisecond here is paid on every commit; everything else goes through yargs.
import { argv } from 'node:process';

// Over a file-size limit (RLIMIT_FSIZE) a write must fail with EFBIG, which we report, as Node
// intends by ignoring SIGXFSZ. signal-exit (used by write-file-atomic) re-raises
// the signal, killing the process mid-save, unless another listener exists: this is that listener.
process.on('SIGXFSZ', () => undefined);

if (argv[2] === 'hook') {
  const { runHookCli } = await import('./hook-entry.js');
  await runHookCli(argv.slice(3));
} else {
  const { runCli } = await import('./cli.js');
  await runCli(argv.slice(2));
}
