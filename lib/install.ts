// Installs and removes kitty-sync's Git hooks (SPEC §7, issue 5).
//
// Two layers, so that nothing is executed from repository content and GUI Git clients
// with a minimal PATH still work:
// - the LAUNCHERS, machine-local, in <git common dir>/kitty-sync/hooks/, generated from
//   hooks/* with the absolute paths of node and of the CLI (shared by all worktrees);
// - the ENTRIES Git runs: in a husky-managed repo one marked line in .husky/<hook>;
//   elsewhere a small shim in the hooks directory Git uses, which keeps and still runs
//   any hook that was there (moved aside to <hook>.kitty-sync-orig).
// Everything is idempotent, and uninstall undoes exactly what install did.
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, rmdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HookName } from './config.js';
import { openRepo, type Repo } from './git.js';
import { ensureProjectUuid, type ProjectUuidResult } from './project-uuid.js';
import { secureStateDirs } from './state-perms.js';

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
export class InstallError extends Error {
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
interface Manifest {
  version: 1;
  husky: HuskyRecord[];
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
  const bundle = fileURLToPath(new URL('../bundle/kitty-sync.js', import.meta.url));
  return existsSync(bundle) ? bundle : fileURLToPath(new URL('../bin/kitty-sync.js', import.meta.url));
}

export function defaultTemplatesDir(): string {
  return fileURLToPath(new URL('../../hooks/', import.meta.url));
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
    ...(nextToCommonDir
      ? [`launcher="\${0%/*}/../kitty-sync/hooks/${hook}"`, `[ -f "$launcher" ] || launcher=${viaGit}`]
      : [`launcher=${viaGit}`]),
    `orig="$0${ORIG_SUFFIX}"`,
  ];
  if (hook === 'pre-push') {
    return [
      ...head,
      'if [ -x "$orig" ]; then',
      '  # Both hooks need Git\'s ref lines: read stdin once (x keeps trailing newlines).',
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
  if (!layout.huskyDir) checkShimsPossible(layout);

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
    for (const hook of HOOK_NAMES) changes.push(...writeShim(layout.hooksDir, hook, nextToCommonDir));
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

function checkShimsPossible(layout: RepoLayout): void {
  for (const hook of HOOK_NAMES) {
    const file = path.join(layout.hooksDir, hook);
    if (existsSync(file + ORIG_SUFFIX) && !isOurShim(file)) {
      throw new InstallError(
        `${file}: both a hook and ${path.basename(file + ORIG_SUFFIX)} exist and the hook is not kitty-sync's; ` +
          'merge them by hand (or remove the .kitty-sync-orig file) and run install again',
      );
    }
  }
}

function writeShim(hooksDir: string, hook: HookName, nextToCommonDir: boolean): Change[] {
  const file = path.join(hooksDir, hook);
  const changes: Change[] = [];
  if (lexists(file) && !isOurShim(file)) {
    // rename keeps the original's bytes, mode and symlink-ness for uninstall.
    renameSync(file, file + ORIG_SUFFIX);
    changes.push({ path: file + ORIG_SUFFIX, what: 'original hook (still runs first)', kind: 'moved' });
  }
  changes.push({ path: file, what: 'hook', kind: writeIfDifferent(file, shimScript(hook, nextToCommonDir)) });
  return changes;
}

function removeShim(hooksDir: string, hook: HookName): Change[] {
  const file = path.join(hooksDir, hook);
  if (!isOurShim(file)) return [];
  const changes: Change[] = [];
  rmSync(file);
  changes.push({ path: file, what: 'hook', kind: 'removed' });
  if (lexists(file + ORIG_SUFFIX)) {
    renameSync(file + ORIG_SUFFIX, file);
    changes.push({ path: file, what: 'original hook', kind: 'restored' });
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
  let before: string | null = null;
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
    if (data.version === 1 && Array.isArray(data.husky)) return { version: 1, husky: data.husky };
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

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim().split('\n')[0];
}
