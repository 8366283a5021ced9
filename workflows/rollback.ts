// The rollback runbook as a durable workflow: approvals by Update, an SLA clock with escalations,
// steps then verify checks as activities, and an audit event for everything that happens.
import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  startChild,
  condition,
  isCancellation,
  proxyActivities,
  proxySinks,
  patched,
  setHandler,
  sleep,
  upsertMemo,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { durationText, formatDuration, runbookDurationProblems } from '../runbook/duration.js';
import { PLANNED_STEP_TYPES, type Check, type Step } from '../runbook/schema.js';
import type { ItemStatus, Outcome, Phase, RestoreRecord, RollbackInput, RollbackStatus, Trigger } from '../runbook/types.js';
import { alreadyRestoredMessage, explicitTargetProblem, hasRelativeTarget, withExplicitTarget } from '../runbook/repeat.js';
import {
  approvePlanUpdate,
  approveUpdate,
  cancelRequestSignal,
  rejectUpdate,
  statusQuery,
  triggerSignal,
  type VoteRequest,
  type VoteResult,
} from '../api/messages.js';
import type { RearguardSinks } from './sinks.js';
import { auditTrail } from './audit-trail.js';
import { freezeWindow } from './freeze.js';
import { errorMessage } from './errors.js';
import { freezeWorkflowId } from '../api/ids.js';

type Activities = ReturnType<typeof createActivities>;

const notifications = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5 },
});
const checks = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['ConfigurationError'] },
});
const { metrics } = proxySinks<RearguardSinks>();

const NON_RETRYABLE = ['ConfigurationError', 'MechanismNotAvailable', 'PermissionDenied', 'NotFound'];

function stepOptions(step: Step): ActivityOptions {
  return {
    startToCloseTimeout: step.timeout ?? 600_000,
    heartbeatTimeout: '30s',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      maximumAttempts: step.attempts ?? 5,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  };
}

function checkOptions(check: Check): ActivityOptions {
  // A check polls until it passes or its own timeout is spent, then fails with what it last saw. A
  // prometheus check must then also hold for `for`: its activity gets timeout + for.
  return {
    startToCloseTimeout: (check.timeout ?? 120_000) + (check.type === 'prometheus' ? (check.for ?? 0) : 0) + 30_000,
    heartbeatTimeout: '30s',
    retry: { initialInterval: '2s', maximumAttempts: 3, nonRetryableErrorTypes: [...NON_RETRYABLE, 'CheckFailed'] },
  };
}

/** Thrown inside a step when its plan finds the target already restored by an earlier rollback. */
class AlreadyRestored extends Error {}

/** One line for the audit trail: what a planned step is about to change. */
export function describePlan(plan: Record<string, unknown>): string {
  if (plan.alreadyRestored) {
    const r = plan.alreadyRestored as RestoreRecord;
    return `${r.detail}: already restored by ${r.by} at ${r.at}; a relative target would move past it, so nothing changes (name a revision explicitly to go further)`;
  }
  if ('headBefore' in plan) {
    const commits = (plan.commits as string[]).map((c, i) => `${c.slice(0, 12)} "${(plan.subjects as string[])[i]}"`).join(', ');
    return `git ${String(plan.repo)}@${String(plan.branch)}: ${plan.mode === 'revert' ? `revert ${commits}` : `restore the tree of ${commits}`} as a new commit on ${String(plan.headBefore).slice(0, 12)}`;
  }
  if ('workingDir' in plan) {
    return `terraform ${String(plan.repo)}/${String(plan.workingDir)} at ${String(plan.toRef)} (${String(plan.commit).slice(0, 12)}): ${String(plan.add)} to add, ${String(plan.change)} to change, ${String(plan.destroy)} to destroy`;
  }
  if ('release' in plan) {
    return `helm release ${String(plan.namespace)}/${String(plan.release)}: revision ${String(plan.fromRevision)} (${String(plan.fromChart)}) -> revision ${String(plan.toRevision)} (${String(plan.toChart)})`;
  }
  if ('toRevision' in plan) {
    const images = (v: unknown) => (Array.isArray(v) ? v.join(', ') : '');
    return `deployment ${String(plan.namespace)}/${String(plan.deployment)}: revision ${String(plan.fromRevision)} (${images(plan.fromImages)}) -> revision ${String(plan.toRevision)} (${images(plan.toImages)})${plan.alreadyAtTarget ? ', already at target' : ''}`;
  }
  if ('toSelector' in plan) {
    const labels = (v: unknown) =>
      Object.entries((v ?? {}) as Record<string, string>)
        .map(([k, x]) => `${k}=${x}`)
        .join(',');
    return `service ${String(plan.namespace)}/${String(plan.service)}: selector ${labels(plan.fromSelector)} -> ${labels(plan.toSelector)}${plan.alreadyAtTarget ? ', already at target' : ''}`;
  }
  return JSON.stringify(plan);
}

