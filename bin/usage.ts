// Small argument helpers shared by the commands: strict whole numbers, option values that start
// with '-' (yargs would read `--budget -5s` as the flags -5 and -s), and yargs' help cache turned off.
import type { Argv } from 'yargs';

/** `['--budget', '-5s']` → `['--budget=-5s']`: a negative-looking value stays with its option, to be refused by name. */
export function keepNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const next = args[i + 1];
    if (/^--[a-z][a-z-]*$/.test(a) && !a.startsWith('--no-') && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** A whole number from `min` to `max` written as plain digits, or a message saying what is wrong. */
export function parseWholeNumber(text: unknown, min: number, max: number): { value: number } | { problem: string } {
  const s = String(text ?? '').trim();
  if (!/^\d+$/.test(s)) return { problem: `${JSON.stringify(String(text ?? ''))} is not a whole number from ${min} to ${max}` };
  const n = Number(s);
  if (n < min || n > max) return { problem: `${s} is not a whole number from ${min} to ${max}` };
  return { value: n };
}

/** What withoutHelpCache reaches: yargs' own instance methods, absent from its published types. */
interface YargsInternals {
  getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } };
}

/**
 * yargs lays the whole help screen out whenever a command starts, to keep it for a later showHelp()
 * that kitty-sync never calls (a usage error prints one line, bin/cli.ts). Laying it out measures
 * every line with string-width, whose first use costs ~40 ms (scripts/bundle-cjs.mjs): on every
 * command's start, for nothing. `--help` is unaffected: it lays the help out when asked. A yargs
 * without these internals keeps its cache, which is only slower.
 */
export function withoutHelpCache(parser: Argv): void {
  const usage = (parser as unknown as YargsInternals).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}
