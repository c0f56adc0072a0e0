// The pipeline's first stage: from a commit to eligible artifacts (with their committed
// bytes and namespace) and skipped outcomes. One `git ls-tree` and one `git cat-file
// --batch` per run, whatever the number of files, so a 72-feature backfill stays fast.
import { BlobReader } from './blobs.js';
import { checkBeforeRead, checkEligibility, sha256Hex } from './eligibility.js';
import type { Repo, TreeEntry } from './git.js';
import { SPECS_DIR, featureNamespace, projectIdentity } from './identity.js';
import type { ManifestParse } from './manifest.js';
import { classify } from './manifest.js';
import type { ArtifactCandidate, EligibleArtifact, NamespaceRef, SkipReason, UploadOutcome } from './types.js';

export interface CollectOptions {
  /** Revision to read everything at (default HEAD). */
  rev?: string;
  /** Whole features (directory names under kitty-specs/), or 'all'. Default: 'all' unless `paths` is given. */
  features?: string[] | 'all';
  /** Only these repository-relative paths (e.g. the files a commit changed); others under kitty-specs/ are ignored. */
  paths?: string[];
}

export interface CollectResult {
  /** The full commit id everything was read at. */
  rev: string;
  projectUuid: string | null;
  /** `project.slug` (else `project.name`) of .kittify/config.yaml at the revision, for commitContext. */
  projectSlug: string | null;
  /** Run-wide problems (e.g. no project uuid); each names the file and the reason. */
  problems: string[];
  /** Namespace of every feature that was not skipped as a whole, by feature directory name. */
  namespaces: Record<string, NamespaceRef>;
  eligible: EligibleArtifact[];
  /** Skipped files, and one entry with artifact_path '' per feature skipped as a whole. */
  skipped: UploadOutcome[];
  /** Features named in `features` that do not exist at the revision. */
  missingFeatures: string[];
}

/** The revision does not name a commit. */
export class UnknownRevisionError extends Error {}

/** `kitty-specs/042-x/` or `./kitty-specs/042-x` → `042-x`, so users may pass paths. */
export function normalizeFeatureName(name: string): string {
  let n = name.trim().replace(/\\/g, '/').replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (n.startsWith(`${SPECS_DIR}/`)) n = n.slice(SPECS_DIR.length + 1);
  return n;
}

/** Splits `kitty-specs/<feature>/<artifact path>`; null for paths outside a feature directory. */
export function splitSpecsPath(repoPath: string): { feature: string; artifactPath: string } | null {
  const prefix = `${SPECS_DIR}/`;
  if (!repoPath.startsWith(prefix)) return null;
  const rest = repoPath.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return null;
  return { feature: rest.slice(0, slash), artifactPath: rest.slice(slash + 1) };
}

