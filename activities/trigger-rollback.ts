// The one way every system starts a rollback (the SLO guard's activity, the Alertmanager intake):
// signal-with-start on `rollback:<env>:<service>`, so a rollback already running for the target is
// joined (and the join audited by the rollback), never doubled. A wedged rollback (its workflow task
// fails on every attempt) is never joined: the trigger would be lost in a run that makes no progress.
import type { Client } from '@temporalio/client';
import type { Runbook } from '../runbook/schema.js';
import type { Trigger } from '../runbook/types.js';
import { rollbackWorkflowId, triggerSignal } from '../workflows/messages.js';
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
