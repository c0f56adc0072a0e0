// The corpus, committed as ../shared/conformance/047/corpus.json describes it, gives the same facts
// as spec-kitty 047's own client, file by file: every file of every feature, not a sample. Only the
// deliberate differences of SPEC §11 may differ, and each is named where it is allowed.
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readQueue } from '../../lib/queue/queue.js';
import type { DossierEvent } from '../../lib/types.js';
import { cleanEnv, cli, PROJECT_ROOT } from '../support/proc.js';
import { commitAll, copyCorpusFeatures, gitOk, makeRepo, type TestRepo } from '../support/git.js';

const CONFORMANCE = process.env.KITTY_SYNC_CONFORMANCE ?? path.resolve(PROJECT_ROOT, '../shared/conformance/047');

interface GoldenFile {
  path: string;
  indexed: boolean;
  artifact_key: string | null;
  artifact_class: string | null;
  wp_id: null;
  step_id: null;
  required_status: 'required' | 'optional' | null;
  content_hash: string | null;
  size_bytes: number | null;
  body: string | null;
  reason_code: string | null;
  aggregate_id: string | null;
}
interface GoldenFeature {
  feature_slug: string;
  namespace: Record<string, string>;
  event_counts: Record<string, number>;
  files: GoldenFile[];
}
interface Golden {
  source_repo: { branch: string; origin: string; origin_HEAD: string; config_yaml: string };
  features: GoldenFeature[];
}
interface Row {
  feature_slug: string;
  artifact_path: string;
  content_hash: string | null;
  size_bytes: number | null;
  status: string;
  reason: string | null;
  artifact_key: string | null;
  artifact_class: string | null;
  required_status: string | null;
  indexed: boolean;
}

const golden = JSON.parse(readFileSync(path.join(CONFORMANCE, 'corpus.json'), 'utf8')) as Golden;

/**
 * A repository like the one 047 ran in: the corpus on `main`, origin acme/widgets with origin/HEAD →
 * main. Built once for the file (copying and committing the whole corpus is most of a test's cost):
 * the dry run reads it and changes nothing, and the sync writes only its own queue in .git/kitty-sync/.
 */
let golden047: TestRepo | undefined;
test.before(async () => {
  const r = await makeRepo({ uuid: null, files: { '.kittify/config.yaml': golden.source_repo.config_yaml } });
  golden047 = r;
  await copyCorpusFeatures(
    r,
    golden.features.map((f) => f.feature_slug),
  );
  const sha = await commitAll(r, 'corpus');
  const env = cleanEnv();
  await gitOk(r.root, ['remote', 'add', 'origin', golden.source_repo.origin], env);
  await gitOk(r.root, ['update-ref', `refs/remotes/origin/${golden.source_repo.origin_HEAD}`, sha], env);
  await gitOk(r.root, ['symbolic-ref', 'refs/remotes/origin/HEAD', `refs/remotes/origin/${golden.source_repo.origin_HEAD}`], env);
});
test.after.always(async () => {
  await golden047?.cleanup();
});

function goldenRepo(): TestRepo {
  if (!golden047) throw new Error('the golden repository is not built yet');
  return golden047;
}

/**
 * The deliberate differences (SPEC §11) a corpus file may show, by name; null when it has none.
 * Symlinks, invalid keys and unparseable meta.json do not occur in the corpus: tests elsewhere
 * (test/e2e/bad-input.test.ts, test/unit) cover them.
 */
function deliberateDifference(g: GoldenFile, ours: Row): string | null {
  // Valid UTF-8 containing NUL: 047 uploads it, kitty-sync calls it `binary` (it still indexes it).
  if (g.body === 'queued' && ours.status === 'skipped' && ours.reason === 'binary') return 'valid UTF-8 with NUL is binary';
  return null;
}

