// bench/serve: what one request costs `kitty-sync serve` as its database grows: an events batch
// (20 Indexed events, a feature's worth), a push-content that stores a new version, one that answers
// already_exists, and the dashboard's feature and artifact pages, with 0, 10k and 100k artifacts
// already stored (spread over features of 100 artifacts). One receiver per size, in this process,
// over loopback with a keep-alive agent; the sizes' requests are interleaved so a busy machine
// weighs on all alike. Each figure is the median of `--requests` requests.
// Usage: node dist/bench/serve.js [--sizes 0,10000,100000] [--requests 300]
import http from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { startReceiver, type Receiver } from '../server/receiver.js';
import { acceptedEvent } from '../server/validate.js';
import type { NamespaceRef } from '../lib/contract/wire.js';
import { indexEvent, pushRequest } from '../test/support/receiver.js';
import { median } from './median.js';

const PROJECT = '7d0c8a52-1b7e-4c1a-9a55-0f7e0b4c2d11';
const PER_FEATURE = 100;

function ns(i: number): NamespaceRef {
  return { project_uuid: PROJECT, feature_slug: `${String(i).padStart(4, '0')}-bench-feature`, target_branch: 'main', mission_key: 'software-dev', manifest_version: '1' };
}

const body = (tag: string): string => `# ${tag}\n\n${'Some realistic paragraph text for a document. '.repeat(60)}\n`;

/** The feature whose pages are measured: PER_FEATURE artifacts at every size. */
const PAGE_FEATURE = 800_000;

/** Fills the store through its own API (the same transactions a request runs, without HTTP). */
function fill(r: Receiver, from: number, to: number, featureOf = (start: number) => ns(Math.floor(start / PER_FEATURE))): void {
  for (let start = from; start < to; start += PER_FEATURE) {
    const feature = featureOf(start);
    const items = Array.from({ length: Math.min(PER_FEATURE, to - start) }, (_, k) => ({ p: `research/doc-${start + k}.md`, text: body(`doc ${start + k}`) }));
    r.store.recordEvents(items.map(({ p, text }) => acceptedEvent(indexEvent(feature, p, text))));
    for (const { p, text } of items) {
      const pr = pushRequest(feature, p, text);
      r.store.storeBody(feature, p, pr.content_hash, text);
    }
  }
}

// Opens no socket before the fills end (a fill blocks the event loop past the keep-alive timeout).
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function request(url: string, method: string, payload: Buffer | null, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url, { method, agent, headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length, ...headers } : headers }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode && res.statusCode < 300 ? resolve(performance.now() - t0) : reject(new Error(`${method} ${url}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(payload ?? undefined);
  });
}

interface Target {
  r: Receiver;
  size: number;
  dataDir: string;
  samples: Record<'events' | 'stored' | 'already' | 'page' | 'artifactPage', number[]>;
}

/** One step of the measured workload on one receiver: an events batch, a new body, the same body again. */
async function apiStep(x: Target, i: number): Promise<void> {
  const feature = ns(900_000);
  const p = `tasks/WP${i}-bench.md`;
  const text = body(`new ${i}`);
  // 20 events per batch, as 047 sends a feature: the measured path's own event, then 19 re-indexed files.
  const batch = [indexEvent(feature, p, text), ...Array.from({ length: 19 }, (_, k) => indexEvent(feature, `research/extra-${k}.md`, `x ${i}`))];
  x.samples.events.push(await request(`${x.r.url}/api/v1/events/batch/`, 'POST', gzipSync(JSON.stringify({ events: batch })), { 'content-encoding': 'gzip' }));
  const payload = Buffer.from(JSON.stringify(pushRequest(feature, p, text)));
  x.samples.stored.push(await request(`${x.r.url}/api/dossier/push-content/`, 'POST', payload));
  x.samples.already.push(await request(`${x.r.url}/api/dossier/push-content/`, 'POST', payload));
}

/** The dashboard over a feature of PER_FEATURE stored artifacts. */
async function pageStep(x: Target): Promise<void> {
  const id = x.r.store.namespaceId(ns(PAGE_FEATURE))!;
  const somePath = `research/doc-${x.size + PER_FEATURE - 1}.md`;
  x.samples.page.push(await request(`${x.r.url}/ns/${id}`, 'GET', null));
  x.samples.artifactPage.push(await request(`${x.r.url}/ns/${id}/artifact?path=${encodeURIComponent(somePath)}`, 'GET', null));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sizes = args.includes('--sizes') ? args[args.indexOf('--sizes') + 1].split(',').map(Number) : [0, 10_000, 100_000];
  const requests = Number(args[args.indexOf('--requests') + 1]) || 300;
  const targets: Target[] = [];
  try {
    for (const size of sizes) {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-bench-serve-'));
      const r = await startReceiver({ dataDir, host: '127.0.0.1', port: 0 });
      targets.push({ r, size, dataDir, samples: { events: [], stored: [], already: [], page: [], artifactPage: [] } });
      const f0 = performance.now();
      fill(r, 0, size);
      fill(r, size, size + PER_FEATURE, () => ns(PAGE_FEATURE));
      if (size > 0) console.log(`filled ${size} artifacts in ${((performance.now() - f0) / 1000).toFixed(0)} s`);
    }
    // Interleaved, so that the load of a shared machine weighs on every size alike.
    for (let i = 0; i < requests; i++) for (const x of targets) await apiStep(x, i);
    for (let i = 0; i < Math.min(requests, 100); i++) for (const x of targets) await pageStep(x);
    console.log(
      `bench/serve: median ms of ${requests} requests per figure (pages: ${Math.min(requests, 100)}), loopback, keep-alive, node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`,
    );
    console.log('stored artifacts | events batch (20) | push stored | push already_exists | feature page (100 rows) | artifact page | serve.db');
    for (const x of targets) {
      const m = Object.fromEntries(Object.entries(x.samples).map(([k, v]) => [k, median(v).toFixed(2)]));
      const dbMb = statSync(path.join(x.dataDir, 'serve.db')).size / 1024 / 1024;
      console.log(
        `${String(x.size).padStart(16)} | ${m.events.padStart(17)} | ${m.stored.padStart(11)} | ${m.already.padStart(19)} | ${m.page.padStart(23)} | ${m.artifactPage.padStart(13)} | ${dbMb.toFixed(0)} MB`,
      );
    }
  } finally {
    agent.destroy();
    for (const x of targets) {
      await x.r.close();
      rmSync(x.dataDir, { recursive: true, force: true });
    }
  }
}

await main();
