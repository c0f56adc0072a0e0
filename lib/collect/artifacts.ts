// The pipeline's first stage: from a commit to eligible artifacts (with their committed
// bytes and namespace) and skipped outcomes. One `git ls-tree` and at most one `git cat-file
// --batch` per run (none when the work tree holds the committed files), whatever the number of
// files, so a 72-feature backfill stays fast.
import { CONFIG_FILE } from '../config.js';
import { UserError } from '../errors.js';
import { BlobReader } from './blobs.js';
import { WorkTreeReader } from './worktree-blobs.js';
import { checkEligibility, isHiddenPath, isIndexable, sha256Hex } from './eligibility.js';
import type { Repo, TreeEntry } from './git.js';
import { hasInvalidEncoding } from './git-paths.js';
import { META_FILE, SPECS_DIR, featureNamespace, projectIdentity } from './identity.js';
import { ARTIFACT_KEY_RE, classify, type Manifest } from './manifest.js';
import type { ArtifactCandidate, ArtifactClassification, EligibleArtifact, FeatureIndex, NamespaceRef, SkipReason, UploadOutcome } from '../types.js';

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
  /** Every scanned feature's index (all its indexed files, changed or not), for its events and snapshot. */
  indexes: FeatureIndex[];
  /** Every scanned file with 047's facts (sync --dry-run shows them). */
  files: ScannedFile[];
  eligible: EligibleArtifact[];
  /** Skipped files, and one entry with artifact_path '' per feature skipped as a whole. */
  skipped: UploadOutcome[];
  /** Features named in `features` that do not exist at the revision. */
  missingFeatures: string[];
}

/** One scanned file: 047's key, class and whether it is indexed, whatever its body verdict. */
export interface ScannedFile extends ArtifactClassification {
  feature_slug: string;
  artifact_path: string;
  /** Null when the bytes were not read (not a regular file). */
  content_hash: string | null;
  size_bytes: number;
  indexed: boolean;
}

/** The revision does not name a commit. */
export class UnknownRevisionError extends UserError {}

