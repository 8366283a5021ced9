// Lint catches at edit time what the workflow bundler would reject at run time (Node built-ins,
// activity implementations and client/worker packages in workflow code), and floating promises.
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'assert',
  'buffer',
  'child_process',
  'crypto',
  'dns',
  'events',
  'fs',
  'http',
  'https',
  'net',
  'os',
  'path',
  'process',
  'stream',
  'timers',
  'tls',
  'url',
  'util',
  'worker_threads',
  'zlib',
];

/**
 * The import rules of one top-level folder: `forbid` folders it must not import at all, `typesOnly` folders
 * it may import types from but no values (workflow code runs in the worker's sandbox, never in Node).
 */
function layer(folder, { forbid = [], typesOnly = [] }) {
  const pattern = (f) => [`**/${f}/*`, `**/${f}/**`];
  return {
    files: [`${folder}/**/*.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            ...forbid
              .filter((f) => !typesOnly.includes(f))
              .map((f) => ({ group: pattern(f), message: `${folder}/ must not import ${f}/ (docs/architecture.md, "Layers")` })),
            ...typesOnly.map((f) => ({
              group: pattern(f),
              allowTypeImports: true,
              message: `${folder}/ may import only types from ${f}/ (docs/architecture.md, "Layers")`,
            })),
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.rearguard/', 'dist/', 'eslint.config.js'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['bin/*.js'] }, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'before', 'after'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  // The layers (docs/architecture.md): runbook/ <- api/ <- activities/, workflows/ <- worker/, client/, scripts/.
  // Each folder below lists what it must not import; workflows/ additionally stays deterministic.
  layer('runbook', { forbid: ['api', 'activities', 'workflows', 'worker', 'client'] }),
  layer('api', { forbid: ['activities', 'workflows', 'worker', 'client'] }),
  layer('activities', { forbid: ['workflows', 'worker', 'client'], typesOnly: ['workflows'] }),
  layer('worker', { forbid: ['client'], typesOnly: ['workflows'] }),
  layer('client', { forbid: ['activities', 'worker', 'console'], typesOnly: ['workflows'] }),
  layer('console', { forbid: ['api', 'activities', 'workflows', 'worker', 'client', 'scripts'] }),
  layer('scripts', { typesOnly: ['workflows'] }),
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins, ...nodeBuiltins.map((m) => `node:${m}`)].map((name) => ({
            name,
            message: 'workflow code must be deterministic: no Node built-ins (do I/O in activities)',
          })),
          patterns: [
            {
              group: ['**/activities/*', '!**/activities/index.js'],
              message: 'workflows import activity types only: `import type { createActivities } from ../activities/index.js`',
            },
            {
              group: ['**/api/*', '!**/api/messages.js', '!**/api/ids.js'],
              message: "workflows use the contract's message definitions and workflow IDs only (api/messages.js, api/ids.js): the rest of api/ is client code",
            },
            { group: ['**/client/*', '**/client/**', '**/worker/*'], message: 'workflows never import the CLI or the worker' },
            {
              group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing'],
              message: 'workflows may only use @temporalio/workflow and @temporalio/common',
            },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: [{ name: '../activities/index.js', message: 'import type only', allowTypeImports: true }] },
      ],
    },
  },
);
