// The rollback runbook, in the order an operator would follow it: preflight, the repeat rule, approval,
// then each step, then each verify check. Any phase may end the run early by setting its outcome (failed,
// rejected, approval-timeout, already-restored); rollback.ts then closes the run the same way for all.
import { condition, deprecatePatch, isCancellation, patched, proxyActivities, proxySinks } from '@temporalio/workflow';
import type { createActivities } from '../../activities/index.js';
import { describePlan, restoredBy, type RestoreRecord } from '../../runbook/plan.js';
import { alreadyRestoredMessage, explicitTargetProblem, hasRelativeTarget, withExplicitTarget } from '../../runbook/repeat.js';
import { PLANNED_STEP_TYPES } from '../../runbook/step-types.js';
import type { RearguardSinks } from '../sinks.js';
import { CONFIGURATION_ERRORS, errorMessage, showProgress } from '../kit/index.js';
import { AlreadyRestored, awaitPlanApproval, checkOptions, runItem, stepOptions } from './items.js';
import { effectiveApproval, mayAct } from '../../runbook/permissions.js';
import { loadTrust } from '../kit/decisions.js';
import { matchPattern } from '../../runbook/sshsig.js';
import type { RollbackRun } from './state.js';

type Activities = ReturnType<typeof createActivities>;

const checks = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  // findRestored heartbeats while it plans: a dead worker's attempt is retried after 30 s, not the minute.
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: CONFIGURATION_ERRORS },
});
const { metrics } = proxySinks<RearguardSinks>();

