// The bench bodies: every eligible document of the shared corpus, and then the same files again
// on other target branches (other namespaces) until there are `count` of them. bench/drain and
// bench/drain-parts send the same bodies.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkEligibility, surfaceOf } from '../lib/collect/eligibility.js';
import type { EligibleArtifact } from '../lib/types.js';

export const PROJECT = '3f2b8c1e-9d4a-4f6b-8a2c-1e5d7f9b0c3a';
const corpus = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus/kitty-specs');

export function corpusArtifacts(count: number): EligibleArtifact[] {
  const files: { feature: string; rel: string; body: Buffer }[] = [];
  const walk = (feature: string, dir: string, prefix: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      if (statSync(full).isDirectory()) walk(feature, full, rel);
      else files.push({ feature, rel, body: readFileSync(full) });
    }
  };
  for (const feature of readdirSync(corpus).sort()) {
    if (/^\d{3}-[a-z0-9-]+$/.test(feature)) walk(feature, path.join(corpus, feature), '');
  }
  const eligible = files.filter((f) => surfaceOf(f.rel) && checkEligibility({ feature_dir: f.feature, artifact_path: f.rel, kind: 'blob', object_id: 'x', size_bytes: f.body.length }, f.body) === null);
  const out: EligibleArtifact[] = [];
  // More bodies than the corpus has: the same files again on other target branches (other namespaces).
  for (let round = 0; out.length < count; round += 1) {
    for (const f of eligible) {
      if (out.length >= count) break;
      out.push({
        namespace: { project_uuid: PROJECT, feature_slug: f.feature, target_branch: round === 0 ? 'main' : `bench/${round}`, mission_key: 'software-dev', manifest_version: '1' },
        artifact_path: f.rel,
        content_hash: createHash('sha256').update(f.body).digest('hex'),
        size_bytes: f.body.length,
        body: f.body,
        artifact_key: `artifact.${path.basename(f.rel)}`,
        artifact_class: 'other',
        wp_id: null,
        step_id: null,
        required_status: 'optional',
      });
    }
  }
  return out;
}