test('sync --dry-run --json: the namespace, keys, classes, required status, indexing and verdict of every corpus file match 047', async (t) => {
  const r = goldenRepo();
  const run = await cli(r.root, ['sync', '--all', '--dry-run', '--json'], cleanEnv({ KITTY_SYNC_SERVER_URL: '' }));
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as { namespaces: Record<string, Record<string, string>>; outcomes: Row[] };
  const rows = new Map(report.outcomes.map((o) => [`${o.feature_slug}\u0000${o.artifact_path}`, o]));
  const mismatches: string[] = [];
  let compared = 0;
  for (const f of golden.features) {
    t.deepEqual(report.namespaces[f.feature_slug], f.namespace, `namespace of ${f.feature_slug}`);
    for (const g of f.files) {
      const key = `${f.feature_slug}\u0000${g.path}`;
      const ours = rows.get(key);
      rows.delete(key);
      if (g.reason_code === 'other:hidden_path_not_scanned') {
        // 047 never scans hidden paths: no outcome at all.
        if (ours) mismatches.push(`${f.feature_slug}/${g.path}: hidden, yet reported`);
        continue;
      }
      if (!ours) {
        mismatches.push(`${f.feature_slug}/${g.path}: no outcome`);
        continue;
      }
      compared++;
      const diff = deliberateDifference(g, ours);
      const want = {
        artifact_key: g.artifact_key,
        artifact_class: g.artifact_class,
        required_status: g.required_status,
        indexed: g.indexed,
        // 047 has no hash for a file it treats as not present (''); kitty-sync still names the blob's.
        content_hash: g.content_hash === '' && !g.indexed ? ours.content_hash : g.content_hash,
        size_bytes: g.size_bytes,
        verdict: diff ? 'deliberate' : g.body === 'queued' ? 'queued' : g.reason_code,
      };
      const got = {
        artifact_key: ours.artifact_key,
        artifact_class: ours.artifact_class,
        required_status: ours.required_status,
        indexed: ours.indexed,
        content_hash: ours.content_hash,
        size_bytes: ours.size_bytes,
        verdict: diff ? 'deliberate' : ours.status === 'queued' ? 'queued' : ours.reason,
      };
      if (JSON.stringify(want) !== JSON.stringify(got)) mismatches.push(`${f.feature_slug}/${g.path}: 047 ${JSON.stringify(want)} / kitty-sync ${JSON.stringify(got)}`);
    }
  }
  for (const o of rows.values()) mismatches.push(`${o.feature_slug}/${o.artifact_path}: reported by kitty-sync, absent from corpus.json`);
  t.deepEqual(mismatches, []);
  t.is(
    compared,
    golden.features.reduce((n, f) => n + f.files.filter((g) => g.reason_code !== 'other:hidden_path_not_scanned').length, 0),
  );
});

test('sync --all queues the events 047 emits: one Indexed per indexed file with its payload, one snapshot per feature', async (t) => {
  const r = goldenRepo();
  const stateDir = path.join(r.root, '.git', 'kitty-sync');
  const run = await cli(r.root, ['sync', '--all', '--json'], cleanEnv({ KITTY_SYNC_SERVER_URL: '' }));
  t.is(run.code, 75, run.stderr); // queued, not sent: no server
  const events = await readQueue({ stateDir }, (q) => q.readyEvents(100_000, { force: true }).map((e) => e.envelope));
  const byFeature = new Map<string, DossierEvent[]>();
  for (const e of events) byFeature.set(e.payload.feature_slug, [...(byFeature.get(e.payload.feature_slug) ?? []), e]);
  const mismatches: string[] = [];
  for (const f of golden.features) {
    const mine = byFeature.get(f.feature_slug) ?? [];
    const counts: Record<string, number> = {};
    for (const e of mine) counts[e.event_type] = (counts[e.event_type] ?? 0) + 1;
    if (JSON.stringify(counts) !== JSON.stringify(f.event_counts)) mismatches.push(`${f.feature_slug}: events ${JSON.stringify(counts)}, 047 ${JSON.stringify(f.event_counts)}`);
    // The snapshot comes after the feature's Indexed events.
    if (mine.at(-1)?.event_type !== 'MissionDossierSnapshotComputed') mismatches.push(`${f.feature_slug}: the snapshot is not last`);
    const indexed = new Map(mine.flatMap((e) => (e.event_type === 'MissionDossierArtifactIndexed' ? [[e.payload.relative_path, e] as const] : [])));
    for (const g of f.files.filter((x) => x.indexed)) {
      const e = indexed.get(g.path);
      const want = { aggregate_id: g.aggregate_id, key: g.artifact_key, cls: g.artifact_class, wp: g.wp_id, step: g.step_id, req: g.required_status, hash: g.content_hash, size: g.size_bytes, ns: f.namespace };
      const got = e && {
        aggregate_id: e.aggregate_id,
        key: e.payload.artifact_key,
        cls: e.payload.artifact_class,
        wp: e.payload.wp_id,
        step: e.payload.step_id,
        req: e.payload.required_status,
        hash: e.payload.content_hash_sha256,
        size: e.payload.size_bytes,
        ns: e.payload.namespace,
      };
      if (JSON.stringify(want) !== JSON.stringify(got)) mismatches.push(`${f.feature_slug}/${g.path}: 047 ${JSON.stringify(want)} / kitty-sync ${JSON.stringify(got)}`);
    }
  }
  t.deepEqual(mismatches, []);
});
