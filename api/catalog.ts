// The worker's runbook catalog, as clients see it: read by a short workflow on a worker (the CLI and
// `rearguard serve` never read the catalog's files or repository themselves; the worker that acts does).
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { CatalogEntry, CatalogIndex } from '../runbook/catalog.js';
import { failure, opError, rootMessage } from './errors.js';
import { catalogWorkflowId } from './ids.js';

/** The catalog's index (every runbook with its digest); `refresh` makes the worker read its source first. */
export async function readCatalog(client: Client, taskQueue: string, { refresh = false } = {}): Promise<CatalogIndex> {
  try {
    return (await client.workflow.execute('catalogIndex', {
      workflowId: catalogWorkflowId(randomUUID()),
      taskQueue,
      args: [{ refresh }],
      workflowExecutionTimeout: '5m',
    })) as CatalogIndex;
  } catch (err) {
    if (/NoCatalog|no runbook catalog/.test(rootMessage(err))) throw opError('refused', rootMessage(err));
    throw failure(err, 'cannot read the runbook catalog:');
  }
}

/** One runbook of the catalog by name (with the digest a rollback then names), or a not-found error listing what there is. */
export async function catalogRunbook(client: Client, taskQueue: string, name: string): Promise<CatalogEntry & { source: string; revision: string }> {
  const index = await readCatalog(client, taskQueue);
  const entry = index.runbooks.find((r) => r.name === name);
  if (!entry)
    throw opError(
      'not-found',
      `no runbook ${name} in the catalog ${index.source} (at ${index.revision.slice(0, 19)})`,
      `catalog runbooks: ${index.runbooks.map((r) => r.name).join(', ') || 'none'}`,
    );
  return { ...entry, source: index.source, revision: index.revision };
}
