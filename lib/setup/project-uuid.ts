// Writes the project uuid (SPEC §2: `.kittify/config.yaml` → `project.uuid`) when a
// repository has none. The file belongs to the user and to spec-kitty, so it goes through
// the yaml Document API (comments, key order and quoting survive) and is never
// overwritten when it cannot be understood.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { isMap, isNode, parseDocument, type Document, type YAMLMap } from 'yaml';
import { isDeepStrictEqual } from 'node:util';
import { configYamlPath } from '../config.js';
import { firstLine, UserError } from '../errors.js';
import { isUuid } from '../contract/namespace.js';

export interface ProjectUuidResult {
  /** Absolute path of .kittify/config.yaml. */
  file: string;
  uuid: string;
  /** True when this call wrote the uuid (the user should commit the file). */
  written: boolean;
  /** True when the file did not exist before. */
  createdFile: boolean;
  /** False when an existing uuid is not a UUID v4 (kept as is; uploads will be refused). */
  valid: boolean;
}

/** The config file exists but cannot be used safely; it was left untouched. */
export class ConfigFileError extends UserError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}; the file was left unchanged — fix it and run install again`);
    this.name = 'ConfigFileError';
  }
}

/** Ensures `project.uuid` exists in the work tree's .kittify/config.yaml; writes one when missing. */
export function ensureProjectUuid(repoRoot: string, makeUuid: () => string = randomUUID): ProjectUuidResult {
  const file = configYamlPath(repoRoot);
  let text = '';
  let createdFile = false;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigFileError(file, `cannot be read (${errMessage(err)})`);
    createdFile = true;
  }

  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new ConfigFileError(file, `invalid YAML (${firstLine(doc.errors[0].message)})`);
  if (doc.contents !== null && !isMap(doc.contents)) throw new ConfigFileError(file, 'the top level is not a mapping');
  const project = doc.get('project', true);
  if (project !== undefined && project !== null && !isMap(project) && !isNullScalar(project)) {
    throw new ConfigFileError(file, "'project' is not a mapping");
  }
  const existing: unknown = doc.getIn(['project', 'uuid']);
  if (typeof existing === 'string' && existing.trim() !== '') {
    return { file, uuid: existing, written: false, createdFile: false, valid: isUuid(existing.trim()) };
  }
  if (existing !== undefined && existing !== null && existing !== '') {
    throw new ConfigFileError(file, "'project.uuid' is not a string");
  }

  const uuid = makeUuid();
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic.sync(file, withUuid(text, doc, uuid));
  return { file, uuid, written: true, createdFile, valid: true };
}

/**
 * The file's text with `project.uuid` added. A textual insertion keeps every other byte
 * (spacing before comments, sequence indentation); the Document API locates the spot and
 * checks the result. Layouts it cannot patch safely fall back to re-serialising the
 * Document, which keeps comments and values but may normalise spacing.
 */
export function withUuid(text: string, doc: Document.Parsed, uuid: string): string {
  const patched = insertUuidText(text, doc, uuid);
  if (patched !== null && sameWithUuid(text, patched, uuid)) return patched;
  const copy = doc.clone();
  const project = copy.get('project', true);
  if (isNullScalar(project)) copy.set('project', copy.createNode({ uuid }));
  else copy.setIn(['project', 'uuid'], uuid);
  // lineWidth 0: never re-fold the user's long strings.
  return copy.toString({ lineWidth: 0, indentSeq: false, flowCollectionPadding: false });
}

function insertUuidText(text: string, doc: Document.Parsed, uuid: string): string | null {
  const root = doc.contents;
  if (root === null || (isMap(root) && !root.flow)) {
    const project = root === null ? undefined : root.get('project', true);
    if (project === undefined) {
      // No project section: append one (top-level keys start at column 0 in a block map).
      if (root !== null && !startsAtColumn0(text, root)) return null;
      const sep = text === '' || text.endsWith('\n') ? '' : '\n';
      return `${text}${sep}project:\n  uuid: ${uuid}\n`;
    }
    if (isMap(project) && !project.flow && project.items.length > 0) {
      const firstKey = project.items[0].key;
      const start = isNode(firstKey) ? firstKey.range?.[0] : undefined;
      if (start === undefined) return null;
      const lineStart = text.lastIndexOf('\n', start - 1) + 1;
      const indent = text.slice(lineStart, start);
      if (!/^ +$/.test(indent)) return null;
      // As the first key of the section, so the insertion point is a whole line.
      return `${text.slice(0, lineStart)}${indent}uuid: ${uuid}\n${text.slice(lineStart)}`;
    }
  }
  return null;
}

function startsAtColumn0(text: string, root: YAMLMap): boolean {
  const first = root.items[0]?.key;
  const start = isNode(first) ? first.range?.[0] : undefined;
  return start !== undefined && (start === 0 || text[start - 1] === '\n');
}

/** True when `after` parses to `before` plus project.uuid and nothing else. */
function sameWithUuid(before: string, after: string, uuid: string): boolean {
  const a = parseDocument(after);
  if (a.errors.length > 0) return false;
  const expected = (parseDocument(before).toJS() ?? {}) as Record<string, unknown>;
  const project = expected.project;
  expected.project = { ...(project && typeof project === 'object' ? project : {}), uuid };
  return isDeepStrictEqual(a.toJS(), expected);
}

function isNullScalar(node: unknown): boolean {
  return typeof node === 'object' && node !== null && 'value' in node && (node as { value: unknown }).value === null;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
