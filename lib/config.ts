// Settings with the precedence flag > environment > .kittify/config.yaml (`sync:`) > default (SPEC §8).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BUDGET_RANGE, clampSetting, CONCURRENCY_RANGE, REQUEST_TIMEOUT_RANGE, TASK_AGE_RANGE, type Range } from './durations.js';
import { firstLine } from './errors.js';

export type HookName = 'post-commit' | 'pre-push';

export interface Settings {
  /** Base URL of the server; null means "queue only, never send". */
  serverUrl: string | null;
  /** Bearer token; never logged, stored or printed. */
  token: string | null;
  /** False when KITTY_SYNC=0. */
  enabled: boolean;
  /** Drain budget in ms; null means "until nothing is ready" (manual commands). */
  budgetMs: number | null;
  stateDir: string;
  /** Maximum number of body tasks in the queue. */
  capacity: number;
  /** Allow plain http:// to a non-loopback host. */
  allowInsecureHttp: boolean;
  /** Extra CA bundle (PEM file) trusted besides Node's roots: KITTY_SYNC_CA_FILE / sync.ca_file; absolute. */
  caFile: string | null;
  /** Concurrent body uploads during a drain. */
  concurrency: number;
  /** Stale-work policy: a task older than this, or retried this often, is dead-lettered. */
  maxTaskAgeMs: number;
  maxRetries: number;
  /** The envelope's team_slug (047 sends 'local' when no team is known). */
  teamSlug: string;
  /** Per-request timeout of the transport; also how long an abandoned upload may still be in flight. */
  requestTimeoutMs: number;
  /** Problems met while reading configuration (each names the file and the reason). */
  warnings: string[];
}

export interface SettingFlags {
  serverUrl?: string;
  budgetMs?: number | null;
  stateDir?: string;
  concurrency?: number;
}

export interface ResolveInput {
  flags?: SettingFlags;
  env?: NodeJS.ProcessEnv;
  /** Work tree root; its .kittify/config.yaml is read for the `sync:` section. */
  repoRoot?: string | null;
  /** `git rev-parse --git-common-dir`, absolute: the default state directory lives there. */
  commonGitDir: string;
  /** Set when running as a hook: selects the hook's default drain budget. */
  hook?: HookName;
}

export const DEFAULT_BUDGET_MS: Record<HookName, number> = { 'post-commit': 2000, 'pre-push': 5000 };
export const DEFAULT_CAPACITY = 100_000;
export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_MAX_TASK_AGE_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_MAX_RETRIES = 1000;
export const DEFAULT_TEAM_SLUG = 'local';
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Margin beyond the request timeout before an abandoned upload is surely over (the transport's timer cohorts add up to 200 ms). */
export const SETTLE_MARGIN_MS = 2_000;

/** The project's configuration file, relative to the work tree (project uuid and `sync:` settings). */
export const CONFIG_FILE = '.kittify/config.yaml';

export function configYamlPath(repoRoot: string): string {
  return path.join(repoRoot, CONFIG_FILE);
}

/**
 * The state directory, shared by all worktrees of a repository (SPEC §6): KITTY_SYNC_HOME, a relative
 * one taken from the work tree's top (where hooks run), so every command, from any subdirectory,
 * finds the same queue; else <git common dir>/kitty-sync.
 */
export function stateDirFor(commonGitDir: string, env: NodeJS.ProcessEnv = process.env, repoRoot?: string | null): string {
  const override = env.KITTY_SYNC_HOME;
  return override && override.trim() !== '' ? path.resolve(repoRoot ?? process.cwd(), override) : path.join(commonGitDir, 'kitty-sync');
}

/** A warning when the state directory lies inside the work tree, where `git add -A` would commit it. */
function stateDirWarning(stateDir: string, repoRoot: string | null | undefined, env: NodeJS.ProcessEnv): string | null {
  if (!repoRoot || !env.KITTY_SYNC_HOME) return null;
  const rel = path.relative(repoRoot, stateDir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return `KITTY_SYNC_HOME=${env.KITTY_SYNC_HOME} is inside the work tree (${stateDir}), where \`git add -A\` would commit the queue; use a directory outside it`;
}

/** Reads the `sync:` section of .kittify/config.yaml from the work tree; problems become warnings. */
export function readSyncSection(repoRoot: string, warnings: string[]): Record<string, unknown> {
  const file = configYamlPath(repoRoot);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const doc = parseYaml(text) as unknown;
    if (doc === null || doc === undefined) return {};
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      warnings.push(`${file}: not a YAML mapping; its sync settings are ignored`);
      return {};
    }
    const sync = (doc as Record<string, unknown>).sync;
    if (sync === undefined || sync === null) return {};
    if (typeof sync !== 'object' || Array.isArray(sync)) {
      warnings.push(`${file}: 'sync' is not a mapping; its sync settings are ignored`);
      return {};
    }
    return sync as Record<string, unknown>;
  } catch (err) {
    warnings.push(`${file}: invalid YAML (${firstLine(err)}); its sync settings are ignored`);
    return {};
  }
}

