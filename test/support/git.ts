// Shared test helper: real Git repositories in temporary directories. Works on a fresh
// machine with no git identity (every git call gets one) and never signs commits.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Project root (tests run from dist/test/support/). */
export const PROJECT_ROOT = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
/** The corpus of real features (SPEC §10); KITTY_SYNC_CORPUS overrides its location. */
export const CORPUS_DIR = process.env.KITTY_SYNC_CORPUS ?? path.resolve(PROJECT_ROOT, '../shared/corpus/kitty-specs');
/** The built CLI entry point. */
export const CLI_PATH = path.join(PROJECT_ROOT, 'dist/bundle/kitty-sync.js');
export const TEST_UUID = '3f2b8c1e-9d4a-4f6b-8a2c-1e5d7f9b0c3a';

export interface TestRepo {
  /** Work tree root (real path, symlinks in the temp dir resolved). */
  root: string;
  /** Removes the whole temporary directory. */
  cleanup(): Promise<void>;
}
export type RepoRef = TestRepo | string;

export interface MakeRepoOptions {
  /** Project uuid written to .kittify/config.yaml; null writes no config file. Default TEST_UUID. */
  uuid?: string | null;
  /** Extra YAML appended to .kittify/config.yaml (e.g. a `sync:` section). */
  configExtra?: string;
  /** Files to write before returning (not committed). */
  files?: Record<string, string | Buffer>;
  /** Directory name of the work tree inside the temp dir (affects fallback slugs). Default 'repo'. */
  name?: string;
}

/** Environment for any git child process: a fixed identity, no system config prompts. */
/**
 * An environment for git in tests: a fixed identity, no user or system git config, and none of the
 * caller's KITTY_SYNC_* / GIT_* / HUSKY variables, so a developer's own setup cannot leak in.
 */
export function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('KITTY_SYNC') || k.startsWith('GIT_') || k === 'HUSKY') delete env[k];
  return {
    ...env,
    GIT_AUTHOR_NAME: 'Kitty Test',
    GIT_AUTHOR_EMAIL: 'kitty@example.invalid',
    GIT_COMMITTER_NAME: 'Kitty Test',
    GIT_COMMITTER_EMAIL: 'kitty@example.invalid',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

const GIT_CONFIG_ARGS = [
  '-c', 'user.name=Kitty Test',
  '-c', 'user.email=kitty@example.invalid',
  '-c', 'commit.gpgsign=false',
  '-c', 'tag.gpgsign=false',
  '-c', 'init.defaultBranch=main',
  '-c', 'core.autocrlf=false',
];

export function rootOf(repo: RepoRef): string {
  return typeof repo === 'string' ? repo : repo.root;
}

/** Runs git in the repository; resolves stdout, rejects with stderr in the message. */
export async function git(repo: RepoRef, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP('git', [...GIT_CONFIG_ARGS, ...args], {
      cwd: rootOf(repo),
      env: gitEnv(),
      maxBuffer: 256 * 1024 * 1024,
      encoding: 'utf8',
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`git ${args.join(' ')} failed in ${rootOf(repo)}: ${e.stderr?.trim() || e.message}`);
  }
}

/** A fresh repository (branch main) with .kittify/config.yaml holding a project uuid. Nothing committed. */
export async function makeRepo(opts: MakeRepoOptions = {}): Promise<TestRepo> {
  const { realpath } = await import('node:fs/promises');
  const base = await realpath(await mkdtemp(path.join(tmpdir(), 'kitty-sync-test-')));
  const root = path.join(base, opts.name ?? 'repo');
  await mkdir(root, { recursive: true });
  await git(root, 'init', '-q', '-b', 'main');
  const uuid = opts.uuid === undefined ? TEST_UUID : opts.uuid;
  if (uuid !== null || opts.configExtra) {
    const lines = uuid !== null ? ['project:', `  uuid: ${uuid}`, '  name: kitty-test'] : [];
    if (opts.configExtra) lines.push(opts.configExtra);
    await writeFiles(root, { '.kittify/config.yaml': `${lines.join('\n')}\n` });
  }
  if (opts.files) await writeFiles(root, opts.files);
  return { root, cleanup: () => rm(base, { recursive: true, force: true }) };
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
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-q', '--allow-empty', '-m', message);
  return (await git(repo, 'rev-parse', 'HEAD')).trim();
}

/** Copies corpus features into kitty-specs/ of the repository; 'all' copies all of them. Resolves the names copied. */
export async function copyCorpusFeatures(repo: RepoRef, names: string[] | 'all'): Promise<string[]> {
  const list = names === 'all' ? (await readdir(CORPUS_DIR, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort() : names;
  for (const name of list) {
    await cp(path.join(CORPUS_DIR, name), path.join(rootOf(repo), 'kitty-specs', name), { recursive: true });
  }
  return list;
}

/** Removes a repository made by makeRepo (same as repo.cleanup()). */
export async function cleanup(repo: TestRepo): Promise<void> {
  await repo.cleanup();
}
