// Real git repositories in temp dirs for the hook and install tests, and a fake CLI that
// records how the launchers call it (so the hook layer is tested without the agent).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gitEnv } from './git.js';

/** An environment in which git works on a fresh machine and no kitty-sync setting leaks in. */
export { gitEnv };

export interface GitResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs git; never throws (tests assert on the status). */
export function git(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): GitResult {
  const r = spawnSync('git', ['-c', 'commit.gpgsign=false', ...args], { cwd, env: gitEnv(env), encoding: 'utf8', input: input ?? '' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs git and throws with its stderr when it fails. */
export function gitOk(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = git(cwd, args, env);
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export class TempDirs {
  private readonly dirs: string[] = [];
  make(prefix = 'kitty-sync-test-'): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }
  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** A fresh repository (branch main) in a new temp dir. */
export function makeRepo(temp: TempDirs): string {
  const dir = path.join(temp.make(), 'repo');
  mkdirSync(dir);
  execFileSync('git', ['-c', 'init.defaultBranch=main', 'init', '-q', dir], { env: gitEnv() });
  return dir;
}

export function writeFile(repo: string, rel: string, content: string): void {
  const file = path.join(repo, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
}

/** Writes files and commits them; returns git's status (hooks' failures show here). */
export function commit(repo: string, files: Record<string, string>, env: NodeJS.ProcessEnv = {}, message = 'change'): GitResult {
  for (const [rel, content] of Object.entries(files)) writeFile(repo, rel, content);
  gitOk(repo, ['add', '-A']);
  return git(repo, ['commit', '-q', '-m', message], env);
}

export interface CliCall {
  argv: string[];
  stdin: string;
  cwd: string;
}

/** A fake `kitty-sync` CLI that appends each call (argv, stdin for pre-push) to calls.jsonl. */
export function makeFakeCli(temp: TempDirs): { cliPath: string; calls: () => CliCall[]; reset: () => void } {
  const dir = temp.make('kitty-sync-fakecli-');
  const log = path.join(dir, 'calls.jsonl');
  const cliPath = path.join(dir, 'fake-cli.mjs');
  writeFileSync(
    cliPath,
    `import { appendFileSync, readFileSync } from 'node:fs';
const argv = process.argv.slice(2);
const stdin = argv[1] === 'pre-push' ? readFileSync(0, 'utf8') : '';
appendFileSync(${JSON.stringify(log)}, JSON.stringify({ argv, stdin, cwd: process.cwd() }) + '\\n');
`,
  );
  chmodSync(cliPath, 0o644);
  return {
    cliPath,
    calls: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as CliCall)
        : [],
    reset: () => rmSync(log, { force: true }),
  };
}

export function commonDir(repo: string): string {
  return path.resolve(repo, gitOk(repo, ['rev-parse', '--git-common-dir']).trim());
}
