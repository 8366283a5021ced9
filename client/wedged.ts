// How the CLI reports a run it cannot read: a wedged run (its workflow task keeps failing) is named as
// such, with the task's error and the remedy, instead of the worker hint a timed-out Query suggests.
import type { Client } from '@temporalio/client';
import { wedgedLines, wedgedRun } from '../api/wedged.js';
import { CliError, failed, rootMessage } from './errors.js';

/** Fails at once when the run is wedged, before a Query or Update that would only time out. */
export async function failIfWedged(client: Client, workflowId: string, what: string): Promise<void> {
  const w = await wedgedRun(client, workflowId).catch(() => undefined);
  if (w) throw failed(`cannot ${what} ${workflowId}:`, ...wedgedLines(w));
}

/** The CLI error for a Query that failed: the wedge if there is one (it may have just begun), else the worker hint. */
export async function queryFailure(client: Client, workflowId: string, err: unknown, what: string): Promise<CliError> {
  if (err instanceof CliError) return err;
  const w = await wedgedRun(client, workflowId).catch(() => undefined);
  if (w) return failed(`cannot ${what} ${workflowId}:`, ...wedgedLines(w));
  return failed(`cannot ${what} ${workflowId}: ${rootMessage(err)}`, 'Is a Rearguard worker running? Queries are answered by a worker.');
}
