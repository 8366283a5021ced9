// Rollback operations, the one way every caller (CLI, `rearguard serve`'s alert intake, the SLO guard's
// activity, the benchmark) starts, follows and steers a rollback. Start-or-join is signal-with-start on
// `rollback:<env>:<service>`: a rollback already running for the target receives the trigger as a join
// (audited by the rollback), never a second rollback racing the first. A wedged rollback (its workflow
// task fails on every attempt) is never joined: the trigger would be lost in a run that makes no progress.
// Failures are OperationErrors (api/errors.ts) worded for people, except triggerRollback's, which activities
// rely on (a non-retryable WedgedRun failure).
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Runbook } from '../runbook/schema.js';
import type { CatalogRef } from '../runbook/catalog.js';
import type { RollbackStatus, Trigger } from '../runbook/types.js';
import { failure, opError, readStatus, rootMessage, updateError, wedgedError } from './errors.js';
import { planWorkflowId, rollbackWorkflowId } from './ids.js';
import { approvePlanUpdate, approveUpdate, cancelRequestSignal, cancelUpdate, rejectUpdate, statusQuery, triggerSignal } from './messages.js';
import type { VoteRequest, VoteResult } from './messages.js';
import { isWedgedRunError, refuseWedged, wedgedRun, type WedgedRun } from './wedged.js';

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
export async function triggerRollback(client: Client, taskQueue: string, runbook: Runbook, trigger: Trigger, catalog?: CatalogRef): Promise<TriggerResult> {
  const workflowId = rollbackWorkflowId(runbook.spec.environment, runbook.spec.service);
  await refuseWedged(client, workflowId);
  const handle = await client.workflow.signalWithStart('rollback', {
    workflowId,
    taskQueue,
    // A catalog runbook goes by name and digest: the workflow loads it on the worker, never this copy.
    args: [catalog ? { catalog, trigger } : { runbook, trigger }],
    signal: triggerSignal,
    signalArgs: [trigger],
    memo: {
      requestId: trigger.requestId,
      runbook: runbook.metadata.name,
      actor: trigger.actor,
      reason: trigger.reason,
      ...(catalog?.digest ? { digest: catalog.digest } : {}),
    },
  });
  const d = await handle.describe();
  const memo = d.memo as { requestId?: string; actor?: string } | undefined;
  const joined = memo?.requestId !== trigger.requestId;
  // It may have wedged between the check and the signal (or this is a retry of a trigger it already has).
  if (joined) await refuseWedged(client, workflowId, d);
  return { workflowId, runId: handle.signaledRunId, joined, startedBy: memo?.actor };
}

/** `rollback start`: triggerRollback, with a wedged rollback of the target reported as an OperationError (kind wedged). */
export async function startRollback(client: Client, taskQueue: string, runbook: Runbook, trigger: Trigger, catalog?: CatalogRef): Promise<TriggerResult> {
  try {
    return await triggerRollback(client, taskQueue, runbook, trigger, catalog);
  } catch (err) {
    if (!isWedgedRunError(err)) throw err;
    const w = err.details?.[0] as WedgedRun;
    throw wedgedError(`refusing to join ${w.workflowId}: the rollback running for this target is wedged.`, w);
  }
}

/** The rollback's status (a Query, answered by a worker); a wedged run is reported at once. */
export const rollbackStatus = (client: Client, workflowId: string): Promise<RollbackStatus> =>
  readStatus(client, workflowId, [`no rollback ${workflowId} was found`], () => client.workflow.getHandle(workflowId).query(statusQuery));

const notRunning = (workflowId: string) => `no running rollback ${workflowId}`;

/** An approval or a rejection by an approver (an Update: the validator refuses it with the reason). */
export async function voteOnRollback(client: Client, workflowId: string, vote: 'approve' | 'reject', req: VoteRequest): Promise<VoteResult> {
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate(vote === 'approve' ? approveUpdate : rejectUpdate, { args: [req] });
  } catch (err) {
    throw updateError(err, notRunning(workflowId), `${vote} refused:`, `${vote} failed:`);
  }
}

/** Approves the saved plan of a step marked approvePlan (e.g. a Terraform plan). */
export async function approveRollbackPlan(client: Client, workflowId: string, req: VoteRequest & { step?: string }): Promise<{ accepted: true; step: string }> {
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate(approvePlanUpdate, { args: [req] });
  } catch (err) {
    throw updateError(err, notRunning(workflowId), 'approve-plan refused:', 'approve-plan failed:');
  }
}

/** terminated: the run was wedged, so it was terminated (a cancellation needs a workflow task too); error is the wedge's. */
export type CancelResult = { terminated: false } | { terminated: true; error: string };

/** What a run whose workflow code predates the cancel Update (an older worker) answers it. */
const NO_CANCEL_HANDLER = `No registered handler for update: ${cancelUpdate.name}`;

/**
 * Asks the run to accept the cancellation (the cancel Update: its validator checks the policy's `cancel` and the
 * signature, and refuses with the reason), and only then cancels it; a wedged run is terminated instead.
 */
