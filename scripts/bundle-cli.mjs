// `npm run bundle:cli`: the CLI (every command but serve) as one CommonJS file, dist/bundle/cli.cjs
// (bin/cli-main.ts), with esbuild's API rather than its command line (as the other bundles are) for
// one plugin: string-width loads lazily.
//
// Why: yargs, cliui and wrap-ansi import string-width, whose module top level builds an
// Intl.Segmenter and a \p{RGI_Emoji} regular expression: 35-55 ms here, paid by every command's
// start although only a help screen measures a string. In a bundle an imported ES module's top level
// runs at start-up; a require()d one runs when first required. So each importer gets, in place of
// string-width, a module that requires the real one (the version it asked for, resolved from its own
// folder) on the first call.
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

await build({
  entryPoints: ['bin/cli-main.ts'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: 'dist/bundle/cli.cjs',
  external: ['better-sqlite3', '../../server/*'],
  define: { 'import.meta.url': '__ksMetaUrl', 'import.meta.dirname': '__dirname', 'import.meta.filename': '__filename' },
  supported: { 'dynamic-import': false },
  minifyWhitespace: true,
  legalComments: 'external',
  banner: { js: "var __ksMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  plugins: [lazyStringWidth],
});
