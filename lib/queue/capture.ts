// Turns collected artifacts into one spool (pack.ts), with the events 047 emits for them: an
// Indexed event before each eligible body, an Indexed event for every other indexed file, then one
// snapshot per feature. Events are stored as opaque JSON envelopes keyed by event_id; the queue
// fills in `lamport_clock` when it sends them (the clock belongs to the queue, which a capture does
// not hold).
import { monotonicFactory } from 'ulid';
import { buildIndexEvent, buildSnapshotEvent, envelopeNodeId, newEventRecord, snapshotFacts, snapshotUuid } from '../collect/events.js';
import { artifactKey } from '../contract/namespace.js';
import type { CommitContext, EligibleArtifact, FeatureIndex } from '../types.js';
import { PackBuilder, type BuiltPack } from './pack.js';
import { snapshotKey } from './schema.js';

// Monotonic: after the first id of a millisecond the next ones increment its random part, which is
// what makes 5,000 ids cost ~15 ms; ulid() draws 80 fresh random bits each time (~0.2 ms per id here).
const nextId = monotonicFactory();

export interface CaptureGroup {
  context: CommitContext;
  eligible: EligibleArtifact[];
  /** Per feature: every indexed file (an Indexed event each) and the snapshot's facts. */
  indexes?: FeatureIndex[];
}

/** The spool for these groups, or null when there is nothing to capture. */
export function buildCapture(groups: CaptureGroup[], now = Date.now()): BuiltPack | null {
  const b = new PackBuilder();
  const node = envelopeNodeId();
  for (const g of groups) {
    const withBody = new Set<string>();
    for (const item of g.eligible) {
      const eventId = nextId(now);
      const key = artifactKey(item.namespace, item.artifact_path);
      withBody.add(`${key}\0${item.content_hash}`);
      b.addEvent(eventId, key, item.content_hash, buildIndexEvent(newEventRecord(item, g.context, node, 0, now, eventId)));
      b.addBody({ ns: item.namespace, path: item.artifact_path, hash: item.content_hash, oid: item.object_id ?? null, event: eventId }, item.body);
    }
    for (const index of g.indexes ?? []) {
      for (const a of index.artifacts) {
        const key = artifactKey(index.namespace, a.artifact_path);
        if (withBody.has(`${key}\0${a.content_hash}`)) continue;
        const eventId = nextId(now);
        b.addEvent(eventId, key, a.content_hash, buildIndexEvent(newEventRecord({ ...a, namespace: index.namespace }, g.context, node, 0, now, eventId)));
      }
      const facts = snapshotFacts(index);
      const eventId = nextId(now);
      const rec = { event_id: eventId, snapshot_id: snapshotUuid(eventId), namespace: index.namespace, ...facts, context: g.context, node_id: node, lamport_clock: 0, timestamp_ms: now };
      b.addEvent(eventId, snapshotKey(index.namespace), JSON.stringify(facts), buildSnapshotEvent(rec), { snapshot: true });
    }
  }
  return b.empty ? null : b.build('capture', now);
}
