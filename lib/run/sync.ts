// `kitty-sync sync` without --dry-run: collect the named features at a revision, enqueue every
// eligible artifact (with its index event) in one locked save, drain without a budget, and log the
// outcomes. bin/commands/sync.ts prints the result.
import type { Repo } from '../collect/git.js';
import { commitContext } from '../collect/identity.js';
import { runPolicy, type Settings } from '../config.js';
import { makeTransport } from '../delivery/transport-factory.js';
import { preloadQueue } from '../queue/queue.js';
import { mark } from '../trace.js';
import type { NamespaceRef } from '../types.js';
import { collectForSync, type SyncSelection } from './dry-run.js';
import { appendOutcomes } from './outcome-log.js';
import { runSync, type RunReport } from './pipeline.js';

/** Where a long run shows how far it is (bin's progress bar); stopped when the drain ends. */
export interface ProgressSink {
  update(done: number, total: number): void;
  stop(): void;
}

export interface SyncInput {
  repo: Repo;
  settings: Settings;
  selection: SyncSelection;
  /** Problems that do not stop the run (a skipped file's reason, no usable server, a log not written), in the order they happen. */
  onNotice: (message: string) => void;
  progress?: ProgressSink;
}

export interface SyncResult extends RunReport {
  /** The full commit id the features were read at. */
  rev: string;
  namespaces: Record<string, NamespaceRef>;
  /** Bodies and index events still queued after the drain (0: everything was delivered or failed for good). */
  left: number;
}

export async function syncFeatures(input: SyncInput): Promise<SyncResult> {
  const { repo, settings, onNotice } = input;
  // origin's URL (the index events' repo_slug) is asked of git now, not after collecting: one git
  // process less to wait for between the collection and the capture.
  const remoteUrl = repo.remoteUrl();
  remoteUrl.catch(() => undefined);
  // While git and the disk answer the collection, sql.js, the HTTP client and the token (Git's
  // credential helper) load: a sync always opens the queue, and sends whenever a server is set.
  preloadQueue({ compileAll: true });
  const made = makeTransport(settings, { cwd: repo.paths.root }).then((m) => {
    m.transport?.warm?.();
    void m.transport?.prepare?.();
    return m;
  });
  made.catch(() => undefined);
  const result = await collectForSync(input.selection, repo);
  mark(`sync: ${result.eligible.length} artifacts collected`);
  for (const p of result.problems) onNotice(p);
  const { transport, problem } = await made;
  if (problem) onNotice(problem);
  const run = await runSync({
    ...runPolicy(settings),
    groups: [{ context: await commitContext(repo, result.rev, { slug: result.projectSlug }, settings.teamSlug, remoteUrl), eligible: result.eligible, indexes: result.indexes }],
    skipped: result.skipped,
    transport,
    budgetMs: null,
    // The spool (the whole corpus in a backfill) is written and fsynced while it is merged.
    writeWhileMerging: true,
    repoDir: repo.paths.root,
    onNotice,
    onProgress: input.progress ? (d, t) => input.progress?.update(d, t) : undefined,
  });
  input.progress?.stop();
  transport?.close();
  const logProblem = appendOutcomes(settings.stateDir, 'sync', run.outcomes);
  if (logProblem) onNotice(logProblem);
  return { ...run, rev: result.rev, namespaces: result.namespaces, left: run.drain.stats.pending + run.drain.stats.events_pending };
}
