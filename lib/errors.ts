// How a command ends (SPEC §7): exit codes, and the failures the user can act on, which carry their own.

/** Exit codes of SPEC §7. */
export const EXIT = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  /** `drain`: work remains queued (EX_TEMPFAIL). */
  pending: 75,
} as const;

/**
 * A failure the user can fix (bad usage or configuration, a repository install cannot handle): the
 * CLI prints its message alone, without a stack, and exits with its code (2 unless it says otherwise).
 */
export class UserError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT.usage) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** The first line of an error's message (or of any value): what a one-line report quotes. */
export function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err)
    .trim()
    .split('\n')[0];
}
