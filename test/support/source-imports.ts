// The relative imports of the TypeScript sources, read from the files themselves (no build needed):
// the module-boundary tests check them.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/support/). */
export const SOURCE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface SourceImport {
  /** The importing file, a repository path (`lib/run/hook.ts`). */
  from: string;
  /** The imported file as written, resolved to a repository path (`lib/queue/queue.js`). */
  to: string;
}

/** Every relative import (static, `export … from`, dynamic `import()`) of the .ts files under `dir`. */
export function sourceImports(dir: string): SourceImport[] {
  const out: SourceImport[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(path.join(SOURCE_ROOT, d), { withFileTypes: true })) {
      const rel = path.posix.join(d, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) {
        const text = readFileSync(path.join(SOURCE_ROOT, rel), 'utf8');
        for (const m of text.matchAll(/(?:from\s*|import\s*\(\s*|^import\s+)["'](\.{1,2}\/[^"']+)["']/gm)) {
          out.push({ from: rel, to: path.posix.normalize(path.posix.join(path.posix.dirname(rel), m[1])) });
        }
      }
    }
  };
  walk(dir);
  return out;
}
