// Gradual unfreeze: opens a freeze window one environment at a time (dev, then staging, then prod). Each
// environment is released on the freeze, then soaks for a while as the health gates are evaluated on an
// interval; a failing gate stops the ladder, freezes that environment again and waits for `advance` (after
// a fix) or `abort`. With approveEach an approver lets each environment after the first open. When the
// last one has soaked healthy, the freeze is lifted. Every transition is audited.
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setHandler,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { durationText } from '../runbook/duration.js';
import type { Check } from '../runbook/schema.js';
import {
  describeGate,
  gateFor,
  type EnvironmentStatus,
  type FreezeControlResult,
  type GateResult,
  type UnfreezeDecision,
  type UnfreezeInput,
  type UnfreezeStatus,
} from '../runbook/unfreeze.js';
import { abortUnfreezeUpdate, advanceUnfreezeUpdate, approveUnfreezeUpdate, unfreezeStatusQuery } from '../api/messages.js';
import { auditTrail } from './audit-trail.js';
import { errorMessage } from './errors.js';

type Activities = ReturnType<typeof createActivities>;

/** Opening an environment: a few attempts, then the unfreeze fails loudly (nothing was opened). */
const opening = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: ['ConfigurationError'] },
});
/** Closing one again after a failed gate must happen, however long Temporal or the freeze is slow: no attempt limit. */
const closing = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: ['ConfigurationError'] },
});
const { notify: announce } = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5 } });

