// ESLint (flat config): JavaScript's and typescript-eslint's recommended rules, without type
// information (fast; the type checker runs on its own as `npm run typecheck`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config({ ignores: ['dist/', 'node_modules/', 'server/dashboard/static/'] }, js.configs.recommended, ...tseslint.configs.recommended, {
  rules: {
    // Slugs, paths and tokens are checked for control characters on purpose.
    'no-control-regex': 'off',
    // describeForeseeable() follows `cause` chains to name a full disk or a locked file; an error
    // that rewords a failure (a CA file that cannot be read) must not hand it the fs error under it.
    'preserve-caught-error': 'off',
    // Unused names are TypeScript's job (noUnusedLocals, noUnusedParameters): one report, not two.
    '@typescript-eslint/no-unused-vars': 'off',
  },
});
