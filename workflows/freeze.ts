// A release freeze window as a durable workflow: scheduled, then active until its (extendable) end or
// a lift; exceptions are requested and approved by Update; long windows stay small with continue-as-new.
// While active, the window's guardrails hold other systems still (Argo CD, Flux, feature flags); they
// are put back when it ends, is lifted or is cancelled, and the announcements go to its notify targets.
// This file is the window's life; its state and message handlers are freeze/state.ts.
import { CancellationScope, condition, continueAsNew, isCancellation, patched, proxySinks } from '@temporalio/workflow';
import { MAX_FREEZE_MS, type FreezeState, type FreezeWindowInput } from '../runbook/freeze.js';
import type { RearguardSinks } from './sinks.js';
import { errorMessage, settle } from './kit/index.js';
import type { VerifiedDecision } from './kit/decisions.js';
import { decisionDetails } from './freeze/decisions.js';
import { applyGuardrails, restoreGuardrails } from './freeze/guardrails.js';
import { FreezeRun } from './freeze/state.js';
import { GateFeed } from './freeze/gate.js';

const { metrics } = proxySinks<RearguardSinks>();

export async function freezeWindow(initial: FreezeWindowInput): Promise<FreezeState> {
  // Decisions are judged (trust settings loaded, the start judged before it takes effect) since signed decisions;
  // patched: runs started before them replay as they ran. Read before the handlers are set: an Update that came
  // with the start is refused until the settings are in history, never counted unjudged.
  const signedDecisions = patched('signed-decisions');
  // Since the gate's registry, the window publishes what the gate sees of it (freeze/gate.ts) once admitted;
  // patched: runs from before are read by `rearguard serve` directly (api/gate-view.ts, the reconciler). Asked here,
  // in the first activation before any await, like the patch above: asked after the trust settings' local activity,
  // its marker did not replay (nondeterminism on queries of finished windows).
  const gateRegistry = patched('gate-registry');
  const f = new FreezeRun(initial, signedDecisions);
  const { state, workflowId } = f;
  f.registerHandlers();

  // Not cancellable: a cancel that comes with the start must reach the window's own lift path below, not this load.
  if (f.book.pending) await CancellationScope.nonCancellable(() => f.book.load());
  if (!f.input.carried) {
    let decision: VerifiedDecision | undefined;
    if (signedDecisions) {
      try {
        decision = f.admitStart(initial);
      } catch (err) {
        return await refused(f, errorMessage(err));
      }
    }
    f.audit(
      'freeze.started',
      state.actor,
      state.reason,
      {
        start: state.start,
        scope: state.scope,
        calendar: state.calendar?.name,
        ...(state.calendar?.appliedBy ? { appliedBy: state.calendar.appliedBy } : {}),
        ...decisionDetails(decision),
      },
      undefined,
      decision?.signature,
    );
  }
  // `freeze start` waits for this (or for phase refused) before it reports the freeze started.
  if (signedDecisions) state.admitted = true;
  const gate = gateRegistry ? new GateFeed(f, f.input.carried?.gateRevision) : undefined;
  gate?.start();
  try {
    // --- scheduled: wait for the start (a lift or a calendar edit wakes the wait) ----------------
    while (state.phase === 'scheduled' && !f.lifted) {
      const seen = f.redefined;
      const untilStart = Date.parse(state.start) - Date.now();
      // Timers stay within a year: a start further out is waited for in steps.
      if (untilStart > 0 && ((await condition(() => f.lifted || f.redefined !== seen, Math.min(untilStart, MAX_FREEZE_MS))) || untilStart > MAX_FREEZE_MS))
        continue;
      if (Date.parse(state.end) <= Date.now()) break; // an edit moved it into the past: it never happens
      state.phase = 'active';
      metrics.freezeActive(workflowId, state.scope.environments, true);
      await f.tell('freeze-started', `Deploys to ${f.scopeText()} are frozen until ${state.end}: ${state.reason} (${state.actor})`, { end: state.end });
      await applyGuardrails(f);
    }
    // --- active: until the end (extendable), a lift, or time to continue as new -----------------
    if (state.phase === 'active') metrics.freezeActive(workflowId, state.scope.environments, true);
    while (state.phase === 'active' && !f.lifted) {
      if (f.dropped) {
        // An edit dropped some guardrails and maybe added others: hold the new set before releasing the old.
        const release = f.dropped;
        f.dropped = undefined;
        await applyGuardrails(f);
        await restoreGuardrails(f, release);
        continue;
      }
      const remaining = Date.parse(state.end) - Date.now();
      if (remaining <= 0) break;
      const end = state.end;
      const seen = f.redefined;
      await condition(() => f.lifted || state.end !== end || f.redefined !== seen || f.tooLong(), Math.min(remaining, MAX_FREEZE_MS));
      if (!f.lifted && f.tooLong()) {
        await settle(f.trail, f.pending);
        await gate?.flush();
        // The definition as edited so far (not the one this run started with) goes to the next run.
        const definition: Partial<FreezeWindowInput> = { ...f.input, carried: undefined };
        await continueAsNew<typeof freezeWindow>({
          ...initial,
          start: state.start,
          carried: {
            exceptions: state.exceptions,
            end: state.end,
            history: state.history,
            phase: state.phase,
            scope: state.scope,
            ...(state.released ? { released: state.released } : {}),
            ...(state.guardrails ? { guardrails: state.guardrails } : {}),
            auditSeq: f.trail.seq(),
            input: definition,
            decisions: f.book.carry(),
            ...(gate ? { gateRevision: gate.carried() } : {}),
          },
        });
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelling a freeze lifts it: whatever it held is put back below, outside the cancelled scope.
    f.lifted = true;
    state.history.push({ time: new Date().toISOString(), actor: 'temporal', action: 'lift', reason: 'workflow cancelled' });
  }

  // --- over: put the guardrails back, say how it ended ---------------------------------------
  const wasActive = state.phase === 'active';
  state.phase = f.lifted ? 'lifted' : 'ended';
  metrics.freezeActive(workflowId, state.scope.environments, false);
  await CancellationScope.nonCancellable(async () => {
    // Restored even when applying failed half-way: the activities only undo what carries this freeze's marker.
    if (wasActive && f.input.guardrails) {
      await restoreGuardrails(f, f.input.guardrails);
      state.guardrails ??= { applied: false, restored: false, changes: [] };
      state.guardrails.restored = true;
    }
    const last = state.history.at(-1);
    if (f.lifted) {
      const decision = f.liftDecision;
      f.audit('freeze.lifted', last?.actor ?? 'unknown', last?.reason ?? 'lifted', decisionDetails(decision), undefined, decision?.signature);
      await f.tell('freeze-lifted', `Freeze ${state.name} (${f.scopeText()}) lifted by ${last?.actor ?? 'unknown'}: ${last?.reason ?? ''}`);
    } else {
      f.audit('freeze.ended', `schedule:${state.name}`, 'window ended', {});
      await f.tell('freeze-ended', `Freeze ${state.name} (${f.scopeText()}) ended: deploys are open again`);
    }
    await gate?.withdraw();
    await settle(f.trail, f.pending);
  });
  return state;
}

/** A start the worker refused (signature or policy): nothing was held; the run ends at once, so the gate never sees it. */
async function refused(f: FreezeRun, refusal: string): Promise<FreezeState> {
  const { state } = f;
  state.phase = 'refused';
  state.refusal = refusal;
  f.audit('freeze.refused', state.actor, refusal, { start: state.start, end: state.end, scope: state.scope, reason: state.reason });
  await settle(f.trail, f.pending);
  return state;
}
