// Installs and removes kitty-sync's Git hooks (SPEC §7, issue 5).
//
// Two layers, so that nothing is executed from repository content and GUI Git clients
// with a minimal PATH still work:
// - the LAUNCHERS, machine-local, in <git common dir>/kitty-sync/hooks/, generated from
//   hooks/* with the absolute paths of node and of the CLI (shared by all worktrees);
// - the ENTRIES Git runs: in a husky-managed repo one marked line in .husky/<hook>;
//   elsewhere a small shim in the hooks directory Git uses, which keeps and still runs
//   any hook that was there (moved aside to <hook>.kitty-sync-orig).
// lefthook and the pre-commit framework own .git/hooks themselves: kitty-sync registers with them
// through their own chaining (see ./hook-managers.ts), so either may install before or after it.
// Everything is idempotent, and uninstall undoes exactly what install did.
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, rmdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HookName } from '../config.js';
import { firstLine, UserError } from '../errors.js';
import { gitClient, openRepo, type Repo } from '../collect/git.js';
import { ensureProjectUuid, type ProjectUuidResult } from './project-uuid.js';
import {
  addLefthookEntries,
  excludeLine,
  HookManagerError,
  isLefthookHook,
  isPreCommitHook,
  lefthookConfig,
  lefthookHasEntry,
  LEFTHOOK_OLD_SUFFIX,
  PRE_COMMIT_LEGACY_SUFFIX,
  removeLefthookEntries,
} from './hook-managers.js';
import { secureStateDirs } from '../state-perms.js';

export const HOOK_NAMES: readonly HookName[] = ['post-commit', 'pre-push'];
/** Where the launchers live, relative to the git common dir. */
export const LAUNCHER_SUBDIR = path.join('kitty-sync', 'hooks');
/** Suffix of a pre-existing hook moved aside by install. */
export const ORIG_SUFFIX = '.kitty-sync-orig';
/** Marks a shim written by install (so a second install and uninstall recognise it). */
export const SHIM_MARKER = '# kitty-sync:entry';
/** Ends the one line install adds to a husky script. */
export const HUSKY_MARKER = '# kitty-sync';
const MANIFEST = 'install.json';
const SHEBANG = '#!/usr/bin/env sh\n';

export interface RepoLayout {
  /** Work tree root. */
  root: string;
  /** `git rev-parse --git-common-dir`, absolute: shared by all worktrees. */
  commonDir: string;
  /** The hooks directory Git uses (core.hooksPath honoured, relative values against root). */
  hooksDir: string;
  /** husky-managed: the directory of the user's hook scripts (e.g. <root>/.husky), else null. */
  huskyDir: string | null;
  launcherDir: string;
}

export interface InstallOptions {
  /** Any directory inside the repository (default: cwd). */
  repo?: string;
  /** Absolute path of node recorded in the launchers (default: this process's node). */
  nodePath?: string;
  /** Absolute path of the CLI recorded in the launchers (default: this package's dist/bundle/kitty-sync.js). */
  cliPath?: string;
  /** Directory holding the launcher templates (default: this package's hooks/). */
  templatesDir?: string;
  /** Skip writing the project uuid (tests of the hook layer only). */
  skipProjectUuid?: boolean;
}

export type ChangeKind = 'created' | 'updated' | 'unchanged' | 'moved' | 'restored' | 'removed' | 'appended' | 'line-removed';

export interface Change {
  path: string;
  kind: ChangeKind;
  /** What it is, for the user: "launcher", "hook", "original hook", "husky script". */
  what: string;
}

export interface InstallResult {
  layout: RepoLayout;
  mode: 'hooks' | 'husky';
  changes: Change[];
  /** True when nothing had to change. */
  alreadyInstalled: boolean;
  projectUuid: ProjectUuidResult | null;
}

export interface UninstallResult {
  layout: RepoLayout;
  changes: Change[];
  /** True when nothing of kitty-sync's was found. */
  notInstalled: boolean;
}

