// bench/floor-agent.ts, bundled and started as the real agent is: bench/hook runs it as a
// post-commit hook, bench/backfill as a whole-tree backfill (KS_FLOOR_ALL=1).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Bundles the floor agent like the real agent (the hook agent's esbuild options in scripts/bundle-cjs.mjs), with a small
 * CommonJS entry (as bin/bundle-entry.ts) that runs it through V8's code cache. Returns the entry to run.
 */
export function bundleFloorAgent(): string {
  const dir = path.join(ROOT, 'dist/bench-floor');
  mkdirSync(dir, { recursive: true });
  const bundle = path.join(dir, 'floor-agent.cjs');
  execFileSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [
    path.join(ROOT, 'bench/floor-agent.ts'),
    '--bundle',
    '--format=cjs',
    '--platform=node',
    '--target=node20',
    `--outfile=${bundle}`,
    '--define:import.meta.url=__ksMetaUrl',
    '--define:import.meta.dirname=__dirname',
    '--define:import.meta.filename=__filename',
    '--supported:dynamic-import=false',
    "--banner:js=var __ksMetaUrl = require('node:url').pathToFileURL(__filename).href;",
    '--log-level=warning',
  ]);
  // The entry's source (the agent's runBundle, with its V8 flags), bundled into one CommonJS file.
  const source = path.join(dir, 'floor-entry.ts');
  writeFileSync(source, `import { HOOK_V8_FLAGS, runBundle } from ${JSON.stringify(path.join(ROOT, 'lib/run/compile-cache.ts'))};\nrunBundle(${JSON.stringify(bundle)}, HOOK_V8_FLAGS);\n`);
  const entry = path.join(dir, 'floor-entry.cjs');
  execFileSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [source, '--bundle', '--format=cjs', '--platform=node', '--target=node20', `--outfile=${entry}`, '--log-level=warning']);
  return entry;
}
