// CPU time from a process's or thread's /proc/…/stat line (Linux): what the benches read for their
// receivers, their own threads and the children they reaped.
import { readFileSync } from 'node:fs';

/**
 * The CPU time, in ms, that the stat file's `fields` hold (numbered as in proc(5): 14 + 15 its own
 * user and system time, 16 + 17 its reaped children's), from clock ticks of 1/100 s; NaN if unreadable.
 */
export function statCpuMs(file: string, ...fields: number[]): number {
  let stat: string;
  try {
    stat = readFileSync(file, 'utf8');
  } catch {
    return NaN;
  }
  // The command name (field 2) may hold spaces and parentheses: field 3 starts past the last ')'.
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.reduce((sum, n) => sum + Number(after[n - 3]), 0) * 10;
}
