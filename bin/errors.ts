// How a command that failed ends: a UserError is its message and its own exit code; a foreseeable
// failure (lib/run/foreseeable.ts) is one line and exit 2 (its stack only with --verbose); anything
// else is an unexpected error with its stack, exit 1.
import { describeForeseeable } from '../lib/run/foreseeable.js';
import { EXIT, UserError } from '../lib/errors.js';

/**
 * A reader that goes away (`kitty-sync log | head -1`) ends the output quietly: a command exits 0 at
 * once (nothing it still had to say can be read); a hook (`continueWork`) carries on without output,
 * since its work matters more than its messages.
 */
export function quietOnClosedPipe(continueWork = false): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      if (!continueWork) process.exit(0);
      stream.write = (() => true) as typeof stream.write;
    });
  }
}

export function reportFailure(err: unknown, verbose: boolean): void {
  if (err instanceof UserError) {
    process.stderr.write(`kitty-sync: ${err.message}\n`);
    process.exitCode = err.exitCode;
    return;
  }
  const line = describeForeseeable(err);
  if (line) {
    process.stderr.write(`kitty-sync: ${line}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  process.stderr.write(`kitty-sync: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = EXIT.unexpected;
}