export async function collectArtifacts(repo: Repo, opts: CollectOptions = {}): Promise<CollectResult> {
  const revName = opts.rev ?? 'HEAD';
  const sha = await repo.revParse(revName);
  if (sha === null) throw new UnknownRevisionError(`${revName} does not name a commit in ${repo.paths.root}`);

  const result: CollectResult = { rev: sha, projectUuid: null, projectSlug: null, problems: [], namespaces: {}, eligible: [], skipped: [], missingFeatures: [] };
  const named = Array.isArray(opts.features) ? [...new Set(opts.features.map(normalizeFeatureName))] : null;

  // Which features to list, and (with `paths`) which files of each to report.
  let wanted: Map<string, Set<string>> | null = null;
  if (opts.paths) {
    wanted = new Map();
    for (const p of opts.paths) {
      const split = splitSpecsPath(p);
      if (!split || (named && !named.includes(split.feature))) continue;
      let set = wanted.get(split.feature);
      if (!set) wanted.set(split.feature, (set = new Set()));
      set.add(split.artifactPath);
    }
    if (wanted.size === 0) return result;
  }
  const listDirs = wanted ? [...wanted.keys()].map((f) => `${SPECS_DIR}/${f}`) : named ? named.map((f) => `${SPECS_DIR}/${f}`) : [SPECS_DIR];

  const blobs = new BlobReader(repo.paths.root);
  try {
    const [identity, tree] = await Promise.all([projectIdentity(blobs, sha), repo.listTree(sha, listDirs)]);
    let remoteDefault: Promise<string | null> | null = null;
    const remoteDefaultBranch = (): Promise<string | null> => (remoteDefault ??= repo.remoteDefaultBranch());
    result.projectSlug = identity.slug;
    if (identity.problem || identity.uuid === null) {
      result.problems.push(identity.problem ?? 'no project uuid');
      return result;
    }
    result.projectUuid = identity.uuid;

    const byFeature = groupByFeature(tree);
    if (named && !wanted) {
      result.missingFeatures = named.filter((f) => !byFeature.has(f));
      for (const f of [...byFeature.keys()]) if (!named.includes(f)) byFeature.delete(f);
    }
    const features = wanted ? [...wanted.keys()] : [...byFeature.keys()];
    const manifests = new Map<string, Promise<ManifestParse>>();

    await Promise.all(
      features.map(async (feature) => {
        const entries = byFeature.get(feature) ?? new Map<string, TreeEntry>();
        const ns = await featureNamespace({ blobs, rev: sha, featureSlug: feature, projectUuid: identity.uuid!, remoteDefaultBranch, manifests });
        if (!ns.ok) {
          result.skipped.push({ feature_slug: feature, artifact_path: '', content_hash: null, status: 'skipped', reason: ns.reason, detail: ns.detail });
          return;
        }
        result.namespaces[feature] = ns.namespace;
        const paths = wanted ? [...(wanted.get(feature) ?? [])] : [...entries.keys()];
        await Promise.all(
          paths.map(async (artifactPath) => {
            const candidate = toCandidate(feature, artifactPath, entries.get(artifactPath));
            const outcome = await evaluate(blobs, candidate);
            if ('skip' in outcome) {
              result.skipped.push({
                feature_slug: feature,
                artifact_path: artifactPath,
                content_hash: outcome.hash,
                status: 'skipped',
                reason: outcome.skip,
                size_bytes: candidate.size_bytes,
                ...(outcome.detail ? { detail: outcome.detail } : {}),
              });
              return;
            }
            result.eligible.push({
              ...classify(ns.manifest, artifactPath),
              namespace: ns.namespace,
              artifact_path: artifactPath,
              content_hash: sha256Hex(outcome.bytes),
              size_bytes: outcome.bytes.length,
              body: outcome.bytes,
              object_id: candidate.object_id,
            });
          }),
        );
      }),
    );
  } finally {
    await blobs.close();
  }

  // Stable order for output and tests: by feature, then path.
  result.eligible.sort((a, b) => compare(a.namespace.feature_slug, b.namespace.feature_slug) || compare(a.artifact_path, b.artifact_path));
  result.skipped.sort((a, b) => compare(a.feature_slug, b.feature_slug) || compare(a.artifact_path, b.artifact_path));
  return result;
}

type Evaluation = { bytes: Buffer } | { skip: SkipReason; hash: string | null; detail?: string };

/** Runs the checks, reading the blob only when the path, kind and size allow it. */
async function evaluate(blobs: BlobReader, candidate: ArtifactCandidate): Promise<Evaluation> {
  const early = checkBeforeRead(candidate);
  if (early) return { skip: early, hash: null };
  const bytes = await blobs.read(candidate.object_id!);
  if (bytes === null) {
    // Listed by ls-tree yet unreadable: a partial or damaged clone. Reported, never fatal.
    return { skip: 'deleted', hash: null, detail: `blob ${candidate.object_id} is not available in this clone` };
  }
  const reason = checkEligibility(candidate, bytes);
  if (reason) return { skip: reason, hash: sha256Hex(bytes) };
  return { bytes };
}

function toCandidate(feature: string, artifactPath: string, entry: TreeEntry | undefined): ArtifactCandidate {
  return {
    feature_dir: `${SPECS_DIR}/${feature}`,
    artifact_path: artifactPath,
    kind: entry ? entry.kind : 'missing',
    object_id: entry && entry.kind !== 'submodule' ? entry.objectId : null,
    size_bytes: entry ? entry.size : 0,
  };
}

function groupByFeature(tree: TreeEntry[]): Map<string, Map<string, TreeEntry>> {
  const out = new Map<string, Map<string, TreeEntry>>();
  for (const entry of tree) {
    const split = splitSpecsPath(entry.path);
    if (!split) continue;
    let m = out.get(split.feature);
    if (!m) out.set(split.feature, (m = new Map()));
    m.set(split.artifactPath, entry);
  }
  return out;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
