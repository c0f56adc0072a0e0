// bench/serve: what one request costs `kitty-sync serve` as its database grows: an events batch
// (20 Indexed events, 047's batch size for a feature), a push-content that stores a new version, one
// that answers already_exists, and the dashboard's feature and artifact pages, with 0, 10k and 100k
// artifacts already stored (spread over features of 100 artifacts). Requests go over loopback with a
// keep-alive agent to a receiver in this process. Each figure is the median of `--requests` requests.
// Usage: node dist/bench/serve.js [--sizes 0,10000,100000] [--requests 300]
import http from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { startReceiver, type Receiver } from '../server/receiver.js';
import { acceptedEvent } from '../server/validate.js';
import type { NamespaceRef } from '../lib/contract/wire.js';
import { indexEvent, pushRequest } from '../test/helpers/receiver.js';

const PROJECT = '7d0c8a52-1b7e-4c1a-9a55-0f7e0b4c2d11';
const PER_FEATURE = 100;

function ns(i: number): NamespaceRef {
  return { project_uuid: PROJECT, feature_slug: `${String(i).padStart(4, '0')}-bench-feature`, target_branch: 'main', mission_key: 'software-dev', manifest_version: '1' };
}

const body = (tag: string): string => `# ${tag}\n\n${'Some realistic paragraph text for a document. '.repeat(60)}\n`;

/** Fills the store through its own API (the same transactions a request runs, without HTTP). */
function fill(r: Receiver, from: number, to: number): void {
  for (let start = from; start < to; start += PER_FEATURE) {
    const feature = ns(Math.floor(start / PER_FEATURE));
    const items = Array.from({ length: Math.min(PER_FEATURE, to - start) }, (_, k) => ({ p: `research/doc-${start + k}.md`, text: body(`doc ${start + k}`) }));
    r.store.recordEvents(items.map(({ p, text }) => acceptedEvent(indexEvent(feature, p, text))));
    for (const { p, text } of items) {
      const pr = pushRequest(feature, p, text);
      r.store.storeBody(feature, p, pr.content_hash, text);
    }
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function measure(r: Receiver, size: number, requests: number, round: number): Promise<Record<string, number>> {
  const feature = ns(900_000 + round);
  const events: number[] = [];
  const stored: number[] = [];
  const already: number[] = [];
  const pages: number[] = [];
  const artifactPages: number[] = [];
  for (let i = 0; i < requests; i++) {
    const p = `tasks/WP${i}-bench.md`;
    const text = body(`new ${round} ${i}`);
    // 20 events per batch, as 047 sends a feature: the measured path's own event, then 19 re-indexed files.
    const batch = [indexEvent(feature, p, text), ...Array.from({ length: 19 }, (_, k) => indexEvent(feature, `research/extra-${k}.md`, `x ${i}`))];
    events.push(await request(`${r.url}/api/v1/events/batch/`, 'POST', gzipSync(JSON.stringify({ events: batch })), { 'content-encoding': 'gzip' }));
    const payload = Buffer.from(JSON.stringify(pushRequest(feature, p, text)));
    stored.push(await request(`${r.url}/api/dossier/push-content/`, 'POST', payload));
    already.push(await request(`${r.url}/api/dossier/push-content/`, 'POST', payload));
  }
  // The dashboard over a stored feature of PER_FEATURE artifacts (the last one filled, or the new one).
  const id = r.store.namespaceId(size > 0 ? ns(Math.floor((size - 1) / PER_FEATURE)) : feature)!;
  const somePath = size > 0 ? `research/doc-${size - 1}.md` : 'tasks/WP0-bench.md';
  for (let i = 0; i < Math.min(requests, 100); i++) {
    pages.push(await request(`${r.url}/ns/${id}`, 'GET', null));
    artifactPages.push(await request(`${r.url}/ns/${id}/artifact?path=${encodeURIComponent(somePath)}`, 'GET', null));
  }
  return { events: median(events), stored: median(stored), already: median(already), page: median(pages), artifactPage: median(artifactPages) };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sizes = args.includes('--sizes') ? args[args.indexOf('--sizes') + 1].split(',').map(Number) : [0, 10_000, 100_000];
  const requests = Number(args[args.indexOf('--requests') + 1]) || 300;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-bench-serve-'));
  const r = await startReceiver({ dataDir, host: '127.0.0.1', port: 0 });
  console.log(`bench/serve: ${requests} requests per figure (median ms), loopback, keep-alive, node ${process.version}, ${os.cpus().length} cores`);
  console.log('stored artifacts | events batch (20) | push stored | push already_exists | feature page (100 rows) | artifact page | serve.db');
  let filled = 0;
  try {
    for (const [round, size] of sizes.entries()) {
      const f0 = performance.now();
      fill(r, filled, size);
      filled = Math.max(filled, size);
      const fillS = (performance.now() - f0) / 1000;
      const m = await measure(r, size, requests, round);
      const dbMb = statSync(path.join(dataDir, 'serve.db')).size / 1024 / 1024;
      console.log(
        `${String(size).padStart(16)} | ${m.events.toFixed(2).padStart(17)} | ${m.stored.toFixed(2).padStart(11)} | ${m.already.toFixed(2).padStart(19)} | ${m.page.toFixed(2).padStart(23)} | ${m.artifactPage.toFixed(2).padStart(13)} | ${dbMb.toFixed(0)} MB` +
          (fillS > 1 ? `  (filled in ${fillS.toFixed(0)} s)` : ''),
      );
    }
  } finally {
    await r.close();
    agent.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
