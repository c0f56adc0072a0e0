import test from 'ava';
import { backoffMs, MAX_BACKOFF_MS } from '../../lib/queue/retry.js';

test('backoff after the n-th failure is min(2^(n-1), 300) seconds', (t) => {
  t.deepEqual([1, 2, 3, 4, 8, 9].map(backoffMs), [1000, 2000, 4000, 8000, 128_000, 256_000]);
  t.is(backoffMs(10), MAX_BACKOFF_MS);
  t.is(backoffMs(5000), MAX_BACKOFF_MS);
  t.is(backoffMs(0), 0);
  t.is(backoffMs(Number.NaN), 0);
});
