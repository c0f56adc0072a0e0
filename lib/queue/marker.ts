// The pending marker, `<state>/pending`. It exists while anything is queued (or captured in a spool
// not merged yet), so the post-commit launcher knows to start Node. Its text says when the queue is
// *held*: the server failed the last index events, they wait in backoff, and nothing can be sent
// before `hold_until`. A hook that finds the queue held writes its capture to a spool and leaves
// the queue unloaded (issue 16: loading 100k pending tasks costs a second; sending nothing gains
// nothing). Lines of `key=value`, so the launcher can read the first one without starting Node.
import { closeSync, constants, writeSync } from 'node:fs';
import path from 'node:path';
import { openNoFollow, readFileNoFollow, touchNoFollow, type Notice } from '../state-fs.js';

export const PENDING_MARKER = 'pending';

export interface QueueHold {
  /** Epoch ms before which nothing can be sent (0: not held). */
  hold_until: number;
  /** Body tasks and events pending at the last save, counted only when it held the queue (a held run reports them without loading the queue). */
  pending: number;
  events_pending: number;
  /** Why the events wait (e.g. connection_refused, http_503). */
  last_error: string | null;
}

export function pendingMarkerPath(stateDir: string): string {
  return path.join(stateDir, PENDING_MARKER);
}

/** Marks work as pending, keeping what the marker says (a capture does not know the queue's hold). */
export function touchPendingMarker(stateDir: string, notice: Notice): void {
  touchNoFollow(pendingMarkerPath(stateDir), notice);
}

/** Writes the marker with the queue's hold (before the save that makes the work durable: a crash leaves an extra marker, never a missing one). */
export function writePendingMarker(stateDir: string, hold: QueueHold, notice: Notice): void {
  // hold_until first: the launcher reads only the first line. Not held: nothing else is read (nor counted).
  const text =
    hold.hold_until > 0 ? `hold_until=${hold.hold_until}\npending=${hold.pending}\nevents_pending=${hold.events_pending}\nlast_error=${(hold.last_error ?? '').replace(/\s+/g, ' ')}\n` : 'hold_until=0\n';
  const fd = openNoFollow(pendingMarkerPath(stateDir), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600, notice);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** The hold the marker records, when it holds the queue at `now`; null otherwise (no marker, not held, unreadable). */
export function activeHold(stateDir: string, now = Date.now()): QueueHold | null {
  let text: string;
  try {
    text = readFileNoFollow(pendingMarkerPath(stateDir), undefined)?.toString('utf8') ?? '';
  } catch {
    return null;
  }
  const fields = new Map(text.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  const num = (k: string): number => Number(fields.get(k) ?? '') || 0;
  const hold: QueueHold = { hold_until: num('hold_until'), pending: num('pending'), events_pending: num('events_pending'), last_error: fields.get('last_error') || null };
  return hold.hold_until > now ? hold : null;
}
