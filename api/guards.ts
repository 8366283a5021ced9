// SLO guard operations (workflow `guard:<env>:<service>`, one per target): start guarding a runbook's
// service, pause and resume its automatic rollbacks (decisions, signed when the CLI has a key), read its status.
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Runbook } from '../runbook/schema.js';
import type { CatalogRef } from '../runbook/catalog.js';
import type { SloGuardStatus } from '../runbook/slo-guard.js';
import { failure, opError, readStatus, updateError } from './errors.js';
import { guardWorkflowId } from './ids.js';
import { guardStatusQuery, pauseGuardUpdate, resumeGuardUpdate, type GuardDecision } from './messages.js';

/** Starts the guard of the runbook's target; one already running is a conflict, never replaced. */
export async function startGuard(
  client: Client,
  taskQueue: string,
  runbook: Runbook,
  req: { actor: string; reason: string },
  /** A catalog runbook: the guard loads it on the worker (this copy only names its target). */
  catalog?: CatalogRef,
): Promise<{ workflowId: string; runId: string }> {
  const { environment, service } = runbook.spec;
  const workflowId = guardWorkflowId(environment, service);
  try {
    const handle = await client.workflow.start('sloGuard', {
      workflowId,
      taskQueue,
      args: [catalog ? { catalog, actor: req.actor, reason: req.reason } : { runbook, actor: req.actor, reason: req.reason }],
      memo: { runbook: runbook.metadata.name, actor: req.actor },
    });
    return { workflowId, runId: handle.firstExecutionRunId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw opError(
        'conflict',
        `a guard is already running for ${environment}/${service} (${workflowId})`,
        `See it with \`rearguard guard status --env ${environment} --service ${service}\`.`,
      );
    throw failure(err, `cannot start guard ${workflowId}:`);
  }
}

/**
 * Pauses (no evaluation, no automatic rollback) or resumes a guard. Its validator refuses a pause of a paused
 * guard, someone the worker's policy does not allow (`guards`), and a signature it cannot verify, saying why.
 */
export async function setGuardPaused(client: Client, workflowId: string, action: 'pause' | 'resume', req: GuardDecision): Promise<SloGuardStatus> {
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate(action === 'pause' ? pauseGuardUpdate : resumeGuardUpdate, { args: [req] });
  } catch (err) {
    throw updateError(err, `no guard ${workflowId} is running`, `cannot ${action} ${workflowId}:`, `cannot ${action} ${workflowId}:`);
  }
}

/** The guard's state, last evaluation, cooldown, pause and triggers; a wedged guard is reported at once. */
export const guardStatus = (client: Client, workflowId: string): Promise<SloGuardStatus> =>
  readStatus(client, workflowId, [`no guard ${workflowId} was found`, 'Start one with `rearguard guard start --runbook FILE`.'], () =>
    client.workflow.getHandle(workflowId).query(guardStatusQuery),
  );
