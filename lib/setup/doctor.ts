// `kitty-sync doctor` (issue 13 item 3): one answer to "why didn't it sync?". Each check says what it
// found and, when something is wrong, the fix. Checks marked `required` are what delivery needs: any
// of them failing makes doctor exit 1. Nothing here changes the repository, the queue or the server:
// the one request is an empty events batch (see Transport.probe).
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CONFIG_FILE, configYamlPath, type Settings } from '../config.js';
import { formatAge } from '../durations.js';
import { firstLine } from '../errors.js';
import { gitClient } from '../collect/git.js';
import { inspectInstall, resolveLayout, type RepoLayout } from './install.js';
import { lefthookConfig, preCommitConfig } from './hook-managers.js';
import { readQueue } from '../queue/queue.js';
import type { ProbeResult } from '../delivery/responses.js';

export type CheckId = 'git' | 'node' | 'hooks' | 'hook-manager' | 'project-uuid' | 'server' | 'token' | 'protocol' | 'state-dir' | 'queue';

export interface Check {
  id: CheckId;
  ok: boolean;
  /** Needed for delivery: a failing required check makes doctor exit 1. */
  required: boolean;
  /** What was found. */
  summary: string;
  /** What to do about it (null when ok). */
  fix: string | null;
}

export interface DoctorReport {
  /** Every required check passed: hooks will deliver. */
  ok: boolean;
  checks: Check[];
}

export interface DoctorInput {
  root: string;
  commonDir: string;
  settings: Settings;
  env?: NodeJS.ProcessEnv;
}

/** Git 2.31 is the first with `--diff-merges=first-parent`, which the hooks use. */
const MIN_GIT: [number, number] = [2, 31];
const MIN_NODE = 20;
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Pending work older than this is worth a line: hooks should have delivered it long ago. */
const STALE_PENDING_MS = 24 * 3600 * 1000;

export async function runDoctor(input: DoctorInput): Promise<DoctorReport> {
  const layout = await resolveLayout(input.root);
  const inspections = inspectInstall(layout);
  const [git, node, uuid, remote, state, queue] = await Promise.all([
    checkGit(input.root),
    checkNode(inspections.map((i) => i.launcher.node).find((n): n is string => n !== null) ?? null),
    checkProjectUuid(input.root),
    checkServer(input),
    Promise.resolve(checkStateDir(input.settings.stateDir)),
    checkQueue(input.settings),
  ]);
  const checks: Check[] = [git, node, checkHooks(inspections), await checkHookManager(layout), uuid, ...remote, state, queue];
  return { ok: checks.every((c) => c.ok || !c.required), checks };
}

function check(id: CheckId, ok: boolean, summary: string, fix: string | null, required = true): Check {
  return { id, ok, required, summary, fix: ok ? null : fix };
}

async function checkGit(root: string): Promise<Check> {
  try {
    const v = await gitClient(root).version();
    if (!v.installed) return check('git', false, 'git is not installed', 'install Git 2.31 or later');
    const ok = v.major > MIN_GIT[0] || (v.major === MIN_GIT[0] && v.minor >= MIN_GIT[1]);
    return check('git', ok, `git ${v.major}.${v.minor}.${v.patch}`, `upgrade Git to ${MIN_GIT.join('.')} or later`);
  } catch (err) {
    return check('git', false, `git could not be run (${firstLine(err)})`, 'install Git 2.31 or later');
  }
}

/** The node the hooks run (recorded in the launchers), else this process's. */
async function checkNode(launcherNode: string | null): Promise<Check> {
  const node = launcherNode ?? process.execPath;
  const whose = launcherNode ? 'the hooks run' : 'this process; no launcher installed';
  if (!existsSync(node)) return check('node', false, `${node} (${whose}) no longer exists`, 'run `kitty-sync install` again to record the current node');
  const version = launcherNode ? await new Promise<string | null>((resolve) => execFile(node, ['--version'], { timeout: 5000 }, (err, out) => resolve(err ? null : String(out).trim()))) : process.version;
  if (version === null) return check('node', false, `${node} (${whose}) does not run`, 'run `kitty-sync install` again with a working Node.js 20+');
  const major = Number(/^v(\d+)/.exec(version)?.[1] ?? 0);
  return check('node', major >= MIN_NODE, `node ${version} at ${node} (${whose})`, `install Node.js ${MIN_NODE} or later, then run \`kitty-sync install\` again`);
}