/** `kitty-specs/042-x/` or `./kitty-specs/042-x` → `042-x`, so users may pass paths. */
export function normalizeFeatureName(name: string): string {
  let n = name
    .trim()
    .replace(/\\/g, '/')
    .replace(/^(\.\/)+/, '')
    .replace(/\/+$/, '');
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

  const result: CollectResult = {
    rev: sha,
    projectUuid: null,
    projectSlug: null,
    problems: [],
    namespaces: {},
    indexes: [],
    files: [],
    eligible: [],
    skipped: [],
    missingFeatures: [],
  };
  const named = Array.isArray(opts.features) ? [...new Set(opts.features.map(normalizeFeatureName))] : null;

  // Which features to scan, and (with `paths`) which files of each get a body outcome. A feature is
  // always indexed whole, as 047 indexes it: its snapshot covers every file.
  let wanted: Map<string, Set<string>> | null = null;
  if (opts.paths) {
    wanted = new Map();
    for (const p of opts.paths) {
      const split = splitSpecsPath(p);
      if (!split || isHiddenPath(split.feature) || isHiddenPath(split.artifactPath) || (named && !named.includes(split.feature))) continue;
      let set = wanted.get(split.feature);
      if (!set) wanted.set(split.feature, (set = new Set()));
      set.add(split.artifactPath);
    }
    if (wanted.size === 0) return result;
  }
  const listDirs = wanted ? [...wanted.keys()].map((f) => `${SPECS_DIR}/${f}`) : named ? named.map((f) => `${SPECS_DIR}/${f}`) : [SPECS_DIR];

  const blobs = new BlobReader(repo.paths.root);
  // A listed file's blob by its id: the work tree's copy when it is that blob (./worktree-blobs.ts),
  // else git's. A symlink's blob is its target's name, never the file it points to: git's.
  const local = new WorkTreeReader(repo.paths.root);
  const readEntry = async (entry: TreeEntry | undefined): Promise<Buffer | null> => {
    if (!entry || entry.kind === 'submodule') return null;
    const bytes = entry.kind === 'blob' ? await local.read(entry.path, entry.objectId, entry.size) : null;
    return bytes ?? blobs.read(entry.objectId);
  };
  try {
    // The config file is listed too, so it is read by id like the rest (git is asked only for what
    // the work tree does not hold: after a commit, nothing). Without sizes: a blob's size is that of
    // the bytes read (checked against its id), and a symlink's is asked of git below.
    const listing = await repo.listTree(sha, [...listDirs, CONFIG_FILE], { sizes: false });
    const tree = listing.filter((e) => e.path !== CONFIG_FILE);
    const identity = await projectIdentity(blobs, sha, () => readEntry(listing.find((e) => e.path === CONFIG_FILE)));
    let defaultBranch: Promise<string> | null = null;
    const defaultTargetBranch = (): Promise<string> => (defaultBranch ??= repo.defaultTargetBranch());
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
    // A symlink is reported with its blob's size (the target's name), as git lists it: asked of git
    // only when there is one (rare).
    const symlinks = features.flatMap((f) => [...(byFeature.get(f)?.values() ?? [])].filter((e) => e.kind === 'symlink' && e.size === null));
    await Promise.all(symlinks.map(async (e) => (e.size = (await blobs.read(e.objectId).catch(() => null))?.length ?? 0)));

    await Promise.all(
      features.map(async (feature) => {
        const entries = byFeature.get(feature) ?? new Map<string, TreeEntry>();
        if (hasInvalidEncoding(feature)) {
          result.skipped.push({ feature_slug: feature, artifact_path: '', content_hash: null, status: 'skipped', reason: 'invalid_path_encoding', detail: INVALID_NAME });
          return;
        }
        // meta.json by its id from the listing: asking git for `<rev>:<path>` walks the trees again per feature.
        const ns = await featureNamespace({ blobs, rev: sha, featureSlug: feature, projectUuid: identity.uuid!, defaultTargetBranch, readMeta: () => readEntry(entries.get(META_FILE)) });
        if (!ns.ok) {
          result.skipped.push({ feature_slug: feature, artifact_path: '', content_hash: null, status: 'skipped', reason: ns.reason, detail: ns.detail });
          return;
        }
        result.namespaces[feature] = ns.namespace;
        const reported = wanted ? (wanted.get(feature) ?? new Set<string>()) : null;
        const paths = [...new Set([...entries.keys(), ...(reported ?? [])])].sort(compare);
        const index: FeatureIndex = { namespace: ns.namespace, artifacts: [], manifest_known: ns.manifest !== null };
        const judged = await Promise.all(paths.map((p) => judge(() => readEntry(entries.get(p)), ns.manifest, toCandidate(feature, p, entries.get(p)))));
        for (const j of judged) {
          const { candidate: c, facts } = j;
          if (j.indexed) index.artifacts.push({ artifact_path: c.artifact_path, ...facts.classification, content_hash: facts.hash!, size_bytes: facts.size });
          if (c.kind !== 'missing') {
            result.files.push({ feature_slug: feature, artifact_path: c.artifact_path, ...facts.classification, content_hash: facts.hash, size_bytes: facts.size, indexed: j.indexed });
          }
          if (reported && !reported.has(c.artifact_path)) continue;
          if (j.reason !== null) {
            result.skipped.push({
              feature_slug: feature,
              artifact_path: c.artifact_path,
              content_hash: facts.hash,
              status: 'skipped',
              reason: j.reason,
              size_bytes: facts.size,
              ...(j.detail ? { detail: j.detail } : {}),
            });
          } else {
            result.eligible.push({
              ...facts.classification,
              namespace: ns.namespace,
              artifact_path: c.artifact_path,
              content_hash: facts.hash!,
              size_bytes: facts.size,
              body: j.bytes!,
              object_id: c.object_id,
            });
          }
        }
        // A feature gone at this commit has nothing to index and no snapshot.
        if (entries.size > 0) result.indexes.push(index);
      }),
    );
  } finally {
    await blobs.close();
  }

  // Stable order for output and tests: by feature, then path.
  result.eligible.sort((a, b) => compare(a.namespace.feature_slug, b.namespace.feature_slug) || compare(a.artifact_path, b.artifact_path));
  result.skipped.sort((a, b) => compare(a.feature_slug, b.feature_slug) || compare(a.artifact_path, b.artifact_path));
  result.files.sort((a, b) => compare(a.feature_slug, b.feature_slug) || compare(a.artifact_path, b.artifact_path));
  result.indexes.sort((a, b) => compare(a.namespace.feature_slug, b.namespace.feature_slug));
  return result;
}

