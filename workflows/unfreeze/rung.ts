// One rung of the gradual unfreeze ladder, i.e. one environment: (an approval, with approveEach,) open it
// on the freeze, then soak it while the health gates are evaluated on an interval. A failing gate freezes
// it again and stops the ladder until someone advances (after a fix: it opens again) or aborts.
import { CancellationScope, condition, isCancellation, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { createActivities } from '../../activities/index.js';
import type { Check } from '../../runbook/schema.js';
import { describeGate, gateFailureDetail, gateFor, type EnvironmentStatus, type FreezeControlResult, type GateResult } from '../../runbook/unfreeze-model.js';
import { CONFIGURATION_ERRORS, FINAL_CHECK_ERRORS, errorMessage, showProgress } from '../kit/index.js';
import { signedAudit, type UnfreezeRun } from './state.js';

type Activities = ReturnType<typeof createActivities>;

/** How a rung ended ('failed': a gate failed and the environment is frozen again, waiting for advance or abort). */
export type RungEnd = 'healthy' | 'failed' | 'aborted' | 'freeze-ended' | 'continue-as-new';

/** Opening an environment: a few attempts, then the unfreeze fails loudly (nothing was opened). */
export const opening = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: CONFIGURATION_ERRORS },
});
/** Closing one again after a failed gate must happen, however long Temporal or the freeze is slow: no attempt limit. */
const closing = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: CONFIGURATION_ERRORS },
});

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
    retry: { initialInterval: '2s', maximumAttempts: 3, nonRetryableErrorTypes: FINAL_CHECK_ERRORS },
  };
}

/** What a passing check reported, in one short line. */
const summary = (result: Record<string, unknown>): string => {
  const text = Object.entries(result)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
};

const now = () => new Date().toISOString();

/**
 * Moves environment `e` on until it is healthy or the ladder must stop. Each pass handles the state the
 * environment is in; the awaits stay in this one function because their order is what a running unfreeze
 * replays.
 */
export async function climb(u: UnfreezeRun, e: EnvironmentStatus): Promise<RungEnd> {
  const { status, input } = u;
  for (;;) {
    // A soaking environment is not proven healthy: soak() freezes it again before the abort ends the rung.
    if (u.aborted && e.state !== 'soaking') return 'aborted';
    switch (e.state) {
      case 'healthy':
        return 'healthy';

      case 'failed': {
        // Stopped by a failed gate: someone advances after a fix (it opens again) or aborts.
        status.phase = 'failed';
        await condition(() => u.advance !== undefined || u.aborted !== undefined);
        if (u.aborted) return 'aborted';
        const d = u.advance!;
        u.advance = undefined;
        const signed = signedAudit(d);
        u.audit('unfreeze.advanced', d.actor, d.reason, { failure: e.failure, ...signed.details }, e.environment, signed.signature);
        u.opener = d;
        e.state = 'frozen';
        break;
      }

      case 'frozen': {
        // With approveEach, every environment after the first opens only once an approver says so.
        if (input.approveEach && status.current > 0 && !e.approvedBy) {
          status.phase = 'awaiting-approval';
          showProgress({ phase: status.phase, environment: e.environment });
          u.audit('unfreeze.approval-requested', 'rearguard', `opening ${e.environment} needs an approver`, { approvers: u.approvers }, e.environment);
          await u.tell(
            'unfreeze-approval-requested',
            `Gradual unfreeze of ${u.freezeName}: ${status.environments[status.current - 1].environment} soaked healthy; ${e.environment} opens when an approver runs: rearguard unfreeze approve --freeze ${u.freezeName} --reason "..."`,
            e.environment,
          );
          await condition(() => e.approvedBy !== undefined || u.aborted !== undefined);
          if (u.aborted) return 'aborted';
          u.opener = { actor: e.approvedBy!.actor, reason: e.approvedBy!.reason };
        }
        e.attempts++;
        const r = await opening.releaseEnvironment({
          freezeId: input.freezeId,
          environment: e.environment,
          actor: u.opener.actor,
          reason: `gradual unfreeze (${u.opener.reason}): soak ${u.soakText}`,
          requestId: u.requestId('release', e.environment, e.attempts),
        });
        if (!r.ok) return freezeClosed(u, r, e.environment);
        e.state = 'soaking';
        e.releasedAt = now();
        e.soakEndsAt = new Date(Date.now() + u.soakMs).toISOString();
        e.failure = undefined;
        status.phase = 'soaking';
        showProgress({ phase: status.phase, environment: e.environment, soakEndsAt: e.soakEndsAt });
        u.audit(
          'unfreeze.environment-released',
          u.opener.actor,
          u.opener.reason,
          { attempt: e.attempts, soak: u.soakText, soakEndsAt: e.soakEndsAt, gates: status.gates },
          e.environment,
        );
        u.opener = { actor: input.actor, reason: input.reason };
        break;
      }

      default: {
        // soaking
        const end = await soak(u, e);
        if (end !== 'healthy' && end !== 'failed') return end;
      }
    }
  }
}

