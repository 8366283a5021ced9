// Gradual unfreeze operations (workflow `unfreeze:<freeze id>`): find the freeze to end, start the ladder,
// read its status, and the decisions people take on it (advance after a fix, abort, approve the next step).
// Errors name the freeze, not the workflow: that is what people typed.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { FreezeState } from '../runbook/freeze.js';
import type { UnfreezeDecision, UnfreezeInput, UnfreezeStatus } from '../runbook/unfreeze.js';
import { OperationError, failIfWedged, failure, opError, rootMessage, wedgedError, wedgeOf } from './errors.js';
import { unfreezeWorkflowId } from './ids.js';
import { abortUnfreezeUpdate, advanceUnfreezeUpdate, approveUnfreezeUpdate, freezeStateQuery, unfreezeStatusQuery, type SignedEnvelope } from './messages.js';

/** How long `unfreeze start` waits for the worker to judge the start (trust settings, the freeze read, the policy). */
const ADMISSION_TIMEOUT_MS = 60_000;

/** Waits until the worker has judged the unfreeze's start: its status once admitted; a refusal (or a failed start) throws. */
async function admitted(handle: WorkflowHandle, freezeId: string): Promise<UnfreezeStatus> {
  const until = Date.now() + ADMISSION_TIMEOUT_MS;
  for (;;) {
    const s = await handle.query(unfreezeStatusQuery);
    if (s.phase === 'refused') throw opError('refused', `the gradual unfreeze of ${freezeId} was not started: ${s.error ?? 'its start was refused'}`);
    if (s.phase === 'error') throw opError('failed', `the gradual unfreeze of ${freezeId} failed at its start: ${s.error ?? 'unknown error'}`);
    if (s.admitted) return s;
    if (Date.now() >= until)
      throw opError(
        'failed',
        `the gradual unfreeze of ${freezeId} was started, but the worker did not judge its start within ${ADMISSION_TIMEOUT_MS / 1000}s; see: rearguard unfreeze status --freeze ${freezeId}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The freeze a gradual unfreeze would end: it must exist and be active or scheduled. */
export async function freezeToUnfreeze(client: Client, freezeId: string): Promise<FreezeState> {
  let freeze: FreezeState;
  try {
    freeze = await client.workflow.getHandle(freezeId).query(freezeStateQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw opError('not-found', `no freeze ${freezeId.replace(/^freeze:/, '')} was found (rearguard freeze list shows the running ones)`);
    throw opError('failed', `cannot read freeze ${freezeId}: ${rootMessage(err)}`);
  }
  if (freeze.phase !== 'active' && freeze.phase !== 'scheduled')
    throw opError('refused', `freeze ${freeze.name} has ${freeze.phase === 'lifted' ? 'been lifted' : 'ended'}: there is nothing to unfreeze`);
  return freeze;
}

/**
 * Starts the ladder; `ref` is the freeze as the person named it (for the hint when one already runs). Returns once
 * the worker has admitted the start (signature, policy): a refused start throws and opens nothing.
 */
export async function startUnfreeze(
  client: Client,
  taskQueue: string,
  input: UnfreezeInput,
  ref: string,
): Promise<{ workflowId: string; status: UnfreezeStatus }> {
  let handle: WorkflowHandle;
  try {
    handle = await client.workflow.start('gradualUnfreeze', {
      workflowId: unfreezeWorkflowId(input.freezeId),
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      memo: { actor: input.actor, reason: input.reason },
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw opError('conflict', `a gradual unfreeze of ${input.freezeId} is already running: rearguard unfreeze status --freeze ${ref}`);
    throw failure(err, 'cannot start the unfreeze:');
  }
  return { workflowId: handle.workflowId, status: await admitted(handle, input.freezeId) };
}

/** Runs a client call against the unfreeze workflow, turning Temporal errors into errors naming the freeze. */
async function onUnfreeze<T>(client: Client, freezeId: string, what: string, run: (h: WorkflowHandle) => Promise<T>): Promise<T> {
  const id = unfreezeWorkflowId(freezeId);
  try {
    return await run(client.workflow.getHandle(id));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw opError('not-found', `no gradual unfreeze of ${freezeId} was found (start one with: rearguard unfreeze start --freeze ...)`);
    if (err instanceof WorkflowUpdateFailedError) throw opError('refused', `${what} refused: ${rootMessage(err)}`);
    if (err instanceof OperationError) throw err;
    const w = await wedgeOf(client, id);
    if (w) throw wedgedError(`${what} failed:`, w);
    throw opError('failed', `${what} failed: ${rootMessage(err)}`);
  }
}

/** The ladder's status; a wedged unfreeze answers no Query, so it is reported at once instead of timing out. */
export async function unfreezeStatus(client: Client, freezeId: string): Promise<UnfreezeStatus> {
  await failIfWedged(client, unfreezeWorkflowId(freezeId), 'read the status of');
  return onUnfreeze(client, freezeId, 'status', (h) => h.query(unfreezeStatusQuery));
}

export type UnfreezeAction = 'advance' | 'abort' | 'approve';
const UPDATES = { advance: advanceUnfreezeUpdate, abort: abortUnfreezeUpdate, approve: approveUnfreezeUpdate };

/** A decision on a running ladder. Updates on a finished unfreeze fail with "workflow execution already completed": say what happened instead. */
export function decideUnfreeze(
  client: Client,
  freezeId: string,
  action: UnfreezeAction,
  decision: UnfreezeDecision & { signed?: SignedEnvelope },
): Promise<UnfreezeStatus> {
  return onUnfreeze(client, freezeId, action, async (h) => {
    const d = await h.describe();
    if (d.status.name !== 'RUNNING') {
      const s = await h.query(unfreezeStatusQuery).catch(() => undefined);
      throw opError('refused', `${action} refused: the gradual unfreeze of ${freezeId} has ended (${s?.phase ?? d.status.name.toLowerCase()})`);
    }
    return h.executeUpdate(UPDATES[action], { args: [decision] });
  });
}
