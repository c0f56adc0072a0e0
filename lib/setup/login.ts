// `kitty-sync login` / `logout` (issue 13): which server, checking a token with it before it is
// kept, storing it with Git's credential helpers and confirming a helper really kept it.
import { resolveSettings } from '../config.js';
import { UserError } from '../errors.js';
import { openRepo } from '../collect/git.js';
import { approveToken, credentialTarget, fillToken, rejectToken, tokenProblem } from '../delivery/credentials.js';
import { ConfigError, parseServerUrl } from '../delivery/server-url.js';
import { Transport } from '../delivery/transport.js';

export interface ServerChoice {
  /** The server's base URL as configured (flag > KITTY_SYNC_SERVER_URL > sync.server_url). */
  serverUrl: string;
  /** The origin the token is stored for (Git's credential helpers key it by scheme and host). */
  origin: string;
  /** Where git credential runs: the repository's root when there is one. */
  cwd: string;
  allowInsecureHttp: boolean;
  caFile: string | null;
  /** KITTY_SYNC_TOKEN is set: it still wins over the stored token. */
  envTokenSet: boolean;
}

/** A usage problem (no server, bad URL, empty token): exit 2. */
export class LoginUsageError extends UserError {
  override name = 'LoginUsageError';
}

/** The server to log in to; a repository is optional when --server is given. */
export async function chooseServer(opts: { server?: string; cwd: string; env?: NodeJS.ProcessEnv }): Promise<ServerChoice> {
  const env = opts.env ?? process.env;
  let root: string | null = null;
  let commonDir = opts.cwd;
  try {
    const repo = await openRepo(opts.cwd);
    root = repo.paths.root;
    commonDir = repo.paths.commonDir;
  } catch {
    // Outside a repository only --server or KITTY_SYNC_SERVER_URL can name the server.
  }
  const settings = resolveSettings({ flags: { serverUrl: opts.server }, env, repoRoot: root, commonGitDir: commonDir });
  if (!settings.serverUrl) {
    throw new LoginUsageError('no server to log in to: pass --server URL, or set KITTY_SYNC_SERVER_URL or sync.server_url in .kittify/config.yaml');
  }
  let base: URL;
  try {
    base = parseServerUrl(settings.serverUrl, settings.allowInsecureHttp);
  } catch (err) {
    throw new LoginUsageError(err instanceof ConfigError ? err.message : String(err));
  }
  credentialTarget(base.href);
  return {
    serverUrl: settings.serverUrl,
    origin: base.origin,
    cwd: root ?? opts.cwd,
    allowInsecureHttp: settings.allowInsecureHttp,
    caFile: settings.caFile,
    envTokenSet: settings.token !== null,
  };
}

/** accepted: 2xx or 400 (authentication passed); refused: 401/403; unverified: no answer, or one that says nothing of the token. */
export type TokenCheck = 'accepted' | 'refused' | 'unverified' | 'skipped';

export interface LoginResult {
  server: string;
  /** What the server said of the token (an empty events batch; see doctor). */
  check: TokenCheck;
  /** What the server answered, or why it could not be asked. */
  checkDetail: string | null;
  /** The token was stored and a helper gave it back. */
  stored: boolean;
  /** Why it was not stored. */
  problem: string | null;
}

/** Checks the token with the server (unless `check` is false), stores it, and confirms a helper kept it. */
export async function login(choice: ServerChoice, token: string, opts: { check?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<LoginResult> {
  const problem = tokenProblem(token);
  if (problem) throw new LoginUsageError(problem);
  token = token.trim();
  const result: LoginResult = { server: choice.origin, check: 'skipped', checkDetail: null, stored: false, problem: null };
  if (opts.check !== false) {
    const { check, detail } = await checkToken(choice, token);
    result.check = check;
    result.checkDetail = detail;
    if (check === 'refused') {
      result.problem = `the server refused this token (${detail}); nothing was stored`;
      return result;
    }
  }
  const call = { cwd: choice.cwd, env: opts.env };
  const approved = await approveToken(choice.serverUrl, token, call);
  if (!approved.ok) {
    result.problem = approved.reason;
    return result;
  }
  if ((await fillToken(choice.serverUrl, call)) !== token) {
    result.problem =
      'no Git credential helper kept the token. Configure one, e.g. `git config --global credential.helper store` ' +
      '(a plain file in your home), `cache`, `osxkeychain` (macOS), `manager` (Git Credential Manager) or `libsecret`, then run `kitty-sync login` again';
    return result;
  }
  result.stored = true;
  return result;
}

export interface LogoutResult {
  server: string;
  /** The helpers no longer give a token for this server. */
  removed: boolean;
  problem: string | null;
}

export async function logout(choice: ServerChoice, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<LogoutResult> {
  const call = { cwd: choice.cwd, env: opts.env };
  const rejected = await rejectToken(choice.serverUrl, call);
  if (!rejected.ok) return { server: choice.origin, removed: false, problem: rejected.reason };
  const still = await fillToken(choice.serverUrl, call);
  return {
    server: choice.origin,
    removed: still === null,
    problem: still === null ? null : "a credential helper still returns a token for this server (it may not support removal); remove it with that helper's own tool",
  };
}

/** One empty events batch with the token (see Transport.probe): does the server take it? */
async function checkToken(choice: ServerChoice, token: string): Promise<{ check: TokenCheck; detail: string }> {
  let ca: string | null = null;
  if (choice.caFile) ca = (await import('../delivery/http-agent.js')).readCaFile(choice.caFile);
  const transport = new Transport({ serverUrl: choice.serverUrl, token, allowInsecureHttp: choice.allowInsecureHttp, ca, timeoutMs: 10_000 });
  try {
    const r = await transport.probe();
    if (!r.reached) return { check: 'unverified', detail: r.reason };
    const status = `http_${r.status}${r.detail ? `: ${r.detail}` : ''}`;
    if (r.status === 401 || r.status === 403) return { check: 'refused', detail: status };
    // A 400 comes after authentication on any server that checks the token first.
    if ((r.status >= 200 && r.status < 300) || r.status === 400) return { check: 'accepted', detail: `http_${r.status}` };
    return { check: 'unverified', detail: status };
  } finally {
    transport.close();
  }
}
