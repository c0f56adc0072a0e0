// Fault injection for the reference receiver: which misbehaviour (if any) a request gets.
// Pure decision logic; the receiver carries the decision out.

export type FaultEndpoint = 'events' | 'push-content';

export interface FaultConfig {
  /** Probability [0,1] of answering `failStatus` instead of handling the request. */
  failRate: number;
  failStatus: number;
  /** The next N requests fail with `failStatus` regardless of failRate (deterministic tests). */
  failFirst: number;
  /** Probability [0,1] of answering 429 with `retry_after` (body) and Retry-After (header). */
  rateLimitRate: number;
  retryAfterSeconds: number;
  /** Probability [0,1] of destroying the socket without an answer. */
  dropRate: number;
  /** Added latency, uniformly drawn from [min, max] ms. */
  latencyMs: { min: number; max: number };
  /** Accept the request and never answer. */
  hang: boolean;
  /** Index entries become visible this long after their event arrived. */
  indexLagMs: number;
  /** Endpoints the faults apply to (indexLagMs always applies). */
  endpoints: FaultEndpoint[];
}

export type FaultDecision = { kind: 'none' } | { kind: 'hang' } | { kind: 'drop' } | { kind: 'rate_limit'; retryAfterSeconds: number } | { kind: 'fail'; status: number };

export const NO_FAULTS: FaultConfig = {
  failRate: 0,
  failStatus: 503,
  failFirst: 0,
  rateLimitRate: 0,
  retryAfterSeconds: 1,
  dropRate: 0,
  latencyMs: { min: 0, max: 0 },
  hang: false,
  indexLagMs: 0,
  endpoints: ['events', 'push-content'],
};

/** Checks a partial configuration; returns a list of problems (empty when fine). */
export function faultProblems(f: Partial<FaultConfig>): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(f)) if (!(key in NO_FAULTS)) problems.push(`unknown fault option ${JSON.stringify(key)}`);
  const rate = (name: keyof FaultConfig, v: unknown): void => {
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0 && v <= 1))) problems.push(`${name} must be a number between 0 and 1`);
  };
  rate('failRate', f.failRate);
  rate('rateLimitRate', f.rateLimitRate);
  rate('dropRate', f.dropRate);
  if (f.failStatus !== undefined && !(Number.isInteger(f.failStatus) && f.failStatus >= 200 && f.failStatus <= 599)) {
    problems.push('failStatus must be an HTTP status (200-599)');
  }
  for (const k of ['failFirst', 'retryAfterSeconds', 'indexLagMs'] as const) {
    const v = f[k];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) problems.push(`${k} must be a non-negative number`);
  }
  if (f.latencyMs !== undefined) {
    const { min, max } = f.latencyMs;
    if (!(Number.isFinite(min) && Number.isFinite(max) && min >= 0 && max >= min)) problems.push('latencyMs must be min ≤ max, both ≥ 0');
  }
  if (f.endpoints !== undefined && (!Array.isArray(f.endpoints) || f.endpoints.some((e) => e !== 'events' && e !== 'push-content'))) {
    problems.push('endpoints must list "events" and/or "push-content"');
  }
  return problems;
}

/** Parses "20" or "0-50" (milliseconds). */
export function parseLatency(text: string): { min: number; max: number } {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (!m) throw new Error(`invalid latency ${JSON.stringify(text)} (use e.g. 20 or 0-50)`);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (max < min) throw new Error(`invalid latency ${JSON.stringify(text)}: the maximum is below the minimum`);
  return { min, max };
}

/** Holds the current configuration and draws decisions from it. */
export class FaultInjector {
  private config: FaultConfig = { ...NO_FAULTS };
  private failFirstLeft = 0;

  constructor(
    initial: Partial<FaultConfig> = {},
    private readonly random: () => number = Math.random,
  ) {
    this.set(initial, true);
  }

  /** Merges into the current configuration (`reset` starts from no faults). */
  set(partial: Partial<FaultConfig>, reset = false): void {
    const problems = faultProblems(partial);
    if (problems.length > 0) throw new Error(`invalid fault configuration: ${problems.join('; ')}`);
    this.config = { ...(reset ? NO_FAULTS : this.config), ...partial };
    if (partial.failFirst !== undefined) this.failFirstLeft = partial.failFirst;
    else if (reset) this.failFirstLeft = 0;
  }

  get current(): FaultConfig {
    return { ...this.config, latencyMs: { ...this.config.latencyMs }, endpoints: [...this.config.endpoints] };
  }

  get indexLagMs(): number {
    return this.config.indexLagMs;
  }

  /** Milliseconds to delay this request (0: none). */
  latency(endpoint: FaultEndpoint): number {
    const c = this.config;
    if (!c.endpoints.includes(endpoint) || c.latencyMs.max === 0) return 0;
    return Math.round(c.latencyMs.min + this.random() * (c.latencyMs.max - c.latencyMs.min));
  }

  decide(endpoint: FaultEndpoint): FaultDecision {
    const c = this.config;
    if (!c.endpoints.includes(endpoint)) return { kind: 'none' };
    if (c.hang) return { kind: 'hang' };
    if (this.failFirstLeft > 0) {
      this.failFirstLeft--;
      return { kind: 'fail', status: c.failStatus };
    }
    if (c.dropRate > 0 && this.random() < c.dropRate) return { kind: 'drop' };
    if (c.rateLimitRate > 0 && this.random() < c.rateLimitRate) return { kind: 'rate_limit', retryAfterSeconds: c.retryAfterSeconds };
    if (c.failRate > 0 && this.random() < c.failRate) return { kind: 'fail', status: c.failStatus };
    return { kind: 'none' };
  }
}
