// Imports point one way, down the data flow: bin → run / setup → delivery → queue → collect → the
// shared base (lib/*.ts) → contract. A module may import its own folder or any folder below its own;
// run and setup (siblings) never import each other.
import test from 'ava';
import { sourceImports, type SourceImport } from '../support/source-imports.js';

const LAYERS: readonly (readonly string[])[] = [['bin'], ['lib/run', 'lib/setup'], ['lib/delivery'], ['lib/queue'], ['lib/collect'], ['lib'], ['lib/contract']];

/** The folder a repository path belongs to (`lib/queue/queue.ts` → `lib/queue`, `lib/config.ts` → `lib`). */
function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'bin') return 'bin';
  if (parts[0] === 'lib') return parts.length > 2 ? `lib/${parts[1]}` : 'lib';
  return parts[0];
}

function layerOf(folder: string): number {
  return LAYERS.findIndex((layer) => layer.includes(folder));
}

/** Imports that point up, sideways, or into a folder no layer names. */
function violations(imports: SourceImport[]): string[] {
  const out: string[] = [];
  for (const i of imports) {
    const from = folderOf(i.from);
    const to = folderOf(i.to);
    if (from === to || to === 'server') continue; // bin/commands/serve.ts starts the server; server/ has its own test
    const a = layerOf(from);
    const b = layerOf(to);
    if (a < 0 || b < 0 || b <= a) out.push(`${i.from} → ${i.to}`);
  }
  return out;
}

test('lib/ and bin/ import only down the layers', (t) => {
  const imports = [...sourceImports('bin'), ...sourceImports('lib')];
  t.true(imports.length > 100, 'the scan sees the imports');
  for (const layer of LAYERS.flat())
    t.true(
      imports.some((i) => folderOf(i.from) === layer),
      `${layer} has sources`,
    );
  t.deepEqual(violations(imports), []);
});

test('the check refuses an import up, sideways, or into an unknown folder', (t) => {
  t.deepEqual(
    violations([
      { from: 'lib/queue/queue.ts', to: 'lib/delivery/drain.js' },
      { from: 'lib/run/hook.ts', to: 'lib/setup/install.js' },
      { from: 'lib/contract/wire.ts', to: 'lib/types.js' },
      { from: 'lib/collect/git.ts', to: 'lib/elsewhere/x.js' },
      { from: 'lib/run/hook.ts', to: 'lib/queue/queue.js' },
      { from: 'lib/queue/queue.ts', to: 'lib/queue/lock.js' },
    ]),
    ['lib/queue/queue.ts → lib/delivery/drain.js', 'lib/run/hook.ts → lib/setup/install.js', 'lib/contract/wire.ts → lib/types.js', 'lib/collect/git.ts → lib/elsewhere/x.js'],
  );
});
