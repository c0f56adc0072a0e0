// The hook agent: what `kitty-sync hook post-commit|pre-push` does. It works out which
// committed files under kitty-specs/ a commit or a push brings, hands them to the
// pipeline, and prints one summary. It never throws and never blocks the user's Git
// command: every failure becomes a message, and queued work replays later.
import type { HookName, Settings } from '../config.js';
import { resolveSettings, runPolicy } from '../config.js';
import { openRepo, type HeadChanges, type Repo } from '../collect/git.js';
import { collectArtifacts } from '../collect/artifacts.js';
import { commitContext, SPECS_DIR } from '../collect/identity.js';
import { runSync, type RunInput, type SyncGroup } from './pipeline.js';
import type { StalePolicy } from '../queue/types.js';
import { preloadQueue } from '../queue/queue.js';
import { activeHold, type QueueHold } from '../queue/marker.js';
import { appendOutcomes } from './outcome-log.js';
import { summaryLines } from './report.js';
import { makeTransport, type MadeTransport } from '../delivery/transport-factory.js';
import { mark } from '../trace.js';
import { describeForeseeable } from './foreseeable.js';
import { secureStateDirsSoon } from '../state-perms.js';
import { readWatermark, writeWatermark } from './watermark.js';
import type { CommitContext, UploadOutcome } from '../types.js';

const ZERO_SHA = /^0+$/;

export interface HookInvocation {
  name: HookName;
  /** pre-push: [remote name, remote url]. */
  args: string[];
  /** pre-push: Git's ref lines; null or empty when another hook command consumed stdin. */
  stdin: string | null;
  cwd: string;
  env: NodeJS.ProcessEnv;
  verbose: boolean;
  /** Where messages go (stderr in real use). */
  print: (line: string) => void;
  /**
   * Called if the run overruns its drain budget by WATCHDOG_GRACE_MS (a stuck lock or socket):
   * the entry point exits 0 then. Work already enqueued is durable, so nothing is lost.
   */
  abandon?: () => void;
  /**
   * Starts this same hook again as a detached process (post-commit only) and returns its pid: a
   * capture that cannot finish within the budget goes on there, and Git gets its terminal back.
   */
  detach?: () => number | undefined;
  /**
   * Git questions the entry point already asked (see `startHookGit`), so they ran while the
   * rest of the agent loaded. Absent: asked here.
   */
  early?: EarlyGit;
}

/** The opening git calls of a hook, started together (see `startHookGit`). */
export interface EarlyGit {
  repo: Promise<Repo>;
  /** post-commit only: what HEAD changed under kitty-specs/ (since `since` when the launcher gave a watermark). */
  head: Promise<HeadChanges | null> | null;
  /** The watermark the launcher read (the paths in `head` are relative to it). */
  since?: string | null;
}

/** Time allowed beyond the drain budget for collecting, enqueueing and saving. */
export const WATCHDOG_GRACE_MS = 10_000;

/** Set in the environment of a detached hook (see `detach`): it has this long, and never detaches again. */
export const BACKGROUND_ENV = 'KITTY_SYNC_BACKGROUND';
const BACKGROUND_BUDGET_MS = 10 * 60_000;
/**
 * Fewer changed files than this never detach: such a capture is late only on a starved machine,
 * where it ends soon after the budget anyway, and a commit's output should say what was sent.
 */
const DETACH_MIN_FILES = 200;

/** One pushed ref update as Git reports it on the pre-push hook's stdin. */
export interface RefUpdate {
  localRef: string;
  localSha: string;
  remoteRef: string;
  remoteSha: string;
}

/** A revision to sync and the repo-relative paths under kitty-specs/ that changed. */
interface Target {
  rev: string;
  branch: string | null;
  paths: string[];
  /** The pushed ref (pre-push), named when that ref alone is skipped. */
  ref?: string;
  /** post-commit: the branch whose watermark moves to `rev` once this target is captured. */
  watermark?: { branch: string; sha: string };
}

/** Longest a hook waits for the queue lock before leaving its capture to the next lock holder. */
export const HOOK_LOCK_WAIT_MS = 250;
/** How often hooks look for stale work (its age limit is days and its retry limit hundreds of tries). */
export const HOOK_STALE_CHECK_EVERY_MS = 60 * 60_000;
/** How many tasks one hook looks at for staleness (a look of 100k pending takes ten hooks, ~10 ms each). */
export const HOOK_STALE_CHECK_ROWS = 10_000;

/**
 * What a hook asks of a run besides its settings: stale work looked for at most hourly (`drain` and
 * `sync` always look), and only how much is left counted (the full counts scan every task: hundreds
 * of ms at 100k).
 */
