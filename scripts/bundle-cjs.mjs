// `npm run bundle:cjs`: the two CommonJS bundles that bin/bundle-entry.ts runs through V8's code cache,
// each one file, built with esbuild's API (for the plugin below) and the same base options:
// - dist/bundle/hook.cjs, the hook agent (bin/hook-main.ts);
// - dist/bundle/cli.cjs, every other command but serve (bin/cli-main.ts), with string-width lazy.
//
// Why lazy: yargs, cliui and wrap-ansi import string-width, whose module top level builds an
// Intl.Segmenter and a \p{RGI_Emoji} regular expression: 35-55 ms here, paid by every command's
// start although only a help screen measures a string. In a bundle an imported ES module's top level
// runs at start-up; a require()d one runs when first required. So each importer gets, in place of
// string-width, a module that requires the real one (the version it asked for, resolved from its own
// folder) on the first call. The hook agent does not contain string-width.
import { build } from 'esbuild';

/** @type {import('esbuild').Plugin} */
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, (args) => (args.kind === 'import-statement' ? { path: args.resolveDir, namespace: 'lazy-string-width' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => ({
      resolveDir: args.path,
      loader: 'js',
      contents: ['let real;', 'export default function stringWidth(text, options) {', "  real ??= require('string-width').default;", '  return real(text, options);', '}'].join('\n'),
    }));
  },
};

/** @type {import('esbuild').BuildOptions} */
const base = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  define: { 'import.meta.url': '__ksMetaUrl', 'import.meta.dirname': '__dirname', 'import.meta.filename': '__filename' },
  supported: { 'dynamic-import': false },
  banner: { js: "var __ksMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
};

await Promise.all([
  build({ ...base, entryPoints: ['bin/hook-main.ts'], outfile: 'dist/bundle/hook.cjs' }),
  build({
    ...base,
    entryPoints: ['bin/cli-main.ts'],
    outfile: 'dist/bundle/cli.cjs',
    external: ['better-sqlite3', '../../server/*'],
    minifyWhitespace: true,
    legalComments: 'external',
    plugins: [lazyStringWidth],
  }),
]);