export async function cancelRollback(client: Client, workflowId: string, req: VoteRequest): Promise<CancelResult> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    if (d.status.name !== 'RUNNING') throw opError('refused', `${workflowId} is not running (${d.status.name.toLowerCase()})`);
    // This run, not a later one of the same ID.
    const handle = client.workflow.getHandle(workflowId, d.runId);
    const wedged = await wedgedRun(client, workflowId, d);
    if (wedged) {
      await handle.terminate(`cancelled by ${req.actor}: ${req.reason} (wedged: ${wedged.error})`);
      return { terminated: true, error: wedged.error };
    }
    try {
      await handle.executeUpdate(cancelUpdate, { args: [req] });
    } catch (err) {
      // An older worker checks nothing and records the canceller from the signal, as before.
      if (!(err instanceof WorkflowUpdateFailedError && rootMessage(err) === NO_CANCEL_HANDLER))
        throw updateError(err, notRunning(workflowId), 'cancel refused:', 'cancel failed:');
      await handle.signal(cancelRequestSignal, req);
    }
    await handle.cancel();
    return { terminated: false };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw opError('not-found', notRunning(workflowId));
    throw failure(err, 'cancel failed:');
  }
}

/** Resolves once the run has closed, however it ended. */
export const rollbackEnded = async (client: Client, workflowId: string): Promise<void> => {
  await rollbackFinal(client, workflowId);
};

/** How a run ended: closed (with its final status when it completed or failed), or not known to have closed. */
export interface RunEnd {
  closed: boolean;
  status?: RollbackStatus;
}

/**
 * Waits for the run to close (its result, by a long poll: no polling delay) and says how it ended: its final status
 * when it completed or failed (a failed rollback carries it as its failure's details, workflows/rollback.ts); closed
 * without a status when cancelled, terminated or timed out; not closed when the result cannot be read. `signal`
 * ends the long poll (a caller that stops following must not keep the process alive).
 */
export async function rollbackFinal(client: Client, workflowId: string, signal?: AbortSignal): Promise<RunEnd> {
  const result = () => client.workflow.getHandle(workflowId).result() as Promise<RollbackStatus>;
  try {
    const s = await (signal ? client.withAbortSignal(signal, result) : result());
    return { closed: true, status: asFinal(s) };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) return { closed: false };
    const failed =
      err.cause instanceof ApplicationFailure && err.cause.type === 'RollbackFailed' ? (err.cause.details?.[0] as RollbackStatus | undefined) : undefined;
    return { closed: true, ...(failed ? { status: asFinal(failed) } : {}) };
  }
}

/** The SLA's time left as the status Query says it (from now), not as it was when the workflow stored it. */
const asFinal = (s: RollbackStatus): RollbackStatus => ({ ...s, sla: { ...s.sla, remainingMs: Date.parse(s.sla.deadline) - Date.now() } });

/** The run a signed decision is for: it binds the decision to this run, not to the next rollback of the same service. */
export async function rollbackRunId(client: Client, workflowId: string): Promise<string> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).runId;
  } catch (err) {
    throw failure(err, `cannot sign a decision for ${workflowId}:`);
  }
}

/** True once the run has closed (the status Query may say `done` a moment before). */
export async function rollbackClosed(client: Client, workflowId: string): Promise<boolean> {
  const d = await client.workflow.getHandle(workflowId).describe();
  return d.status.name !== 'RUNNING';
}

/** One rollback of a listing: its memo (runbook, actor, reason, phase while it runs, outcome once finished) and where it stands. */
export type RollbackRow = Record<string, unknown> & {
  workflowId: string;
  status: string;
  startTime: string;
  /** How it ended (the run's memo, else what its closed status implies); null while it runs. */
  outcome: string | null;
};

/** A closed run without an outcome in its memo (terminated, timed out, or started before outcomes were recorded). */
const OUTCOME_OF_STATUS: Record<string, string> = {
  failed: 'failed',
  cancelled: 'cancelled',
  terminated: 'terminated',
  timed_out: 'timed-out',
  completed: 'completed',
};

/** Rollbacks, newest first as the server lists them: running ones unless all. */
export async function listRollbacks(client: Client, { all, limit }: { all?: boolean; limit: number }): Promise<RollbackRow[]> {
  const query = `WorkflowType = 'rollback'${all ? '' : " AND ExecutionStatus = 'Running'"}`;
  const rows: RollbackRow[] = [];
  try {
    for await (const w of client.workflow.list({ query })) {
      const status = w.status.name.toLowerCase();
      // The memo's phase (since progress-memo) is where a running rollback stands; a closed one has its outcome.
      const { phase, ...memo } = (w.memo ?? {}) as Record<string, unknown>;
      const outcome = typeof memo.outcome === 'string' ? memo.outcome : (OUTCOME_OF_STATUS[status] ?? null);
      rows.push({
        workflowId: w.workflowId,
        status,
        startTime: w.startTime.toISOString(),
        ...memo,
        ...(status === 'running' && typeof phase === 'string' ? { phase } : {}),
        outcome,
      });
      if (rows.length >= limit) break;
    }
  } catch (err) {
    throw failure(err, 'cannot list rollbacks:');
  }
  return rows;
}

/** What `rollback plan` shows: each step's current -> target (or why it cannot be planned), and preflight problems. */
export interface RollbackPlan {
  problems: string[];
  steps: { name: string; type: string; summary: string; plan?: Record<string, unknown>; error?: string }[];
}

/** Plans the runbook's rollback on a worker (which holds the cluster credentials): a short workflow, never a change. */
export async function planRollback(client: Client, taskQueue: string, runbook: Runbook, catalog?: CatalogRef): Promise<RollbackPlan> {
  try {
    return (await client.workflow.execute('planRollback', {
      workflowId: planWorkflowId(runbook.spec.environment, runbook.spec.service, randomUUID()),
      taskQueue,
      args: [catalog ? { catalog } : { runbook }],
      workflowExecutionTimeout: '5m',
    })) as RollbackPlan;
  } catch (err) {
    throw failure(err, 'cannot plan:');
  }
}
