// Rollback operations, the one way every caller (CLI, `rearguard serve`'s alert intake, the SLO guard's
// activity, the benchmark) starts, follows and steers a rollback. Start-or-join is signal-with-start on
// `rollback:<env>:<service>`: a rollback already running for the target receives the trigger as a join
// (audited by the rollback), never a second rollback racing the first. A wedged rollback (its workflow
// task fails on every attempt) is never joined: the trigger would be lost in a run that makes no progress.
import type { Client } from '@temporalio/client';
import type { Runbook } from '../runbook/schema.js';
import type { RollbackStatus, Trigger } from '../runbook/types.js';
import { rollbackWorkflowId } from './ids.js';
import {
  approvePlanUpdate,
  approveUpdate,
  cancelRequestSignal,
  rejectUpdate,
  statusQuery,
  triggerSignal,
  type VoteRequest,
  type VoteResult,
} from './messages.js';
import { refuseWedged } from './wedged.js';

export interface TriggerResult {
  workflowId: string;
  runId: string;
  /** True when a rollback was already running for the target and this trigger joined it. */
  joined: boolean;
  /** Who started the rollback that runs (this trigger's actor unless joined). */
  startedBy?: string;
}

/**
 * Starts the runbook's rollback, or joins the one running for its target (recorded in its audit trail).
 * Throws wedgedRunError (type WedgedRun, non-retryable) when the running one is wedged.
 */
export async function triggerRollback(client: Client, taskQueue: string, runbook: Runbook, trigger: Trigger): Promise<TriggerResult> {
  const workflowId = rollbackWorkflowId(runbook.spec.environment, runbook.spec.service);
  await refuseWedged(client, workflowId);
  const handle = await client.workflow.signalWithStart('rollback', {
    workflowId,
    taskQueue,
    args: [{ runbook, trigger }],
    signal: triggerSignal,
    signalArgs: [trigger],
    memo: { requestId: trigger.requestId, runbook: runbook.metadata.name, actor: trigger.actor, reason: trigger.reason },
  });
  const d = await handle.describe();
  const memo = d.memo as { requestId?: string; actor?: string } | undefined;
  const joined = memo?.requestId !== trigger.requestId;
  // It may have wedged between the check and the signal (or this is a retry of a trigger it already has).
  if (joined) await refuseWedged(client, workflowId, d);
  return { workflowId, runId: handle.signaledRunId, joined, startedBy: memo?.actor };
}

/** The rollback's status (a Query, answered by a worker). */
export const rollbackStatus = (client: Client, workflowId: string): Promise<RollbackStatus> => client.workflow.getHandle(workflowId).query(statusQuery);

/** An approval or a rejection by an approver (an Update: the validator refuses it with the reason). */
export const voteOnRollback = (client: Client, workflowId: string, vote: 'approve' | 'reject', req: VoteRequest): Promise<VoteResult> =>
  client.workflow.getHandle(workflowId).executeUpdate(vote === 'approve' ? approveUpdate : rejectUpdate, { args: [req] });

/** Approves the saved plan of a step marked approvePlan (e.g. a Terraform plan). */
export const approveRollbackPlan = (client: Client, workflowId: string, req: VoteRequest & { step?: string }): Promise<{ accepted: true; step: string }> =>
  client.workflow.getHandle(workflowId).executeUpdate(approvePlanUpdate, { args: [req] });

/** Records who cancels and why (in the audit trail), then cancels the run. */
export async function cancelRollback(client: Client, workflowId: string, req: VoteRequest): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  await handle.signal(cancelRequestSignal, req);
  await handle.cancel();
}

/** True once the run has closed (the status Query may say `done` a moment before). */
export async function rollbackClosed(client: Client, workflowId: string): Promise<boolean> {
  const d = await client.workflow.getHandle(workflowId).describe();
  return d.status.name !== 'RUNNING';
}