/** A repository layout install cannot handle safely (bad usage, exit 2). */
export class InstallError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'InstallError';
  }
}

/** What install did to a husky script, so uninstall restores it byte for byte. */
interface HuskyRecord {
  file: string;
  created: boolean;
  /** A newline was added because the file did not end with one. */
  addedNewline: boolean;
}
/** What install did for lefthook: its local configuration file, and the ignore line it added. */
interface LefthookRecord {
  file: string;
  created: boolean;
  /** The line added to <common dir>/info/exclude (null: the file was already ignored). */
  excludeLine: string | null;
}
interface Manifest {
  version: 1;
  husky: HuskyRecord[];
  lefthook?: LefthookRecord;
}

export async function resolveLayout(dir: string): Promise<RepoLayout> {
  const start = path.resolve(dir);
  if (!existsSync(start)) throw new InstallError(`${start}: no such directory`);
  let repo: Repo;
  try {
    repo = await openRepo(start);
  } catch (err) {
    throw new InstallError(firstLine(err));
  }
  const { root, commonDir } = repo.paths;
  const hooksDir = await repo.hooksDir();
  return { root, commonDir, hooksDir, huskyDir: huskyDirFor(hooksDir), launcherDir: path.join(commonDir, LAUNCHER_SUBDIR) };
}

/** husky 9 points core.hooksPath at <dir>/_ (its wrappers run <dir>/<hook>); husky 5-8 at <dir> itself. */
function huskyDirFor(hooksDir: string): string | null {
  if (path.basename(hooksDir) === '_' && (path.basename(path.dirname(hooksDir)) === '.husky' || existsSync(path.join(hooksDir, 'h')))) {
    return path.dirname(hooksDir);
  }
  if (existsSync(path.join(hooksDir, '_', 'husky.sh')) && !existsSync(path.join(hooksDir, '_', 'h'))) return hooksDir;
  return null;
}

/**
 * The CLI the launchers run: the single-file bundle (dist/bundle, built by `npm run build`), which
 * starts faster on every commit than the module tree tsc emits; that tree when no bundle exists.
 */
export function defaultCliPath(): string {
  const bundle = path.join(packageRoot(), 'dist', 'bundle', 'kitty-sync.js');
  return existsSync(bundle) ? bundle : path.join(packageRoot(), 'dist', 'bin', 'kitty-sync.js');
}

export function defaultTemplatesDir(): string {
  return path.join(packageRoot(), 'hooks') + path.sep;
}

/** kitty-sync's own folder: the parent of the dist/ this module runs from (dist/bundle/ or dist/lib/setup/). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (path.basename(dir) !== 'dist' && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.dirname(dir);
}

/** A launcher script: the template with node's and the CLI's absolute paths filled in. */
export function renderLauncher(template: string, nodePath: string, cliPath: string): string {
  return template.replaceAll('@KITTY_SYNC_NODE@', () => shQuote(nodePath)).replaceAll('@KITTY_SYNC_CLI@', () => shQuote(cliPath));
}

/**
 * The shim written into the hooks directory Git uses. `nextToCommonDir`: the hooks dir is
 * <common dir>/hooks, so the launcher is found relative to the shim without forking git
 * (a millisecond or two on every commit); elsewhere (core.hooksPath, possibly shared by
 * several repositories) each repository's own launcher is looked up through git.
 */