export function hookRunOptions(stale: StalePolicy): Pick<RunInput<'left'>, 'stale' | 'counts'> {
  return { stale: { ...stale, everyMs: HOOK_STALE_CHECK_EVERY_MS, sliceRows: HOOK_STALE_CHECK_ROWS }, counts: 'left' };
}

export function parsePrePushInput(stdin: string): RefUpdate[] {
  const updates: RefUpdate[] = [];
  for (const line of stdin.split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 4) continue;
    const [localRef, localSha, remoteRef, remoteSha] = parts;
    updates.push({ localRef, localSha, remoteRef, remoteSha });
  }
  return updates;
}

export async function runHook(inv: HookInvocation): Promise<void> {
  if (inv.env.KITTY_SYNC === '0') return;
  try {
    await runHookUnsafe(inv);
  } catch (err) {
    inv.print(`kitty-sync: ${inv.name} hook could not finish: ${describeForeseeable(err) ?? (err instanceof Error ? err.message : String(err))}`);
    inv.print(
      inv.name === 'post-commit'
        ? 'kitty-sync: your commit is unaffected; anything this commit could not capture is captured by the next one (its branch watermark moves only after a capture), and queued work replays on the next hook or with `kitty-sync drain`'
        : 'kitty-sync: your push is unaffected; queued work replays on the next hook or with `kitty-sync drain`, and `kitty-sync sync --all` re-queues files this run could not queue',
    );
  }
}

async function runHookUnsafe(inv: HookInvocation): Promise<void> {
  mark('hook modules loaded');
  const repo = await (inv.early?.repo ?? openRepo(inv.cwd));
  mark('repository opened');
  const settings = resolveSettings({ env: inv.env, repoRoot: repo.paths.root, commonGitDir: repo.paths.commonDir, hook: inv.name });
  for (const w of settings.warnings) inv.print(`kitty-sync: ${w}`);
  secureStateDirsSoon([settings.stateDir, `${repo.paths.commonDir}/kitty-sync`]);
  // A commit that finds the queue held (marker.ts: the server failed its last index events) only
  // spools its capture and never loads the queue, so sql.js is not started for it; a push (rarer,
  // and where a user expects delivery) always tries.
  const hold = inv.name === 'post-commit' && settings.serverUrl ? activeHold(settings.stateDir) : null;
  // The launcher started Node because there is work: load sql.js and the HTTP client while git runs.
  if (!hold) preloadQueue();
  const made = makeTransport(settings, { cwd: repo.paths.root, env: inv.env }).then((m) => (m.transport?.warm?.(), m));
  // The budget counts from the process's start: the whole run (start-up, capture, merge, drain,
  // the closing write) fits in it, and Git is held for the budget plus the launcher and Node's exit
  // (issue 11 §2: at most the budget plus 2x an empty Node hook). A detached continuation of a hook
  // gets a budget of its own.
  const budgetMs = inv.env[BACKGROUND_ENV] === '1' ? BACKGROUND_BUDGET_MS : (settings.budgetMs ?? 0);
  const deadlineAt = performance.timeOrigin + budgetMs;
  const watchdog = setTimeout(
    () => {
      inv.print(`kitty-sync: ${inv.name} hook took too long; stopping (queued work replays on the next hook or with \`kitty-sync drain\`)`);
      inv.abandon?.();
    },
    deadlineAt - Date.now() + WATCHDOG_GRACE_MS,
  );
  watchdog.unref();
  try {
    await syncTargets(inv, repo, settings, made, deadlineAt, hold);
  } finally {
    clearTimeout(watchdog);
  }
}

