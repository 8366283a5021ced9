// The worker's runbook catalog, read for a client (`rearguard catalog list|refresh`, `rollback start --runbook
// NAME`, the alert intake): clients never read the catalog themselves, the worker that acts on it does. Also
// `loadCatalogRunbook`, by which a rollback or plan loads the runbook it names (name and digest in history).
import { ApplicationFailure, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { CatalogEntry, CatalogIndex, CatalogRef } from '../runbook/catalog.js';
import { runbookDurationProblems } from '../runbook/duration.js';

// Local activities: every worker holds the catalog in memory, so no round trip through the task queue. The
// catalog's own refusals (unknown name, changed digest, no catalog) are not retried.
const { catalogIndex: readIndex, catalogRunbook } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '3m',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['NoCatalog', 'CatalogRunbookNotFound', 'CatalogRunbookChanged'] },
});

export async function catalogIndex({ refresh }: { refresh?: boolean } = {}): Promise<CatalogIndex> {
  return await readIndex({ refresh });
}

/** The runbook a run names, as the catalog holds it now; refuses (non-retryable) an unknown name or a changed digest. */
export async function loadCatalogRunbook(ref: CatalogRef): Promise<CatalogEntry & { revision: string; source: string }> {
  const entry = await catalogRunbook(ref);
  const problems = runbookDurationProblems(entry.runbook);
  if (problems.length) throw ApplicationFailure.nonRetryable(`catalog runbook ${ref.name}: ${problems.join('; ')}`, 'InvalidRunbook');
  return entry;
}