const NON_RETRYABLE = ['ConfigurationError', 'MechanismNotAvailable', 'PermissionDenied', 'NotFound', 'CheckFailed'];
/** A Prometheus gate asks "healthy now?": it must hold within this (plus its `for`), not within a verify check's 2m. */
const PROMETHEUS_GATE_TIMEOUT = 10_000;
function gateOptions(check: Check): ActivityOptions {
  // http and kubernetesAvailable checks poll until their own timeout (2m by default); a Prometheus check polls
  // for as long as the activity may run, so its time is set here.
  const startToCloseTimeout =
    check.type === 'prometheus' ? (check.timeout ?? PROMETHEUS_GATE_TIMEOUT) + (check.for ?? 0) + 5_000 : (check.timeout ?? 120_000) + 30_000;
  return {
    startToCloseTimeout,
    heartbeatTimeout: '30s',
    retry: { initialInterval: '2s', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
  };
}

/** What a passing check reported, in one short line. */
const summary = (result: Record<string, unknown>): string => {
  const text = Object.entries(result)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
};

export async function gradualUnfreeze(input: UnfreezeInput): Promise<UnfreezeStatus> {
  const { workflowId, firstExecutionRunId } = workflowInfo();
  const now = () => new Date().toISOString();
  const soakMs = input.soak;
  const intervalMs = input.interval ?? 30_000;
  const soakText = durationText(soakMs);
  const approvers = input.approvers ?? [];
  const status: UnfreezeStatus = input.carried?.status ?? {
    workflowId,
    freezeId: input.freezeId,
    ladder: input.ladder,
    soak: soakText,
    interval: durationText(intervalMs),
    gates: input.gates.map(describeGate),
    approveEach: input.approveEach ?? false,
    approvers,
    actor: input.actor,
    reason: input.reason,
    phase: 'starting',
    current: 0,
    startedAt: now(),
    environments: input.ladder.map((environment): EnvironmentStatus => ({ environment, state: 'frozen', attempts: 0, evaluations: 0, lastGates: [] })),
    lastGates: [],
    decisions: [],
  };
  let aborted: UnfreezeDecision | undefined;
  let advance: UnfreezeDecision | undefined;
  /** Who opens the environment next: the starter, the approver of that step, or whoever advanced after a fix. */
  let opener: { actor: string; reason: string } = { actor: input.actor, reason: input.reason };

  let auditEnvironment: string | undefined;
  const trail = auditTrail(
    () => ({ environment: auditEnvironment ?? input.ladder.join(','), service: (status.services ?? ['*']).join(',') }),
    () => ({ freeze: input.freezeId }),
    input.carried?.auditSeq,
  );
  const audit = (action: string, actor: string, reason: string, details: Record<string, unknown> = {}, environment?: string): void => {
    auditEnvironment = environment;
    trail.record(action, actor, reason, details);
  };
  /** Announcements are best effort: a broken chat webhook is audited, it never stops the ladder. */
  const tell = async (event: string, text: string, environment?: string, details: Record<string, unknown> = {}): Promise<void> => {
    const targets = input.notify ?? [];
    if (targets.length === 0) return;
    const target = { environment: environment ?? input.ladder.join(','), service: (status.services ?? ['*']).join(',') };
    try {
      await CancellationScope.nonCancellable(() => announce({ workflowId, target, targets, event, text, details }));
    } catch (err) {
      audit('unfreeze.notify-failed', 'rearguard', errorMessage(err), { event, targets: targets.map((t) => t.name) }, environment);
    }
  };
  const requestId = (what: string, environment: string, attempt: number) => `${workflowId}/${firstExecutionRunId}/${what}-${environment}-${attempt}`;
  const freezeName = input.freezeId.replace(/^freeze:/, '');
  const finished = () => ['completed', 'aborted', 'freeze-ended', 'error'].includes(status.phase);
  const current = (): EnvironmentStatus | undefined => status.environments[status.current];

  // --- messages -------------------------------------------------------------------------------
  const snapshot = (): UnfreezeStatus => ({
    ...status,
    environments: status.environments.map((e) =>
      e.state === 'soaking' && e.soakEndsAt ? { ...e, remainingMs: Math.max(0, Date.parse(e.soakEndsAt) - Date.now()) } : e,
    ),
  });
  setHandler(unfreezeStatusQuery, snapshot);
  setHandler(
    advanceUnfreezeUpdate,
    async (d) => {
      advance = d;
      status.decisions.push({ action: 'advance', ...d, environment: current()?.environment, time: now() });
      // Answer once the environment is open again (or the ladder could not go on).
      await condition(() => status.phase !== 'failed' || finished());
      return snapshot();
    },
    {
      validator: (_d: UnfreezeDecision) => {
        if (status.phase !== 'failed')
          throw new Error(`nothing to advance: the unfreeze is ${status.phase}${finished() ? '' : ', not stopped by a failed gate'}`);
      },
    },
  );
  setHandler(
    abortUnfreezeUpdate,
    async (d) => {
      aborted = d;
      status.decisions.push({ action: 'abort', ...d, environment: current()?.environment, time: now() });
      await condition(finished);
      return snapshot();
    },
    {
      validator: (_d: UnfreezeDecision) => {
        if (finished()) throw new Error(`the unfreeze has already ended (${status.phase})`);
        if (aborted) throw new Error(`the unfreeze is already being aborted by ${aborted.actor}`);
      },
    },
  );
  setHandler(
    approveUnfreezeUpdate,
    async (d) => {
      const e = current()!;
      e.approvedBy = { ...d, time: now() };
      status.decisions.push({ action: 'approve', ...d, environment: e.environment, time: now() });
      audit('unfreeze.approved', d.actor, d.reason, { step: status.current + 1 }, e.environment);
      await condition(() => status.phase !== 'awaiting-approval' || finished());
      return snapshot();
    },
    {
      validator: ({ actor }) => {
        if (status.phase !== 'awaiting-approval') throw new Error(`no approval is pending: the unfreeze is ${status.phase}`);
        if (!approvers.includes(actor))
          throw new Error(`${actor} is not an approver of this unfreeze (approvers: ${approvers.join(', ') || 'none configured'})`);
        if (actor === input.actor) throw new Error(`${actor} started this unfreeze and cannot also approve it`);
        if (current()?.approvedBy) throw new Error(`${current()!.environment} was already approved by ${current()!.approvedBy!.actor}`);
      },
    },
  );

  // --- steps ----------------------------------------------------------------------------------
  /** Every gate once, in parallel, for one environment. A gate that cannot be evaluated counts as failed. */
  async function evaluateGates(e: EnvironmentStatus): Promise<GateResult[]> {
    const target = { environment: e.environment, service: (status.services ?? ['*']).join(',') };
    const results = await Promise.all(
      input.gates.map(async (gate): Promise<GateResult> => {
        const check = gateFor(gate, e.environment);
        const base = { gate: describeGate(check), type: check.type };
        try {
          const result = await proxyActivities<Activities>(gateOptions(check)).runCheck({ workflowId, target, check });
          return { ...base, ok: true, at: now(), detail: summary(result) };
        } catch (err) {
          if (isCancellation(err)) throw err;
          return { ...base, ok: false, at: now(), detail: errorMessage(err) };
        }
      }),
    );
    e.evaluations++;
    e.lastGates = results;
    status.lastGates = results;
    return results;
  }

  /** A closed freeze opens everything: nothing is left for the ladder to do. */
  async function freezeClosed(r: Extract<FreezeControlResult, { ok: false }>, environment: string): Promise<'freeze-ended'> {
    status.phase = 'freeze-ended';
    status.environments.forEach((x) => (x.state = 'released'));
    audit('unfreeze.freeze-ended', 'rearguard', r.message, { phase: r.phase }, environment);
    await tell('unfreeze-freeze-ended', `Gradual unfreeze of ${freezeName} stopped: ${r.message}, so every environment is open.`, environment);
    return 'freeze-ended';
  }

  async function refreeze(e: EnvironmentStatus, reason: string): Promise<FreezeControlResult> {
    const r = await CancellationScope.nonCancellable(() =>
      closing.refreezeEnvironment({
        freezeId: input.freezeId,
        environment: e.environment,
        actor: 'rearguard',
        reason,
        requestId: requestId('refreeze', e.environment, e.attempts),
      }),
    );
    if (r.ok) audit('unfreeze.environment-refrozen', 'rearguard', reason, { attempt: e.attempts }, e.environment);
    return r;
  }

  type Outcome = 'healthy' | 'failed' | 'aborted' | 'freeze-ended' | 'continue-as-new';
  const tooLong = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > (input.historyLimit ?? 5000);

  async function soak(e: EnvironmentStatus): Promise<Outcome> {
    const ends = Date.parse(e.soakEndsAt!);
    for (;;) {
      if (aborted) {
        // Not proven healthy: it goes back behind the freeze with the environments after it.
        const r = await refreeze(e, `gradual unfreeze aborted by ${aborted.actor} during the soak: ${aborted.reason}`);
        if (!r.ok) return freezeClosed(r, e.environment);
        e.state = 'frozen';
        return 'aborted';
      }
      if (tooLong()) return 'continue-as-new';
      const results = await evaluateGates(e);
      if (aborted) continue;
      const failing = results.filter((r) => !r.ok);
      if (failing.length > 0) {
        e.state = 'failed';
        e.failedAt = now();
        e.failure = failing.map((g) => `${g.gate}: ${g.detail}`).join('; ');
        status.phase = 'failed';
        audit('unfreeze.gate-failed', 'rearguard', e.failure, { gates: failing, evaluations: e.evaluations, attempt: e.attempts }, e.environment);
        const r = await refreeze(e, `health gate failed during the soak: ${e.failure}`);
        if (!r.ok) return freezeClosed(r, e.environment);
        await tell(
          'unfreeze-gate-failed',
          `Gradual unfreeze of ${freezeName} stopped at ${e.environment}: ${e.failure}. ${e.environment} is frozen again. After a fix: rearguard unfreeze advance --freeze ${freezeName} --reason "..." (or unfreeze abort).`,
          e.environment,
          { gates: failing },
        );
        return 'failed';
      }
      const left = ends - Date.now();
      if (left <= 0) {
        e.state = 'healthy';
        e.healthyAt = now();
        audit('unfreeze.environment-healthy', 'rearguard', `soaked ${soakText} with every gate passing`, { evaluations: e.evaluations }, e.environment);
        return 'healthy';
      }
      await condition(() => aborted !== undefined, Math.min(intervalMs, left));
    }
  }

  /** One rung of the ladder: approve, open, soak; after a failed gate, wait for advance or abort. */
  async function climb(e: EnvironmentStatus): Promise<Outcome> {
    for (;;) {
      if (aborted && e.state !== 'soaking') return 'aborted';
      if (e.state === 'healthy') return 'healthy';
      if (e.state === 'failed') {
        status.phase = 'failed';
        await condition(() => advance !== undefined || aborted !== undefined);
        if (aborted) return 'aborted';
        const d = advance!;
        advance = undefined;
        audit('unfreeze.advanced', d.actor, d.reason, { failure: e.failure }, e.environment);
        opener = d;
        e.state = 'frozen';
        continue;
      }
      if (e.state === 'frozen') {
        if (input.approveEach && status.current > 0 && !e.approvedBy) {
          status.phase = 'awaiting-approval';
          audit('unfreeze.approval-requested', 'rearguard', `opening ${e.environment} needs an approver`, { approvers }, e.environment);
          await tell(
            'unfreeze-approval-requested',
            `Gradual unfreeze of ${freezeName}: ${status.environments[status.current - 1].environment} soaked healthy; ${e.environment} opens when an approver runs: rearguard unfreeze approve --freeze ${freezeName}`,
            e.environment,
          );
          await condition(() => e.approvedBy !== undefined || aborted !== undefined);
          if (aborted) return 'aborted';
          opener = { actor: e.approvedBy!.actor, reason: e.approvedBy!.reason };
        }
        e.attempts++;
        const r = await opening.releaseEnvironment({
          freezeId: input.freezeId,
          environment: e.environment,
          actor: opener.actor,
          reason: `gradual unfreeze (${opener.reason}): soak ${soakText}`,
          requestId: requestId('release', e.environment, e.attempts),
        });
        if (!r.ok) return freezeClosed(r, e.environment);
        e.state = 'soaking';
        e.releasedAt = now();
        e.soakEndsAt = new Date(Date.now() + soakMs).toISOString();
        e.failure = undefined;
        status.phase = 'soaking';
        audit(
          'unfreeze.environment-released',
          opener.actor,
          opener.reason,
          { attempt: e.attempts, soak: soakText, soakEndsAt: e.soakEndsAt, gates: status.gates },
          e.environment,
        );
        opener = { actor: input.actor, reason: input.reason };
        continue;
      }
      // soaking
      const outcome = await soak(e);
      if (outcome !== 'healthy' && outcome !== 'failed') return outcome;
    }
  }

  async function preflight(): Promise<void> {
    const freeze = await opening.freezeState({ freezeId: input.freezeId });
    status.services = freeze.scope.services;
    const problems: string[] = [];
    if (freeze.phase !== 'scheduled' && freeze.phase !== 'active')
      problems.push(`freeze ${freeze.name} has ${freeze.phase === 'lifted' ? 'been lifted' : 'ended'}`);
    for (const env of input.ladder) {
      if (!freeze.scope.environments.includes(env) && !(freeze.released ?? []).includes(env))
        problems.push(`freeze ${freeze.name} does not hold ${env} (holds: ${freeze.scope.environments.join(', ') || 'nothing'})`);
    }
    if (problems.length > 0) throw ApplicationFailure.nonRetryable(problems.join('; '), 'BadLadder');
    status.outsideLadder = freeze.scope.environments.filter((env) => !input.ladder.includes(env));
  }

  // --- the ladder -----------------------------------------------------------------------------
  let cancellation: unknown;
  try {
    if (!input.carried) {
      audit('unfreeze.started', input.actor, input.reason, {
        ladder: input.ladder,
        soak: soakText,
        interval: status.interval,
        gates: status.gates,
        approveEach: status.approveEach,
      });
      await preflight();
    }
    let outcome: Outcome = 'healthy';
    for (;;) {
      while (status.current < input.ladder.length) {
        status.currentEnvironment = input.ladder[status.current];
        outcome = await climb(status.environments[status.current]);
        if (outcome !== 'healthy') break;
        status.current++;
      }
      if (outcome !== 'continue-as-new') break;
      // An abort handler waits for the end, so it is never "finished" here: go back and abort instead.
      await condition(() => allHandlersFinished() || aborted !== undefined);
      if (!aborted) await trail.flushed();
      if (aborted) continue;
      await continueAsNew<typeof gradualUnfreeze>({ ...input, carried: { status, auditSeq: trail.seq() } });
    }
    if (outcome === 'aborted') {
      status.phase = 'aborted';
      const frozen = status.environments.filter((e) => e.state !== 'healthy').map((e) => e.environment);
      audit('unfreeze.aborted', aborted!.actor, aborted!.reason, {
        frozen,
        open: status.environments.filter((e) => e.state === 'healthy').map((e) => e.environment),
      });
      await tell(
        'unfreeze-aborted',
        `Gradual unfreeze of ${freezeName} aborted by ${aborted!.actor}: ${aborted!.reason}. Still frozen: ${frozen.join(', ') || 'nothing'}.`,
      );
    }
    if (outcome === 'healthy') {
      status.currentEnvironment = undefined;
      const last = input.ladder.at(-1)!;
      const r = await opening.liftFreeze({
        freezeId: input.freezeId,
        actor: input.actor,
        reason: 'gradual unfreeze complete',
        requestId: requestId('lift', last, 1),
      });
      status.environments.forEach((e) => (e.state = 'released'));
      status.phase = 'completed';
      audit('unfreeze.completed', input.actor, 'gradual unfreeze complete', {
        ladder: input.ladder,
        freezeLifted: r.ok,
        ...(r.ok ? {} : { freeze: r.message }),
      });
      await tell('unfreeze-completed', `Gradual unfreeze of ${freezeName} complete: ${input.ladder.join(' -> ')} soaked healthy; the freeze is lifted.`);
    }
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      // Cancelling is aborting: whatever is soaking goes back behind the freeze.
      cancellation = err;
      aborted ??= { actor: 'temporal', reason: 'workflow cancelled' };
      await CancellationScope.nonCancellable(async () => {
        const e = current();
        if (e?.state === 'soaking') {
          await refreeze(e, 'gradual unfreeze cancelled during the soak');
          e.state = 'frozen';
        }
      });
      status.phase = 'aborted';
      audit('unfreeze.aborted', aborted.actor, aborted.reason, {});
    } else {
      status.error = errorMessage(err);
      audit('unfreeze.failed', 'rearguard', status.error, { phase: status.phase, environment: current()?.environment });
      status.phase = 'error';
      await CancellationScope.nonCancellable(() => tell('unfreeze-failed', `Gradual unfreeze of ${freezeName} failed: ${status.error}`));
      await CancellationScope.nonCancellable(async () => {
        await condition(allHandlersFinished);
        await trail.flushed();
      });
      throw ApplicationFailure.create({ type: 'UnfreezeFailed', message: status.error, nonRetryable: true, details: [status] });
    }
  }
  status.endedAt = now();
  await CancellationScope.nonCancellable(async () => {
    await condition(allHandlersFinished);
    await trail.flushed();
  });
  if (cancellation !== undefined) throw cancellation;
  return status;
}
