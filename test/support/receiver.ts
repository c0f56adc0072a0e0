// Test helpers: a real reference receiver on 127.0.0.1 (in-process or as a child process
// running `kitty-sync serve`), plus builders of valid wire objects.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { ulid } from 'ulid';
import { startReceiver, type Receiver, type ReceiverStats } from '../../server/receiver.js';
import { CLI_PATH } from './proc.js';
import type { FaultConfig } from '../../server/faults.js';
import type { ArtifactRecord } from '../../server/store.js';
import type { IndexEvent, NamespaceRef, PushContentRequest } from '../../lib/types.js';

export interface TestReceiverOptions {
  token?: string | null;
  faults?: Partial<FaultConfig>;
  /** Reuse a data directory (e.g. to test a restart); it is then not removed by close(). */
  dataDir?: string;
  /** Fixed port (e.g. to restart on the same URL); default 0 (any free port). */
  port?: number;
}

export interface TestReceiver {
  url: string;
  port: number;
  dataDir: string;
  receiver: Receiver;
  stats(): ReceiverStats;
  setFaults(faults: Partial<FaultConfig>, reset?: boolean): void;
  artifacts(): ArtifactRecord[];
  latestContent(ns: NamespaceRef, artifactPath: string): Promise<string | null>;
  /** Stops the server; removes the data directory unless it was given, or `keepData`. */
  close(opts?: { keepData?: boolean }): Promise<void>;
}

/** Starts a receiver in this process on 127.0.0.1 with a temporary data directory. */
export async function startTestReceiver(opts: TestReceiverOptions = {}): Promise<TestReceiver> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'ks-receiver-'));
  const receiver = await startReceiver({ dataDir, host: '127.0.0.1', port: opts.port ?? 0, token: opts.token ?? null, faults: opts.faults });
  return {
    url: receiver.url,
    port: receiver.port,
    dataDir,
    receiver,
    stats: () => receiver.stats(),
    setFaults: (f, reset) => receiver.setFaults(f, reset),
    artifacts: () => receiver.artifacts(),
    latestContent: (ns, p) => receiver.latestContent(ns, p),
    close: async ({ keepData = false } = {}) => {
      await receiver.close();
      if (ownDir && !keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface SpawnedReceiver {
  url: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): { stdout: string; stderr: string };
  /** GET /__stats (with the token when one was set). */
  stats(): Promise<ReceiverStats>;
  artifacts(): Promise<ArtifactRecord[]>;
  /** POST /__faults. */
  setFaults(faults: Partial<FaultConfig> & { reset?: boolean }): Promise<void>;
  /** Sends a signal (default SIGTERM) and waits for exit; removes the data dir unless given or `keepData`. */
  stop(opts?: { signal?: NodeJS.Signals; keepData?: boolean }): Promise<number | null>;
}

/**
 * Starts `node dist/bundle/kitty-sync.js serve --port 0 --host 127.0.0.1 --data DIR [--token T] [args]`
 * and waits for its "listening on" line (rejects with its output if it exits first).
 */
export async function spawnReceiver(opts: { args?: string[]; token?: string; dataDir?: string; port?: number; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<SpawnedReceiver> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'ks-serve-'));
  const args = [CLI_PATH, 'serve', '--port', String(opts.port ?? 0), '--host', '127.0.0.1', '--data', dataDir, ...(opts.token ? ['--token', opts.token] : []), ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // 'close', not 'exit': only then has all of the child's output been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kitty-sync serve did not start in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 10_000);
    const check = (): void => {
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`kitty-sync serve exited (${code}) before listening\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
  });
  const headers: Record<string, string> = opts.token ? { Authorization: `Bearer ${opts.token}` } : {};
  const getJson = async <T>(p: string): Promise<T> => {
    const res = await fetch(`${url}${p}`, { headers });
    if (!res.ok) throw new Error(`GET ${p}: ${res.status}`);
    return (await res.json()) as T;
  };
  return {
    url,
    dataDir,
    child,
    output: () => ({ stdout, stderr }),
    stats: () => getJson<ReceiverStats>('/__stats'),
    artifacts: async () => (await getJson<{ artifacts: ArtifactRecord[] }>('/__artifacts')).artifacts,
    setFaults: async (faults) => {
      const res = await fetch(`${url}/__faults`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify(faults) });
      if (!res.ok) throw new Error(`POST /__faults: ${res.status} ${await res.text()}`);
    },
    stop: async ({ signal = 'SIGTERM', keepData = false } = {}) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await exited;
      if (ownDir && !keepData) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

// ---- builders of valid wire objects ----

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function testNamespace(overrides: Partial<NamespaceRef> = {}): NamespaceRef {
  return {
    project_uuid: randomUUID(),
    feature_slug: '001-test-feature',
    target_branch: 'main',
    mission_key: 'software-dev',
    manifest_version: '1',
    ...overrides,
  };
}

export function pushRequest(ns: NamespaceRef, artifactPath: string, content: string): PushContentRequest {
  return { ...ns, mission_slug: ns.mission_key, artifact_path: artifactPath, content_hash: sha256(content), hash_algorithm: 'sha256', content_body: content };
}

let lamport = 0;
export function indexEvent(ns: NamespaceRef, artifactPath: string, content: string): IndexEvent {
  const stem = path.posix.basename(artifactPath).replace(/\.[^.]*$/, '');
  const artifact_key = `artifact.${stem}`;
  return {
    event_id: ulid(),
    event_type: 'MissionDossierArtifactIndexed',
    aggregate_id: `${ns.feature_slug}:${artifact_key}`,
    aggregate_type: 'MissionDossier',
    payload: {
      feature_slug: ns.feature_slug,
      artifact_key,
      artifact_class: 'other',
      relative_path: artifactPath,
      content_hash_sha256: sha256(content),
      size_bytes: Buffer.byteLength(content, 'utf8'),
      wp_id: null,
      step_id: null,
      required_status: 'optional',
      namespace: { ...ns },
    },
    node_id: 'test-node',
    lamport_clock: ++lamport,
    causation_id: null,
    timestamp: new Date().toISOString(),
    team_slug: 'local',
    project_uuid: ns.project_uuid,
    project_slug: 'test-project',
    git_branch: 'main',
    head_commit_sha: '0'.repeat(40),
    repo_slug: 'test/repo',
  };
}

/**
 * A loopback port nothing listens on, below the ephemeral range (32768+ on Linux), so a concurrent
 * test's receiver on port 0 cannot be handed the same port while this test expects it dead.
 */
export async function deadPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const s = http.createServer();
    const free = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (free) {
      await new Promise<void>((resolve) => s.close(() => resolve()));
      return port;
    }
  }
}
