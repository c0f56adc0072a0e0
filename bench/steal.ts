// The share of this machine's CPU time the hypervisor took (steal) while a bench ran, from
// /proc/stat (Linux; null elsewhere). On a shared VM a run under heavy steal swings its ratios far
// more than any change being measured: the benches print it beside each run's figures.
import { readFileSync } from 'node:fs';

/** The aggregate cpu line's fields: user nice system idle iowait irq softirq steal … */
function cpuTimes(): number[] | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    return line.startsWith('cpu ') ? line.trim().split(/\s+/).slice(1).map(Number) : null;
  } catch {
    return null;
  }
}

/** Starts a sample; the function returns the steal percentage since then (null if unknown). */
export function stealSince(): () => number | null {
  const start = cpuTimes();
  return () => {
    const end = cpuTimes();
    if (!start || !end || end.length < 8) return null;
    const delta = end.map((v, i) => v - (start[i] ?? 0));
    const total = delta.reduce((a, b) => a + b, 0);
    return total > 0 ? (delta[7] / total) * 100 : null;
  };
}

/** "12.3 %" or "unknown". */
export function formatSteal(p: number | null): string {
  return p === null ? 'unknown' : `${p.toFixed(1)} %`;
}
