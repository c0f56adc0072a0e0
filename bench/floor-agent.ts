// bench/floor-agent: the least a post-commit agent built on the named stack (simple-git,
// sql.js, node-fetch) must do to deliver a commit's documents durably. bench/hook runs it as a
// fourth variant, so the 250 ms target can be read against what the stack itself costs here.
// It does only the irreducible work, and less than a correct agent:
//   - git: the paths HEAD changed under kitty-specs/, and their bytes (one cat-file --batch);
//   - a durable enqueue: one sql.js transaction, bodies inline, one file write + fsync + rename;
//   - delivery: one gzip events batch, then the bodies, 8 at a time, over keep-alive (node-fetch).
// No config/meta.json/manifest reading, eligibility checks, lock, marker, outcome log, or the
// second save that records delivery: a real agent cannot skip those, so this is a lower bound.
// Bundled by bench/hook like the real agent (one CommonJS file run through V8's code cache).
// Env: KITTY_SYNC_SERVER_URL.
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { gzipSync } from 'node:zlib';
import fetch from 'node-fetch';
import initSqlJs from 'sql.js';
import { simpleGit } from 'simple-git';
import { BlobReader } from '../lib/collect/blobs.js';
import { buildIndexEvent, newEventRecord } from '../lib/collect/events.js';
import type { EligibleArtifact } from '../lib/types.js';

const PROJECT = '3f2b8c1e-9d4a-4f6b-8a2c-1e5d7f9b0c3a';
const DOCUMENT = /\.md$/;

async function main(): Promise<void> {
  const server = process.env.KITTY_SYNC_SERVER_URL;
  if (!server) return;
  const git = simpleGit();
  const [root, head] = (await git.raw(['rev-parse', '--show-toplevel', 'HEAD'])).trim().split('\n');
  const changed = (await git.raw(['diff-tree', '-r', '-z', '--name-only', '--no-commit-id', '--root', head, '--', 'kitty-specs/']))
    .split('\0')
    .filter((p) => DOCUMENT.test(p) && !p.endsWith('/tasks/README.md')); // the one file the real agent skips

  const blobs = new BlobReader(root);
  const items: EligibleArtifact[] = await Promise.all(
    changed.map(async (p) => {
      const body = (await blobs.read(`${head}:${p}`))!;
      const [, feature, ...rest] = p.split('/');
      return {
        namespace: { project_uuid: PROJECT, feature_slug: feature, target_branch: 'main', mission_key: 'software-dev', manifest_version: '1' },
        artifact_path: rest.join('/'),
        content_hash: createHash('sha256').update(body).digest('hex'),
        size_bytes: body.length,
        body,
        artifact_key: `artifact.${path.basename(p)}`,
        artifact_class: 'other',
        wp_id: null,
        step_id: null,
        required_status: 'optional',
      };
    }),
  );
  await blobs.close();

  // Durable enqueue: one transaction, one write of the whole database, fsync, rename.
  setFlagsFromString('--liftoff-only');
  const require = createRequire(import.meta.url);
  const SQL = await initSqlJs({ wasmBinary: readFileSync(require.resolve('sql.js/dist/sql-wasm.wasm')) as unknown as ArrayBuffer });
  const file = path.join(root, '.git', 'floor-queue.sqlite');
  let bytes: Buffer | null = null;
  try {
    bytes = readFileSync(file);
  } catch {
    /* first run */
  }
  const db = bytes ? new SQL.Database(bytes) : new SQL.Database();
  db.exec('CREATE TABLE IF NOT EXISTS tasks (path TEXT, hash TEXT, body BLOB, event TEXT); BEGIN');
  const now = Date.now();
  const events = items.map((item, i) =>
    buildIndexEvent(newEventRecord(item, { team_slug: 'local', project_slug: 'bench', repo_slug: 'bench', git_branch: 'main', head_commit_sha: head }, 'floor', now + i, now)),
  );
  const insert = db.prepare('INSERT INTO tasks VALUES (?, ?, ?, ?)');
  items.forEach((item, i) => insert.run([item.artifact_path, item.content_hash, item.body, JSON.stringify(events[i])]));
  insert.free();
  db.exec('COMMIT');
  const out = db.export();
  const fd = openSync(`${file}.tmp`, 'w');
  writeSync(fd, out);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(`${file}.tmp`, file);

  // Delivery: events, then bodies.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const base = server.replace(/\/$/, '');
  const post = async (p: string, body: Buffer, gzipped: boolean): Promise<number> => {
    const res = await fetch(`${base}${p}`, {
      method: 'POST',
      agent,
      body,
      headers: { 'Content-Type': 'application/json', ...(gzipped ? { 'Content-Encoding': 'gzip' } : {}) },
    });
    await res.text();
    return res.status;
  };
  await post('/api/v1/events/batch/', gzipSync(JSON.stringify({ events })), true);
  let next = 0;
  let stored = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < items.length) {
        const item = items[next++];
        const req = { ...item.namespace, artifact_path: item.artifact_path, content_hash: item.content_hash, hash_algorithm: 'sha256', content_body: item.body.toString('utf8') };
        if ((await post('/api/dossier/push-content/', Buffer.from(JSON.stringify(req)), false)) === 201) stored += 1;
      }
    }),
  );
  agent.destroy();
  process.stderr.write(`floor-agent: ${stored} stored of ${items.length}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`floor-agent: ${err instanceof Error ? err.message : String(err)}\n`);
});
