// Git queries through simple-git: where the repository lives, which paths changed, what a
// tree holds at a revision. Path lists are read with git's C-style quoting forced on
// (core.quotePath=true), not -z: simple-git decodes output as UTF-8, which would merge names that
// differ only in invalid bytes, while quoted output is ASCII and lossless for every byte, newlines
// and tabs included (./git-paths.ts). Blob bytes are read by ./blobs.ts.
import path from 'node:path';
import { simpleGit } from 'simple-git';
import type { SimpleGit } from 'simple-git';
import { simpleGitEnv } from '../child-env.js';
import { firstLine } from '../errors.js';
import { gitPathFromOutput } from './git-paths.js';
import type { GitEntryKind } from '../types.js';

export interface RepoPaths {
  /** Work tree root. */
  root: string;
  /** This work tree's git directory (differs from commonDir in a linked worktree). */
  gitDir: string;
  /** The directory shared by all worktrees (refs, objects, our state directory). */
  commonDir: string;
}

/** One file of a tree at a revision (`git ls-tree -r -l`). */
export interface TreeEntry {
  /** Repository-relative, '/' separators. */
  path: string;
  /** Octal mode as git prints it, e.g. '100644', '120000', '160000'. */
  mode: string;
  kind: Exclude<GitEntryKind, 'missing'>;
  objectId: string;
  /** Blob size in bytes; 0 for submodules (git reports none); null when listed without sizes. */
  size: number | null;
}

export interface UnderOption {
  /** Restrict to paths below this repository-relative directory (e.g. 'kitty-specs'). */
  under?: string;
}

/** The working directory is not inside a Git work tree. */
export class NotAGitRepoError extends Error {}

const MODE_SYMLINK = '120000';
const MODE_GITLINK = '160000';

export class Repo {
  constructor(
    readonly paths: RepoPaths,
    private readonly git: SimpleGit,
    /** HEAD's commit when the repository was opened (null: unborn); HEAD may move later. */
    readonly headAtOpen: string | null = null,
    /** The branch HEAD was on when opened (null: detached); undefined when not asked. */
    private readonly branchAtOpen?: string | null,
  ) {
    if (headAtOpen) this.verified.add(headAtOpen);
  }

  /** Commits already verified by full id: immutable, so a run never asks git twice. */
  private readonly verified = new Set<string>();

  /**
   * Full commit id of `rev` (tags are peeled to their commit), or null when it does not name a commit.
   * `HEAD` is HEAD as the repository was opened, like `headBranch()`: one command reads one HEAD.
   */
  async revParse(rev: string): Promise<string | null> {
    if (this.verified.has(rev)) return rev;
    if (rev === 'HEAD' && this.headAtOpen) return this.headAtOpen;
    const out = (await this.git.raw(['rev-parse', '-q', '--verify', '--end-of-options', `${rev}^{commit}`])).trim();
    if (!/^[0-9a-f]{40,64}$/.test(out)) return null;
    this.verified.add(out);
    return out;
  }

  /** Short name of the branch checked out when the repository was opened, or null when HEAD was detached. */
  async headBranch(): Promise<string | null> {
    if (this.branchAtOpen !== undefined) return this.branchAtOpen;
    const out = (await this.git.raw(['symbolic-ref', '-q', '--short', 'HEAD'])).trim();
    return out === '' ? null : out;
  }

  /**
   * Paths changed by `commit` against its first parent (a merge is compared with the
   * branch it was merged into); a root commit lists all its files. Deletions included.
   */
  async changedPaths(commit: string, opts: UnderOption = {}): Promise<string[]> {
    const out = await this.git.raw(['diff-tree', '-r', '--name-only', '--no-commit-id', '--no-renames', '--root', '--diff-merges=first-parent', commit, '--', ...pathspec(opts.under)]);
    return pathLines(out);
  }

  /** Paths that differ between two revisions (deletions included). */
  async changedPathsBetween(from: string, to: string, opts: UnderOption = {}): Promise<string[]> {
    const out = await this.git.raw(['diff-tree', '-r', '--name-only', '--no-renames', from, to, '--', ...pathspec(opts.under)]);
    return pathLines(out);
  }

  /**
   * Union of the paths touched by every commit of a rev-list range, e.g.
   * `['tip', '--not', '--remotes=origin']` for a branch the remote has never seen.
   * Merges count with their first-parent diff, so conflict resolutions are not missed.
   */
  async changedPathsInRevs(revs: string[], opts: UnderOption = {}): Promise<string[]> {
    const out = await this.git.raw(['log', '--format=', '--name-only', '--no-renames', '--diff-merges=first-parent', ...revs, '--', ...pathspec(opts.under)]);
    return [...new Set(pathLines(out))];
  }