function checkHooks(inspections: ReturnType<typeof inspectInstall>): Check {
  if (inspections.every((i) => i.via === 'none' && !i.launcher.exists)) {
    return check('hooks', false, 'kitty-sync is not installed in this repository', 'run `kitty-sync install`');
  }
  const problems: string[] = [];
  const found: string[] = [];
  for (const i of inspections) {
    if (!i.ok) problems.push(`${i.hook}: ${i.problem}`);
    else found.push(`${i.hook} (${describeVia(i.via)})`);
    const l = i.launcher;
    if (!l.exists) problems.push(`${i.hook}: launcher ${l.file} is missing`);
    else if (!l.nodeExists) problems.push(`${i.hook}: the launcher's node ${l.node ?? '(unreadable)'} does not exist`);
    else if (!l.cliExists) problems.push(`${i.hook}: the launcher's CLI ${l.cli ?? '(unreadable)'} does not exist`);
  }
  if (problems.length) return check('hooks', false, problems.join('; '), 'run `kitty-sync install` (again: it is idempotent and refreshes the launchers)');
  return check('hooks', true, `${found.join(', ')}; launchers point at an existing node and CLI`, null);
}

function describeVia(via: string): string {
  switch (via) {
    case 'shim':
      return 'kitty-sync hook';
    case 'husky':
      return 'line in the husky script';
    case 'pre-commit':
      return 'run by pre-commit as <hook>.legacy';
    case 'lefthook':
      return 'kitty-sync command in lefthook-local.yml';
    default:
      return via;
  }
}

/** Who owns the hooks: plain .git/hooks, core.hooksPath (husky or other), lefthook, pre-commit. Informational. */
async function checkHookManager(layout: RepoLayout): Promise<Check> {
  const seen: string[] = [];
  let hooksPath: string | null;
  try {
    hooksPath = (await gitClient(layout.root).raw(['config', '--get', 'core.hooksPath'])).trim() || null;
  } catch {
    hooksPath = null;
  }
  if (hooksPath) seen.push(`core.hooksPath=${hooksPath}${layout.huskyDir ? ' (husky)' : ''}`);
  else seen.push(`Git runs ${path.relative(layout.root, layout.hooksDir) || layout.hooksDir}`);
  if (!layout.huskyDir && existsSync(path.join(layout.root, '.husky'))) seen.push('.husky/ present but husky is not installed in this clone (core.hooksPath unset)');
  const lefthook = lefthookConfig(layout.root);
  if (lefthook) seen.push(`lefthook (${path.basename(lefthook)})`);
  const preCommit = preCommitConfig(layout.root);
  if (preCommit) seen.push('pre-commit (.pre-commit-config.yaml)');
  if (hooksPath && !existsSync(layout.hooksDir)) {
    return check('hook-manager', false, `${seen.join('; ')}: that directory does not exist`, "fix core.hooksPath (or run the hook manager's install), then `kitty-sync install`", true);
  }
  return check('hook-manager', true, seen.join('; '), null, false);
}

async function checkProjectUuid(root: string): Promise<Check> {
  const file = configYamlPath(root);
  const read = (text: string | null): string | null => {
    if (text === null) return null;
    try {
      const doc = parseYaml(text) as { project?: { uuid?: unknown } } | null;
      const uuid = doc?.project?.uuid;
      return typeof uuid === 'string' ? uuid.trim() : null;
    } catch {
      return null;
    }
  };
  let worktree: string | null;
  try {
    worktree = read(readFileSync(file, 'utf8'));
  } catch {
    worktree = null;
  }
  if (!worktree) return check('project-uuid', false, `no project.uuid in ${CONFIG_FILE}`, `run \`kitty-sync install\` (it writes one), then commit ${CONFIG_FILE}`);
  if (!CANONICAL_UUID.test(worktree))
    return check('project-uuid', false, `project.uuid ${JSON.stringify(worktree)} in ${CONFIG_FILE} is not a UUID`, `put a UUID there (or remove the line and run \`kitty-sync install\`), then commit it`);
  let committed: string | null;
  try {
    committed = read(await gitClient(root).show([`HEAD:${CONFIG_FILE}`]));
  } catch {
    committed = null;
  }
  if (committed !== worktree) {
    return check(
      'project-uuid',
      false,
      `project.uuid ${worktree} is ${committed ? `not the committed one (${committed})` : 'not committed'}; hooks read it at the commit`,
      `git add ${CONFIG_FILE} && git commit -m "kitty-sync project uuid"`,
    );
  }
  return check('project-uuid', true, `${worktree}, committed`, null);
}