/** Such a name cannot travel in JSON as itself; sending a look-alike would name a file Git does not have. */
const INVALID_NAME = 'the name is not valid UTF-8 (its bytes are shown as \\xHH); rename it to upload it';

interface Judged {
  candidate: ArtifactCandidate;
  facts: { classification: ArtifactClassification; hash: string | null; size: number };
  /** 047 indexes it (an Indexed event); kitty-sync also needs a valid key. */
  indexed: boolean;
  /** The body verdict: null when eligible. */
  reason: SkipReason | null;
  detail?: string;
  bytes?: Buffer;
}

/** Reads a regular file's committed bytes and gives its index facts and body verdict. */
async function judge(readBlob: () => Promise<Buffer | null>, manifest: Manifest | null, candidate: ArtifactCandidate): Promise<Judged> {
  const classification = classify(manifest, candidate.artifact_path);
  const facts = { classification, hash: null as string | null, size: candidate.size_bytes };
  if (hasInvalidEncoding(candidate.artifact_path)) return { candidate, facts, indexed: false, reason: 'invalid_path_encoding', detail: INVALID_NAME };
  if (candidate.kind !== 'blob') return { candidate, facts, indexed: false, reason: checkEligibility(candidate, null) };
  const bytes = await readBlob();
  if (bytes === null) {
    // Listed by ls-tree yet unreadable: a partial or damaged clone. Reported, never fatal.
    return { candidate, facts, indexed: false, reason: 'deleted', detail: `blob ${candidate.object_id} is not available in this clone` };
  }
  facts.hash = sha256Hex(bytes);
  facts.size = bytes.length;
  let reason = checkEligibility(candidate, bytes);
  const keyOk = ARTIFACT_KEY_RE.test(classification.artifact_key);
  if (!keyOk && reason !== 'not_valid_utf8') reason = 'invalid_artifact_key';
  return {
    candidate,
    facts,
    indexed: keyOk && isIndexable(candidate, bytes),
    reason,
    ...(reason === 'invalid_artifact_key'
      ? { detail: `${candidate.feature_dir}/${candidate.artifact_path}: the name cannot form an artifact key (${classification.artifact_key} does not match ${ARTIFACT_KEY_RE})` }
      : {}),
    ...(reason === null ? { bytes } : {}),
  };
}

function toCandidate(feature: string, artifactPath: string, entry: TreeEntry | undefined): ArtifactCandidate {
  return {
    feature_dir: `${SPECS_DIR}/${feature}`,
    artifact_path: artifactPath,
    kind: entry ? entry.kind : 'missing',
    object_id: entry && entry.kind !== 'submodule' ? entry.objectId : null,
    size_bytes: entry?.size ?? 0,
  };
}

function groupByFeature(tree: TreeEntry[]): Map<string, Map<string, TreeEntry>> {
  const out = new Map<string, Map<string, TreeEntry>>();
  for (const entry of tree) {
    const split = splitSpecsPath(entry.path);
    // Hidden folders and files (`.gitkeep`, `.kittify/…`) are never scanned, as in 047.
    if (!split || isHiddenPath(split.feature) || isHiddenPath(split.artifactPath)) continue;
    let m = out.get(split.feature);
    if (!m) out.set(split.feature, (m = new Map()));
    m.set(split.artifactPath, entry);
  }
  return out;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