/** Evaluates the gates every interval until the soak ends healthy, a gate fails, an abort, or time to continue as new. */
async function soak(u: UnfreezeRun, e: EnvironmentStatus): Promise<RungEnd> {
  const ends = Date.parse(e.soakEndsAt!);
  for (;;) {
    if (u.aborted) {
      // Not proven healthy: it goes back behind the freeze with the environments after it.
      const r = await refreeze(u, e, `gradual unfreeze aborted by ${u.aborted.actor} during the soak: ${u.aborted.reason}`);
      if (!r.ok) return freezeClosed(u, r, e.environment);
      e.state = 'frozen';
      return 'aborted';
    }
    if (u.tooLong()) return 'continue-as-new';
    const results = await evaluateGates(u, e);
    if (u.aborted) continue;
    const failing = results.filter((r) => !r.ok);
    if (failing.length > 0) {
      e.state = 'failed';
      e.failedAt = now();
      e.failure = failing.map((g) => `${g.gate}: ${g.detail}`).join('; ');
      u.status.phase = 'failed';
      showProgress({ phase: u.status.phase, environment: e.environment });
      u.audit('unfreeze.gate-failed', 'rearguard', e.failure, { gates: failing, evaluations: e.evaluations, attempt: e.attempts }, e.environment);
      const r = await refreeze(u, e, `health gate failed during the soak: ${e.failure}`);
      if (!r.ok) return freezeClosed(u, r, e.environment);
      await u.tell(
        'unfreeze-gate-failed',
        `Gradual unfreeze of ${u.freezeName} stopped at ${e.environment}: ${e.failure}. ${e.environment} is frozen again. After a fix: rearguard unfreeze advance --freeze ${u.freezeName} --reason "..." (or unfreeze abort).`,
        e.environment,
        { gates: failing },
      );
      return 'failed';
    }
    const left = ends - Date.now();
    if (left <= 0) {
      e.state = 'healthy';
      e.healthyAt = now();
      u.audit('unfreeze.environment-healthy', 'rearguard', `soaked ${u.soakText} with every gate passing`, { evaluations: e.evaluations }, e.environment);
      return 'healthy';
    }
    await condition(() => u.aborted !== undefined, Math.min(u.intervalMs, left));
  }
}

/** Every gate once, in parallel, for one environment. A gate that cannot be evaluated counts as failed. */
async function evaluateGates(u: UnfreezeRun, e: EnvironmentStatus): Promise<GateResult[]> {
  const target = { environment: e.environment, service: (u.status.services ?? ['*']).join(',') };
  const results = await Promise.all(
    u.input.gates.map(async (gate): Promise<GateResult> => {
      const check = gateFor(gate, e.environment);
      const base = { gate: describeGate(check), type: check.type };
      try {
        const result = await proxyActivities<Activities>(gateOptions(check)).runCheck({ workflowId: u.workflowId, target, check });
        return { ...base, ok: true, at: now(), detail: summary(result) };
      } catch (err) {
        if (isCancellation(err)) throw err;
        return { ...base, ok: false, at: now(), detail: gateFailureDetail(check, errorMessage(err)) };
      }
    }),
  );
  e.evaluations++;
  e.lastGates = results;
  u.status.lastGates = results;
  return results;
}

/** A closed freeze opens everything: nothing is left for the ladder to do. */
async function freezeClosed(u: UnfreezeRun, r: Extract<FreezeControlResult, { ok: false }>, environment: string): Promise<'freeze-ended'> {
  u.status.phase = 'freeze-ended';
  u.status.environments.forEach((x) => (x.state = 'released'));
  u.audit('unfreeze.freeze-ended', 'rearguard', r.message, { phase: r.phase }, environment);
  await u.tell('unfreeze-freeze-ended', `Gradual unfreeze of ${u.freezeName} stopped: ${r.message}, so every environment is open.`, environment);
  return 'freeze-ended';
}

/** Puts `e` back behind the freeze; cancellation cannot interrupt it (a cancelled unfreeze refreezes too). */
export async function refreeze(u: UnfreezeRun, e: EnvironmentStatus, reason: string): Promise<FreezeControlResult> {
  const r = await CancellationScope.nonCancellable(() =>
    closing.refreezeEnvironment({
      freezeId: u.input.freezeId,
      environment: e.environment,
      actor: 'rearguard',
      reason,
      requestId: u.requestId('refreeze', e.environment, e.attempts),
    }),
  );
  if (r.ok) u.audit('unfreeze.environment-refrozen', 'rearguard', reason, { attempt: e.attempts }, e.environment);
  return r;
}
