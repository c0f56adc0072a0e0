// Shared by the hook end-to-end tests: real repositories set up with the real
// `kitty-sync install`, real `git commit` / `git push` (to a local bare repository), the
// real hooks and agent, and a real receiver on 127.0.0.1.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import type { TestFn } from 'ava';
import { git, gitBytes, gitOk, makeRepo, type TestRepo } from './git.js';
import { cli, type Proc } from './proc.js';
import { deadPort, startTestReceiver, type TestReceiver } from './receiver.js';
import type { NamespaceRef } from '../../lib/types.js';

/** A repository for the hook tests (see newRepo). */
export type HookRepo = TestRepo & { uuid: string };

/**
 * A fresh repository with its own random project uuid (so tests sharing one receiver
 * never share a namespace), gpgsign and autocrlf off in its local config so a plain
 * `git commit` works. Not installed: call installHooks.
 */
export async function newRepo(opts: { name?: string } = {}): Promise<HookRepo> {
  const uuid = randomUUID();
  const repo = await makeRepo({ uuid, projectName: 'e2e', name: opts.name, prefix: 'ks-e2e-hooks-' });
  await gitOk(repo.root, ['config', 'commit.gpgsign', 'false']);
  await gitOk(repo.root, ['config', 'core.autocrlf', 'false']);
  return { ...repo, uuid };
}

/** A fresh repository with the hooks installed, removed when the test ends. */
export async function installedRepo(t: { teardown(fn: () => Promise<void>): void }): Promise<HookRepo> {
  const repo = await newRepo();
  t.teardown(repo.cleanup);
  await installHooks(repo.root);
  return repo;
}

/** `node dist/bundle/kitty-sync.js install --repo ROOT`; throws with its output on failure. */
export async function installHooks(root: string): Promise<Proc> {
  const r = await cli(root, ['install', '--repo', root]);
  if (r.code !== 0) throw new Error(`install failed (${r.code}): ${r.stdout}${r.stderr}`);
  return r;
}

/** A bare repository next to the work tree, added as `origin`. */
export async function addBareRemote(repo: HookRepo): Promise<string> {
  const bare = path.join(repo.base, 'remote.git');
  await gitOk(repo.base, ['init', '-q', '--bare', '-b', 'main', bare]);
  await gitOk(repo.root, ['remote', 'add', 'origin', bare]);
  return bare;
}

/** `git add -A && git commit -m MSG` with the hooks running; resolves the commit's Proc and sha. */
export async function commit(root: string, message: string, env: NodeJS.ProcessEnv = {}): Promise<Proc & { sha: string }> {
  await gitOk(root, ['add', '-A']);
  const r = await git(root, ['commit', '-m', message], env);
  if (r.code !== 0) throw new Error(`git commit failed (${r.code}): ${r.stderr}`);
  const sha = (await gitOk(root, ['rev-parse', 'HEAD'])).trim();
  return { ...r, sha };
}

/** The exact bytes of a file at a commit. */
export function blobAt(root: string, rev: string, rel: string): Promise<Buffer> {
  return gitBytes(root, ['cat-file', 'blob', `${rev}:${rel}`]);
}

export function namespace(uuid: string, feature_slug: string, target_branch = 'main', mission_key = 'software-dev'): NamespaceRef {
  return { project_uuid: uuid, feature_slug, target_branch, mission_key, manifest_version: '1' };
}

/** A small feature: meta.json (not uploaded: unsupported_surface) plus eligible documents. */
export function feature(slug: string, opts: { target?: string; tag?: string } = {}): Record<string, string> {
  const tag = opts.tag ?? 'v1';
  return {
    [`kitty-specs/${slug}/meta.json`]: JSON.stringify({ feature_slug: slug, target_branch: opts.target ?? 'main', mission_type: 'software-dev' }, null, 2),
    [`kitty-specs/${slug}/spec.md`]: `# Spec ${slug} ${tag}\n\nUnicode: é ✓ 漢字\n`,
    [`kitty-specs/${slug}/plan.md`]: `# Plan ${slug} ${tag}\n`,
    [`kitty-specs/${slug}/tasks/WP01-first.md`]: `# WP01 ${tag}\n`,
  };
}

/** The SPEC §4 summary line of a feature, parsed from a hook's stderr (null when absent). */
export function summaryOf(stderr: string, slug: string): Record<'uploaded' | 'already_exists' | 'queued' | 'skipped' | 'failed', number> | null {
  const esc = slug.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^kitty-sync: ${esc}: (\\d+) uploaded, (\\d+) already_exists, (\\d+) queued, (\\d+) skipped, (\\d+) failed$`, 'm').exec(stderr);
  if (!m) return null;
  const [uploaded, already_exists, queued, skipped, failed] = m.slice(1).map(Number);
  return { uploaded, already_exists, queued, skipped, failed };
}

/** A loopback URL on which nothing listens (a port that was just free). */
export async function deadUrl(): Promise<string> {
  return `http://127.0.0.1:${await deadPort()}`;
}

/** A loopback server that accepts connections and never answers (a hung server). */
export async function hangingServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface StatusJson {
  pending: number;
  ready: number;
  backoff: number;
  failed: number;
}

export async function status(root: string): Promise<StatusJson> {
  const r = await cli(root, ['status', '--json']);
  if (r.code !== 0) throw new Error(`status failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusJson;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Commits made with the hooks off (KITTY_SYNC=0). */
export const OFF = { KITTY_SYNC: '0' } as const;

/**
 * Environment for commits that must deliver to `url`: a generous drain budget, so a loaded machine
 * cannot turn `uploaded` into `queued` (the budget has tests of its own).
 */
export function onlineEnv(url: string): NodeJS.ProcessEnv {
  return { KITTY_SYNC_SERVER_URL: url, KITTY_SYNC_BUDGET_MS: '30000' };
}

/** One in-process receiver for a test file: started before its tests, closed after them. */
/** What `receiver` stores for one project (one test repository). */
export function artifactsOf(receiver: TestReceiver, uuid: string) {
  return receiver.artifacts().filter((a) => a.namespace.project_uuid === uuid);
}

/** [artifact_path, number of versions stored] for one project, sorted by path. */
export function versionCounts(receiver: TestReceiver, uuid: string): [string, number][] {
  return artifactsOf(receiver, uuid)
    .map((a): [string, number] => [a.artifact_path, a.versions.length])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function fileReceiver(test: TestFn): () => TestReceiver {
  let receiver: TestReceiver | undefined;
  test.before(async () => {
    receiver = await startTestReceiver();
  });
  test.after.always(async () => {
    await receiver?.close();
  });
  return () => {
    if (!receiver) throw new Error('the receiver is not started yet');
    return receiver;
  };
}

/**
 * When a hook said its capture goes on in the background (a loaded machine: the files did not fit
 * the budget), waits up to `timeoutMs` for that process to end. Returns whether it had gone there.
 */
export async function awaitBackgroundCapture(hookStderr: string, timeoutMs = 240_000): Promise<boolean> {
  const background = /the capture goes on in the background \(pid (\d+)\)/.exec(hookStderr);
  if (!background) return false;
  const pid = Number(background[1]);
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const start = Date.now(); alive() && Date.now() - start < timeoutMs;) await sleep(250);
  if (alive()) throw new Error(`the background capture (pid ${pid}) was still running after ${timeoutMs} ms`);
  return true;
}
