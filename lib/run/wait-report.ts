// Why nothing can be sent right now, and when it can (issue 12): from the queue counts, one line
// for `status` and `drain`, or null when something is ready (or nothing is pending).
import type { QueueStats } from '../queue/queue.js';

export function waitLine(s: QueueStats, now = Date.now()): string | null {
  if (s.ready > 0 || s.events_ready > 0 || s.pending + s.events_pending === 0 || s.next_attempt_at === null) return null;
  const parts: string[] = [];
  if (s.events_backoff > 0) parts.push(`${s.events_backoff} index event${s.events_backoff === 1 ? '' : 's'} in backoff`);
  const ownBackoff = s.backoff - s.waiting_for_events;
  if (s.waiting_for_events > 0) parts.push(`${s.waiting_for_events} bod${s.waiting_for_events === 1 ? 'y waits' : 'ies wait'} for ${s.waiting_for_events === 1 ? 'its' : 'their'} index event`);
  if (ownBackoff > 0) parts.push(`${ownBackoff} bod${ownBackoff === 1 ? 'y' : 'ies'} in backoff`);
  const why = `${parts.join(', ')}${s.last_error ? ` (last error: ${s.last_error})` : ''}`;
  const at = new Date(s.next_attempt_at).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `nothing can be sent now: ${why}; next attempt in ${inWords(s.next_attempt_at - now)} (at ${at}); \`kitty-sync drain --force\` sends now`;
}

function inWords(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h`;
}