/** server reachable, token accepted, protocol answer: one empty events batch (Transport.probe). */
async function checkServer(input: DoctorInput): Promise<Check[]> {
  const { settings } = input;
  const notChecked = (why: string): Check[] => [check('token', false, `not checked (${why})`, null), check('protocol', false, `not checked (${why})`, null)];
  if (!settings.serverUrl) {
    return [
      check('server', false, 'no server configured: work is queued, never sent', 'set KITTY_SYNC_SERVER_URL or sync.server_url in .kittify/config.yaml (try `kitty-sync serve` for a local one)'),
      ...notChecked('no server'),
    ];
  }
  const [{ Transport }, { parseServerUrl }] = await Promise.all([import('../delivery/transport.js'), import('../delivery/server-url.js')]);
  let base: URL;
  let ca: string | null = null;
  let proxy: string;
  try {
    base = parseServerUrl(settings.serverUrl, settings.allowInsecureHttp);
    if (settings.caFile) ca = (await import('../delivery/http-agent.js')).readCaFile(settings.caFile);
    proxy = (await (await import('../delivery/http-agent.js')).proxyFor(base)).description;
  } catch (err) {
    return [check('server', false, firstLine(err), 'fix the server URL, CA file or proxy variable named above'), ...notChecked('configuration problem')];
  }
  // The token the hooks would use: KITTY_SYNC_TOKEN, else Git's credential helpers.
  let token = settings.token;
  let source = token ? 'KITTY_SYNC_TOKEN' : 'none';
  if (!token) {
    token = await (await import('../delivery/credentials.js')).fillToken(settings.serverUrl, { cwd: input.root, env: input.env });
    if (token) source = "Git's credential helper";
  }
  const transport = new Transport({ serverUrl: settings.serverUrl, token, allowInsecureHttp: settings.allowInsecureHttp, ca, timeoutMs: 8000 });
  let r: ProbeResult;
  try {
    r = await transport.probe();
  } finally {
    transport.close();
  }
  return judgeProbe(base.origin, proxy, r, source, ca !== null || process.env.NODE_EXTRA_CA_CERTS !== undefined);
}

/** Turns the empty-batch answer into the server, token and protocol lines. */
export function judgeProbe(origin: string, proxy: string, r: ProbeResult, tokenSource: string, customCa: boolean): Check[] {
  if (!r.reached) {
    const tls = /certificate|self[- ]signed|CERT_|unable to verify/i.test(r.reason);
    const fix = tls
      ? `trust the server's CA: sync.ca_file or KITTY_SYNC_CA_FILE (a PEM file), or NODE_EXTRA_CA_CERTS${customCa ? ' (the configured one does not cover this certificate)' : ''}`
      : r.reason === 'dns_failure'
        ? 'check the server URL; behind a proxy set HTTPS_PROXY (and NO_PROXY for hosts reached directly)'
        : r.reason === 'connection_refused'
          ? 'is the server running at that address? (check the URL and port)'
          : 'check the server URL, the network and the proxy settings (HTTPS_PROXY / NO_PROXY)';
    return [
      check('server', false, `${origin} unreachable: ${r.reason} (${proxy})`, fix),
      check('token', false, 'not checked (server unreachable)', null),
      check('protocol', false, 'not checked (server unreachable)', null),
    ];
  }
  const status = r.status;
  const said = `HTTP ${status}${r.detail ? ` (${r.detail})` : ''}`;
  const server = check('server', true, `${origin} answered ${said}, ${proxy}`, null);

  let token: Check;
  if (status === 401 || status === 403) {
    token =
      tokenSource === 'none'
        ? check('token', false, `the server wants a token and none is set (KITTY_SYNC_TOKEN unset, none in Git's credential helper)`, 'run `kitty-sync login` (or set KITTY_SYNC_TOKEN)')
        : check(
            'token',
            false,
            `the server refused the token from ${tokenSource} (HTTP ${status})`,
            tokenSource === 'KITTY_SYNC_TOKEN' ? 'set KITTY_SYNC_TOKEN to a valid token (it wins over the stored one), or unset it and run `kitty-sync login`' : 'run `kitty-sync login` with a valid token',
          );
  } else if ((status >= 200 && status < 300) || status === 400) {
    token = check('token', true, tokenSource === 'none' ? 'none set, and the server accepts requests without one' : `accepted (from ${tokenSource})`, null);
  } else {
    token = check('token', false, `not checked: the server answered ${said} before looking at it (token from ${tokenSource})`, 'see the protocol line');
  }

  let protocol: Check;
  const results = r.body && Array.isArray(r.body.results);
  if ((status === 200 || status === 201) && results) {
    protocol = check('protocol', true, 'the events endpoint answered the empty batch with {"results":[]}', null);
  } else if (status === 400) {
    protocol = check('protocol', true, `the events endpoint answered the empty batch with ${said}: authenticated; it just wants events`, null);
  } else if (status === 401 || status === 403) {
    protocol = check('protocol', false, 'not checked (token refused)', 'fix the token first');
  } else if (status === 410) {
    protocol = check(
      'protocol',
      false,
      `410 Gone: the server retired this endpoint${r.detail ? ` (${r.detail})` : ''}. Work stays queued and drains stop until it is answered`,
      'point sync.server_url at a server that still accepts this protocol (for example `kitty-sync serve`), or upgrade kitty-sync if the server moved to a newer one',
    );
  } else if (status === 412) {
    protocol = check(
      'protocol',
      false,
      `412 Precondition Failed: the server refused this client's protocol${r.detail ? ` (${r.detail})` : ''}. Work stays queued and drains stop until it is answered`,
      "upgrade kitty-sync (or ask the server's operators which protocol version it requires)",
    );
  } else if (status === 404) {
    protocol = check('protocol', false, `404: no events endpoint at ${origin}…/api/v1/events/batch/`, 'check the server URL, including any path prefix');
  } else if (status === 429) {
    protocol = check('protocol', false, 'the server is rate-limiting (429); work stays queued and retries later', 'wait, then `kitty-sync drain`');
  } else if (status >= 500) {
    protocol = check('protocol', false, `the server failed (${said}); work stays queued and retries with backoff`, "retry later; if it persists, tell the server's operators");
  } else if (status >= 200 && status < 300) {
    protocol = check('protocol', false, `${said} without a results list: not this protocol (a proxy's or a login page?)`, 'check the server URL and the proxy settings');
  } else {
    protocol = check('protocol', false, `unexpected answer ${said}`, 'check the server URL');
  }
  return [server, token, protocol];
}

