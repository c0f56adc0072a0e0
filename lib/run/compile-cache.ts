// V8 code cache for a CommonJS bundle (Node 20 has no module.enableCompileCache). The hook agent
// is a short-lived process that would otherwise compile the same ~0.9 MB of JavaScript on every
// commit: with the cache, a commit's hook took ~60 ms less on this machine (bench/hook).
// The cache is written at exit by a run that had none, or whose cache V8 refused (another Node
// or other V8 flags), so it also holds the functions that run compiled lazily. It is only an
// optimisation: any problem reading or writing it means compiling from source, never a failure.
import { accessSync, constants, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import vm from 'node:vm';

/**
 * V8 accepts a code cache only under the flags it was made with, and a cache is made at exit: with
 * the flags sql.js's loading turned on (lib/queue/queue-file.ts, loadSql). The entry sets them before
 * compiling a bundle: the hook agent the first, the CLI both (sync loads sql.js with compileAll).
 */
export const HOOK_V8_FLAGS = ['--liftoff-only'];
export const CLI_V8_FLAGS = ['--liftoff-only', '--no-wasm-lazy-compilation'];

/**
 * Runs a bundle (dist/bundle/hook.cjs or cli.cjs) as the main program through its code cache, with
 * `flags` set first (see above). KITTY_SYNC_COMPILE_CACHE=0 turns the cache off; with
 * KITTY_SYNC_TRACE=1 the cache's status is printed before the program runs (it may exit from its
 * top level: `--help`, a usage error).
 */
export function runBundle(file: string, flags: readonly string[]): void {
  for (const flag of flags) setFlagsFromString(flag);
  runWithCompileCache(file, process.env.KITTY_SYNC_COMPILE_CACHE === '0' ? null : cacheFileFor(file), (status) => {
    if (process.env.KITTY_SYNC_TRACE === '1') process.stderr.write(`kitty-sync trace: compile cache ${status}\n`);
  });
}

/** What happened to the cache in this run. */
export type CompileCacheStatus =
  | 'accepted' // compiled from the cache
  | 'rejected' // V8 refused it (other Node version or flags): compiled from source, rewritten at exit
  | 'absent' // none yet: compiled from source, written at exit
  | 'off'; // no cache location: compiled from source

/**
 * The cache file for `file`: beside it (so it has the bundle's owner and permissions, and a
 * rebuild, which replaces the bundle directory, drops it), named after the bundle's size and
 * mtime, because V8 checks only a cached script's length, not its text.
 */
export function cacheFileFor(file: string): string {
  const st = statSync(file);
  return `${file}.${st.size}-${Math.trunc(st.mtimeMs)}.cache`;
}

/**
 * Runs the CommonJS file `file` as the main program, compiled through the code cache at
 * `cacheFile` (null: no cache). Returns once the file's top level has run; `onCompiled` hears the
 * status before it runs (a program may exit from its top level).
 */
export function runWithCompileCache(file: string, cacheFile: string | null, onCompiled?: (status: CompileCacheStatus) => void): CompileCacheStatus {
  const source = readFileSync(file, 'utf8');
  let cachedData: Buffer | undefined;
  if (cacheFile) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      cachedData = undefined;
    }
  }
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const status: CompileCacheStatus = !cacheFile ? 'off' : !cachedData ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted';
  // Only where it can be written: serializing the cache costs a few ms, wasted on every run otherwise.
  if ((status === 'absent' || status === 'rejected') && writable(path.dirname(cacheFile!))) process.once('exit', () => writeCache(script, cacheFile!));
  onCompiled?.(status);
  const module = { exports: {}, filename: file, id: '.', loaded: false };
  const fn = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
  fn.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  return status;
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function writeCache(script: vm.Script, cacheFile: string): void {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, script.createCachedData());
    renameSync(tmp, cacheFile); // two hooks finishing at once: either whole file wins
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      /* never written */
    }
  }
}
