#!/usr/bin/env node
// Entry point. Hooks take a lean path (no yargs, no command modules) because every
// millisecond here is paid on every commit; everything else goes through yargs.
import { argv } from 'node:process';

if (argv[2] === 'hook') {
  const { runHookCli } = await import('./hook-entry.js');
  await runHookCli(argv.slice(3));
} else {
  const { runCli } = await import('./cli.js');
  await runCli(argv.slice(2));
}