  /**
   * Every file below `dir` (or several dirs) at `rev`, recursively, with mode, kind, id and size.
   * `sizes: false` leaves blob sizes out (null): git then reads only the trees, not every blob's
   * header (for a fresh commit's loose objects, one file opened and inflated per blob: ~60-100 ms
   * for the 1,476 files of the corpus).
   */
  async listTree(rev: string, dir: string | string[], opts: { sizes?: boolean } = {}): Promise<TreeEntry[]> {
    const dirs = (Array.isArray(dir) ? dir : [dir]).filter((d) => d !== '');
    if (Array.isArray(dir) && dirs.length === 0) return [];
    const out = await this.git.raw(['ls-tree', '-r', ...(opts.sizes === false ? [] : ['-l']), '--full-tree', rev, '--', ...dirs.flatMap((d) => pathspec(d))]);
    return parseLsTree(out);
  }

  /**
   * The hooks directory Git uses: `core.hooksPath` (a relative one resolved against the work tree
   * root, where hooks run) or `<git dir>/hooks`.
   */
  async hooksDir(): Promise<string> {
    return path.resolve(this.paths.root, (await this.git.raw(['rev-parse', '--git-path', 'hooks'])).trim());
  }

  /** Every local branch with the commit it points at. */
  async localBranches(): Promise<{ name: string; sha: string }[]> {
    const out = await this.git.raw(['for-each-ref', '--format=%(objectname) %(refname:short)', 'refs/heads']);
    return out
      .split('\n')
      .map((line) => /^([0-9a-f]{40,64}) (.+)$/.exec(line.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[2], sha: m[1] }));
  }

  /** The remote's default branch as recorded locally (refs/remotes/<remote>/HEAD); no network. */
  async remoteDefaultBranch(remote = 'origin'): Promise<string | null> {
    const out = (await this.git.raw(['symbolic-ref', '-q', `refs/remotes/${remote}/HEAD`])).trim();
    const prefix = `refs/remotes/${remote}/`;
    return out.startsWith(prefix) && out.length > prefix.length ? out.slice(prefix.length) : null;
  }

  /**
   * The target branch of a feature whose meta.json names none, as 047 resolves it: the branch
   * `origin/HEAD` points to; else the current branch; else the first of main, master, develop
   * that exists; else main.
   */
  async defaultTargetBranch(): Promise<string> {
    const remote = await this.remoteDefaultBranch();
    if (remote) return remote;
    const current = await this.headBranch();
    if (current) return current;
    const out = await this.git.raw(['for-each-ref', '--format=%(refname:short)', 'refs/heads/main', 'refs/heads/master', 'refs/heads/develop']);
    const have = new Set(out.split('\n').map((l) => l.trim()));
    return ['main', 'master', 'develop'].find((b) => have.has(b)) ?? 'main';
  }

  async remoteUrl(remote = 'origin'): Promise<string | null> {
    const out = (await this.git.raw(['config', '--get', `remote.${remote}.url`])).trim();
    return out === '' ? null : out;
  }
}

/** Locates the repository containing `cwd`. Throws NotAGitRepoError outside a work tree. */
export async function openRepo(cwd: string): Promise<Repo> {
  const base = path.resolve(cwd);
  let out: string;
  const git = gitClient(base);
  try {
    // HEAD's commit and branch come in the same process (a hook needs both next); an unborn HEAD
    // fails the whole call, so then ask again without them.
    out = await git
      .raw(['rev-parse', '--show-toplevel', '--git-dir', '--git-common-dir', 'HEAD^{commit}', '--symbolic-full-name', 'HEAD', '--'])
      .catch(() => git.raw(['rev-parse', '--show-toplevel', '--git-dir', '--git-common-dir']));
  } catch (err) {
    throw new NotAGitRepoError(`${base} is not inside a Git work tree (${firstLine(err)})`);
  }
  const [root, gitDir, commonDir, head, symbolic] = out.split('\n').map((l) => l.trim());
  if (!root || !gitDir || !commonDir) throw new NotAGitRepoError(`${base} is not inside a Git work tree`);
  // --git-dir / --git-common-dir may be relative to the directory git ran in.
  const paths: RepoPaths = {
    root: path.resolve(root),
    gitDir: path.resolve(base, gitDir),
    commonDir: path.resolve(base, commonDir),
  };
  const headAtOpen = head && /^[0-9a-f]{40,64}$/.test(head) ? head : null;
  // `--symbolic-full-name HEAD` prints refs/heads/<branch>, or HEAD when detached.
  const branchAtOpen = headAtOpen === null ? undefined : symbolic?.startsWith('refs/heads/') ? symbolic.slice('refs/heads/'.length) : null;
  return new Repo(paths, gitClient(paths.root), headAtOpen, branchAtOpen);
}

