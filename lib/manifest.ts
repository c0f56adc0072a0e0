// Expected-artifact manifests (the design of spec-kitty feature 042, WP02): which
// documents a mission expects, with a stable key and class per document. They give
// `manifest_version` to the namespace and `artifact_key`/`artifact_class`/`step_id`/
// `required_status` to each index event. A repository may override a mission's
// manifest with `.kittify/missions/<mission>/expected-artifacts.yaml`, read at the commit.
import { parse as parseYaml } from 'yaml';
import type { ArtifactClassification } from './types.js';

export interface ManifestEntry {
  artifact_key: string;
  artifact_class: string;
  /** Glob relative to the feature directory: `*` and `?` stay within a segment, `**` crosses them. */
  path_pattern: string;
  blocking: boolean;
}

export interface Manifest {
  mission_type: string;
  manifest_version: string;
  required_always: ManifestEntry[];
  required_by_step: Record<string, ManifestEntry[]>;
  optional_always: ManifestEntry[];
}

export const BUILTIN_MISSIONS = ['software-dev', 'research', 'documentation'] as const;
export type BuiltinMission = (typeof BUILTIN_MISSIONS)[number];

const e = (artifact_key: string, artifact_class: string, path_pattern: string, blocking = false): ManifestEntry => ({
  artifact_key,
  artifact_class,
  path_pattern,
  blocking,
});

// Documents every mission may carry beyond its step artifacts: the work-package prompts,
// contracts, checklists and research notes the sync surfaces include (SPEC §3).
const COMMON_OPTIONAL: ManifestEntry[] = [
  e('workflow.task.wp', 'workflow', 'tasks/WP*.md'),
  e('output.contracts', 'output', 'contracts/**'),
  e('evidence.checklists', 'evidence', 'checklists/**'),
  e('evidence.research.notes', 'evidence', 'research/**'),
];

export const BUILTIN_MANIFESTS: Readonly<Record<BuiltinMission, Manifest>> = {
  'software-dev': {
    mission_type: 'software-dev',
    manifest_version: '1',
    required_always: [],
    required_by_step: {
      discovery: [],
      specify: [e('input.spec.main', 'input', 'spec.md', true)],
      plan: [e('output.plan.main', 'output', 'plan.md', true), e('output.tasks.list', 'output', 'tasks.md', true)],
      implement: [e('evidence.analysis-report', 'evidence', 'analysis-report.md', true)],
      review: [],
      done: [],
    },
    optional_always: [
      e('evidence.research', 'evidence', 'research.md'),
      e('evidence.gap-analysis', 'evidence', 'gap-analysis.md'),
      e('evidence.quickstart', 'evidence', 'quickstart.md'),
      e('evidence.data-model', 'evidence', 'data-model.md'),
      ...COMMON_OPTIONAL,
    ],
  },
  research: {
    mission_type: 'research',
    manifest_version: '1',
    required_always: [],
    required_by_step: {
      scoping: [e('input.spec.main', 'input', 'spec.md', true)],
      methodology: [e('output.plan.main', 'output', 'plan.md', true)],
      gathering: [e('evidence.research', 'evidence', 'research.md', false)],
      synthesis: [e('output.tasks.list', 'output', 'tasks.md', false)],
      output: [],
      done: [],
    },
    optional_always: [
      e('evidence.quickstart', 'evidence', 'quickstart.md'),
      e('evidence.data-model', 'evidence', 'data-model.md'),
      ...COMMON_OPTIONAL,
    ],
  },
  documentation: {
    mission_type: 'documentation',
    manifest_version: '1',
    required_always: [],
    required_by_step: {
      discover: [e('input.spec.documentation', 'input', 'spec.md', true)],
      audit: [
        e('workflow.plan.documentation', 'workflow', 'plan.md', true),
        e('workflow.tasks.documentation', 'workflow', 'tasks.md', true),
        e('evidence.gap-analysis', 'evidence', 'gap-analysis.md', true),
      ],
      design: [],
      generate: [e('output.docs.generated', 'output', 'docs/**/*.md', false)],
      validate: [],
      publish: [],
    },
    optional_always: [
      e('evidence.research', 'evidence', 'research.md'),
      e('evidence.data-model', 'evidence', 'data-model.md'),
      e('evidence.quickstart', 'evidence', 'quickstart.md'),
      e('evidence.audit-report', 'evidence', 'audit-report.md'),
      ...COMMON_OPTIONAL,
    ],
  },
};

/** A mission without a manifest: version "1", nothing expected, every file falls back. */
export function emptyManifest(mission: string): Manifest {
  return { mission_type: mission, manifest_version: '1', required_always: [], required_by_step: {}, optional_always: [] };
}

export function builtinManifest(mission: string): Manifest {
  return (BUILTIN_MANIFESTS as Record<string, Manifest>)[mission] ?? emptyManifest(mission);
}

export function manifestOverridePath(mission: string): string {
  return `.kittify/missions/${mission}/expected-artifacts.yaml`;
}

export type ManifestParse = { ok: true; manifest: Manifest } | { ok: false; problem: string };

