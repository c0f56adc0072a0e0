// Printing helpers shared by the commands.

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Ends the process once stdout and stderr have taken everything written to them. For a command that
 * is finished and left nothing running: a natural exit first frees the heap and the queue's wasm
 * memory piece by piece (bench/backfill: ~50-100 ms after a backfill), which nobody waits for.
 */
export async function exitWhenFlushed(): Promise<never> {
  for (const stream of [process.stdout, process.stderr]) await new Promise<void>((resolve) => stream.write('', () => resolve()));
  process.exit();
}
