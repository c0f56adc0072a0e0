#!/usr/bin/env node
// Entry point. Hooks take a lean path (no yargs, no command modules) because every
// millisecond here is paid on every commit; everything else goes through yargs.
import { existsSync } from 'node:fs';
import { argv } from 'node:process';
import { fileURLToPath } from 'node:url';

// Over a file-size limit (RLIMIT_FSIZE) a write must fail with EFBIG, which we report, as Node
// intends by ignoring SIGXFSZ. signal-exit (used by write-file-atomic) re-raises
// the signal, killing the process mid-save, unless another listener exists: this is that listener.
process.on('SIGXFSZ', () => undefined);

if (argv[2] === 'hook') {
  // In the bundle, the hook agent is also one CommonJS file (bin/hook-main.ts), run through V8's
  // code cache: compiling it on every commit cost more than anything else the agent does.
  const bundled = new URL('./hook.cjs', import.meta.url);
  if (existsSync(bundled)) {
    // The agent turns --liftoff-only on when it loads sql.js, and V8 accepts a code cache only under
    // the flags it was made with: on before the compile, or no cache would ever be accepted.
    const { runBundle, HOOK_V8_FLAGS } = await import('../lib/run/compile-cache.js');
    runBundle(fileURLToPath(bundled), HOOK_V8_FLAGS);
  } else {
    const { runHookCli } = await import('./hook-entry.js');
    await runHookCli(argv.slice(3));
  }
} else {
  // The other commands run the same way, from cli.cjs (bin/cli-main.ts): compiling the ESM modules
  // of yargs and a command cost ~100 ms of every start (bench/backfill). Not serve: it runs for
  // long, and it alone loads server/ (left out of cli.cjs), so it is started from the ESM modules.
  const bundled = argv.slice(2).includes('serve') ? null : new URL('./cli.cjs', import.meta.url);
  if (bundled && existsSync(bundled)) {
    // sync turns these on when it loads sql.js (the others only the first): on for every command,
    // before the compile, so the cache any command writes is accepted by all.
    const { runBundle, CLI_V8_FLAGS } = await import('../lib/run/compile-cache.js');
    runBundle(fileURLToPath(bundled), CLI_V8_FLAGS);
  } else {
    const { runCli } = await import('./cli.js');
    await runCli(argv.slice(2));
  }
}