// One function on purpose: every await below is a point where the run's history is written, and their
// order is what a running rollback replays.
export async function procedure(r: RollbackRun): Promise<void> {
  const { runbook, spec, status, trigger, workflowId, target, approval } = r;

  // --- who may sign decisions, and the worker's policy: its trust settings, in history before any vote can
  // count. Runbooks with approvers take votes; since the policy, every run needs the settings (a policy may ask
  // for approval a runbook leaves out). patched: runs started before either replay as they ran.
  if ((approval.approvers.length > 0 || patched('policy-permissions')) && patched('signed-decisions')) {
    try {
      r.trust = await loadTrust();
    } catch (err) {
      if (isCancellation(err)) throw err;
      return r.fail('preflight', `could not load the worker's trust settings (signed decisions): ${errorMessage(err)}`);
    }
  }
  // A person's trigger is a decision like an approval: signed (runbook name and digest) on a worker with a
  // catalog that requires signatures, and checked wherever it is signed. Triggers by systems (alerts through
  // serve, the SLO guard, drills) are not people's keys; the policy's `trigger` list still names which of them
  // may act where. patched: earlier runs replay.
  const triggerMustBeSigned = r.trust.catalog !== undefined && r.trust.requireSignatures;
  if ((trigger.signed || triggerMustBeSigned) && patched('signed-triggers')) {
    try {
      const verified = r.admitTrigger();
      if (verified) r.audit('rollback.trigger-verified', trigger.actor, trigger.reason, { decision: verified.decision }, verified.signature);
    } catch (err) {
      return r.fail('preflight', `trigger refused: ${errorMessage(err)}`);
    }
  }
  // With a catalog, a runbook sent by the client (a local file) runs only where the policy says so (e.g. dev):
  // elsewhere only reviewed runbooks, loaded by the worker, act on production. No commands change: trust
  // settings carry localRunbooks only on workers with a catalog, which postdate this rule.
  const local = r.trust.localRunbooks;
  if (local && !(r.status.origin && 'catalog' in r.status.origin) && !local.some((p) => matchPattern(target.environment, p)))
    return r.fail(
      'preflight',
      `refused: runbook ${runbook.metadata.name} was sent as a local file, and the worker's policy${r.trust.permissions ? ` ${r.trust.permissions.metadata.name}` : ''} accepts local runbooks only in ${local.length ? local.join(', ') : 'no environment'}, not ${target.environment}; start the reviewed runbook from the catalog by name (rollback start --runbook NAME)`,
    );
  // The policy decides who may trigger here, and the approval the rollback needs: the runbook's made stricter
  // (only approvers both allow, the larger quorum), never looser.
  const rules = r.trust.permissions;
  if (rules) {
    const may = mayAct(rules, target.environment, 'trigger', trigger.actor);
    if (!may.ok) return r.fail('preflight', `refused by the worker's policy: ${may.reason}`);
    const effective = effectiveApproval(rules, target.environment, approval, trigger.actor);
    if (effective.problem) return r.fail('preflight', `refused by the worker's policy: ${effective.problem}`);
    r.requireApproval(effective);
  }

  // --- preflight: can every step and check run at all? ---------------------------------------
  let problems: string[];
  try {
    problems = await checks.preflight({ runbook });
  } catch (err) {
    // The preflight itself failed (found by the workflow fuzzer): the rollback ends `failed`, audited and
    // announced like any other failure, instead of the workflow failing without an outcome.
    if (isCancellation(err)) throw err;
    problems = [`preflight could not run: ${errorMessage(err)}`];
  }
  if (problems.length > 0) return r.fail('preflight', problems.join('; '));
  const explicitProblem = trigger.explicitTarget && explicitTargetProblem(spec.steps, trigger.explicitTarget);
  if (explicitProblem) return r.fail('preflight', `explicit target (--to-revision): ${explicitProblem}`);

  // --- the repeat rule, before approval and before any step runs: a repeated trigger changes nothing
  // If the check itself cannot run, each step's own plan applies the same rule when it is planned.
  const relative = spec.steps.map((s) => withExplicitTarget(s, trigger.explicitTarget)).filter(hasRelativeTarget);
  // deprecatePatch: the check was added without a patch (0225bf7) and wrapped in patched() a commit later, so
  // every run that can replay has it, with or without the marker: both replay.
  if (relative.length > 0) {
    deprecatePatch('repeat-rule-check');
    try {
      const found = await checks.findRestored({
        workflowId,
        target,
        cluster: spec.cluster,
        steps: relative,
        trigger: { actor: trigger.actor, reason: trigger.reason, source: trigger.source },
      });
      if (found) return await alreadyRestored(r, found.step, found.record);
    } catch (err) {
      if (isCancellation(err)) throw err;
      r.audit('rollback.repeat-check-failed', 'rearguard', errorMessage(err), { steps: relative.map((s) => s.name ?? s.type) });
    }
  }

  // --- approval: a quorum of approvers, within the approval timeout --------------------------
  if (approval.required) {
    status.phase = 'awaiting-approval';
    showProgress({ phase: status.phase });
    status.approval.deadline = new Date(Date.now() + approval.timeout).toISOString();
    metrics.approvalPending(workflowId, true);
    let decided: boolean;
    try {
      decided = await condition(() => r.rejected() || r.approvals() >= approval.quorum, approval.timeout);
    } finally {
      metrics.approvalPending(workflowId, false);
    }
    if (!decided) {
      r.outcome = 'approval-timeout';
      r.audit('rollback.approval-timeout', 'approval-timer', `no quorum within ${r.approvalText}`, { approvals: r.approvals(), quorum: approval.quorum });
      await r.notify(r.escalation(), 'approval-timeout', `Rollback ${workflowId} was not approved within ${r.approvalText}; nothing was changed`);
      return;
    }
    if (r.rejected()) {
      r.outcome = 'rejected';
      return;
    }
  }

  // --- the steps, in order; the first failure skips the rest ---------------------------------
  status.phase = 'running-steps';
  showProgress({ phase: status.phase });
  for (const [i, runbookStep] of spec.steps.entries()) {
    const item = status.steps[i];
    // A person's explicit target (rollback start --to-revision) replaces the step's toRevision for this run.
    const step = withExplicitTarget(runbookStep, trigger.explicitTarget);
    const run = proxyActivities<Activities>(stepOptions(step));
    const request = {
      workflowId,
      target,
      cluster: spec.cluster,
      step,
      idempotencyKey: `${workflowId}/${r.runId}/${item.name}`,
      trigger: { actor: trigger.actor, reason: trigger.reason, source: trigger.source },
    };
    let restored: RestoreRecord | undefined;
    await runItem(r, item, 'step', async () => {
      // Resolve the target once and keep it in history: every retry of the step, on any worker,
      // then ensures this same target (revision 7 stays revision 7, never "one more back").
      if (PLANNED_STEP_TYPES.includes(step.type)) {
        item.plan = await run.planStep(request);
        r.audit('rollback.step-planned', 'rearguard', describePlan(item.plan), { step: item.name, type: step.type, plan: item.plan });
        restored = restoredBy(item.plan);
        if (restored) {
          item.result = { status: `already restored: ${restored.detail}`, alreadyRestored: restored };
          throw new AlreadyRestored();
        }
      }
      if (step.type === 'terraform' && step.approvePlan) await awaitPlanApproval(r, item);
      return run.runStep({ ...request, plan: item.plan });
    });
    if (restored) return alreadyRestored(r, item.name, restored);
    if (item.state === 'failed' && r.rejected()) {
      r.outcome = 'rejected';
      status.steps.slice(i + 1).forEach((s) => (s.state = 'skipped'));
      return;
    }
    if (item.state === 'failed') {
      status.steps.slice(i + 1).forEach((s) => (s.state = 'skipped'));
      return r.fail('running-steps', item.error ?? 'failed', item.name);
    }
  }

  // --- verify: every check must pass -----------------------------------------------------------
  status.phase = 'verifying';
  showProgress({ phase: status.phase });
  for (const [i, check] of spec.verify.entries()) {
    const item = status.verify[i];
    const run = proxyActivities<Activities>(checkOptions(check));
    await runItem(r, item, 'check', () => run.runCheck({ workflowId, target, cluster: spec.cluster, check }));
    if (item.state === 'failed') return r.fail('verifying', item.error ?? 'failed', item.name);
  }
}

/**
 * The repeat rule (runbook/repeat.ts): `step`'s relative target would move past a state an earlier rollback
 * restored. Nothing more runs; the run ends `already-restored` (not an error), audited, and escalated.
 */
async function alreadyRestored(r: RollbackRun, step: string, record: RestoreRecord): Promise<void> {
  const { status, trigger } = r;
  r.outcome = 'already-restored';
  const message = alreadyRestoredMessage(record);
  status.alreadyRestored = { step, record, message };
  const item = status.steps.find((s) => s.name === step);
  if (item) item.result = { ...item.result, status: `already restored: ${record.detail}`, alreadyRestored: record };
  for (const s of [...status.steps, ...status.verify]) if (s.state === 'pending') s.state = 'skipped';
  r.audit('rollback.already-restored', 'rearguard', message, {
    step,
    by: record.by,
    ...(record.runId ? { runId: record.runId } : {}),
    at: record.at,
    revision: record.revision,
    restoredTo: record.restoredTo,
    detail: record.detail,
  });
  await r.notify(
    r.escalation(),
    'already-restored',
    `Rollback ${r.workflowId} (${trigger.source} trigger by ${trigger.actor}): ${message}. ${record.detail}. Nothing was changed; to go further back, a person names the revision: rearguard rollback start --to-revision N`,
    { step, by: record.by, at: record.at, revision: record.revision, trigger: { source: trigger.source, actor: trigger.actor, reason: trigger.reason } },
  );
}
