// Child processes as a user starts them: the environment (a fixed git identity, none of the caller's
// git, kitty-sync or husky settings), a runner that never throws on a non-zero exit, and the built CLI.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Project root (tests run from dist/test/support/). */
export const PROJECT_ROOT = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
/** The built CLI entry point: the shipped bundle. */
export const CLI_PATH = path.join(PROJECT_ROOT, 'dist/bundle/kitty-sync.js');

/**
 * An environment for git and the CLI in tests: a fixed identity, no user or system git config, and
 * none of the caller's KITTY_SYNC_* / GIT_* / HUSKY variables, so a developer's own setup cannot leak
 * in. `extra` is laid over it; a key whose value is undefined is removed.
 */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('KITTY_SYNC') || k.startsWith('GIT_') || k === 'HUSKY') delete env[k];
  const out: NodeJS.ProcessEnv = {
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
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete out[k];
  return out;
}

/** How a process ended, what it printed, and how long it took. */
export interface Proc {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Started {
  child: ChildProcess;
  done: Promise<Proc>;
}

export interface RunOptions {
  cwd: string;
  /** Default: cleanEnv(). */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed (empty when not given). */
  input?: string;
}

/** Starts a process; `done` resolves when it exits (never rejects: a process that cannot start ends with code -1). */
export function start(cmd: string, args: string[], opts: RunOptions): Started {
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.on('error', () => undefined); // the child may exit without reading it
  child.stdin!.end(opts.input ?? '');
  const done = new Promise<Proc>((resolve) => {
    child.once('error', (err) => resolve({ code: -1, signal: null, stdout, stderr: `${stderr}${err.message}`, ms: performance.now() - t0 }));
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
  return { child, done };
}

/** Runs a process to completion; never rejects on a non-zero exit (tests assert on it). */
export function run(cmd: string, args: string[], opts: RunOptions): Promise<Proc> {
  return start(cmd, args, opts).done;
}

/** `node dist/bundle/kitty-sync.js ARGS` in cwd, as a user runs it; `env` is laid over cleanEnv(). */
export function cli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<Proc> {
  return run(process.execPath, [CLI_PATH, ...args], { cwd, env: cleanEnv(env), input });
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

/**
 * Another live process holding the queue lock of `stateDir` (test/support/lock-holder.ts); resolves
 * once it holds it, and is killed when the test ends.
 */
export async function holdQueueLock(t: { teardown(fn: () => unknown): void }, stateDir: string): Promise<ChildProcess> {
  const script = fileURLToPath(new URL('./lock-holder.js', import.meta.url));
  mkdirSync(stateDir, { recursive: true });
  const holder = spawn(process.execPath, [script, path.join(stateDir, 'queue.sqlite'), path.join(stateDir, 'queue.lock')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    holder.once('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
  });
  return holder;
}

/**
 * Runs a test worker (`node <script> <args>`) that prints `ready` once started and `ack <names…>` for
 * what it made durable, SIGKILLs it `delayMs` after `ready`, and resolves what it acknowledged.
 */
export function runWorkerAndKill(script: string, args: string[], delayMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: string[] = [];
    let buf = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'ready') setTimeout(() => child.kill('SIGKILL'), delayMs);
        else if (line.startsWith('ack ')) acked.push(...line.slice(4).split(' '));
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': acknowledgements written just before the kill may not have been read at 'exit'.
    child.on('close', (code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`worker ${args.join(' ')} exited with ${code}: ${stderr}`))));
  });
}
