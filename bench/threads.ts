// The CPU this process spent on its main thread and on all its other threads (V8's optimizing
// compiler and garbage-collection helpers, libuv's pool), from /proc/self/task (Linux; null
// elsewhere). A cold client pays V8's optimizing compiler on helper threads, a floor as much as the
// drain: the split shows how much of a client's CPU per body is its own JavaScript running.
import { readdirSync } from 'node:fs';
import { statCpuMs } from './proc-stat.js';

export interface ThreadCpu {
  mainMs: number;
  otherMs: number;
}

/** Each thread's CPU so far (utime + stime), in ms, by thread id; null if unreadable. */
function perThread(): Map<string, number> | null {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  // A thread that ended between the listing and the read (NaN) loses its time to the split only.
  return new Map(tids.map((tid) => [tid, statCpuMs(`/proc/self/task/${tid}/stat`, 14, 15)] as const).filter(([, ms]) => !Number.isNaN(ms)));
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
