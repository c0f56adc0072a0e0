// Ranges for duration (and other numeric) settings. A value beyond what a timer can hold
// (setTimeout's 2^31 - 1 ms) fires at once instead, so out-of-range values are clamped, with one
// warning line saying what was used instead.

/** A drain budget longer than this is clamped (hooks and `drain --budget`). */
export const MAX_BUDGET_MS = 3_600_000;
/** Stale-work age limit: at most ten years. */
export const MAX_TASK_AGE_MS = 10 * 365 * 24 * 3_600_000;
/** One request's timeout: at least 100 ms, at most 10 minutes. */
export const REQUEST_TIMEOUT_RANGE: Range = { min: 100, max: 600_000, describe: ms };
/** Concurrent uploads: one worker each, so a huge number would only exhaust memory. */
export const MAX_CONCURRENCY = 64;

export interface Range {
  min: number;
  max: number;
  /** How the bound reads to the user, e.g. '3600000 ms (1 h)'. */
  describe?: (n: number) => string;
}

export const BUDGET_RANGE: Range = { min: 0, max: MAX_BUDGET_MS, describe: ms };
export const TASK_AGE_RANGE: Range = { min: 0, max: MAX_TASK_AGE_MS, describe: ms };
export const CONCURRENCY_RANGE: Range = { min: 1, max: MAX_CONCURRENCY };

/**
 * `value` within `range`; when it had to move, one warning naming `what` (e.g.
 * `KITTY_SYNC_BUDGET_MS=99999999999`) is pushed to `warnings`.
 */
export function clampSetting(value: number, range: Range, what: string, warnings: string[]): number {
  const say = range.describe ?? String;
  if (value > range.max) {
    warnings.push(`${what} is more than the maximum ${say(range.max)}; using ${range.max}`);
    return range.max;
  }
  if (value < range.min) {
    warnings.push(`${what} is less than the minimum ${say(range.min)}; using ${range.min}`);
    return range.min;
  }
  return value;
}

/** An age for people: 90s, 5m, 3h, 2d. */
export function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

function ms(n: number): string {
  if (n >= 3_600_000 && n % 3_600_000 === 0) return `${n} ms (${n / 3_600_000} h)`;
  return `${n} ms`;
}
