// The catch-up watermark (issue 11 §3): per branch, the last commit whose kitty-specs/ changes were
// captured, in `<state>/watermark/<branch>` (a plain file holding the sha, which the post-commit
// launcher reads without forking). The next post-commit captures every path whose content differs
// between that commit and HEAD, so a commit whose hook was killed, skipped (KITTY_SYNC=0) or never
// ran (a rebase, a GUI client) is delivered by the next hook. Being a tree comparison, it also
// covers rewritten history: what the server was last given (the watermark's tree) is compared
// with what HEAD holds, whatever the path between them.
import { closeSync, constants, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ensureDir, openNoFollow, readFileNoFollow, type Notice } from '../state-fs.js';

export const WATERMARK_DIR = 'watermark';
const SHA_RE = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** The file for a branch; null for a name that cannot be a path below the directory. */
export function watermarkPath(stateDir: string, branch: string): string | null {
  const parts = branch.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return null;
  return path.join(stateDir, WATERMARK_DIR, ...parts);
}

export function readWatermark(stateDir: string, branch: string, notice?: Notice): string | null {
  const file = watermarkPath(stateDir, branch);
  if (!file) return null;
  try {
    const sha = readFileNoFollow(file, notice)?.toString('latin1').trim() ?? '';
    return SHA_RE.test(sha) ? sha : null;
  } catch {
    return null;
  }
}

/**
 * Records `sha` for `branch` (temp file + rename; no fsync: after a power loss an older watermark
 * only means capturing some paths again, and the spool it follows was fsynced first).
 */
export function writeWatermark(stateDir: string, branch: string, sha: string, notice?: Notice): void {
  const file = watermarkPath(stateDir, branch);
  if (!file || !SHA_RE.test(sha)) return;
  let dir = path.join(stateDir, WATERMARK_DIR);
  ensureDir(dir, notice);
  for (const part of branch.split('/').slice(0, -1)) {
    dir = path.join(dir, part);
    ensureDir(dir, notice);
  }
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openNoFollow(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600, notice);
  try {
    writeSync(fd, `${sha}\n`);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
