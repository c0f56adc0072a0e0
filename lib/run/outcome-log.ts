// The outcome log: every artifact outcome of every run, appended as JSON lines to a
// bounded, rotated file in the state directory (SPEC §4), read back by `kitty-sync log`.
import { lstatSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { UploadOutcome } from '../types.js';
import { appendNoFollow, readFileNoFollow } from '../state-fs.js';

export const LOG_FILE = 'outcomes.log';
/** Rotate past this size; one rotated generation is kept, so the log stays under ~2x this. */
export const LOG_MAX_BYTES = 1024 * 1024;

export type RunSource = 'post-commit' | 'pre-push' | 'sync' | 'drain' | 'retry';

export interface LogEntry extends UploadOutcome {
  /** ISO 8601 UTC time of the run. */
  at: string;
  source: RunSource;
}

export function logPath(stateDir: string): string {
  return path.join(stateDir, LOG_FILE);
}

/**
 * Appends outcomes; never throws (the log must not turn a successful run into a failure).
 * Returns an error message when the log could not be written.
 */
export function appendOutcomes(stateDir: string, source: RunSource, outcomes: UploadOutcome[], now = new Date()): string | null {
  if (outcomes.length === 0) return null;
  const file = logPath(stateDir);
  // A symlink in the log's place is moved aside, never appended through (issue 12 §6): say so.
  let moved: string | null = null;
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    rotateIfLarge(file);
    const at = now.toISOString();
    const lines = outcomes.map((o) => JSON.stringify({ at, source, ...o } satisfies LogEntry)).join('\n');
    appendNoFollow(file, `${lines}\n`, (m) => (moved = m));
    return moved;
  } catch (err) {
    return `${moved ? `${moved}; ` : ''}could not write the outcome log ${file}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function rotateIfLarge(file: string): void {
  let st;
  try {
    st = lstatSync(file);
  } catch {
    return;
  }
  if (st.isFile() && st.size >= LOG_MAX_BYTES) renameSync(file, `${file}.1`);
}

/** The most recent `limit` entries, oldest first, from the rotated and current files. Torn lines are skipped. */
export function readOutcomes(stateDir: string, limit = 200): LogEntry[] {
  const file = logPath(stateDir);
  const entries: LogEntry[] = [];
  for (const f of [`${file}.1`, file]) {
    let text: string;
    try {
      // Read without following a link: a symlinked log shows nothing rather than a foreign file.
      const buf = readFileNoFollowQuiet(f);
      if (buf === null) continue;
      text = buf.toString('utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        entries.push(JSON.parse(line) as LogEntry);
      } catch {
        // A line torn by a crash mid-append: skip it, keep the rest.
      }
    }
  }
  return entries.slice(-limit);
}

/** The file's bytes, or null when missing or not a regular file (nothing is moved by a reader). */
function readFileNoFollowQuiet(file: string): Buffer | null {
  try {
    if (!lstatSync(file).isFile()) return null;
  } catch {
    return null;
  }
  return readFileNoFollow(file, undefined);
}
