// Reading many events at once (QueueStore.envelopesOf): envelopes that lie back to back in a pack are
// decoded as one block, yet every event reads back exactly as enqueued, from memory (a pack built in
// this process, in pieces) and from its file, with non-ASCII text, and one damaged envelope costs only
// its own event.
import test from 'ava';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withQueue, type StoredEvent } from '../../lib/queue/queue.js';
import { artifact, CTX, indexed } from '../support/artifacts.js';

function tmpState(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kitty-sync-event-reads-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'state');
}

/** 300 artifacts (~300 KB of envelopes: several pieces of a built pack); with `accents`, every 7th path is not ASCII. */
function manyArtifacts(accents: boolean) {
  return Array.from({ length: 300 }, (_, i) => artifact(accents && i % 7 === 3 ? `research/étude-${i}.md` : `research/note-${i}.md`, `# note ${i}\n${'text '.repeat(i % 50)}\n`));
}

const summary = (events: StoredEvent[]) => events.map((e) => ({ id: e.event_id, path: indexed(e).payload.relative_path, hash: indexed(e).payload.content_hash_sha256, clock: e.envelope.lamport_clock }));

const readsBack = test.macro(async (t, accents: boolean) => {
  const stateDir = tmpState(t);
  const items = manyArtifacts(accents);
  const fromMemory = await withQueue({ stateDir }, (q) => {
    q.enqueue(items, CTX);
    return q.readyEvents(1000);
  });
  t.is(fromMemory.length, items.length);
  t.deepEqual(
    fromMemory.map((e) => indexed(e).payload.relative_path),
    items.map((a) => a.artifact_path),
    'every event, in enqueue order, non-ASCII paths included',
  );
  t.deepEqual(
    fromMemory.map((e) => indexed(e).payload.content_hash_sha256),
    items.map((a) => a.content_hash),
  );
  const clocks = fromMemory.map((e) => e.envelope.lamport_clock);
  t.true(
    clocks.every((c, i) => i === 0 || c > clocks[i - 1]),
    "the queue's own Lamport clock, increasing",
  );
  t.true(
    fromMemory.every((e) => e.envelope.event_id === e.event_id),
    'each envelope is its own row',
  );
  const fromFile = await withQueue({ stateDir }, (q) => q.readyEvents(1000));
  t.deepEqual(summary(fromFile), summary(fromMemory), 'the same events read back from the pack file');
  t.deepEqual(
    fromFile.map((e) => e.envelope),
    fromMemory.map((e) => e.envelope),
  );
});

test('many events read back as enqueued, from the pack built in this process and from its file: ASCII only', readsBack, false);
test('many events read back as enqueued, from the pack built in this process and from its file: some paths not ASCII', readsBack, true);

test('one damaged envelope in the middle of a pack: only its event fails, its neighbours read back whole', async (t) => {
  const stateDir = tmpState(t);
  const items = manyArtifacts(false);
  const before = await withQueue({ stateDir }, (q) => {
    q.enqueue(items, CTX);
    return q.readyEvents(1000);
  });
  const victim = before[150];
  const spool = path.join(stateDir, 'spool');
  const pack = readdirSync(spool).find((f) => f.endsWith('.ksp'))!;
  const bytes = readFileSync(path.join(spool, pack));
  const at = bytes.indexOf(`"event_id":"${victim.event_id}"`);
  t.true(at > 0, 'the envelope is in the pack');
  // Its first byte no longer opens a JSON object: the envelope does not parse.
  bytes[bytes.lastIndexOf('{', at)] = 0x78;
  writeFileSync(path.join(spool, pack), bytes);

  const after = await withQueue({ stateDir }, (q) => ({ events: q.readyEvents(1000), letters: q.deadLetters() }));
  t.deepEqual(summary(after.events), summary(before.filter((e) => e !== victim)), 'every other event reads back as before');
  t.true(
    after.letters.some((d) => d.kind === 'event' && d.reason.startsWith('local_event_corrupt')),
    'the damaged one is a dead letter, with its reason',
  );
});
