// Timing bounds for a shared, noisy machine: never a fixed number of milliseconds, always the
// promised time plus a slack that grows with a baseline measured in the same test (the same work
// with nothing to wait for). On a quiet machine the slack is the spec's own margin; on a machine
// ten times slower it is ten times larger, and a run that ignored its budget still fails.

/** The most a run promised to take `promisedMs` may take, given a no-op baseline of the same run. */
export function boundFor(promisedMs: number, baselineMs: number, marginMs = 200): number {
  return promisedMs + Math.max(marginMs, 3 * baselineMs);
}

/** Milliseconds `fn` took. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - start };
}