export function shimScript(hook: HookName, nextToCommonDir: boolean): string {
  const viaGit = `"$(git rev-parse --git-common-dir)/kitty-sync/hooks/${hook}"`;
  const head = [
    '#!/bin/sh',
    `${SHIM_MARKER} (written by \`kitty-sync install\`; \`kitty-sync uninstall\` puts back what was here)`,
    '# Runs the hook that was here before (if any), then the machine-local kitty-sync launcher.',
    ...(nextToCommonDir ? [`launcher="\${0%/*}/../kitty-sync/hooks/${hook}"`, `[ -f "$launcher" ] || launcher=${viaGit}`] : [`launcher=${viaGit}`]),
    // One place per hook for the original, wherever the shim itself sits (pre-commit runs it as
    // <hook>.legacy, and a shim lefthook moved to <hook>.old is put back by \`lefthook uninstall\`).
    `orig="\${0%/*}/${hook}${ORIG_SUFFIX}"`,
  ];
  if (hook === 'pre-push') {
    return [
      ...head,
      'if [ -x "$orig" ]; then',
      "  # Both hooks need Git's ref lines: read stdin once (x keeps trailing newlines).",
      '  input=$(cat; echo x)',
      '  input=${input%x}',
      '  # The original verdict stands: if it refuses the push nothing is pushed, so nothing to sync.',
      '  printf \'%s\' "$input" | "$orig" "$@" || exit $?',
      '  [ -f "$launcher" ] && printf \'%s\' "$input" | sh "$launcher" "$@"',
      '  exit 0',
      'fi',
      '[ -f "$launcher" ] && exec sh "$launcher" "$@"',
      'exit 0',
      '',
    ].join('\n');
  }
  return [
    ...head,
    'if [ -x "$orig" ]; then',
    '  "$orig" "$@"',
    '  status=$?',
    '  [ -f "$launcher" ] && sh "$launcher" "$@"',
    '  exit $status',
    'fi',
    '[ -f "$launcher" ] && exec sh "$launcher" "$@"',
    'exit 0',
    '',
  ].join('\n');
}

/** The one line added to a husky script: runs the launcher when this machine has one. */
export function huskyLine(hook: HookName): string {
  // husky runs scripts with `sh -e`: the trailing `|| true` keeps a missing launcher or a
  // failed git call from failing the user's script.
  return `kitty_sync_hook="$(git rev-parse --git-common-dir)/kitty-sync/hooks/${hook}" && [ -f "$kitty_sync_hook" ] && sh "$kitty_sync_hook" "$@" || true ${HUSKY_MARKER}`;
}

export async function install(opts: InstallOptions = {}): Promise<InstallResult> {
  const layout = await resolveLayout(opts.repo ?? process.cwd());
  const nodePath = path.resolve(opts.nodePath ?? process.execPath);
  const cliPath = path.resolve(opts.cliPath ?? defaultCliPath());
  const templatesDir = opts.templatesDir ?? defaultTemplatesDir();
  const templates = new Map<HookName, string>();
  for (const hook of HOOK_NAMES) {
    const file = path.join(templatesDir, hook);
    try {
      templates.set(hook, readFileSync(file, 'utf8'));
    } catch (err) {
      throw new InstallError(`${file}: launcher template cannot be read (${firstLine(err)}); reinstall kitty-sync`);
    }
  }

  // The uuid first: a config file we must not touch stops install before anything changes.
  const projectUuid = opts.skipProjectUuid ? null : ensureProjectUuid(layout.root);
  const lefthook = !layout.huskyDir && lefthookConfig(layout.root) !== null;
  if (!layout.huskyDir) checkShimsPossible(layout, lefthook);

  const changes: Change[] = [];
  mkdirSync(layout.launcherDir, { recursive: true });
  for (const hook of HOOK_NAMES) {
    const file = path.join(layout.launcherDir, hook);
    changes.push({ path: file, what: 'launcher', kind: writeIfDifferent(file, renderLauncher(templates.get(hook)!, nodePath, cliPath)) });
  }

  const manifest = readManifest(layout);
  if (layout.huskyDir) {
    // husky 5-8 (hooksPath is the scripts' directory itself): Git executes a new script directly.
    const shebang = layout.huskyDir === layout.hooksDir ? SHEBANG : '';
    for (const hook of HOOK_NAMES) changes.push(addHuskyLine(layout.huskyDir, hook, manifest, shebang));
    writeManifest(layout, manifest);
  } else {
    mkdirSync(layout.hooksDir, { recursive: true });
    const nextToCommonDir = layout.hooksDir === path.join(layout.commonDir, 'hooks');
    // lefthook runs kitty-sync from its own configuration, whether its hooks are installed yet or not.
    if (lefthook) changes.push(...(await registerWithLefthook(layout, manifest)));
    for (const hook of HOOK_NAMES) changes.push(...writeShim(layout.hooksDir, hook, nextToCommonDir, lefthook));
    if (manifest.lefthook) writeManifest(layout, manifest);
  }
  secureStateDirs([path.dirname(layout.launcherDir)]);
  return {
    layout,
    mode: layout.huskyDir ? 'husky' : 'hooks',
    changes,
    alreadyInstalled: changes.every((c) => c.kind === 'unchanged'),
    projectUuid,
  };
}

