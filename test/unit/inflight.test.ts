// The drain's in-flight journal: one JSON array per upload, read back whole by the next drain.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inflightPath, readInflight, writeInflight, type InflightUpload } from '../../lib/delivery/inflight.js';
import { namespace } from '../support/artifacts.js';

test('each upload is one line, JSON.stringify([namespace, path, hash, startedAt]), and reads back as written', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-inflight-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const shared = namespace('001-alpha');
  const uploads: InflightUpload[] = [
    { namespace: shared, artifact_path: 'spec.md', content_hash: 'a'.repeat(64), startedAt: 1_764_000_000_000 },
    { namespace: shared, artifact_path: 'research/"quoted" étude.md', content_hash: 'b'.repeat(64), startedAt: 1_764_000_000_001 },
    { namespace: namespace('002-beta', 'feature/x'), artifact_path: 'plan.md', content_hash: 'c'.repeat(64), startedAt: 1_764_000_000_002 },
    { namespace: { ...shared }, artifact_path: 'tasks.md', content_hash: 'd'.repeat(64), startedAt: 1_764_000_000_003 },
  ];
  writeInflight(dir, uploads);
  const lines = readFileSync(inflightPath(dir), 'utf8').split('\n');
  t.deepEqual(lines, [...uploads.map((u) => JSON.stringify([u.namespace, u.artifact_path, u.content_hash, u.startedAt])), '']);
  t.deepEqual(readInflight(dir), uploads);
});
