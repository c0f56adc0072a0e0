// The CPU this process spent on its main thread and on all its other threads (V8's optimizing
// compiler and garbage-collection helpers, libuv's pool), from /proc/self/task (Linux; null
// elsewhere). A cold client pays V8's optimizing compiler on helper threads, a floor as much as the
// drain: the split shows how much of a client's CPU per body is its own JavaScript running.
import { readdirSync, readFileSync } from 'node:fs';

export interface ThreadCpu {
  mainMs: number;
  otherMs: number;
}

/** utime + stime of every thread of this process, in ms (clock ticks of 1/100 s), by thread id. */
function perThread(): Map<string, number> | null {
  try {
    const out = new Map<string, number>();
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(tid, (Number(fields[11]) + Number(fields[12])) * 10);
      } catch {
        // The thread ended between the listing and the read: its time is lost to the split only.
      }
    }
    return out;
  } catch {
    return null;
  }
}

/** Starts a sample; the function returns the CPU spent since then, split by thread (null if unknown). */
export function threadCpuSince(): () => ThreadCpu | null {
  const start = perThread();
  return () => {
    const end = perThread();
    if (!start || !end) return null;
    const main = String(process.pid);
    let mainMs = 0;
    let otherMs = 0;
    for (const [tid, ms] of end) {
      const spent = ms - (start.get(tid) ?? 0);
      if (tid === main) mainMs += spent;
      else otherMs += spent;
    }
    return { mainMs, otherMs };
  };
}
