import test from 'ava';
import { countStatuses, publicOutcome, summaryLines } from '../../lib/run/report.js';
import type { UploadOutcome } from '../../lib/types.js';

const o = (feature: string, p: string, status: UploadOutcome['status'], reason: string | null = null): UploadOutcome => ({
  feature_slug: feature,
  artifact_path: p,
  content_hash: 'ab'.repeat(32),
  status,
  reason,
});

const outcomes = [
  o('047-x', 'spec.md', 'uploaded'),
  o('047-x', 'plan.md', 'already_exists'),
  o('047-x', 'meta.json', 'skipped', 'unsupported_surface'),
  o('047-x', 'contracts/a.yaml', 'failed', 'http_400'),
  o('048-y', 'spec.md', 'queued', 'budget_exhausted'),
];

test('one summary line per feature in the SPEC §4 format, plus failed/skipped lines', (t) => {
  const lines = summaryLines(outcomes);
  t.is(lines[0], 'kitty-sync: 047-x: 1 uploaded, 1 already_exists, 0 queued, 1 skipped, 1 failed');
  t.true(lines.some((l) => l.includes('skipped 047-x/meta.json (unsupported_surface)')));
  t.true(lines.some((l) => l.includes('failed 047-x/contracts/a.yaml (http_400)')));
  t.false(lines.some((l) => l.includes('047-x/spec.md')));
  t.true(lines.includes('kitty-sync: 048-y: 0 uploaded, 0 already_exists, 1 queued, 0 skipped, 0 failed'));
  t.is(lines.length, 4);
});

test('--verbose lists every artifact', (t) => {
  const lines = summaryLines(outcomes, true);
  t.is(lines.length, 2 + outcomes.length);
});

test('counts and the public JSON shape', (t) => {
  t.deepEqual(countStatuses(outcomes), { uploaded: 1, already_exists: 1, queued: 1, skipped: 1, failed: 1 });
  t.deepEqual(Object.keys(publicOutcome({ ...outcomes[0], size_bytes: 3, detail: 'x' })), ['feature_slug', 'artifact_path', 'content_hash', 'status', 'reason']);
});