export async function rollback({ runbook, trigger }: RollbackInput): Promise<RollbackStatus> {
  const { workflowId, runId } = workflowInfo();
  const spec = runbook.spec;
  const target = { environment: spec.environment, service: spec.service };
  const startedMs = Date.now();
  // Validation leaves milliseconds; anything else (an older client's '5m') fails the run, not its tasks.
  const inputProblems = runbookDurationProblems(runbook);
  if (inputProblems.length > 0) throw ApplicationFailure.nonRetryable(`invalid runbook input: ${inputProblems.join('; ')}`, 'InvalidRunbook');
  const slaMs = spec.sla;
  const slaText = durationText(slaMs);
  const approval = spec.approval ?? { required: false, approvers: [], quorum: 1, timeout: 30 * 60_000 };
  const approvalText = durationText(approval.timeout);
  const pending = (name: string, type: string): ItemStatus => ({ name, type, state: 'pending' });

  const status: RollbackStatus = {
    workflowId,
    runbook: runbook.metadata.name,
    target,
    trigger,
    joins: [],
    phase: 'preflight',
    startedAt: new Date(startedMs).toISOString(),
    approval: { required: approval.required, approvers: approval.approvers, quorum: approval.quorum, timeout: approvalText, votes: [] },
    sla: {
      target: slaText,
      deadline: new Date(startedMs + slaMs).toISOString(),
      remainingMs: slaMs,
      breached: false,
      escalations: spec.escalation.map((e) => ({
        at: typeof e.at === 'number' ? durationText(e.at) : e.at,
        atMs: typeof e.at === 'number' ? e.at : Math.round((slaMs * Number(e.at.slice(0, -1))) / 100),
        notify: e.notify,
      })),
    },
    steps: spec.steps.map((s) => pending(s.name ?? s.type, s.type)),
    verify: spec.verify.map((c) => pending(c.name ?? c.type, c.type)),
    audit: [],
  };

  const trail = auditTrail(
    () => target,
    () => ({ runbook: runbook.metadata.name }),
  );
  function audit(action: string, actor: string, reason: string, details: Record<string, unknown> = {}): void {
    status.audit.push(trail.record(action, actor, reason, details));
  }

  async function notify(names: string[], event: string, text: string, details: Record<string, unknown> = {}): Promise<void> {
    const targets = spec.notify.filter((n) => names.includes(n.name));
    if (targets.length === 0) return;
    try {
      await CancellationScope.nonCancellable(() => notifications.notify({ workflowId, target, targets, event, text, details }));
    } catch (err) {
      audit('rollback.notify-failed', 'rearguard', errorMessage(err), { event, targets: names });
    }
  }

  // --- messages -------------------------------------------------------------------------------
  const requesters = (): string[] => [trigger.actor, ...status.joins.map((j) => j.actor)];
  const approvals = (): number => status.approval.votes.filter((v) => v.decision === 'approve').length;
  const rejected = (): boolean => status.approval.votes.some((v) => v.decision === 'reject');

  const pendingPlan = (): ItemStatus | undefined => status.steps.find((s) => s.planApproval && !s.planApproval.approvedBy && s.state === 'running');
  function validateApprover(actor: string): void {
    if (!status.approval.approvers.includes(actor)) {
      throw new Error(`${actor} is not an approver of runbook ${runbook.metadata.name} (approvers: ${status.approval.approvers.join(', ')})`);
    }
    if (requesters().includes(actor)) throw new Error(`${actor} requested this rollback and cannot also approve or reject it`);
  }
  function validateVote({ actor }: VoteRequest): void {
    if (status.phase === 'running-steps' && pendingPlan()) {
      // A reject while a plan waits for approval stops the rollback before that plan is applied.
      validateApprover(actor);
      return;
    }
    if (status.phase !== 'awaiting-approval') {
      throw new Error(`no approval is pending: the rollback is ${status.outcome ?? status.phase}`);
    }
    if (!status.approval.approvers.includes(actor)) {
      throw new Error(`${actor} is not an approver of runbook ${runbook.metadata.name} (approvers: ${status.approval.approvers.join(', ')})`);
    }
    if (requesters().includes(actor)) throw new Error(`${actor} requested this rollback and cannot also approve or reject it`);
    const earlier = status.approval.votes.find((v) => v.actor === actor);
    if (earlier) throw new Error(`${actor} has already voted (${earlier.decision}) on this rollback`);
  }
  function vote(decision: 'approve' | 'reject') {
    return ({ actor, reason }: VoteRequest): VoteResult => {
      status.approval.votes.push({ actor, decision, reason, time: new Date().toISOString() });
      audit(decision === 'approve' ? 'rollback.approved' : 'rollback.rejected', actor, reason, { approvals: approvals(), quorum: approval.quorum });
      return { accepted: true, approvals: approvals(), quorum: approval.quorum, decided: rejected() || approvals() >= approval.quorum };
    };
  }
  setHandler(approveUpdate, vote('approve'), { validator: validateVote });
  setHandler(
    approvePlanUpdate,
    ({ actor, reason, step }) => {
      const item = pendingPlan()!;
      item.planApproval = { required: true, approvedBy: actor, reason, time: new Date().toISOString() };
      audit('rollback.plan-approved', actor, reason, { step: item.name, plan: item.plan });
      return { accepted: true as const, step: step ?? item.name };
    },
    {
      validator: ({ actor, step }) => {
        const item = pendingPlan();
        if (!item) throw new Error('no step is waiting for plan approval');
        if (step !== undefined && step !== item.name) throw new Error(`step ${step} is not waiting for plan approval (${item.name} is)`);
        validateApprover(actor);
      },
    },
  );
  setHandler(rejectUpdate, vote('reject'), { validator: validateVote });
  setHandler(triggerSignal, (t: Trigger) => {
    if (t.requestId === trigger.requestId || status.joins.some((j) => j.requestId === t.requestId)) return;
    status.joins.push(t);
    // A join never changes the running rollback's targets: an explicit target is recorded, not applied.
    audit('rollback.joined', t.actor, t.reason, {
      source: t.source,
      phase: status.phase,
      ...(t.explicitTarget ? { explicitTarget: t.explicitTarget, explicitTargetApplied: false } : {}),
    });
  });
  setHandler(cancelRequestSignal, (req) => {
    status.cancel ??= req;
  });
  setHandler(statusQuery, () => ({ ...status, sla: { ...status.sla, remainingMs: startedMs + slaMs - Date.now() } }));

  // --- SLA clock ------------------------------------------------------------------------------
  async function watchSla(): Promise<void> {
    type Mark = { atMs: number; breach: boolean; index: number };
    const marks: Mark[] = [
      { atMs: slaMs, breach: true, index: -1 },
      ...status.sla.escalations.map((e, index) => ({ atMs: e.atMs, breach: false, index })),
    ].sort((a, b) => a.atMs - b.atMs || Number(b.breach) - Number(a.breach));
    for (const mark of marks) {
      const wait = startedMs + mark.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      if (status.phase === 'done') return;
      if (mark.breach) {
        status.sla.breached = true;
        audit('rollback.sla-breached', 'sla-timer', `not restored within the ${slaText} SLA`, { phase: status.phase });
        metrics.slaBreached(target);
      } else {
        const esc = status.sla.escalations[mark.index];
        esc.firedAt = new Date().toISOString();
        audit('rollback.escalated', 'sla-timer', `${esc.at} of the ${slaText} SLA elapsed`, { notify: esc.notify, phase: status.phase });
        await notify(esc.notify, 'escalation', `Rollback ${workflowId} still ${status.phase} after ${formatDuration(mark.atMs)} (SLA ${slaText})`, {
          at: esc.at,
          phase: status.phase,
        });
      }
    }
  }

  // --- the procedure --------------------------------------------------------------------------
  let outcome = 'succeeded' as Outcome;
  function fail(phase: Phase, error: string, item?: string): void {
    outcome = 'failed';
    status.failure = { phase, item, error };
  }

  async function runItem<T>(item: ItemStatus, kind: 'step' | 'check', run: () => Promise<T>): Promise<T | undefined> {
    item.state = 'running';
    item.startedAt = new Date().toISOString();
    audit(`rollback.${kind}-started`, 'rearguard', `${kind} ${item.name}`, { [kind]: item.name, type: item.type });
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
        audit(`rollback.${kind}-skipped`, 'rearguard', String(item.result.status), { [kind]: item.name, type: item.type, result: item.result });
      } else if (item.state !== 'skipped') {
        if (kind === 'step') metrics.stepFinished(item.type, item.durationMs / 1000);
        audit(`rollback.${kind}-${item.state}`, 'rearguard', item.error ?? `${kind} ${item.name} ${item.state}`, {
          [kind]: item.name,
          type: item.type,
          durationMs: item.durationMs,
          ...(item.result ? { result: item.result } : {}),
        });
      }
    }
  }

  /** Holds a planned step until an approver accepts its plan; a reject or the approval timeout stops it. */
  async function awaitPlanApproval(item: ItemStatus): Promise<void> {
    item.planApproval = { required: true };
    audit('rollback.plan-approval-requested', 'rearguard', describePlan(item.plan ?? {}), { step: item.name, approvers: status.approval.approvers });
    await notify(
      spec.notify.map((n) => n.name),
      'plan-approval',
      `Rollback ${workflowId} waits for approval of the plan of step ${item.name}: ${describePlan(item.plan ?? {})}. rearguard rollback approve-plan --id ${workflowId} --reason "..."`,
    );
    const decided = await condition(() => item.planApproval?.approvedBy !== undefined || rejected(), approval.timeout);
    if (rejected()) throw ApplicationFailure.nonRetryable(`plan of step ${item.name} rejected`, 'PlanRejected');
    if (!decided)
      throw ApplicationFailure.nonRetryable(`plan of step ${item.name} was not approved within ${approvalText}; nothing was applied`, 'PlanNotApproved');
  }

  /** After a rollback, freeze the service (until lifted or `freezeAfter` ends) while the cause is found. */
  async function freezeForRca(durationMs: number): Promise<void> {
    const name = `rca-${spec.environment}-${spec.service}`.slice(0, 253);
    const end = new Date(Date.now() + durationMs).toISOString();
    try {
      await startChild(freezeWindow, {
        workflowId: freezeWorkflowId(name),
        args: [
          {
            name,
            scope: { environments: [spec.environment], services: [spec.service] },
            reason: `RCA after rollback ${workflowId}: ${trigger.reason}`,
            actor: 'rearguard',
            end,
            exceptions: { approvers: status.approval.approvers, quorum: 1 },
          },
        ],
        // The freeze outlives this rollback.
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
      audit(
        'rollback.freeze-started',
        'rearguard',
        `freezeAfter ${durationText(durationMs)}: ${spec.environment}/${spec.service} frozen until lifted or ${end}`,
        {
          freeze: freezeWorkflowId(name),
          end,
        },
      );
    } catch (err) {
      // Most often a freeze from an earlier rollback is still running: it already covers the service.
      audit('rollback.freeze-not-started', 'rearguard', errorMessage(err), { freeze: freezeWorkflowId(name) });
    }
  }

  /**
   * The repeat rule (runbook/repeat.ts): `step`'s relative target would move past a state an earlier rollback
   * restored. Nothing more runs; the run ends `already-restored` (not an error), audited, and escalated.
   */
  async function alreadyRestored(step: string, record: RestoreRecord): Promise<void> {
    outcome = 'already-restored';
    const message = alreadyRestoredMessage(record);
    status.alreadyRestored = { step, record, message };
    const item = status.steps.find((s) => s.name === step);
    if (item) item.result = { ...item.result, status: `already restored: ${record.detail}`, alreadyRestored: record };
    for (const s of [...status.steps, ...status.verify]) if (s.state === 'pending') s.state = 'skipped';
    audit('rollback.already-restored', 'rearguard', message, {
      step,
      by: record.by,
      ...(record.runId ? { runId: record.runId } : {}),
      at: record.at,
      revision: record.revision,
      restoredTo: record.restoredTo,
      detail: record.detail,
    });
    const escalate = [...new Set(spec.escalation.flatMap((e) => e.notify))];
    await notify(
      escalate.length ? escalate : spec.notify.map((n) => n.name),
      'already-restored',
      `Rollback ${workflowId} (${trigger.source} trigger by ${trigger.actor}): ${message}. ${record.detail}. Nothing was changed; to go further back, a person names the revision: rearguard rollback start --to-revision N`,
      { step, by: record.by, at: record.at, revision: record.revision, trigger: { source: trigger.source, actor: trigger.actor, reason: trigger.reason } },
    );
  }

  async function procedure(): Promise<void> {
    let problems: string[];
    try {
      problems = await checks.preflight({ runbook });
    } catch (err) {
      // The preflight itself failed (found by the workflow fuzzer): the rollback ends `failed`, audited and
      // announced like any other failure, instead of the workflow failing without an outcome.
      if (isCancellation(err)) throw err;
      problems = [`preflight could not run: ${errorMessage(err)}`];
    }
    if (problems.length > 0) return fail('preflight', problems.join('; '));
    const explicitProblem = trigger.explicitTarget && explicitTargetProblem(spec.steps, trigger.explicitTarget);
    if (explicitProblem) return fail('preflight', `explicit target (--to-revision): ${explicitProblem}`);

    // The repeat rule, before approval and before any step runs: a repeated trigger changes nothing.
    // If the check itself cannot run, each step's own plan applies the same rule when it is planned.
    const relative = spec.steps.map((s) => withExplicitTarget(s, trigger.explicitTarget)).filter(hasRelativeTarget);
    // patched: runs started before this check existed replay without it.
    if (relative.length > 0 && patched('repeat-rule-check')) {
      try {
        const found = await checks.findRestored({
          workflowId,
          target,
          cluster: spec.cluster,
          steps: relative,
          trigger: { actor: trigger.actor, reason: trigger.reason, source: trigger.source },
        });
        if (found) return await alreadyRestored(found.step, found.record);
      } catch (err) {
        if (isCancellation(err)) throw err;
        audit('rollback.repeat-check-failed', 'rearguard', errorMessage(err), { steps: relative.map((s) => s.name ?? s.type) });
      }
    }

    if (approval.required) {
      status.phase = 'awaiting-approval';
      status.approval.deadline = new Date(Date.now() + approval.timeout).toISOString();
      metrics.approvalPending(workflowId, true);
      let decided: boolean;
      try {
        decided = await condition(() => rejected() || approvals() >= approval.quorum, approval.timeout);
      } finally {
        metrics.approvalPending(workflowId, false);
      }
      if (!decided) {
        outcome = 'approval-timeout';
        audit('rollback.approval-timeout', 'approval-timer', `no quorum within ${approvalText}`, { approvals: approvals(), quorum: approval.quorum });
        const escalate = [...new Set(spec.escalation.flatMap((e) => e.notify))];
        await notify(
          escalate.length ? escalate : spec.notify.map((n) => n.name),
          'approval-timeout',
          `Rollback ${workflowId} was not approved within ${approvalText}; nothing was changed`,
        );
        return;
      }
      if (rejected()) {
        outcome = 'rejected';
        return;
      }
    }

    status.phase = 'running-steps';
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
        idempotencyKey: `${workflowId}/${runId}/${item.name}`,
        trigger: { actor: trigger.actor, reason: trigger.reason, source: trigger.source },
      };
      let restored: RestoreRecord | undefined;
      await runItem(item, 'step', async () => {
        // Resolve the target once and keep it in history: every retry of the step, on any worker,
        // then ensures this same target (revision 7 stays revision 7, never "one more back").
        if (PLANNED_STEP_TYPES.includes(step.type)) {
          item.plan = (await run.planStep(request)) as unknown as Record<string, unknown>;
          audit('rollback.step-planned', 'rearguard', describePlan(item.plan), { step: item.name, type: step.type, plan: item.plan });
          restored = item.plan.alreadyRestored as RestoreRecord | undefined;
          if (restored) {
            item.result = { status: `already restored: ${restored.detail}`, alreadyRestored: restored };
            throw new AlreadyRestored();
          }
        }
        if (step.type === 'terraform' && step.approvePlan) await awaitPlanApproval(item);
        return run.runStep({ ...request, plan: item.plan });
      });
      if (restored) return alreadyRestored(item.name, restored);
      if (item.state === 'failed' && rejected()) {
        outcome = 'rejected';
        status.steps.slice(i + 1).forEach((s) => (s.state = 'skipped'));
        return;
      }
      if (item.state === 'failed') {
        status.steps.slice(i + 1).forEach((s) => (s.state = 'skipped'));
        return fail('running-steps', item.error ?? 'failed', item.name);
      }
    }

    status.phase = 'verifying';
    for (const [i, check] of spec.verify.entries()) {
      const item = status.verify[i];
      const run = proxyActivities<Activities>(checkOptions(check));
      await runItem(item, 'check', () => run.runCheck({ workflowId, target, cluster: spec.cluster, check }));
      if (item.state === 'failed') return fail('verifying', item.error ?? 'failed', item.name);
    }
  }

  audit('rollback.triggered', trigger.actor, trigger.reason, {
    source: trigger.source,
    sla: slaText,
    steps: spec.steps.length,
    ...(trigger.explicitTarget ? { explicitTarget: trigger.explicitTarget } : {}),
  });
  const slaClock = new CancellationScope();
  const slaWatch = slaClock.run(watchSla).catch((err: unknown) => {
    if (!isCancellation(err)) throw err;
  });

  let cancellation: unknown;
  try {
    await procedure();
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancellation = err;
    outcome = 'cancelled';
    const by = status.cancel ?? { actor: 'temporal', reason: 'workflow cancelled' };
    audit('rollback.cancelled', by.actor, by.reason, { phase: status.phase });
  }

  status.outcome = outcome;
  status.phase = 'done';
  // Visible in `rollback list` (visibility) without asking a worker. patched: a run that ended before this
  // existed replays (e.g. for a status query) without it.
  if (patched('outcome-memo')) upsertMemo({ outcome });
  status.endedAt = new Date().toISOString();
  slaClock.cancel();
  await slaWatch;
  const durationSeconds = (Date.now() - startedMs) / 1000;
  // Rejected, timed-out and cancelled runs already ended with their own event (by the voter, the
  // approval timer, the canceller); succeeded and failed ones get a closing event here.
  if (outcome === 'succeeded' || outcome === 'failed') {
    audit(`rollback.${outcome}`, 'rearguard', status.failure?.error ?? 'rollback succeeded', {
      outcome,
      durationMs: Date.now() - startedMs,
      slaBreached: status.sla.breached,
      ...(status.failure ? { failure: status.failure } : {}),
    });
  }
  metrics.rollbackFinished({ ...target, outcome }, durationSeconds);
  if (outcome === 'succeeded' && spec.freezeAfter !== undefined) await freezeForRca(spec.freezeAfter);
  // Everyone on the runbook's notify list hears how it ended (an approval timeout and an already-restored
  // target were announced to the escalation targets already).
  if (outcome !== 'approval-timeout' && outcome !== 'already-restored') {
    await notify(
      spec.notify.map((n) => n.name),
      `rollback.${outcome}`,
      `Rollback ${workflowId} ${outcome} in ${formatDuration(Date.now() - startedMs)}${status.failure ? `: ${status.failure.error}` : ''}`,
    );
  }
  await trail.flushed();

  // Report the run as cancelled to Temporal too, once the audit trail is complete.
  if (cancellation !== undefined) throw cancellation;
  if (outcome === 'failed') {
    throw ApplicationFailure.create({ type: 'RollbackFailed', message: status.failure?.error ?? 'rollback failed', nonRetryable: true, details: [status] });
  }
  return status;
}