async function syncTargets(inv: HookInvocation, repo: Repo, settings: Settings, made: Promise<MadeTransport>, deadlineAt: number, hold: QueueHold | null): Promise<void> {
  const notice = (m: string): void => inv.print(`kitty-sync: ${m}`);
  const targets = inv.name === 'post-commit' ? await postCommitTargets(repo, settings.stateDir, inv.early ?? null, notice) : await prePushTargets(repo, inv.args[0] ?? 'origin', inv.stdin);

  mark('changed paths listed');
  const collecting = collectTargets(inv, repo, settings, targets);
  // A capture that cannot be read from Git within the budget (thousands of files) goes on in a
  // detached process: Git is held for the budget, not for the capture (issue 11 §2). The watermark
  // moves only once that capture is written, so nothing is missed if it dies too. "In time" leaves,
  // before the deadline, what writing and merging the capture will take once read.
  const files = targets.reduce((n, t) => n + t.paths.length, 0);
  if (inv.detach && files >= DETACH_MIN_FILES && inv.env[BACKGROUND_ENV] !== '1' && (await beforeDeadline(collecting, deadlineAt - files * CAPTURE_MS_PER_FILE)) === 'late') {
    const pid = inv.detach();
    inv.print(
      pid
        ? `kitty-sync: ${files} changed file(s) under kitty-specs/ take longer than the ${Math.round(settings.budgetMs ?? 0)} ms budget to capture; the capture goes on in the background (pid ${pid}); see \`kitty-sync status\` and \`kitty-sync log\``
        : `kitty-sync: ${files} changed file(s) under kitty-specs/ take longer than the budget to capture, and no background process could start; the next commit or \`kitty-sync sync\` captures them`,
    );
    void made.then((m) => m.transport?.close());
    inv.abandon?.();
    return;
  }
  const collected = await collecting;
  if (collected === null) {
    void made.then((m) => m.transport?.close());
    return;
  }
  const { groups, skipped } = collected;
  mark('artifacts collected');
  const { transport, problem } = await made;
  if (problem) inv.print(`kitty-sync: ${problem}`);
  // There is something to send: a token from Git's credential helper is looked up now, beside the
  // enqueue, rather than in front of the first request (a hook with nothing to send never asks).
  if (groups.some((g) => g.eligible.length > 0)) void transport?.prepare?.();
  const policy = runPolicy(settings);
  const report = await runSync({
    ...policy,
    ...hookRunOptions(policy.stale),
    groups,
    skipped,
    transport,
    budgetMs: settings.budgetMs,
    deadlineAt,
    lockWaitMs: Math.min(HOOK_LOCK_WAIT_MS, Math.max(0, deadlineAt - Date.now())),
    repoDir: repo.paths.root,
    hold,
    onNotice: notice,
    // The spool is durable: this commit is captured even if the rest of the run dies.
    onCaptured: () => {
      for (const t of targets) if (t.watermark) writeWatermark(settings.stateDir, t.watermark.branch, t.watermark.sha, notice);
    },
  });
  transport?.close();
  if (report.deferred) {
    const n = report.outcomes.filter((o) => o.status === 'queued' && o.reason === 'budget_exhausted').length;
    inv.print(`kitty-sync: ${n} artifact(s) captured; the time budget left no time to queue them now: the next hook or \`kitty-sync drain\` sends them`);
  }
  if (report.busy) {
    const n = report.outcomes.filter((o) => o.reason === 'queue_busy').length;
    inv.print(
      `kitty-sync: another kitty-sync process${report.busy.holderPid ? ` (pid ${report.busy.holderPid})` : ''} holds the queue; ${n} captured artifact(s) wait in the spool and are sent by the next hook or \`kitty-sync drain\``,
    );
  }

  for (const line of summaryLines(report.outcomes, inv.verbose)) inv.print(line);
  if (report.drain.message) inv.print(`kitty-sync: ${report.drain.message}`);
  // Work from earlier runs still waiting (e.g. in backoff) is not in this run's lines: say it exists.
  const queuedNow = report.outcomes.filter((o) => o.status === 'queued').length;
  const older = report.drain.stats.pending - queuedNow;
  if (older > 0) inv.print(`kitty-sync: ${older} more artifact(s) from earlier runs still queued (see \`kitty-sync status\`)`);
  const logProblem = appendOutcomes(settings.stateDir, inv.name, report.outcomes);
  if (logProblem) inv.print(`kitty-sync: ${logProblem}`);
  mark('outcomes logged');
}

/**
 * The targets' artifacts, one group per target, or null when there is nothing to queue (no
 * project uuid: said in one line; or every ref of a push skipped for that reason).
 */
async function collectTargets(inv: HookInvocation, repo: Repo, settings: Settings, targets: Target[]): Promise<{ groups: SyncGroup[]; skipped: UploadOutcome[] } | null> {
  const groups: SyncGroup[] = [];
  const skipped: UploadOutcome[] = [];
  let refsWithoutUuid = 0;
  for (const target of targets) {
    if (target.paths.length === 0) continue;
    // The envelope's branch/remote lookups run beside the collection; the slug comes from it.
    const [collected, baseContext] = await Promise.all([collectArtifacts(repo, { rev: target.rev, paths: target.paths }), commitContext(repo, target.rev, { slug: null }, settings.teamSlug)]);
    if (collected.projectUuid === null) {
      // SPEC §2: without a project uuid a hook does nothing but say so, in one line. The line names
      // the file and the reason (missing, no uuid, invalid YAML) and how to send this work once fixed.
      const why = collected.problems[0] ?? 'no project uuid in the committed .kittify/config.yaml; run `kitty-sync install` and commit the file';
      if (target.ref && targets.length > 1) {
        // One ref of a push (a branch from before install): skip it alone; the others still go.
        inv.print(`kitty-sync: ${target.ref}: ${why}; this ref was skipped: once it is fixed and committed, \`kitty-sync sync --all\` sends its work`);
        refsWithoutUuid++;
        continue;
      }
      inv.print(`kitty-sync: ${why}; nothing was queued: once it is fixed and committed, \`kitty-sync sync --all\` sends the work`);
      return null;
    }
    for (const p of collected.problems) inv.print(`kitty-sync: ${p}`);
    const context: CommitContext = {
      ...baseContext,
      project_slug: collected.projectSlug ?? baseContext.project_slug,
      git_branch: target.branch ?? baseContext.git_branch,
    };
    groups.push({ context, eligible: collected.eligible, indexes: collected.indexes });
    skipped.push(...collected.skipped);
  }

  return refsWithoutUuid > 0 && groups.length === 0 ? null : { groups, skipped };
}

