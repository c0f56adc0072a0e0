// When a budgeted drain stops sending. The budget bounds the whole run, and the run does not end
// when sending stops: the results still have to be written back (one queue transaction: with a
// large queue, tens of ms). So sending stops early by the time that closing transaction is
// expected to take: as long as the run's last one.

/** Starts a timer; returns its cancel. Injected by tests. */
export type Schedule = (fn: () => void, ms: number) => () => void;

const realSchedule: Schedule = (fn, ms) => {
  const t = setTimeout(fn, Math.max(0, ms));
  t.unref();
  return () => clearTimeout(t);
};

export interface SendDeadlineOptions {
  /** The closing transaction's expected length until one of the run's own is timed (default 0). */
  closingMs?: number;
  clock?: () => number;
  schedule?: Schedule;
}

export class SendDeadline {
  private readonly controller = new AbortController();
  private closingMs: number;
  private cancel: (() => void) | null = null;
  private readonly clock: () => number;
  private readonly schedule: Schedule;

  /** `endsAt`: when the run must be over (epoch ms); null: no budget, sending never stops. */
  constructor(
    private readonly endsAt: number | null,
    opts: SendDeadlineOptions = {},
  ) {
    this.closingMs = Math.max(0, opts.closingMs ?? 0);
    this.clock = opts.clock ?? Date.now;
    this.schedule = opts.schedule ?? realSchedule;
    this.arm();
  }

  /** Aborted once sending must stop: in-flight requests end, results are written back. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** When sending stops: the end less the expected closing transaction. */
  get stopAt(): number | null {
    return this.endsAt === null ? null : this.endsAt - this.closingMs;
  }

  /** Records how long a queue transaction of this run took: the closing one is expected to last as long. */
  transactionTook(ms: number): void {
    this.closingMs = Math.max(0, ms);
    this.arm();
  }

  /**
   * Whether the transaction running now should be the closing one (read the counts, not more work):
   * once it is written there would be no time left to send before the next one had to begin.
   */
  get closingNow(): boolean {
    if (this.signal.aborted) return true;
    return this.endsAt !== null && this.clock() + 2 * this.closingMs >= this.endsAt;
  }

  dispose(): void {
    this.cancel?.();
    this.cancel = null;
  }

  private arm(): void {
    this.dispose();
    const stopAt = this.stopAt;
    if (stopAt === null || this.signal.aborted) return;
    const wait = stopAt - this.clock();
    if (wait <= 0) this.controller.abort();
    else this.cancel = this.schedule(() => this.controller.abort(), wait);
  }
}
