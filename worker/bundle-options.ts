// The options every workflow bundle is made with (`npm run build`, `npm run build:workflows`, a worker bundling at
// start, the tests), so that what the tests run is what ships.
//
// preloadModules: the SDK runs all workflows in one reused V8 context but evaluates the bundle's modules again for
// each workflow it caches, so every module a workflow imports costs memory per cached workflow. The modules listed
// here are evaluated once and shared instead. That is only safe for modules without state of their own at module
// scope (no `let`, no Map or cache filled at run time) and without workflow APIs at module scope, since they are
// evaluated before any workflow exists: the pure runbook/ modules the workflows import, and the signature
// libraries. test/unit/workflow-imports.test.ts checks both properties, and that the list is every runbook/ module
// the workflows import. Measured (docs/benchmarks.md): 10,000 open freezes held 1.9 MB per cached workflow
// without, 0.43 MB with.
import { dirname, extname, join } from 'node:path';

/** The runbook/ modules the workflows import (transitively), evaluated once per worker instead of once per workflow. */
export const PRELOADED_RUNBOOK_MODULES = [
  'decision',
  'drill',
  'duration',
  'freeze',
  'gate-view',
  'permissions',
  'plan',
  'repeat',
  'slo-guard',
  'sshsig',
  'step-types',
  'unfreeze-model',
] as const;

/** Libraries the workflows import (runbook/sshsig.ts), shared the same way: they keep no per-workflow state. */
export const PRELOADED_LIBRARIES = ['@noble/curves/ed25519.js', '@noble/hashes/sha2.js'] as const;

/**
 * The preloaded modules for the workflows at `workflowsPath` (workflows/index.ts in the sources, index.js in a
 * build): runbook/ beside its workflows/, with the same extension.
 */
export function preloadModules(workflowsPath: string): string[] {
  const runbook = join(dirname(workflowsPath), '..', 'runbook');
  const ext = extname(workflowsPath);
  return [...PRELOADED_LIBRARIES, ...PRELOADED_RUNBOOK_MODULES.map((m) => join(runbook, `${m}${ext}`))];
}

/** bundleWorkflowCode's options for the workflows at `workflowsPath`. */
export function workflowBundleOptions(workflowsPath: string): { workflowsPath: string; preloadModules: string[] } {
  return { workflowsPath, preloadModules: preloadModules(workflowsPath) };
}
