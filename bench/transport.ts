// bench/transport: requests/s of Transport.pushContent against the reference receiver
// (a separate `kitty-sync serve` process), sequential and 8-concurrent, next to a minimal
// keep-alive http.request client doing the same POSTs (the floor).
// Run: npx tsc -p . && node dist/bench/transport.js [count]
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ulid } from 'ulid';
import { Transport } from '../lib/delivery/transport.js';
import type { IndexEvent, NamespaceRef, PushContentRequest } from '../lib/types.js';

const COUNT = Number(process.argv[2] ?? 2000);
const cli = fileURLToPath(new URL('../bin/kitty-sync.js', import.meta.url));

async function startServe(): Promise<{ url: string; stop(): Promise<void> }> {
  const data = mkdtempSync(path.join(tmpdir(), 'ks-bench-transport-'));
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--data', data], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  return {
    url,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(data, { recursive: true, force: true });
    },
  };
}

function requests(count: number, tag: string): { ns: NamespaceRef; reqs: PushContentRequest[]; events: IndexEvent[] } {
  const ns: NamespaceRef = { project_uuid: randomUUID(), feature_slug: `001-bench-${tag}`, target_branch: 'main', mission_key: 'software-dev', manifest_version: '1' };
  const reqs: PushContentRequest[] = [];
  const events: IndexEvent[] = [];
  for (let i = 0; i < count; i++) {
    const body = `# Artifact ${i}\n\nA small body of a few hundred bytes. ${'lorem ipsum '.repeat(20)}\n`;
    const hash = createHash('sha256').update(body).digest('hex');
    const artifactPath = `research/note-${i}.md`;
    reqs.push({ ...ns, mission_slug: ns.mission_key, artifact_path: artifactPath, content_hash: hash, hash_algorithm: 'sha256', content_body: body });
    events.push({
      event_id: ulid(),
      event_type: 'MissionDossierArtifactIndexed',
      aggregate_id: `${ns.feature_slug}:artifact.note-${i}`,
      aggregate_type: 'MissionDossier',
      payload: {
        feature_slug: ns.feature_slug,
        artifact_key: `artifact.note-${i}`,
        artifact_class: 'other',
        relative_path: artifactPath,
        content_hash_sha256: hash,
        size_bytes: Buffer.byteLength(body),
        wp_id: null,
        step_id: null,
        required_status: 'optional',
        namespace: ns,
      },
      node_id: 'bench',
      lamport_clock: i + 1,
      causation_id: null,
      timestamp: new Date().toISOString(),
      team_slug: 'local',
      project_uuid: ns.project_uuid,
      project_slug: 'bench',
      git_branch: 'main',
      head_commit_sha: '0'.repeat(40),
      repo_slug: 'bench/bench',
    });
  }
  return { ns, reqs, events };
}

async function index(transport: Transport, events: IndexEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    const res = await transport.sendEvents(events.slice(i, i + 500));
    if (res.kind !== 'results') throw new Error(`indexing failed: ${JSON.stringify(res)}`);
  }
}

async function runPool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function viaTransport(url: string, concurrency: number, tag: string): Promise<number> {
  const transport = new Transport({ serverUrl: url, token: null });
  const { reqs, events } = requests(COUNT, tag);
  await index(transport, events);
  const t0 = performance.now();
  let stored = 0;
  await runPool(reqs, concurrency, async (r) => {
    if ((await transport.pushContent(r)).kind === 'stored') stored++;
  });
  const rate = COUNT / ((performance.now() - t0) / 1000);
  transport.close();
  if (stored !== COUNT) throw new Error(`only ${stored}/${COUNT} stored`);
  return rate;
}

async function viaRawHttp(url: string, concurrency: number, tag: string): Promise<number> {
  const transport = new Transport({ serverUrl: url, token: null });
  const { reqs, events } = requests(COUNT, tag);
  await index(transport, events);
  transport.close();
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL('/api/dossier/push-content/', url);
  const post = (body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(target, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
  const t0 = performance.now();
  let stored = 0;
  await runPool(reqs, concurrency, async (r) => {
    if ((await post(JSON.stringify(r))) === 201) stored++;
  });
  const rate = COUNT / ((performance.now() - t0) / 1000);
  agent.destroy();
  if (stored !== COUNT) throw new Error(`only ${stored}/${COUNT} stored`);
  return rate;
}

const serve = await startServe();
try {
  // Warm-up (JIT, first socket, lazy node-fetch import) so the figures compare steady states.
  await viaTransport(serve.url, 8, 'warm');
  const rows: [string, number][] = [];
  for (const concurrency of [1, 8]) {
    rows.push([`Transport.pushContent, concurrency ${concurrency}`, await viaTransport(serve.url, concurrency, `t${concurrency}`)]);
    rows.push([`raw http.request keep-alive, concurrency ${concurrency}`, await viaRawHttp(serve.url, concurrency, `r${concurrency}`)]);
  }
  console.log(`bench/transport: ${COUNT} small bodies (~300 B) to kitty-sync serve (separate process), ${process.version}`);
  for (const [name, rate] of rows) console.log(`  ${name.padEnd(44)} ${rate.toFixed(0).padStart(6)} req/s`);
} finally {
  await serve.stop();
}
