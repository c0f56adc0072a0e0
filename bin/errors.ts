// How a command that failed ends: a foreseeable failure (lib/foreseeable.ts) is one line and exit 2
// (its stack only with --verbose); anything else is an unexpected error with its stack, exit 1.
import { describeForeseeable } from '../lib/foreseeable.js';
import { EXIT } from './output.js';

export function reportFailure(err: unknown, verbose: boolean): void {
  const line = describeForeseeable(err);
  if (line) {
    process.stderr.write(`kitty-sync: ${line}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  process.stderr.write(`kitty-sync: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = EXIT.unexpected;
}
