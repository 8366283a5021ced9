// Listings of running workflows by type, for overviews (the web console): visibility only, newest first, bounded.
import type { Client } from '@temporalio/client';
import { failure } from './errors.js';

/** The IDs of running workflows of `workflowType` (as workflows/index.ts names it), newest first, at most `limit`. */
export async function runningWorkflowIds(client: Client, workflowType: string, limit: number): Promise<string[]> {
  if (!/^[A-Za-z]+$/.test(workflowType)) throw new Error(`workflowType: expected a workflow type name, got ${JSON.stringify(workflowType)}`);
  const ids: string[] = [];
  try {
    for await (const w of client.workflow.list({ query: `WorkflowType = '${workflowType}' AND ExecutionStatus = 'Running'` })) {
      ids.push(w.workflowId);
      if (ids.length >= limit) break;
    }
  } catch (err) {
    throw failure(err, `cannot list the running ${workflowType} workflows:`);
  }
  return ids;
}
