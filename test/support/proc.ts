// Process helpers for the reliability e2e tests (chaos, bad input, security): run git and the
// built CLI as a user would, in real repositories, with a clean environment.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { gitEnv } from './fake-cli.js';
import { CLI_PATH } from './git.js';

export { CLI_PATH };

export interface ProcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment for git and the CLI: fixed identity, no global git config, no KITTY_SYNC* leaking in. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = gitEnv(extra);
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

export interface Started {
  child: ChildProcess;
  done: Promise<ProcResult>;
}

/** Starts a process; `done` resolves when it exits (never rejects). */
export function start(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string; shell?: boolean }): Started {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(opts.input ?? '');
  const done = new Promise<ProcResult>((resolve) => {
    child.once('error', (err) => resolve({ code: -1, signal: null, stdout, stderr: `${stderr}${err.message}` }));
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string }): Promise<ProcResult> {
  return start(cmd, args, opts).done;
}

/** `git -c commit.gpgsign=false ARGS` in cwd. */
export function gitRun(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<ProcResult> {
  return run('git', ['-c', 'commit.gpgsign=false', '-c', 'core.autocrlf=false', ...args], { cwd, env });
}

/** Like gitRun, but throws with stderr when git fails. */
export async function gitOk(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await gitRun(cwd, args, env);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (${r.code}) in ${cwd}: ${r.stderr}`);
  return r.stdout;
}

/** `node dist/bundle/kitty-sync.js ARGS` (the shipped bundle) in cwd. */
export function cli(cwd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<ProcResult> {
  return run(process.execPath, [CLI_PATH, ...args], { cwd, env, input });
}

/** A small seeded PRNG (mulberry32): a failing chaos run can be replayed with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** git's stdout as bytes (e.g. `cat-file blob`), throwing when git fails. */
export function gitBytes(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}
