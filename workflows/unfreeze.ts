// Gradual unfreeze: opens a freeze window one environment at a time (dev, then staging, then prod). Each
// environment is released on the freeze, then soaks for a while as the health gates are evaluated on an
// interval; a failing gate stops the ladder, freezes that environment again and waits for `advance` (after
// a fix) or `abort`. With approveEach an approver lets each environment after the first open. When the
// last one has soaked healthy, the freeze is lifted. Every transition is audited.
// This file is the ladder from start to end; one environment's rung is unfreeze/rung.ts, the state and
// its message handlers unfreeze/state.ts.
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
} from '@temporalio/workflow';
import { UNFREEZE_DECISIONS } from '../api/messages.js';
import { unfreezeStartExtra, type UnfreezeInput, type UnfreezeStatus } from '../runbook/unfreeze-model.js';
import { errorMessage, settle } from './kit/index.js';
import type { VerifiedDecision } from './kit/decisions.js';
import { decisionDetails } from './freeze/decisions.js';
import { climb, opening, refreeze, type RungEnd } from './unfreeze/rung.js';
import { signedAudit, UnfreezeRun } from './unfreeze/state.js';

export async function gradualUnfreeze(input: UnfreezeInput): Promise<UnfreezeStatus> {
  // Decisions are judged (trust settings loaded, the start judged before anything opens) since signed decisions;
  // patched: runs started before them replay as they ran. Read before the handlers are set, so a decision that
  // arrives with the start is refused until the settings are in history, never counted unjudged.
  const signedDecisions = patched('signed-decisions');
  const u = new UnfreezeRun(input, signedDecisions);
  const { status, freezeName } = u;
  u.registerHandlers();

  let cancellation: unknown;
  try {
    if (u.book.pending) await u.book.load();
    if (!input.carried) {
      if (signedDecisions) {
        const refusal = await admitStart(u);
        if (refusal !== undefined) return await refused(u, refusal);
      } else {
        started(u);
        await preflight(u);
      }
    }
    // `unfreeze start` waits for this (or for phase refused) before it reports the unfreeze started.
    if (signedDecisions) status.admitted = true;

    // The ladder, from where it stands (a continued run resumes at the environment it was soaking).
    let end: RungEnd = 'healthy';
    do {
      for (; status.current < input.ladder.length; status.current++) {
        status.currentEnvironment = input.ladder[status.current];
        end = await climb(u, status.environments[status.current]);
        if (end !== 'healthy') break;
      }
      if (end === 'continue-as-new') {
        // An abort handler waits for the end, so it is never "finished" here: climb again and abort instead.
        await condition(() => allHandlersFinished() || u.aborted !== undefined);
        if (!u.aborted) await u.trail.flushed();
        if (!u.aborted) await continueAsNew<typeof gradualUnfreeze>({ ...input, carried: { status, auditSeq: u.trail.seq(), decisions: u.book.carry() } });
      }
    } while (end === 'continue-as-new');

    if (end === 'aborted') {
      status.phase = 'aborted';
      const frozen = status.environments.filter((e) => e.state !== 'healthy').map((e) => e.environment);
      const signed = signedAudit(u.aborted!);
      u.audit(
        'unfreeze.aborted',
        u.aborted!.actor,
        u.aborted!.reason,
        { frozen, open: status.environments.filter((e) => e.state === 'healthy').map((e) => e.environment), ...signed.details },
        undefined,
        signed.signature,
      );
      await u.tell(
        'unfreeze-aborted',
        `Gradual unfreeze of ${freezeName} aborted by ${u.aborted!.actor}: ${u.aborted!.reason}. Still frozen: ${frozen.join(', ') || 'nothing'}.`,
      );
    }
    if (end === 'healthy') {
      // Every environment soaked healthy: the freeze has nothing left to hold.
      status.currentEnvironment = undefined;
      const last = input.ladder.at(-1)!;
      const r = await opening.liftFreeze({
        freezeId: input.freezeId,
        actor: input.actor,
        reason: 'gradual unfreeze complete',
        requestId: u.requestId('lift', last, 1),
      });
      status.environments.forEach((e) => (e.state = 'released'));
      status.phase = 'completed';
      u.audit('unfreeze.completed', input.actor, 'gradual unfreeze complete', {
        ladder: input.ladder,
        freezeLifted: r.ok,
        ...(r.ok ? {} : { freeze: r.message }),
      });
      await u.tell('unfreeze-completed', `Gradual unfreeze of ${freezeName} complete: ${input.ladder.join(' -> ')} soaked healthy; the freeze is lifted.`);
    }
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      // Cancelling is aborting: whatever is soaking goes back behind the freeze.
      cancellation = err;
      u.aborted ??= { actor: 'temporal', reason: 'workflow cancelled' };
      await CancellationScope.nonCancellable(async () => {
        const e = u.current();
        if (e?.state === 'soaking') {
          await refreeze(u, e, 'gradual unfreeze cancelled during the soak');
          e.state = 'frozen';
        }
      });
      status.phase = 'aborted';
      const signed = signedAudit(u.aborted);
      u.audit('unfreeze.aborted', u.aborted.actor, u.aborted.reason, signed.details, undefined, signed.signature);
    } else {
      status.error = errorMessage(err);
      u.audit('unfreeze.failed', 'rearguard', status.error, { phase: status.phase, environment: u.current()?.environment });
      status.phase = 'error';
      await CancellationScope.nonCancellable(() => u.tell('unfreeze-failed', `Gradual unfreeze of ${freezeName} failed: ${status.error}`));
      await CancellationScope.nonCancellable(() => settle(u.trail));
      throw ApplicationFailure.create({ type: 'UnfreezeFailed', message: status.error, nonRetryable: true, details: [status] });
    }
  }
  status.endedAt = new Date().toISOString();
  await CancellationScope.nonCancellable(() => settle(u.trail));
  if (cancellation !== undefined) throw cancellation;
  return status;
}

