// The one place where Temporal's errors become what a person reads. Every operation of api/ fails with an
// OperationError: a kind (what the caller can do about it) and the lines to show, worded once here and in
// the operations, so the CLI (client/errors.ts: an exit code) and `rearguard serve` (client/http-errors.ts:
// an HTTP status) say the same thing. The e2e tests assert on these lines: change them only on purpose.
// OperationError itself is in operation-error.ts, which loads no Temporal code (the CLI's start-up needs it).
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { OperationError, opError, rootMessage, type OperationErrorKind } from './operation-error.js';
import { wedgedLines, wedgedRun, type WedgedRun } from './wedged.js';

export { OperationError, opError, rootMessage, type OperationErrorKind };

/** `prefix rootMessage` as a failure, unless err already is an OperationError. */
export const failure = (err: unknown, prefix: string, kind: OperationErrorKind = 'failed'): OperationError =>
  err instanceof OperationError ? err : opError(kind, `${prefix} ${rootMessage(err)}`);

/** The error of a failed Update: the run does not exist, its validator refused (with the reason), or the call failed. */
export function updateError(err: unknown, notFound: string, refusedPrefix: string, failedPrefix: string): OperationError {
  if (err instanceof WorkflowNotFoundError) return opError('not-found', notFound);
  if (err instanceof WorkflowUpdateFailedError) return opError('refused', `${refusedPrefix} ${rootMessage(err)}`);
  return opError('failed', `${failedPrefix} ${rootMessage(err)}`);
}

/** A wedged run, named as such with the task's error and the remedy. */
export const wedgedError = (head: string, w: WedgedRun): OperationError => new OperationError('wedged', [head, ...wedgedLines(w)], w);

/** The wedge of a run, or undefined (also when it cannot be told: the caller's own error says more). */
export const wedgeOf = (client: Client, workflowId: string): Promise<WedgedRun | undefined> => wedgedRun(client, workflowId).catch(() => undefined);

/** Fails at once when the run is wedged, before a Query or Update that would only time out. */
export async function failIfWedged(client: Client, workflowId: string, what: string): Promise<void> {
  const w = await wedgeOf(client, workflowId);
  if (w) throw wedgedError(`cannot ${what} ${workflowId}:`, w);
}

/** The error for a Query that failed: the wedge if there is one (it may have just begun), else the worker hint. */
export async function queryError(client: Client, workflowId: string, err: unknown, what: string): Promise<OperationError> {
  if (err instanceof OperationError) return err;
  const w = await wedgeOf(client, workflowId);
  if (w) return wedgedError(`cannot ${what} ${workflowId}:`, w);
  return opError('unavailable', `cannot ${what} ${workflowId}: ${rootMessage(err)}`, 'Is a Rearguard worker running? Queries are answered by a worker.');
}

/** Reads a run's status by Query: a wedged run is reported at once, a missing one with `notFound`. */
export async function readStatus<T>(client: Client, workflowId: string, notFound: string[], query: () => Promise<T>): Promise<T> {
  try {
    await failIfWedged(client, workflowId, 'read the status of');
    return await query();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw opError('not-found', ...notFound);
    throw await queryError(client, workflowId, err, 'read the status of');
  }
}
