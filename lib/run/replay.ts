// `kitty-sync drain`: replay the queue to the server within an optional budget, and log the
// outcomes. bin/commands/drain.ts parses the budget and prints the result.
import type { Repo } from '../collect/git.js';
import { runPolicy, type Settings } from '../config.js';
import { drain, type DrainReport } from '../delivery/drain.js';
import { makeTransport } from '../delivery/transport-factory.js';
import { UserError } from '../errors.js';
import { appendOutcomes } from './outcome-log.js';
import type { ProgressSink } from './sync.js';

export interface ReplayInput {
  repo: Repo;
  settings: Settings;
  /** Stop after this long; null: until nothing is ready. */
  budgetMs: number | null;
  /** Ignore backoff times. */
  force: boolean;
  onNotice: (message: string) => void;
  progress?: ProgressSink;
}

export interface ReplayResult extends DrainReport {
  /** Bodies and index events still queued (0: nothing left pending). */
  left: number;
}

/** A server URL refused by policy is a UserError here (exit 2): unlike a hook or sync, drain exists to send. */
export async function replayQueue(input: ReplayInput): Promise<ReplayResult> {
  const { repo, settings, onNotice } = input;
  const { transport, problem } = await makeTransport(settings, { cwd: repo.paths.root });
  if (problem) throw new UserError(problem);
  const progress = input.progress;
  const report = await drain({
    ...runPolicy(settings),
    transport,
    budgetMs: input.budgetMs,
    force: input.force,
    repoDir: repo.paths.root,
    onNotice,
    onProgress: progress ? (d, t) => progress.update(d, t) : undefined,
  });
  progress?.stop();
  transport?.close();
  const logProblem = appendOutcomes(settings.stateDir, 'drain', report.outcomes);
  if (logProblem) onNotice(logProblem);
  return { ...report, left: report.stats.pending + report.stats.events_pending };
}
