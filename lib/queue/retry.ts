// Per-task retry backoff (SPEC §5.2): after the n-th failed attempt wait min(2^(n-1), 300) seconds.

export const MAX_BACKOFF_MS = 300_000;

/** Delay before the next attempt after `retryCount` failed attempts (1 → 1 s, 2 → 2 s, … capped at 5 min). */
export function backoffMs(retryCount: number): number {
  if (!Number.isFinite(retryCount) || retryCount < 1) return 0;
  // 2^(n-1) overflows nothing for n ≤ 1024, but the cap is reached at n = 10 anyway.
  if (retryCount > 20) return MAX_BACKOFF_MS;
  return Math.min(2 ** (retryCount - 1) * 1000, MAX_BACKOFF_MS);
}

/**
 * The longest a task is ever put off: what a server may ask for (Retry-After, retry_after) and
 * how far ahead a stored next attempt may lie (a clock that was fast when it was stored).
 */
export const MAX_WAIT_MS = 3_600_000;

/** A wait a server asked for, in ms, capped at MAX_WAIT_MS (Infinity too); NaN or negative: no wait asked. */
export function capWait(ms: number | undefined): number | undefined {
  if (ms === undefined || Number.isNaN(ms) || ms < 0) return undefined;
  return Math.min(ms, MAX_WAIT_MS);
}
