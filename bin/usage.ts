// Small argument helpers shared by the commands: strict whole numbers, and option values that start
// with '-' (yargs would read `--budget -5s` as the flags -5 and -s).

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