export async function uninstall(opts: { repo?: string } = {}): Promise<UninstallResult> {
  const layout = await resolveLayout(opts.repo ?? process.cwd());
  const changes: Change[] = [];
  const manifest = readManifest(layout);
  // Both kinds of entry are looked for: the repo may have switched to or from husky since install.
  const huskyDir = layout.huskyDir ?? path.join(layout.root, '.husky');
  for (const hook of HOOK_NAMES) {
    const change = removeHuskyLine(path.join(huskyDir, hook), hook, manifest);
    if (change) changes.push(change);
  }
  for (const hook of HOOK_NAMES) changes.push(...removeShim(layout.hooksDir, hook));
  changes.push(...unregisterFromLefthook(layout, manifest));
  for (const hook of HOOK_NAMES) {
    const file = path.join(layout.launcherDir, hook);
    if (existsSync(file)) {
      rmSync(file);
      changes.push({ path: file, what: 'launcher', kind: 'removed' });
    }
  }
  rmSync(path.join(layout.launcherDir, MANIFEST), { force: true });
  removeDirIfEmpty(layout.launcherDir);
  // The queue and log in <common dir>/kitty-sync stay: undelivered work is never dropped.
  return { layout, changes, notInstalled: changes.length === 0 };
}

function checkShimsPossible(layout: RepoLayout, lefthook: boolean): void {
  for (const hook of HOOK_NAMES) {
    const file = path.join(layout.hooksDir, hook);
    const slot = shimSlot(file, lefthook);
    if (slot && lexists(slot) && !isOurShim(slot) && lexists(file + ORIG_SUFFIX)) {
      throw new InstallError(
        `${slot}: both a hook and ${path.basename(file + ORIG_SUFFIX)} exist and the hook is not kitty-sync's; ` + 'merge them by hand (or remove the .kitty-sync-orig file) and run install again',
      );
    }
  }
}

/**
 * Where kitty-sync's shim goes for a hook: the hook file itself, or, when another manager owns it,
 * the file that manager runs or restores (pre-commit: <hook>.legacy, run first; lefthook: <hook>.old,
 * put back by `lefthook uninstall`, while lefthook runs kitty-sync from lefthook-local.yml). Null:
 * lefthook owns the hook and <hook>.old holds the user's own hook (lefthook's configuration suffices).
 */
function shimSlot(file: string, lefthook: boolean): string | null {
  if (isPreCommitHook(file)) return file + PRE_COMMIT_LEGACY_SUFFIX;
  if (lefthook && isLefthookHook(file)) {
    const old = file + LEFTHOOK_OLD_SUFFIX;
    return !lexists(old) || isOurShim(old) ? old : null;
  }
  return file;
}

/** Every place a shim of ours can be for a hook. */
function shimSlots(file: string): string[] {
  return [file, file + PRE_COMMIT_LEGACY_SUFFIX, file + LEFTHOOK_OLD_SUFFIX];
}

