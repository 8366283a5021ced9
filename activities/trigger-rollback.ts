// The one way every system starts a rollback (the SLO guard's activity, the Alertmanager intake):
// signal-with-start on `rollback:<env>:<service>`, so a rollback already running for the target is
// joined (and the join audited by the rollback), never doubled.
import type { Client } from '@temporalio/client';
import type { Runbook } from '../runbook/schema.js';
import type { Trigger } from '../runbook/types.js';
import { rollbackWorkflowId, triggerSignal } from '../workflows/messages.js';

export interface TriggerResult {
  workflowId: string;
  runId: string;
  /** True when a rollback was already running for the target and this trigger joined it. */
  joined: boolean;
  /** Who started the rollback that runs (this trigger's actor unless joined). */
  startedBy?: string;
}

/** Starts the runbook's rollback, or joins the one running for its target (recorded in its audit trail). */
export async function triggerRollback(client: Client, taskQueue: string, runbook: Runbook, trigger: Trigger): Promise<TriggerResult> {
  const workflowId = rollbackWorkflowId(runbook.spec.environment, runbook.spec.service);
  const handle = await client.workflow.signalWithStart('rollback', {
    workflowId,
    taskQueue,
    args: [{ runbook, trigger }],
    signal: triggerSignal,
    signalArgs: [trigger],
    memo: { requestId: trigger.requestId, runbook: runbook.metadata.name, actor: trigger.actor, reason: trigger.reason },
  });
  const memo = (await handle.describe()).memo as { requestId?: string; actor?: string } | undefined;
  return { workflowId, runId: handle.signaledRunId, joined: memo?.requestId !== trigger.requestId, startedBy: memo?.actor };
}
