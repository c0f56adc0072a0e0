// Owner-only modes for the state directory (issue 12): it holds queued documents, the outcome log
// and the launchers. Directories 0700, files 0600, executable files (the launchers) 0700. Fixed on
// every run, so what an older version created with looser modes is repaired too. Cheap enough for a
// hook: one readdir of the state directory and of hooks/; a subdirectory is walked only when its own
// mode was wrong (bodies/ holds thousands of files, always created 0600). Symlinks are never followed.
import { chmodSync, lstatSync, readdirSync, type Stats } from 'node:fs';
import path from 'node:path';

/** Small directories whose files are always checked. */
const ALWAYS_WALK = new Set(['hooks']);

/** Fixes the modes in each state directory (missing ones are skipped); never throws. */
export function secureStateDirs(dirs: Iterable<string>): void {
  for (const dir of new Set(dirs)) {
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory()) continue;
      fix(dir, st);
      walk(dir, true);
    } catch {
      // Missing or unreadable: nothing to fix here; the command that needs it reports the problem.
    }
  }
}

/**
 * The same, on the next turn of the event loop: a hook calls it just before it waits for git, so the
 * few hundred microseconds of stat calls run while the process would be idle anyway.
 */
export function secureStateDirsSoon(dirs: Iterable<string>): void {
  const list = [...dirs];
  setImmediate(() => secureStateDirs(list)).unref();
}

function walk(dir: string, top: boolean): void {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      continue; // removed meanwhile (a lock released)
    }
    const wasWrong = fix(p, st);
    if (st.isDirectory() && (wasWrong || (top && ALWAYS_WALK.has(name)))) walk(p, false);
  }
}

/** Sets the owner-only mode of one entry; true when it was wrong. */
function fix(p: string, st: Stats): boolean {
  let want: number;
  if (st.isDirectory()) want = 0o700;
  else if (st.isFile()) want = st.mode & 0o100 ? 0o700 : 0o600;
  else return false; // symlinks and others: left alone
  if ((st.mode & 0o777) === want) return false;
  try {
    chmodSync(p, want);
  } catch {
    // Not ours to change (another owner): the run goes on.
  }
  return true;
}
