// bench/floor-agent: the least an agent built on the named stack (simple-git, sql.js, node-fetch)
// must do to deliver documents durably. bench/hook runs it as a fourth variant (a post-commit hook),
// so the 250 ms target can be read against what the stack itself costs here; bench/backfill runs it
// with KS_FLOOR_ALL=1 (a first backfill of the whole tree), for the 70 % target's floor.
// It does only the irreducible work, and less than a correct agent:
//   - git: the documents HEAD changed under kitty-specs/ (all of them at HEAD, with KS_FLOOR_ALL),
//     and their bytes (one cat-file --batch; with KS_FLOOR_ALL, work-tree copies whose blob id
//     matches, as kitty-sync reads them, else cat-file);
//   - a durable enqueue: one sql.js transaction, bodies inline, one file write + fsync + rename
//     (with KS_FLOOR_ALL: the bodies and events in one spool file, fsynced, and one row per task);
//   - delivery: the gzip events batches (at most 500 events each), and the bodies 8 at a time over
//     keep-alive (node-fetch), a body once its event is accepted (047's order).
// No config/meta.json/manifest reading, eligibility checks, lock, marker, outcome log, or the
// second save that records delivery: a real agent cannot skip those, so this is a lower bound.
// Bundled by bench/floor-bundle.ts like the real agent (one CommonJS file run through V8's code cache).
// Env: KITTY_SYNC_SERVER_URL, KS_FLOOR_ALL.
import { hash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writevSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { gzipSync } from 'node:zlib';
import fetch from 'node-fetch';
import initSqlJs from 'sql.js';
import { simpleGit } from 'simple-git';
import { monotonicFactory } from 'ulid';
import { BlobReader } from '../lib/collect/blobs.js';
import { parseLsTree } from '../lib/collect/git.js';
import { buildIndexEvent, newEventRecord } from '../lib/collect/events.js';
import { WorkTreeReader } from '../lib/collect/worktree-blobs.js';
import type { EligibleArtifact } from '../lib/types.js';

/** KS_FLOOR_TRACE=1: each phase's end on stderr, in ms since the process started. */
const phase = (label: string): void => {
  if (process.env.KS_FLOOR_TRACE === '1') process.stderr.write(`floor-agent trace: ${performance.now().toFixed(0).padStart(5)} ms  ${label}\n`);
};

// Event ids as kitty-sync's capture makes them: a fresh ulid() draws 80 random bits (~0.2 ms here).
const nextId = monotonicFactory();

const PROJECT = '3f2b8c1e-9d4a-4f6b-8a2c-1e5d7f9b0c3a';
const DOCUMENT = /\.md$/;

/** A document path the floor delivers (the one file of these the real agent skips excluded). */
const isDocument = (p: string): boolean => DOCUMENT.test(p) && !p.endsWith('/tasks/README.md');

function artifact(p: string, body: Buffer): EligibleArtifact {
  const [, feature, ...rest] = p.split('/');
  return {
    namespace: { project_uuid: PROJECT, feature_slug: feature, target_branch: 'main', mission_key: 'software-dev', manifest_version: '1' },
    artifact_path: rest.join('/'),
    content_hash: hash('sha256', body, 'hex'),
    size_bytes: body.length,
    body,
    artifact_key: `artifact.${path.basename(p)}`,
    artifact_class: 'other',
    wp_id: null,
    step_id: null,
    required_status: 'optional',
  };
}

/** The documents HEAD changed (a hook), or every document at HEAD (a backfill), with their bytes. */
async function collect(root: string, head: string, all: boolean): Promise<EligibleArtifact[]> {
  const git = simpleGit(root);
  const blobs = new BlobReader(root);
  try {
    if (!all) {
      const changed = (await git.raw(['diff-tree', '-r', '-z', '--name-only', '--no-commit-id', '--root', head, '--', 'kitty-specs/'])).split('\0').filter(isDocument);
      return await Promise.all(changed.map(async (p) => artifact(p, (await blobs.read(`${head}:${p}`))!)));
    }
    const entries = parseLsTree(await git.raw(['-c', 'core.quotePath=true', 'ls-tree', '-r', '-l', '--full-tree', head, '--', 'kitty-specs/'])).filter((e) => e.kind === 'blob' && isDocument(e.path));
    const worktree = new WorkTreeReader(root);
    return await Promise.all(entries.map(async (e) => artifact(e.path, (await worktree.read(e.path, e.objectId, e.size)) ?? (await blobs.read(e.objectId))!)));
  } finally {
    await blobs.close();
  }
}

async function main(): Promise<void> {
  const server = process.env.KITTY_SYNC_SERVER_URL;
  if (!server) return;
  const all = process.env.KS_FLOOR_ALL === '1';
  const [root, head] = (await simpleGit().raw(['rev-parse', '--show-toplevel', 'HEAD'])).trim().split('\n');
  phase('started');
  const items = await collect(root, head, all);
  phase(`${items.length} documents read`);
  const now = Date.now();
  const events = items.map((item, i) =>
    buildIndexEvent(newEventRecord(item, { team_slug: 'local', project_slug: 'bench', repo_slug: 'bench', git_branch: 'main', head_commit_sha: head }, 'floor', now + i, now, nextId(now))),
  );

  phase('events built');
  // Durable enqueue: one transaction, one write of the whole database, fsync, rename.
  setFlagsFromString('--liftoff-only');
  const require = createRequire(import.meta.url);
  const SQL = await initSqlJs({ wasmBinary: readFileSync(require.resolve('sql.js/dist/sql-wasm.wasm')) as unknown as ArrayBuffer });
  const file = path.join(root, '.git', 'floor-queue.sqlite');
  const durable = (target: string, chunks: Uint8Array[]): void => {
    const fd = openSync(`${target}.tmp`, 'w');
    writevSync(fd, chunks);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(`${target}.tmp`, target);
  };
  let bytes: Buffer | null = null;
  try {
    bytes = readFileSync(file);
  } catch {
    /* first run */
  }
  const db = bytes ? new SQL.Database(bytes) : new SQL.Database();
  db.exec('CREATE TABLE IF NOT EXISTS tasks (path TEXT, hash TEXT, body BLOB, event TEXT); BEGIN');
  const insert = db.prepare('INSERT INTO tasks VALUES (?, ?, ?, ?)');
  if (all) {
    // A backfill's bodies and events go to one spool file; the database holds one small row per task.
    durable(path.join(root, '.git', 'floor-spool'), [...items.map((item) => item.body), Buffer.from(JSON.stringify(events))]);
    items.forEach((item) => insert.run([item.artifact_path, item.content_hash, null, null]));
  } else {
    items.forEach((item, i) => insert.run([item.artifact_path, item.content_hash, item.body, JSON.stringify(events[i])]));
  }
  insert.free();
  db.exec('COMMIT');
  const out = db.export();
  durable(file, [out]);
  phase('enqueued (durable)');

  // Delivery: events batches one at a time; a body goes once its batch was accepted.
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
  // Eight workers, as kitty-sync's drain: each sends the next events batch when none is in flight,
  // else the next body whose batch was accepted, else waits for the batch in flight.
  const batches: (typeof events)[] = [];
  for (let i = 0; i < events.length; i += 500) batches.push(events.slice(i, i + 500));
  let nextBatch = 0;
  let eventsBusy = false;
  let admitted = 0;
  let next = 0;
  let stored = 0;
  const sleepers: (() => void)[] = [];
  const worker = async (): Promise<void> => {
    for (;;) {
      if (!eventsBusy && nextBatch < batches.length) {
        eventsBusy = true;
        const batch = batches[nextBatch++];
        try {
          const status = await post('/api/v1/events/batch/', gzipSync(JSON.stringify({ events: batch })), true);
          if (status !== 200) throw new Error(`events batch answered ${status}`);
          admitted += batch.length;
        } finally {
          eventsBusy = false;
          for (const wake of sleepers.splice(0)) wake();
        }
      } else if (next < admitted) {
        const item = items[next++];
        const req = { ...item.namespace, artifact_path: item.artifact_path, content_hash: item.content_hash, hash_algorithm: 'sha256', content_body: item.body.toString('utf8') };
        if ((await post('/api/dossier/push-content/', Buffer.from(JSON.stringify(req)), false)) === 201) stored += 1;
      } else if (eventsBusy) {
        await new Promise<void>((resolve) => sleepers.push(resolve));
      } else {
        return;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: 8 }, worker));
  } finally {
    agent.destroy();
  }
  phase('sent');
  process.stderr.write(`floor-agent: ${stored} stored of ${items.length}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`floor-agent: ${err instanceof Error ? err.message : String(err)}\n`);
});