/**
 * What writing a capture's spool and merging it costs per file, reserved before the deadline when
 * deciding whether to hand a big capture to a background process (bench/backfill: capture + merge of
 * 1,476 files in about 370 ms; bench/hook (c): 5,000 files).
 */
const CAPTURE_MS_PER_FILE = 0.25;

/**
 * 'late' when `work` is still running at `deadlineAt` (it goes on; its result is awaited elsewhere),
 * or ended after it: work that keeps the event loop busy past the deadline (checking thousands of
 * files read) settles before the timer can fire, and would otherwise count as on time.
 */
export async function beforeDeadline(work: Promise<unknown>, deadlineAt: number): Promise<'done' | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, deadlineAt - Date.now()))));
  const ended = (): 'done' | 'late' => (Date.now() > deadlineAt ? 'late' : 'done');
  try {
    return await Promise.race([work.then(ended, ended), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The paths to capture at HEAD: those that differ between the branch's watermark and HEAD (every
 * commit since the last capture, whatever happened to history in between), or, without a usable
 * watermark, what HEAD itself changed.
 */
async function postCommitTargets(repo: Repo, stateDir: string, early: EarlyGit | null, notice: (m: string) => void): Promise<Target[]> {
  const head = repo.headAtOpen;
  if (!head) return [];
  const branch = await repo.headBranch();
  const mark = branch ? { branch, sha: head } : undefined;
  const since = branch ? readWatermark(stateDir, branch, notice) : null;
  if (since === head) return [{ rev: head, branch: null, paths: [], watermark: mark }];
  const asked = await early?.head?.catch(() => null);
  if (since) {
    // The launcher asked git already when it passed the same watermark.
    if (asked && early?.since === since) return [{ rev: head, branch: null, paths: asked.paths, watermark: mark }];
    const paths = await repo.changedPathsBetween(since, head, { under: SPECS_DIR }).catch(() => null);
    if (paths) return [{ rev: head, branch: null, paths, watermark: mark }];
    // The watermark commit is gone (history rewritten and pruned): HEAD's own changes, as before.
  }
  // The early answer counts only if it is about the same commit (HEAD may have moved in between).
  const paths = asked && !early?.since && asked.commit === head ? asked.paths : await repo.changedPaths(head, { under: SPECS_DIR });
  return [{ rev: head, branch: null, paths, watermark: mark }];
}

/**
 * For each updated ref: the files changed in remote..local (a new branch: the commits not
 * yet on any ref of that remote), with content at the pushed tip. Deletions are ignored.
 */
async function prePushTargets(repo: Repo, remote: string, stdin: string | null): Promise<Target[]> {
  const updates = stdin ? parsePrePushInput(stdin) : [];
  if (updates.length === 0) return fallbackTargets(repo, remote);
  const targets: Target[] = [];
  for (const u of updates) {
    if (ZERO_SHA.test(u.localSha)) continue;
    const branch = u.localRef.startsWith('refs/heads/') ? u.localRef.slice('refs/heads/'.length) : null;
    let paths: string[];
    if (!ZERO_SHA.test(u.remoteSha) && (await repo.revParse(`${u.remoteSha}^{commit}`))) {
      paths = await repo.changedPathsBetween(u.remoteSha, u.localSha, { under: SPECS_DIR });
    } else {
      paths = await repo.changedPathsInRevs([u.localSha, '--not', `--remotes=${remote}`], { under: SPECS_DIR });
    }
    targets.push({ rev: u.localSha, branch, paths, ref: u.localRef });
  }
  return targets;
}

/** stdin was consumed by another command (e.g. in a husky script): local branches not on the remote. */
async function fallbackTargets(repo: Repo, remote: string): Promise<Target[]> {
  const targets: Target[] = [];
  for (const { name, sha } of await repo.localBranches()) {
    const paths = await repo.changedPathsInRevs([sha, '--not', `--remotes=${remote}`], { under: SPECS_DIR });
    targets.push({ rev: sha, branch: name, paths, ref: `refs/heads/${name}` });
  }
  return targets;
}