function writeShim(hooksDir: string, hook: HookName, nextToCommonDir: boolean, lefthook: boolean): Change[] {
  const file = path.join(hooksDir, hook);
  const slot = shimSlot(file, lefthook);
  const changes: Change[] = [];
  // A shim of ours elsewhere is either never run or (as <hook>.old) would make lefthook's next
  // install fail on the existing name: only the one in the slot stays.
  for (const other of shimSlots(file)) {
    if (other !== slot && isOurShim(other)) {
      rmSync(other);
      changes.push({ path: other, what: 'hook (superseded)', kind: 'removed' });
    }
  }
  if (slot === null) return changes;
  if (lexists(slot) && !isOurShim(slot)) {
    // rename keeps the original's bytes, mode and symlink-ness for uninstall.
    renameSync(slot, file + ORIG_SUFFIX);
    changes.push({ path: file + ORIG_SUFFIX, what: 'original hook (still runs first)', kind: 'moved' });
  }
  const what = slot === file ? 'hook' : slot.endsWith(PRE_COMMIT_LEGACY_SUFFIX) ? 'hook (run by pre-commit)' : 'hook (restored by lefthook uninstall)';
  changes.push({ path: slot, what, kind: writeIfDifferent(slot, shimScript(hook, nextToCommonDir)) });
  return changes;
}

function removeShim(hooksDir: string, hook: HookName): Change[] {
  const file = path.join(hooksDir, hook);
  const changes: Change[] = [];
  let freed: string | null = null;
  for (const slot of shimSlots(file)) {
    if (!isOurShim(slot)) continue;
    rmSync(slot);
    changes.push({ path: slot, what: 'hook', kind: 'removed' });
    freed ??= slot;
  }
  // The original goes back where the shim was: the hook itself, or the file the manager runs or restores.
  if (freed && lexists(file + ORIG_SUFFIX)) {
    renameSync(file + ORIG_SUFFIX, freed);
    changes.push({ path: freed, what: 'original hook', kind: 'restored' });
  }
  return changes;
}

