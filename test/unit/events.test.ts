import test from 'ava';
import { buildIndexEvent, isoTimestamp, newEventRecord } from '../../lib/collect/events.js';
import { backoffMs } from '../../lib/queue/retry.js';
import { artifact, CTX, namespace } from '../support/artifacts.js';

test('newEventRecord + buildIndexEvent give the SPEC §5.1 envelope', (t) => {
  const a = { ...artifact('tasks/WP01-setup.md', '# WP01\n', namespace('012-docs', 'feature/a/b')), artifact_key: 'wp.WP01', artifact_class: 'work_package', wp_id: 'WP01', step_id: 's1' };
  const rec = newEventRecord(a, CTX, 'NODE', 42, Date.UTC(2024, 0, 2, 3, 4, 5, 6));
  const e = buildIndexEvent(rec);
  t.regex(e.event_id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  t.is(e.aggregate_id, '012-docs:wp.WP01');
  t.is(e.timestamp, '2024-01-02T03:04:05.006000+00:00', "047's format: microseconds and +00:00");
  t.is(e.team_slug, 'local');
  t.is(e.lamport_clock, 42);
  t.is(e.node_id, 'NODE');
  t.is(e.payload.relative_path, 'tasks/WP01-setup.md');
  t.is(e.payload.wp_id, 'WP01');
  t.is(e.payload.step_id, 's1');
  t.deepEqual(e.payload.namespace, a.namespace);
  t.is(e.project_uuid, a.namespace.project_uuid);
  // The namespace is copied, not shared: mutating the input later cannot change a queued event.
  a.namespace.feature_slug = '999-changed';
  t.is(buildIndexEvent(rec).payload.feature_slug, '012-docs');
});

test('explicit event id is used as given', (t) => {
  const rec = newEventRecord(artifact('spec.md'), CTX, 'N', 1, 0, '01HZZZZZZZZZZZZZZZZZZZZZZZ');
  t.is(buildIndexEvent(rec).event_id, '01HZZZZZZZZZZZZZZZZZZZZZZZ');
});

test('backoffMs: min(2^(n-1), 300) seconds', (t) => {
  t.deepEqual([0, 1, 2, 3, 4, 9, 10, 11, 1000].map(backoffMs), [0, 1000, 2000, 4000, 8000, 256_000, 300_000, 300_000, 300_000]);
});

test("isoTimestamp: 047's format for each time asked, the same time asked again included", (t) => {
  const a = Date.UTC(2024, 0, 2, 3, 4, 5, 6);
  const b = Date.UTC(2025, 11, 31, 23, 59, 59, 0);
  for (const [ms, text] of [
    [a, '2024-01-02T03:04:05.006000+00:00'],
    [a, '2024-01-02T03:04:05.006000+00:00'],
    [b, '2025-12-31T23:59:59+00:00'],
    [a, '2024-01-02T03:04:05.006000+00:00'],
    [b, '2025-12-31T23:59:59+00:00'],
  ] as const) {
    t.is(isoTimestamp(ms), text);
  }
});