function started(u: UnfreezeRun, decision?: VerifiedDecision): void {
  const { input, status } = u;
  u.audit(
    'unfreeze.started',
    input.actor,
    input.reason,
    {
      ladder: input.ladder,
      soak: u.soakText,
      interval: status.interval,
      gates: status.gates,
      approveEach: status.approveEach,
      ...decisionDetails(decision),
    },
    undefined,
    decision?.signature,
  );
}

/**
 * Judges the start before anything opens: the person's signature, the ladder against the freeze (preflight),
 * then the `unfreeze` permission in every environment the unfreeze opens (its ladder, and those the final lift
 * opens). Undefined once admitted (and audited as started), else why it is refused.
 */
async function admitStart(u: UnfreezeRun): Promise<string | undefined> {
  const { input } = u;
  let decision: VerifiedDecision | undefined;
  try {
    decision = u.book.admit(UNFREEZE_DECISIONS.start, input, unfreezeStartExtra(input), false);
  } catch (err) {
    return errorMessage(err);
  }
  await preflight(u);
  try {
    u.book.permit('unfreeze', u.environments(), input.actor);
  } catch (err) {
    return errorMessage(err);
  }
  started(u, decision);
  return undefined;
}

/** A start the worker refused (signature or policy): nothing was opened; the run ends at once. */
async function refused(u: UnfreezeRun, refusal: string): Promise<UnfreezeStatus> {
  const { input, status } = u;
  status.phase = 'refused';
  status.error = refusal;
  status.endedAt = new Date().toISOString();
  u.audit('unfreeze.refused', input.actor, refusal, { ladder: input.ladder, reason: input.reason });
  await CancellationScope.nonCancellable(() => settle(u.trail));
  return status;
}

/** Refuses a ladder the freeze cannot give: a freeze that is over, or an environment it does not hold. */
async function preflight(u: UnfreezeRun): Promise<void> {
  const { input, status } = u;
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