async function registerWithLefthook(layout: RepoLayout, manifest: Manifest): Promise<Change[]> {
  let added: ReturnType<typeof addLefthookEntries>;
  try {
    added = addLefthookEntries(layout.root, HOOK_NAMES);
  } catch (err) {
    if (err instanceof HookManagerError) throw new InstallError(err.message);
    throw err;
  }
  const changes: Change[] = [{ path: added.file, what: 'lefthook local configuration (runs kitty-sync)', kind: added.created ? 'created' : added.changed ? 'updated' : 'unchanged' }];
  const record: LefthookRecord = manifest.lefthook?.file === added.file ? manifest.lefthook : { file: added.file, created: added.created, excludeLine: null };
  if (added.created) {
    // Machine-local, like the launchers: keep it out of `git status` unless already ignored.
    const ignored =
      (
        await gitClient(layout.root)
          .checkIgnore([added.file])
          .catch(() => [])
      ).length > 0;
    if (!ignored) {
      const exclude = path.join(layout.commonDir, 'info', 'exclude');
      const line = excludeLine(layout.root, added.file);
      const text = existsSync(exclude) ? readFileSync(exclude, 'utf8') : '';
      if (!text.split('\n').includes(line)) {
        mkdirSync(path.dirname(exclude), { recursive: true });
        writeFileSync(exclude, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${line}\n`);
        record.excludeLine = line;
        changes.push({ path: exclude, what: 'ignore line for lefthook-local.yml', kind: 'appended' });
      }
    }
  }
  manifest.lefthook = record;
  return changes;
}

function unregisterFromLefthook(layout: RepoLayout, manifest: Manifest): Change[] {
  const changes: Change[] = [];
  const r = removeLefthookEntries(layout.root, HOOK_NAMES, manifest.lefthook?.created ?? false);
  if (r.removed) changes.push({ path: r.file, what: 'lefthook local configuration', kind: r.deleted ? 'removed' : 'line-removed' });
  const line = manifest.lefthook?.excludeLine;
  if (line && r.deleted) {
    const exclude = path.join(layout.commonDir, 'info', 'exclude');
    if (existsSync(exclude)) {
      const lines = readFileSync(exclude, 'utf8').split('\n');
      const at = lines.indexOf(line);
      if (at >= 0) {
        lines.splice(at, 1);
        writeFileSync(exclude, lines.join('\n'));
        changes.push({ path: exclude, what: 'ignore line for lefthook-local.yml', kind: 'line-removed' });
      }
    }
  }
  return changes;
}

function addHuskyLine(huskyDir: string, hook: HookName, manifest: Manifest, shebang: string): Change {
  const file = path.join(huskyDir, hook);
  const line = huskyLine(hook);
  const exists = existsSync(file);
  const text = exists ? readFileSync(file, 'utf8') : '';
  const lines = text.split('\n');
  const at = lines.findIndex(isHuskyLine);
  if (at >= 0) {
    if (lines[at] === line) return { path: file, what: 'husky script', kind: 'unchanged' };
    // An older version of our line: replace it in place.
    lines[at] = line;
    writeFileSync(file, lines.join('\n'));
    return { path: file, what: 'husky script', kind: 'updated' };
  }
  const addedNewline = text !== '' && !text.endsWith('\n');
  mkdirSync(huskyDir, { recursive: true });
  writeFileSync(file, `${exists ? text : shebang}${addedNewline ? '\n' : ''}${line}\n`, { mode: 0o755 });
  if (!exists) chmodSync(file, 0o755);
  manifest.husky = manifest.husky.filter((r) => r.file !== file);
  manifest.husky.push({ file, created: !exists, addedNewline });
  return { path: file, what: 'husky script', kind: exists ? 'appended' : 'created' };
}

function removeHuskyLine(file: string, hook: HookName, manifest: Manifest): Change | null {
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const kept = lines.filter((l) => !isHuskyLine(l));
  if (kept.length === lines.length) return null;
  const record = manifest.husky.find((r) => r.file === file);
  let rest = kept.join('\n');
  if (record?.addedNewline && rest.endsWith('\n')) rest = rest.slice(0, -1);
  // A script install created holds nothing but our line: remove it. Without a record
  // (installed elsewhere and committed), only the line goes.
  if (record?.created && (rest.trim() === '' || rest === SHEBANG)) {
    rmSync(file);
    return { path: file, what: `husky ${hook} script`, kind: 'removed' };
  }
  writeFileSync(file, rest);
  return { path: file, what: `husky ${hook} script`, kind: 'line-removed' };
}

function isHuskyLine(line: string): boolean {
  return line.trimEnd().endsWith(HUSKY_MARKER) && line.includes('kitty-sync/hooks/');
}

function isOurShim(file: string): boolean {
  try {
    const st = lstatSync(file);
    if (!st.isFile() || st.size > 64 * 1024) return false;
    return readFileSync(file, 'utf8').includes(SHIM_MARKER);
  } catch {
    return false;
  }
}

function writeIfDifferent(file: string, content: string): ChangeKind {
  let before: string | null;
  try {
    before = readFileSync(file, 'utf8');
  } catch {
    before = null;
  }
  if (before === content) {
    if ((statSync(file).mode & 0o111) === 0) {
      chmodSync(file, 0o755);
      return 'updated';
    }
    return 'unchanged';
  }
  writeFileSync(file, content, { mode: 0o755 });
  chmodSync(file, 0o755);
  return before === null ? 'created' : 'updated';
}

function readManifest(layout: RepoLayout): Manifest {
  try {
    const data = JSON.parse(readFileSync(path.join(layout.launcherDir, MANIFEST), 'utf8')) as Partial<Manifest>;
    if (data.version === 1 && Array.isArray(data.husky)) return { version: 1, husky: data.husky, ...(data.lefthook ? { lefthook: data.lefthook } : {}) };
  } catch {
    // Missing or unreadable: uninstall then works from what is on disk.
  }
  return { version: 1, husky: [] };
}

function writeManifest(layout: RepoLayout, manifest: Manifest): void {
  const file = path.join(layout.launcherDir, MANIFEST);
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  if (existsSync(file) && readFileSync(file, 'utf8') === text) return;
  writeFileSync(file, text);
}

function removeDirIfEmpty(dir: string): void {
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // Not there, or not empty: leave it.
  }
}

function lexists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/** Quotes a value for a POSIX sh single-quoted string. */
export function shQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** What `doctor` reports about one hook: which entry Git runs, and whether it reaches kitty-sync. */
export interface HookInspection {
  hook: HookName;
  /** How kitty-sync is wired in: 'shim', 'husky', 'pre-commit', 'lefthook', or 'none'. */
  via: 'shim' | 'husky' | 'pre-commit' | 'lefthook' | 'none';
  /** The file Git runs (or husky's script). */
  entry: string;
  ok: boolean;
  /** What is wrong, when not ok. */
  problem: string | null;
  /** The machine-local launcher and the node and CLI it records. */
  launcher: { file: string; exists: boolean; node: string | null; cli: string | null; nodeExists: boolean; cliExists: boolean };
}

/** Inspects, without changing anything, how each hook reaches kitty-sync (for `kitty-sync doctor`). */
export function inspectInstall(layout: RepoLayout): HookInspection[] {
  return HOOK_NAMES.map((hook) => {
    const launcher = inspectLauncher(path.join(layout.launcherDir, hook));
    const base = { hook, launcher };
    if (layout.huskyDir) {
      const script = path.join(layout.huskyDir, hook);
      const has = existsSync(script) && readFileSync(script, 'utf8').split('\n').some(isHuskyLine);
      return { ...base, via: has ? 'husky' : 'none', entry: script, ok: has, problem: has ? null : `husky runs ${script}, which does not run kitty-sync` };
    }
    const file = path.join(layout.hooksDir, hook);
    if (isOurShim(file)) return { ...base, via: 'shim', entry: file, ...executable(file) };
    if (isPreCommitHook(file)) {
      const legacy = file + PRE_COMMIT_LEGACY_SUFFIX;
      const has = isOurShim(legacy);
      return { ...base, via: has ? 'pre-commit' : 'none', entry: legacy, ...(has ? executable(legacy) : { ok: false, problem: `pre-commit owns ${file} and does not run kitty-sync` }) };
    }
    if (isLefthookHook(file)) {
      const has = lefthookHasEntry(layout.root, hook);
      return { ...base, via: has ? 'lefthook' : 'none', entry: file, ok: has, problem: has ? null : `lefthook owns ${file} and its configuration does not run kitty-sync` };
    }
    const problem = lexists(file) ? `${file} is another hook, not kitty-sync's` : `no ${hook} hook in ${layout.hooksDir}`;
    return { ...base, via: 'none', entry: file, ok: false, problem };
  });
}

function executable(file: string): { ok: boolean; problem: string | null } {
  try {
    return (statSync(file).mode & 0o111) !== 0 ? { ok: true, problem: null } : { ok: false, problem: `${file} is not executable, so Git skips it` };
  } catch {
    return { ok: false, problem: `${file} cannot be read` };
  }
}

function inspectLauncher(file: string): HookInspection['launcher'] {
  let text: string | null = null;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = null;
  }
  // The launcher records `node='…'` and `cli='…'` (renderLauncher's shQuote).
  const pick = (name: string): string | null => {
    const m = text === null ? null : new RegExp(`^${name}='((?:[^']|'\\\\'')*)'$`, 'm').exec(text);
    return m ? m[1].replaceAll(`'\\''`, `'`) : null;
  };
  const node = pick('node');
  const cli = pick('cli');
  return { file, exists: text !== null, node, cli, nodeExists: node !== null && existsSync(node), cliExists: cli !== null && existsSync(cli) };
}
