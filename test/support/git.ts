// The one git helper of the tests: a git runner (async, and a synchronous one for the launcher tests'
// helpers) and real repositories in temporary directories. Works on a fresh machine with no git
// identity (the environment carries one) and never signs commits (no user or system git config).
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cleanEnv, PROJECT_ROOT, run, type Proc } from './proc.js';

/** The corpus of real features (SPEC §10); KITTY_SYNC_CORPUS overrides its location. */
export const CORPUS_DIR = process.env.KITTY_SYNC_CORPUS ?? path.resolve(PROJECT_ROOT, '../shared/corpus/kitty-specs');
export const TEST_UUID = '3f2b8c1e-9d4a-4f6b-8a2c-1e5d7f9b0c3a';

export interface TestRepo {
  /** Work tree root (real path, symlinks in the temp dir resolved). */
  root: string;
  /** The temp dir holding the repository (and whatever a test puts beside it: a bare remote, worktrees). */
  base: string;
  /** The project uuid in .kittify/config.yaml (null: none written). */
  uuid: string | null;
  /** <git dir>/kitty-sync: the state directory kitty-sync uses by default. */
  stateDir: string;
  /** Removes the whole temporary directory. */
  cleanup(): Promise<void>;
}
export type RepoRef = TestRepo | string;

export function rootOf(repo: RepoRef): string {
  return typeof repo === 'string' ? repo : repo.root;
}

// ---- the git runner -------------------------------------------------------------------------

/** `git ARGS` in the repository; `env` is laid over cleanEnv(). Never rejects on a non-zero exit. */
export function git(repo: RepoRef, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<Proc> {
  return run('git', args, { cwd: rootOf(repo), env: cleanEnv(env), input });
}

/** git that must succeed; resolves its stdout, rejects with its stderr in the message. */
export async function gitOk(repo: RepoRef, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await git(repo, args, env);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (${r.code}) in ${rootOf(repo)}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** git's stdout as bytes (e.g. `cat-file blob`), rejecting when git fails. */
export function gitBytes(repo: RepoRef, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd: rootOf(repo), env: cleanEnv(env), encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

export interface GitSyncResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** The same runner, synchronous (the launcher tests' helpers are synchronous); never throws. */
export function gitSync(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): GitSyncResult {
  const r = spawnSync('git', args, { cwd, env: cleanEnv(env), encoding: 'utf8', input: input ?? '' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** gitSync that must succeed; returns its stdout. */
export function gitSyncOk(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = gitSync(cwd, args, env);
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed (${r.status}) in ${cwd}: ${r.stderr}`);
  return r.stdout;
}

// ---- repositories ---------------------------------------------------------------------------

export interface MakeRepoOptions {
  /** Project uuid written to .kittify/config.yaml; null writes no config file. Default TEST_UUID. */
  uuid?: string | null;
  /** project.name in .kittify/config.yaml. Default 'kitty-test'. */
  projectName?: string;
  /** Extra YAML appended to .kittify/config.yaml (e.g. a `sync:` section). */
  configExtra?: string;
  /** Files to write before returning (not committed). */
  files?: Record<string, string | Buffer>;
  /** Directory name of the work tree inside the temp dir (affects fallback slugs). Default 'repo'. */
  name?: string;
  /** Prefix of the temp dir's name. Default 'kitty-sync-test-'. */
  prefix?: string;
}

/** A fresh repository (branch main) with .kittify/config.yaml holding a project uuid. Nothing committed. */
export async function makeRepo(opts: MakeRepoOptions = {}): Promise<TestRepo> {
  const base = await realpath(await mkdtemp(path.join(tmpdir(), opts.prefix ?? 'kitty-sync-test-')));
  const root = path.join(base, opts.name ?? 'repo');
  await mkdir(root, { recursive: true });
  await gitOk(root, ['init', '-q', '-b', 'main']);
  const uuid = opts.uuid === undefined ? TEST_UUID : opts.uuid;
  if (uuid !== null || opts.configExtra) {
    const lines = uuid !== null ? ['project:', `  uuid: ${uuid}`, `  name: ${opts.projectName ?? 'kitty-test'}`] : [];
    if (opts.configExtra) lines.push(opts.configExtra);
    await writeFiles(root, { '.kittify/config.yaml': `${lines.join('\n')}\n` });
  }
  if (opts.files) await writeFiles(root, opts.files);
  return { root, base, uuid, stateDir: path.join(root, '.git', 'kitty-sync'), cleanup: () => rm(base, { recursive: true, force: true }) };
}

/** Writes files (repo-relative paths, '/' separators), creating directories. */
export async function writeFiles(repo: RepoRef, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(rootOf(repo), ...rel.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

/** Stages everything and commits (allowing an empty commit); resolves the new commit id. */
export async function commitAll(repo: RepoRef, message = 'test commit'): Promise<string> {
  await gitOk(repo, ['add', '-A']);
  await gitOk(repo, ['commit', '-q', '--allow-empty', '-m', message]);
  return (await gitOk(repo, ['rev-parse', 'HEAD'])).trim();
}

/** Copies corpus features into kitty-specs/ of the repository; 'all' copies all of them. Resolves the names copied. */
export async function copyCorpusFeatures(repo: RepoRef, names: string[] | 'all'): Promise<string[]> {
  const list =
    names === 'all'
      ? (await readdir(CORPUS_DIR, { withFileTypes: true }))
          .filter((d) => d.isDirectory())
          .map((d) => d.name)
          .sort()
      : names;
  for (const name of list) {
    await cp(path.join(CORPUS_DIR, name), path.join(rootOf(repo), 'kitty-specs', name), { recursive: true });
  }
  return list;
}

/** A fresh repository (branch main) in a new temp dir, synchronously; nothing else in it. */
export function makeRepoSync(temp: { make(): string }): string {
  const dir = path.join(temp.make(), 'repo');
  mkdirSync(dir);
  gitSyncOk(dir, ['init', '-q', '-b', 'main']);
  return dir;
}

/** writeFiles, synchronously. */
export function writeFilesSync(repo: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(repo, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
}

/** Writes files and commits them with the hooks running; returns git's result (a hook's failure shows here). */
export function commitSync(repo: string, files: Record<string, string>, env: NodeJS.ProcessEnv = {}, message = 'change'): GitSyncResult {
  writeFilesSync(repo, files);
  gitSyncOk(repo, ['add', '-A']);
  return gitSync(repo, ['commit', '-q', '-m', message], env);
}

/** The repository's common git dir (shared by its worktrees). */
export function commonDir(repo: string): string {
  return path.resolve(repo, gitSyncOk(repo, ['rev-parse', '--git-common-dir']).trim());
}