export function resolveSettings(input: ResolveInput): Settings {
  const env = input.env ?? process.env;
  const flags = input.flags ?? {};
  const warnings: string[] = [];
  const file = input.repoRoot ? readSyncSection(input.repoRoot, warnings) : {};
  const fileName = input.repoRoot ? configYamlPath(input.repoRoot) : CONFIG_FILE;

  const pickString = (flag: string | undefined, envName: string, key: string): string | null => {
    if (flag !== undefined && flag !== '') return flag;
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    const fromFile = file[key];
    if (typeof fromFile === 'string' && fromFile !== '') return fromFile;
    if (fromFile !== undefined && fromFile !== null) warnings.push(`${fileName}: sync.${key} must be a string; ignored`);
    return null;
  };
  // `range`: clamped into it with one warning (issue 12: a duration past a timer's range fires at once).
  const pickNumber = (flag: number | undefined, envName: string, key: string, fallback: number, range?: Range): number => {
    const within = (n: number, what: string): number => (range ? clampSetting(n, range, what, warnings) : n);
    if (flag !== undefined && Number.isFinite(flag)) return flag;
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== '') {
      const n = Number(fromEnv);
      if (Number.isFinite(n) && n >= 0) return within(n, `${envName}=${fromEnv}`);
      warnings.push(`${envName}=${JSON.stringify(fromEnv)} is not a non-negative number; ignored`);
    }
    const fromFile = file[key];
    if (typeof fromFile === 'number' && Number.isFinite(fromFile) && fromFile >= 0) return within(fromFile, `${fileName}: sync.${key} ${fromFile}`);
    if (fromFile !== undefined && fromFile !== null) warnings.push(`${fileName}: sync.${key} must be a non-negative number; ignored`);
    return fallback;
  };

  let budgetMs: number | null;
  if (flags.budgetMs !== undefined) budgetMs = flags.budgetMs;
  else if (input.hook) budgetMs = pickNumber(undefined, 'KITTY_SYNC_BUDGET_MS', 'budget_ms', DEFAULT_BUDGET_MS[input.hook], BUDGET_RANGE);
  else budgetMs = null;

  const stateDir = flags.stateDir ? path.resolve(flags.stateDir) : stateDirFor(input.commonGitDir, env, input.repoRoot);
  const inWorkTree = flags.stateDir ? null : stateDirWarning(stateDir, input.repoRoot, env);
  if (inWorkTree) warnings.push(inWorkTree);

  return {
    serverUrl: stripTrailingSlash(pickString(flags.serverUrl, 'KITTY_SYNC_SERVER_URL', 'server_url')),
    token: nonEmpty(env.KITTY_SYNC_TOKEN),
    enabled: env.KITTY_SYNC !== '0',
    budgetMs,
    stateDir,
    capacity: pickNumber(undefined, 'KITTY_SYNC_CAPACITY', 'capacity', DEFAULT_CAPACITY),
    allowInsecureHttp: env.KITTY_SYNC_ALLOW_INSECURE_HTTP === '1' || file.allow_insecure_http === true,
    caFile: resolveCaFile(env, file, input.repoRoot ?? null, fileName, warnings),
    concurrency: Math.max(1, pickNumber(flags.concurrency, 'KITTY_SYNC_CONCURRENCY', 'concurrency', DEFAULT_CONCURRENCY, CONCURRENCY_RANGE)),
    maxTaskAgeMs: pickNumber(undefined, 'KITTY_SYNC_MAX_TASK_AGE_MS', 'max_task_age_ms', DEFAULT_MAX_TASK_AGE_MS, TASK_AGE_RANGE),
    maxRetries: pickNumber(undefined, 'KITTY_SYNC_MAX_RETRIES', 'max_retries', DEFAULT_MAX_RETRIES),
    teamSlug: pickString(undefined, 'KITTY_SYNC_TEAM', 'team_slug')?.trim() || DEFAULT_TEAM_SLUG,
    requestTimeoutMs: pickNumber(undefined, 'KITTY_SYNC_REQUEST_TIMEOUT_MS', 'request_timeout_ms', DEFAULT_REQUEST_TIMEOUT_MS, REQUEST_TIMEOUT_RANGE),
    warnings,
  };
}

/** The queue and drain knobs every run passes on, taken from the settings in one place. */
export function runPolicy(s: Settings): {
  stateDir: string;
  capacity: number;
  concurrency: number;
  stale: { maxAgeMs: number; maxRetries: number };
  settleMs: number;
} {
  return {
    stateDir: s.stateDir,
    capacity: s.capacity,
    concurrency: s.concurrency,
    stale: { maxAgeMs: s.maxTaskAgeMs, maxRetries: s.maxRetries },
    settleMs: s.requestTimeoutMs + SETTLE_MARGIN_MS,
  };
}

/** Parses a duration such as `500ms`, `5s`, `2m`, `1h` or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  if (/^\s*-/.test(text)) throw new Error(`${text} is negative; give a duration such as 500ms, 5s or 2m`);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!m) throw new Error(`invalid duration ${JSON.stringify(text)} (use e.g. 500ms, 5s, 2m)`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 'ms').toLowerCase();
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000;
  return Math.round(n * factor);
}

/** KITTY_SYNC_CA_FILE (relative to the current directory) or sync.ca_file (relative to the work tree root). */
function resolveCaFile(env: NodeJS.ProcessEnv, file: Record<string, unknown>, repoRoot: string | null, fileName: string, warnings: string[]): string | null {
  const fromEnv = env.KITTY_SYNC_CA_FILE;
  if (fromEnv !== undefined && fromEnv.trim() !== '') return path.resolve(fromEnv.trim());
  const fromFile = file.ca_file;
  if (typeof fromFile === 'string' && fromFile.trim() !== '') return path.resolve(repoRoot ?? process.cwd(), fromFile.trim());
  if (fromFile !== undefined && fromFile !== null) warnings.push(`${fileName}: sync.ca_file must be a string; ignored`);
  return null;
}

function stripTrailingSlash(url: string | null): string | null {
  return url === null ? null : url.replace(/\/+$/, '');
}

function nonEmpty(value: string | undefined): string | null {
  return value !== undefined && value.trim() !== '' ? value.trim() : null;
}
