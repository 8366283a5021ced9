// How the rollback runs one item, a step or a verify check: as an activity with options from the runbook,
// timed, audited on start and end, its failure recorded on the item (the procedure decides what a failure
// means). A planned step whose plan must be approved waits here for an approver.
import { ApplicationFailure, condition, isCancellation, proxySinks, type ActivityOptions } from '@temporalio/workflow';
import { describePlan } from '../../runbook/plan.js';
import type { Check, Step } from '../../runbook/schema.js';
import type { ItemStatus } from '../../runbook/types.js';
import type { RearguardSinks } from '../sinks.js';
import { FINAL_CHECK_ERRORS, FINAL_STEP_ERRORS, errorMessage } from '../kit/index.js';
import type { RollbackRun } from './state.js';

const { metrics } = proxySinks<RearguardSinks>();

export function stepOptions(step: Step): ActivityOptions {
  return {
    startToCloseTimeout: step.timeout ?? 600_000,
    heartbeatTimeout: '30s',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      maximumAttempts: step.attempts ?? 5,
      nonRetryableErrorTypes: FINAL_STEP_ERRORS,
    },
  };
}

export function checkOptions(check: Check): ActivityOptions {
  // A check polls until it passes or its own timeout is spent, then fails with what it last saw. A
  // prometheus check must then also hold for `for`: its activity gets timeout + for.
  return {
    startToCloseTimeout: (check.timeout ?? 120_000) + (check.type === 'prometheus' ? (check.for ?? 0) : 0) + 30_000,
    heartbeatTimeout: '30s',
    retry: { initialInterval: '2s', maximumAttempts: 3, nonRetryableErrorTypes: FINAL_CHECK_ERRORS },
  };
}

/** Thrown inside a step when its plan finds the target already restored by an earlier rollback. */
export class AlreadyRestored extends Error {}

/** Runs `run` as item `item`; returns its result, or undefined when it failed or was skipped (see item.state). */
export async function runItem<T>(r: RollbackRun, item: ItemStatus, kind: 'step' | 'check', run: () => Promise<T>): Promise<T | undefined> {
  item.state = 'running';
  item.startedAt = new Date().toISOString();
  r.audit(`rollback.${kind}-started`, 'rearguard', `${kind} ${item.name}`, { [kind]: item.name, type: item.type });
  try {
    const result = await run();
    item.state = 'succeeded';
    item.result = result as Record<string, unknown>;
    return result;
  } catch (err) {
    if (isCancellation(err)) {
      item.state = 'skipped';
      item.error = 'cancelled';
      throw err;
    }
    if (err instanceof AlreadyRestored) {
      item.state = 'skipped';
      return undefined;
    }
    item.state = 'failed';
    item.error = errorMessage(err);
    return undefined;
  } finally {
    item.endedAt = new Date().toISOString();
    item.durationMs = Date.parse(item.endedAt) - Date.parse(item.startedAt);
    if (item.state === 'skipped' && item.result?.alreadyRestored) {
      r.audit(`rollback.${kind}-skipped`, 'rearguard', String(item.result.status), { [kind]: item.name, type: item.type, result: item.result });
    } else if (item.state !== 'skipped') {
      if (kind === 'step') metrics.stepFinished(item.type, item.durationMs / 1000);
      r.audit(`rollback.${kind}-${item.state}`, 'rearguard', item.error ?? `${kind} ${item.name} ${item.state}`, {
        [kind]: item.name,
        type: item.type,
        durationMs: item.durationMs,
        ...(item.result ? { result: item.result } : {}),
      });
    }
  }
}

/** Holds a planned step until an approver accepts its plan; a reject or the approval timeout stops it. */
export async function awaitPlanApproval(r: RollbackRun, item: ItemStatus): Promise<void> {
  item.planApproval = { required: true };
  r.audit('rollback.plan-approval-requested', 'rearguard', describePlan(item.plan ?? {}), { step: item.name, approvers: r.status.approval.approvers });
  await r.notify(
    r.everyone(),
    'plan-approval',
    `Rollback ${r.workflowId} waits for approval of the plan of step ${item.name}: ${describePlan(item.plan ?? {})}. rearguard rollback approve-plan --id ${r.workflowId} --reason "..."`,
  );
  const decided = await condition(() => item.planApproval?.approvedBy !== undefined || r.rejected(), r.approval.timeout);
  if (r.rejected()) throw ApplicationFailure.nonRetryable(`plan of step ${item.name} rejected`, 'PlanRejected');
  if (!decided)
    throw ApplicationFailure.nonRetryable(`plan of step ${item.name} was not approved within ${r.approvalText}; nothing was applied`, 'PlanNotApproved');
}
