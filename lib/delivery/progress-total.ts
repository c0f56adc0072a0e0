// One progress count over a whole drain (issue 12): a drain runs in passes (of up to 2,000 bodies; 1,000 in a hook), and
// within a pass bodies are admitted as their index events are accepted, so per-pass figures made the
// bar's total jump and its count restart. This reports the bodies done so far out of the total known
// at the start (what was ready then, or everything pending under --force), growing it only if more
// turns up.
export interface RunProgress {
  /** The callback for one pass (which counts its own bodies from 1). */
  pass(): (doneInPass: number, totalInPass: number) => void;
}

export function runProgress(report: ((done: number, total: number) => void) | undefined, initialTotal: number): RunProgress {
  let before = 0;
  let total = initialTotal;
  return {
    pass() {
      const base = before;
      return (doneInPass) => {
        before = base + doneInPass;
        total = Math.max(total, before);
        report?.(before, total);
      };
    },
  };
}