/** The state directory: usable (required), and not writable by others (not required, but a risk). */
function checkStateDir(dir: string): Check {
  if (!existsSync(dir)) {
    const parent = path.dirname(dir);
    try {
      accessSync(parent, constants.W_OK | constants.X_OK);
      return check('state-dir', true, `${dir} (created by the first hook)`, null);
    } catch {
      return check('state-dir', false, `${dir} does not exist and ${parent} is not writable`, `make ${parent} writable by you, or set KITTY_SYNC_HOME`);
    }
  }
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    return check('state-dir', false, `${dir} cannot be read (${firstLine(err)})`, `fix its permissions, or set KITTY_SYNC_HOME`);
  }
  if (!st.isDirectory()) return check('state-dir', false, `${dir} is not a directory`, 'move it away, or set KITTY_SYNC_HOME');
  try {
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch {
    return check('state-dir', false, `${dir} is not writable by you (mode ${mode(st.mode)})`, `chmod u+rwx '${dir}' (or chown it to you)`);
  }
  const own = process.getuid === undefined || st.uid === process.getuid();
  if ((st.mode & 0o022) !== 0 || !own) {
    return check('state-dir', false, `${dir} (mode ${mode(st.mode)}${own ? '' : ', owned by another user'}): others could change the queue`, `chmod go-w '${dir}'${own ? '' : ` and chown it to you`}`, false);
  }
  return check('state-dir', true, `${dir} (mode ${mode(st.mode)})`, null);
}

async function checkQueue(settings: Settings): Promise<Check> {
  try {
    const s = await readQueue({ stateDir: settings.stateDir }, (q) => q.stats());
    const age = s.oldest_pending_age_ms === null ? 'none' : formatAge(s.oldest_pending_age_ms);
    const summary = `${s.pending} pending (${s.ready} ready, ${s.backoff} in backoff), ${s.events_pending} index events pending, ${s.failed} failed, oldest ${age}`;
    if (s.failed > 0) return check('queue', false, summary, '`kitty-sync failed` shows why; `kitty-sync retry --all` once fixed', false);
    if (s.oldest_pending_age_ms !== null && s.oldest_pending_age_ms > STALE_PENDING_MS) return check('queue', false, summary, 'fix what the other lines say, then `kitty-sync drain`', false);
    return check('queue', true, summary, null, false);
  } catch (err) {
    return check('queue', false, `the queue cannot be read (${firstLine(err)})`, 'run `kitty-sync status` for details', false);
  }
}

function mode(m: number): string {
  return (m & 0o777).toString(8).padStart(3, '0');
}
