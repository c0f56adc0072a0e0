// Printing helpers shared by the commands: exit codes, JSON, errors.

/** Exit codes of SPEC §7. */
export const EXIT = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  /** `drain`: work remains queued (EX_TEMPFAIL). */
  pending: 75,
} as const;

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A user-facing error (bad usage or configuration): message on stderr, exit 2. */
export class UsageError extends Error {}

export function fail(err: unknown): void {
  if (err instanceof UsageError) {
    process.stderr.write(`kitty-sync: ${err.message}\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  throw err;
}
