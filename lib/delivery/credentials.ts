// The bearer token through Git's credential helpers (issue 13): `git credential fill` to read it,
// `approve` to store it (`kitty-sync login`), `reject` to remove it (`kitty-sync logout`). Whatever
// helper the user has (osxkeychain, manager, libsecret, store, cache) then serves hooks started by
// GUI clients and IDEs, which do not load the shell's KITTY_SYNC_TOKEN.
//
// This module runs git itself rather than through simple-git: the token must travel on stdin only
// (never argv, where `ps` shows it), and each call needs its own environment (no prompt of any kind)
// and a hard timeout, none of which simple-git offers.
import { spawn } from 'node:child_process';

/**
 * The username the token is stored under. A fixed name keeps it apart from the user's own Git
 * credentials for the same host (a forge and the dashboard may share one), and helpers such as
 * `store` keep nothing without a username.
 */
export const CREDENTIAL_USERNAME = 'kitty-sync';
/** A helper that takes longer (a keychain dialog, a hung daemon) is given up on: no token then. */
export const FILL_TIMEOUT_MS = 2000;
/** approve / reject write to the helper's store; they may take a little longer. */
export const STORE_TIMEOUT_MS = 10_000;

/** What Git's credential protocol identifies a server by: scheme and host[:port] (Git drops the path for http). */
export interface CredentialTarget {
  protocol: 'http' | 'https';
  host: string;
}

export interface CredentialCallOptions {
  /** Where git runs: the repository, so its local credential.helper counts. Default: the process's cwd. */
  cwd?: string;
  /** The environment the call starts from (default process.env); see credentialEnv. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export type CredentialStoreResult = { ok: true } | { ok: false; reason: string };

/** The credential target of a server base URL (already validated by the transport's parseServerUrl). */
export function credentialTarget(serverUrl: string): CredentialTarget {
  const url = new URL(serverUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`server URL must be http(s), not ${url.protocol}`);
  // url.host keeps a non-default port and IPv6 brackets, as Git writes host= itself.
  return { protocol: url.protocol === 'https:' ? 'https' : 'http', host: url.host };
}

/**
 * The environment every credential call gets, built explicitly: the caller's environment without
 * KITTY_SYNC_TOKEN, and with every way Git could prompt switched off. GIT_ASKPASS set but empty
 * makes Git skip core.askPass and SSH_ASKPASS too (an IDE's askpass would open a dialog), and
 * GIT_TERMINAL_PROMPT=0 makes it fail instead of asking on the terminal; GCM_INTERACTIVE is Git
 * Credential Manager's own switch. A helper that still waits is cut off by the timeout.
 */
export function credentialEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  delete out.KITTY_SYNC_TOKEN;
  out.GIT_TERMINAL_PROMPT = '0';
  out.GIT_ASKPASS = '';
  out.SSH_ASKPASS = '';
  out.GCM_INTERACTIVE = 'never';
  return out;
}

/**
 * The token stored for the server, or null: none stored, no helper configured, git missing, or the
 * helper too slow. Never prompts, never throws.
 */
export async function fillToken(serverUrl: string, opts: CredentialCallOptions = {}): Promise<string | null> {
  let target: CredentialTarget;
  try {
    target = credentialTarget(serverUrl);
  } catch {
    return null;
  }
  const r = await runCredential('fill', describe(target), { ...opts, timeoutMs: opts.timeoutMs ?? FILL_TIMEOUT_MS });
  if (r.code !== 0) return null;
  const fields = parseCredential(r.stdout);
  // A helper may answer for another username (e.g. a stored forge login): only ours counts.
  if (fields.username !== undefined && fields.username !== CREDENTIAL_USERNAME) return null;
  const token = fields.password?.trim();
  return token ? token : null;
}

/** Stores the token with the user's helpers (`git credential approve`). */
export async function approveToken(serverUrl: string, token: string, opts: CredentialCallOptions = {}): Promise<CredentialStoreResult> {
  const problem = tokenProblem(token);
  if (problem) return { ok: false, reason: problem };
  const r = await runCredential('approve', describe(credentialTarget(serverUrl), token), { ...opts, timeoutMs: opts.timeoutMs ?? STORE_TIMEOUT_MS });
  return r.code === 0 ? { ok: true } : { ok: false, reason: failure('approve', r) };
}

/** Removes the stored token from the user's helpers (`git credential reject`). */
export async function rejectToken(serverUrl: string, opts: CredentialCallOptions = {}): Promise<CredentialStoreResult> {
  const r = await runCredential('reject', describe(credentialTarget(serverUrl)), { ...opts, timeoutMs: opts.timeoutMs ?? STORE_TIMEOUT_MS });
  return r.code === 0 ? { ok: true } : { ok: false, reason: failure('reject', r) };
}

/** Why a token cannot go through Git's line-based credential protocol, or null. */
export function tokenProblem(token: string): string | null {
  if (token.trim() === '') return 'the token is empty';
  if (/[\r\n\0]/.test(token)) return 'the token contains a line break or NUL byte';
  return null;
}

/** Git's credential protocol: key=value lines, ended by a blank line. */
function describe(target: CredentialTarget, password?: string): string {
  const lines = [`protocol=${target.protocol}`, `host=${target.host}`, `username=${CREDENTIAL_USERNAME}`];
  if (password !== undefined) lines.push(`password=${password}`);
  return `${lines.join('\n')}\n\n`;
}

function parseCredential(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1);
  }
  return fields;
}

function failure(action: string, r: { code: number | null; stderr: string; timedOut: boolean }): string {
  if (r.timedOut) return `git credential ${action} did not finish in time`;
  const text = r.stderr.trim().split('\n').filter(Boolean).pop() ?? '';
  return `git credential ${action} failed${r.code === null ? '' : ` (exit ${r.code})`}${text ? `: ${text}` : ''}`;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runCredential(action: 'fill' | 'approve' | 'reject', input: string, opts: CredentialCallOptions): Promise<Ran> {
  return new Promise((resolve) => {
    let child;
    try {
      // credential.interactive=false: newer Git (and helpers that read it) never ask the user.
      child = spawn('git', ['-c', 'credential.interactive=false', 'credential', action], {
        cwd: opts.cwd ?? process.cwd(),
        env: credentialEnv(opts.env ?? process.env),
        stdio: ['pipe', 'pipe', 'pipe'],
        // No terminal: a helper that tries /dev/tty anyway cannot reach the user's console.
        detached: true,
      });
    } catch (err) {
      resolve({ code: null, stdout: '', stderr: err instanceof Error ? err.message : String(err), timedOut: false });
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The whole group: git and the helper it started.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, opts.timeoutMs ?? FILL_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr || err.message, timedOut });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? null : code, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => undefined); // git may exit before reading everything
    child.stdin.end(input);
  });
}