/** Parses and validates an override file; `file` names it in every problem. */
export function parseManifest(text: string, mission: string, file: string): ManifestParse {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    return { ok: false, problem: `${file}: invalid YAML (${firstLine(err)})` };
  }
  if (!isRecord(doc)) return { ok: false, problem: `${file}: not a YAML mapping` };
  const version = doc.manifest_version;
  if (!(typeof version === 'string' && version.trim() !== '') && !(typeof version === 'number' && Number.isFinite(version))) {
    return { ok: false, problem: `${file}: manifest_version is missing or not a string` };
  }
  const problems: string[] = [];
  const entries = (value: unknown, where: string): ManifestEntry[] => {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      problems.push(`${where} is not a list`);
      return [];
    }
    const out: ManifestEntry[] = [];
    value.forEach((item, i) => {
      const at = `${where}[${i}]`;
      if (!isRecord(item)) return void problems.push(`${at} is not a mapping`);
      const { artifact_key, artifact_class, path_pattern, blocking } = item;
      if (typeof artifact_key !== 'string' || artifact_key === '') return void problems.push(`${at}.artifact_key is missing`);
      if (typeof artifact_class !== 'string' || artifact_class === '') return void problems.push(`${at}.artifact_class is missing`);
      if (typeof path_pattern !== 'string' || path_pattern === '') return void problems.push(`${at}.path_pattern is missing`);
      if (path_pattern.startsWith('/') || path_pattern.split('/').includes('..')) {
        return void problems.push(`${at}.path_pattern ${JSON.stringify(path_pattern)} must be relative to the feature directory`);
      }
      if (blocking !== undefined && typeof blocking !== 'boolean') return void problems.push(`${at}.blocking is not true/false`);
      out.push({ artifact_key, artifact_class, path_pattern, blocking: blocking === true });
    });
    return out;
  };
  const required_always = entries(doc.required_always, 'required_always');
  const optional_always = entries(doc.optional_always, 'optional_always');
  const required_by_step: Record<string, ManifestEntry[]> = {};
  if (doc.required_by_step !== undefined && doc.required_by_step !== null) {
    if (!isRecord(doc.required_by_step)) problems.push('required_by_step is not a mapping');
    else for (const [step, list] of Object.entries(doc.required_by_step)) required_by_step[step] = entries(list, `required_by_step.${step}`);
  }
  if (problems.length > 0) return { ok: false, problem: `${file}: ${problems.join('; ')}` };
  return {
    ok: true,
    manifest: { mission_type: mission, manifest_version: String(version).trim(), required_always, required_by_step, optional_always },
  };
}

/** Reads a blob at a revision, e.g. BlobReader.read bound to `<rev>:<path>`. */
export type ReadAtRev = (repoPath: string) => Promise<Buffer | null>;

/**
 * The manifest of `mission` at the commit: the repository's override when present, else the
 * built-in one, else an empty version-"1" manifest.
 */
export async function loadManifest(readAtRev: ReadAtRev, mission: string): Promise<ManifestParse> {
  const file = manifestOverridePath(mission);
  // A mission name with path tricks cannot name an override; it still gets a version.
  if (!/^[A-Za-z0-9._-]+$/.test(mission) || mission.startsWith('.')) return { ok: true, manifest: builtinManifest(mission) };
  const bytes = await readAtRev(file);
  if (bytes === null) return { ok: true, manifest: builtinManifest(mission) };
  return parseManifest(bytes.toString('utf8'), mission, file);
}

interface CompiledEntry {
  entry: ManifestEntry;
  re: RegExp;
  step: string | null;
  required: boolean;
}

const compiled = new WeakMap<Manifest, CompiledEntry[]>();

function compile(manifest: Manifest): CompiledEntry[] {
  let list = compiled.get(manifest);
  if (!list) {
    list = [
      ...manifest.required_always.map((entry) => ({ entry, re: globToRegExp(entry.path_pattern), step: null, required: true })),
      ...Object.entries(manifest.required_by_step).flatMap(([step, entries]) =>
        entries.map((entry) => ({ entry, re: globToRegExp(entry.path_pattern), step, required: true })),
      ),
      ...manifest.optional_always.map((entry) => ({ entry, re: globToRegExp(entry.path_pattern), step: null, required: false })),
    ];
    compiled.set(manifest, list);
  }
  return list;
}

/**
 * Manifest knowledge about one file: the first matching entry (required_always, then the
 * steps in order, then optional_always) gives key, class, step and required status; a file
 * no entry matches is `artifact.<file stem>`, class `other`, optional.
 */
export function classify(manifest: Manifest, artifactPath: string): ArtifactClassification {
  const wpMatch = /^tasks\/(WP\d+)/.exec(artifactPath);
  const wp_id = wpMatch ? wpMatch[1] : null;
  const hit = compile(manifest).find((c) => c.re.test(artifactPath));
  if (hit) {
    return {
      artifact_key: hit.entry.artifact_key,
      artifact_class: hit.entry.artifact_class,
      wp_id,
      step_id: hit.step,
      required_status: hit.required ? 'required' : 'optional',
    };
  }
  return { artifact_key: `artifact.${fileStem(artifactPath)}`, artifact_class: 'other', wp_id, step_id: null, required_status: 'optional' };
}

export function fileStem(artifactPath: string): string {
  const base = artifactPath.slice(artifactPath.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/** `*` any run within a segment, `?` one character, `**` any number of segments. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).trim().split('\n')[0];
}
