// Expected-artifact manifests and the dossier indexer's classification, exactly as spec-kitty
// 047 computes them (../shared/conformance/047/README.md, rules 7-9). The three built-in
// manifests are 047's packaged ones; repository overrides are ignored, as in 047 (SPEC §2).
import type { ArtifactClassification } from '../types.js';

export interface ManifestEntry {
  artifact_key: string;
  artifact_class: string;
  /** A glob as 047 writes it (`spec.md`, `docs/**\/*.md`). */
  path_pattern: string;
}

export interface Manifest {
  mission_type: string;
  manifest_version: string;
  required_always: ManifestEntry[];
  /** Steps in the manifest's order. */
  required_by_step: [step: string, entries: ManifestEntry[]][];
  optional_always: ManifestEntry[];
}

export const BUILTIN_MISSIONS = ['software-dev', 'research', 'documentation'] as const;
export type BuiltinMission = (typeof BUILTIN_MISSIONS)[number];

const e = (artifact_key: string, artifact_class: string, path_pattern: string): ManifestEntry => ({ artifact_key, artifact_class, path_pattern });

export const BUILTIN_MANIFESTS: Readonly<Record<BuiltinMission, Manifest>> = {
  'software-dev': {
    mission_type: 'software-dev',
    manifest_version: '1',
    required_always: [],
    required_by_step: [
      ['discovery', []],
      ['specify', [e('input.spec.main', 'input', 'spec.md')]],
      ['plan', [e('output.plan.main', 'output', 'plan.md'), e('output.tasks.list', 'output', 'tasks.md')]],
      ['implement', []],
      ['review', []],
      ['done', []],
    ],
    optional_always: [
      e('evidence.research', 'evidence', 'research.md'),
      e('evidence.gap-analysis', 'evidence', 'gap-analysis.md'),
      e('evidence.quickstart', 'evidence', 'quickstart.md'),
      e('evidence.data-model', 'evidence', 'data-model.md'),
    ],
  },
  research: {
    mission_type: 'research',
    manifest_version: '1',
    required_always: [],
    required_by_step: [
      ['scoping', [e('input.spec.research', 'input', 'spec.md')]],
      ['methodology', [e('workflow.plan.methodology', 'workflow', 'plan.md')]],
      ['gathering', []],
      ['synthesis', [e('output.findings.main', 'output', 'findings.md')]],
      ['output', [e('output.report.publication', 'output', 'report.md')]],
      ['done', []],
    ],
    optional_always: [
      e('evidence.methodology.detailed', 'evidence', 'methodology.md'),
      e('evidence.synthesis.notes', 'evidence', 'synthesis.md'),
      e('evidence.literature-review', 'evidence', 'literature-review.md'),
      e('evidence.gap-analysis', 'evidence', 'gap-analysis.md'),
      e('evidence.research-log', 'evidence', 'research.md'),
    ],
  },
  documentation: {
    mission_type: 'documentation',
    manifest_version: '1',
    required_always: [],
    required_by_step: [
      ['discover', [e('input.spec.documentation', 'input', 'spec.md')]],
      ['audit', [e('workflow.plan.documentation', 'workflow', 'plan.md'), e('workflow.tasks.documentation', 'workflow', 'tasks.md'), e('evidence.gap-analysis', 'evidence', 'gap-analysis.md')]],
      ['design', [e('workflow.plan.documentation', 'workflow', 'plan.md'), e('workflow.tasks.documentation', 'workflow', 'tasks.md')]],
      ['generate', [e('output.docs.generated', 'output', 'docs/**/*.md')]],
      ['validate', []],
      ['publish', []],
    ],
    optional_always: [
      e('evidence.research', 'evidence', 'research.md'),
      e('evidence.data-model', 'evidence', 'data-model.md'),
      e('evidence.quickstart', 'evidence', 'quickstart.md'),
      e('evidence.audit-report', 'evidence', 'audit-report.md'),
    ],
  },
};

/** 047's manifest for a mission, or null for a mission it does not know (keys fall back; nothing is required). */
export function builtinManifest(mission: string): Manifest | null {
  return (BUILTIN_MANIFESTS as Record<string, Manifest>)[mission] ?? null;
}

/** `manifest_version` of the namespace: the manifest's, and "1" for an unknown mission (as 047). */
export function manifestVersion(mission: string): string {
  return builtinManifest(mission)?.manifest_version ?? '1';
}

/** A valid artifact key (047 drops a feature with any other; kitty-sync skips just that file). */
export const ARTIFACT_KEY_RE = /^[a-zA-Z0-9._-]+$/;

interface Compiled {
  /** Entries in 047's order: required_always, required_by_step in step order, optional_always. */
  entries: { entry: ManifestEntry; re: RegExp }[];
  required: Set<string>;
}

const compiled = new WeakMap<Manifest, Compiled>();

function compile(manifest: Manifest): Compiled {
  let c = compiled.get(manifest);
  if (!c) {
    const ordered = [...manifest.required_always, ...manifest.required_by_step.flatMap(([, list]) => list), ...manifest.optional_always];
    c = {
      entries: ordered.map((entry) => ({ entry, re: globToRegExp(entry.path_pattern) })),
      required: new Set([...manifest.required_always, ...manifest.required_by_step.flatMap(([, list]) => list)].map((x) => x.artifact_key)),
    };
    compiled.set(manifest, c);
  }
  return c;
}

/**
 * 047's indexer facts for one file (rules 7-10): the key comes from the first manifest entry whose
 * pattern matches the file NAME, the class from the first whose pattern matches the relative PATH
 * (else from the name), `required` when the key is one of the manifest's required keys. wp_id and
 * step_id are always null.
 */
export function classify(manifest: Manifest | null, artifactPath: string): ArtifactClassification {
  const name = artifactPath.slice(artifactPath.lastIndexOf('/') + 1);
  const c = manifest ? compile(manifest) : null;
  const byName = c?.entries.find((x) => x.re.test(name));
  const byPath = c?.entries.find((x) => x.re.test(artifactPath));
  const artifact_key = byName ? byName.entry.artifact_key : fallbackKey(name);
  return {
    artifact_key,
    artifact_class: byPath ? byPath.entry.artifact_class : classFromName(name),
    wp_id: null,
    step_id: null,
    required_status: c?.required.has(artifact_key) ? 'required' : 'optional',
  };
}

/** `artifact.` + the lower-cased name without its last suffix, `_` and spaces turned into `-`. */
export function fallbackKey(name: string): string {
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  return `artifact.${stem.toLowerCase().replace(/[_ ]/g, '-')}`;
}

/** 047's class by file name, first hit wins (rule 8). */
export function classFromName(fileName: string): string {
  const n = fileName.toLowerCase();
  if (n === 'spec.md' || n === 'specification.md') return 'input';
  if (n === 'plan.md') return 'workflow';
  if (n === 'tasks.md' || (n.startsWith('wp') && n.endsWith('.md'))) return 'workflow';
  if (n === 'research.md') return 'evidence';
  if (n.includes('test') || n.includes('gap-analysis') || n.includes('log')) return 'evidence';
  if (n.includes('requirements') || n.includes('constraints') || n.includes('architecture-decision') || n.includes('adr')) return 'policy';
  if (n.includes('implementation') || n.includes('code') || n.includes('findings') || n.includes('report')) return 'output';
  if (n.includes('generated') || n.includes('cache')) return 'runtime';
  return 'output';
}

/**
 * A manifest glob as 047 (Python's fnmatch) reads it: `*` matches any run of characters, `/`
 * included, `?` one character, `[...]` a class; case-sensitive.
 */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}