/** What HEAD's commit changed under a directory, asked of git without waiting for `openRepo`. */
export interface HeadChanges {
  /** The commit git compared (HEAD at that moment). */
  commit: string;
  paths: string[];
}

/**
 * The paths HEAD changed under a top-level directory, asked from `cwd` (anywhere in the work
 * tree) in the same moment as `openRepo`'s own git call, so a post-commit hook waits for one
 * git process instead of two in a row. diff-tree prints the commit it compared, so the caller
 * can check it is the HEAD `openRepo` saw (a commit in between would make them differ).
 * Null when git printed no commit (unborn HEAD).
 */
export async function headChanges(cwd: string, under: string): Promise<HeadChanges | null> {
  // --always: the commit id is printed even when nothing under `under` changed.
  const out = await gitClient(path.resolve(cwd)).raw([
    'diff-tree',
    '--always',
    '-r',
    '--name-only',
    '--no-renames',
    '--root',
    '--diff-merges=first-parent',
    'HEAD',
    '--',
    `:(top,literal)${under.replace(/\/+$/, '')}`,
  ]);
  const [commit, ...paths] = pathLines(out);
  return commit && /^[0-9a-f]{40,64}$/.test(commit) ? { commit, paths } : null;
}

/** The paths that differ under a top-level directory between commit `since` and HEAD (commit: '' as it is not printed). */
export async function changesSince(cwd: string, since: string, under: string): Promise<HeadChanges> {
  const out = await gitClient(path.resolve(cwd)).raw(['diff-tree', '-r', '--name-only', '--no-renames', since, 'HEAD', '--', `:(top,literal)${under.replace(/\/+$/, '')}`]);
  return { commit: '', paths: pathLines(out) };
}

/**
 * `openRepo` and, when `under` is given, `headChanges` (or, given a watermark `since`, the changes
 * since it), started at once. Both promises are already guarded against "unhandled rejection", so a
 * caller may await them later.
 */
export function openRepoEarly(cwd: string, under: string | null, since: string | null = null): { repo: Promise<Repo>; head: Promise<HeadChanges | null> | null; since: string | null } {
  const repo = openRepo(cwd);
  const head = under === null ? null : since ? changesSince(cwd, since, under) : headChanges(cwd, under);
  repo.catch(() => undefined);
  head?.catch(() => undefined);
  return { repo, head, since: under === null ? null : since };
}

/** Parses `git ls-tree -r [-l]` output (names quoted): `<mode> <type> <id>[ <size>]\t<path>\n`. */
export function parseLsTree(out: string): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const record of out.split('\n')) {
    const tab = record.indexOf('\t');
    if (tab < 0) continue;
    const [mode, type, objectId, size] = record.slice(0, tab).split(/\s+/);
    const entryPath = gitPathFromOutput(record.slice(tab + 1));
    if (type === 'tree') continue;
    const kind: TreeEntry['kind'] = mode === MODE_GITLINK || type === 'commit' ? 'submodule' : mode === MODE_SYMLINK ? 'symlink' : 'blob';
    entries.push({ path: entryPath, mode, kind, objectId, size: kind === 'submodule' || size === '-' ? 0 : size === undefined ? null : Number(size) });
  }
  return entries;
}

/** One path per line, as git prints them with core.quotePath=true, back to their names. */
function pathLines(out: string): string[] {
  return out
    .split('\n')
    .filter((s) => s !== '')
    .map(gitPathFromOutput);
}

/**
 * simple-git for `baseDir`, with names quoted losslessly (see the header) and no secret in git's
 * environment. A command is done when its output is closed, not 50 ms after git exits (simple-git's
 * default): a busy process (a hook loading sql.js, a backfill hashing files) could read a large
 * output late, and simple-git then returned it cut short, silently (a 5,000-file capture lost 811
 * paths, and its watermark moved past them).
 */
export function gitClient(baseDir: string): SimpleGit {
  return simpleGit({ baseDir, config: ['core.quotePath=true'], completion: { onClose: true, onExit: false } }).env(simpleGitEnv());
}

/** A literal pathspec: names with glob characters are matched as written. */
function pathspec(dir: string | undefined): string[] {
  if (dir === undefined || dir === '' || dir === '.') return [];
  return [`:(literal)${dir.replace(/\/+$/, '')}`];
}
