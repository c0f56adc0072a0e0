// The drain's in-flight journal (issue 11 §4): before a pass sends bodies, the drain (holding the
// drain lock) writes which artifact versions it is about to hand to the network and when. A drain
// that ends normally reports each one's result (lib/queue/work.ts applyBodyResults) and removes the
// file; a file found by the next drain means its writer died mid-send (kill -9, crash, watchdog),
// so those uploads may still land on the server and are remembered as abandoned. One small write
// per pass, no fsync and no queue save: a killed process's writes survive in the page cache, and
// the request of a machine that lost power is no longer in flight on its side.
import { closeSync, constants, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { openNoFollow, readFileNoFollow, type Notice } from '../state-fs.js';
import type { NamespaceRef } from '../types.js';

export const INFLIGHT_FILE = 'inflight';

export interface InflightUpload {
  namespace: NamespaceRef;
  artifact_path: string;
  content_hash: string;
  startedAt: number;
}

export function inflightPath(stateDir: string): string {
  return path.join(stateDir, INFLIGHT_FILE);
}

export function writeInflight(stateDir: string, uploads: InflightUpload[], notice?: Notice): void {
  // Each line is JSON.stringify([namespace, path, hash, startedAt]); a pass's thousands of tasks share
  // a few namespace objects, each stringified once.
  const nsJson = new Map<NamespaceRef, string>();
  const text = uploads
    .map((u) => {
      let ns = nsJson.get(u.namespace);
      if (ns === undefined) nsJson.set(u.namespace, (ns = JSON.stringify(u.namespace)));
      return `[${ns},${JSON.stringify(u.artifact_path)},${JSON.stringify(u.content_hash)},${JSON.stringify(u.startedAt)}]`;
    })
    .join('\n');
  const fd = openNoFollow(inflightPath(stateDir), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600, notice);
  try {
    writeSync(fd, `${text}\n`);
  } finally {
    closeSync(fd);
  }
}

/** What a dead drain left (torn lines skipped). */
export function readInflight(stateDir: string, notice?: Notice): InflightUpload[] {
  let text: string;
  try {
    text = readFileNoFollow(inflightPath(stateDir), notice)?.toString('utf8') ?? '';
  } catch {
    return [];
  }
  const out: InflightUpload[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const [namespace, artifact_path, content_hash, startedAt] = JSON.parse(line) as [NamespaceRef, string, string, number];
      if (namespace && typeof artifact_path === 'string' && typeof content_hash === 'string' && Number.isFinite(startedAt)) out.push({ namespace, artifact_path, content_hash, startedAt });
    } catch {
      /* a line torn by the kill */
    }
  }
  return out;
}

export function clearInflight(stateDir: string): void {
  try {
    unlinkSync(inflightPath(stateDir));
  } catch {
    /* not there */
  }
}
