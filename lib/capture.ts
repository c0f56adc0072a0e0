// Turns collected artifacts into one spool (lib/pack.ts): each eligible body with the index event
// that must precede it. Events are stored as opaque JSON envelopes keyed by event_id; the queue
// fills in `node_id` and `lamport_clock` when it sends them (both belong to the queue, which the
// capture does not hold).
import { monotonicFactory } from 'ulid';
import { buildIndexEvent, newEventRecord } from './events.js';
import { artifactKey } from './namespace.js';
import { PackBuilder, type BuiltPack } from './pack.js';
import type { CommitContext, EligibleArtifact } from './types.js';

// Monotonic: after the first id of a millisecond the next ones increment its random part, which is
// what makes 5,000 ids cost ~15 ms; ulid() draws 80 fresh random bits each time (~0.2 ms per id here).
const nextId = monotonicFactory();

export interface CaptureGroup {
  context: CommitContext;
  eligible: EligibleArtifact[];
}

/** The spool for these groups, or null when there is nothing to capture. */
export function buildCapture(groups: CaptureGroup[], now = Date.now()): BuiltPack | null {
  const b = new PackBuilder();
  for (const g of groups) {
    for (const item of g.eligible) {
      const eventId = nextId(now);
      const envelope = buildIndexEvent(newEventRecord(item, g.context, '', 0, now, eventId));
      b.addEvent(eventId, artifactKey(item.namespace, item.artifact_path), envelope);
      b.addBody({ ns: item.namespace, path: item.artifact_path, hash: item.content_hash, oid: item.object_id ?? null, event: eventId }, item.body);
    }
  }
  return b.empty ? null : b.build('capture', now);
}
