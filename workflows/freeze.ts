// A release freeze window as a durable workflow: scheduled, then active until its (extendable) end or
// a lift; exceptions are requested and approved by Update; long windows stay small with continue-as-new.
// While active, the window's guardrails hold other systems still (Argo CD, Flux, feature flags); they
// are put back when it ends, is lifted or is cancelled, and the announcements go to its notify targets.
import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  proxySinks,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { createActivities } from '../activities/index.js';
import { durationText } from '../runbook/duration.js';
import {
  MAX_FREEZE_MS,
  freezeTimeProblem,
  guardrailsMinus,
  type FreezeException,
  type FreezeState,
  type FreezeWindowInput,
  type GuardrailChange,
  type Guardrails,
} from '../runbook/freeze.js';
import {
  approveExceptionUpdate,
  extendFreezeUpdate,
  freezeStateQuery,
  liftFreezeUpdate,
  redefineFreezeUpdate,
  refreezeEnvironmentUpdate,
  releaseEnvironmentUpdate,
  requestExceptionUpdate,
} from '../api/messages.js';
import type { RearguardSinks } from './sinks.js';
import { auditTrail } from './audit-trail.js';
import { errorMessage } from './errors.js';

const { metrics } = proxySinks<RearguardSinks>();
type Activities = ReturnType<typeof createActivities>;
/** Guardrails must come off again however long the cluster is unreachable: retry without a limit. */
const guardrailActivities = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: ['ConfigurationError'] },
});
const { notify: announce } = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5 } });

/** Set by Temporal on workflows a Schedule starts: the occurrence's nominal time, even when started late. */
const SCHEDULED_START = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

export async function freezeWindow(initial: FreezeWindowInput): Promise<FreezeState> {
  const { workflowId } = workflowInfo();
  const now = () => new Date().toISOString();
  // Calendar edits replace parts of the definition, so the current one is carried across continue-as-new.
  const input: FreezeWindowInput = { ...initial, ...initial.carried?.input };
  const start = input.start ?? workflowInfo().typedSearchAttributes.get(SCHEDULED_START)?.toISOString() ?? now();
  // Validated inputs never fail here; anything else fails the workflow (not its tasks) with a clear reason.
  const endMs = (input.carried?.end ?? input.end) ? Date.parse((input.carried?.end ?? input.end)!) : Date.parse(start) + (input.duration ?? 0);
  if (!Number.isFinite(Date.parse(start)) || typeof (input.duration ?? 0) !== 'number' || !Number.isFinite(endMs) || Math.abs(endMs) > 8.64e15)
    throw ApplicationFailure.nonRetryable(
      `freeze ${input.name}: invalid times (start ${JSON.stringify(start)}, end ${JSON.stringify(input.end)}, duration ${JSON.stringify(input.duration)})`,
      'InvalidFreezeWindow',
    );
  const state: FreezeState = {
    id: workflowId,
    name: input.name,
    scope: input.carried?.scope ?? input.scope,
    reason: input.reason,
    actor: input.actor,
    ...(input.timezone ? { timezone: input.timezone } : {}),
    start,
    end: input.carried?.end ?? input.end ?? new Date(endMs).toISOString(),
    phase: input.carried?.phase ?? 'scheduled',
    exceptions: input.carried?.exceptions ?? [],
    approvers: input.exceptions.approvers,
    quorum: input.exceptions.quorum,
    history: input.carried?.history ?? [],
    ...(input.calendar ? { calendar: input.calendar } : {}),
    ...(input.carried?.guardrails ? { guardrails: input.carried.guardrails } : {}),
    ...(input.carried?.released ? { released: input.carried.released } : {}),
  };
  let lifted = false;
  let redefined = 0;
  /** Guardrails an edit dropped while active, still to be put back. */
  let dropped: Guardrails | undefined;

  const target = () => ({ environment: state.scope.environments.join(','), service: state.scope.services.join(',') });
  const trail = auditTrail(target, () => ({ window: state.name, end: state.end }), input.carried?.auditSeq);
  const audit = (action: string, actor: string, reason: string, details: Record<string, unknown> = {}): void => {
    trail.record(action, actor, reason, details);
  };
  /** Announcements are best effort: a broken chat webhook is audited, it never holds a freeze open. */
  const tell = async (event: string, text: string, details: Record<string, unknown> = {}): Promise<void> => {
    const targets = input.notify ?? [];
    if (targets.length === 0) return;
    try {
      await CancellationScope.nonCancellable(() => announce({ workflowId, target: target(), targets, event, text, details }));
    } catch (err) {
      audit('freeze.notify-failed', 'rearguard', errorMessage(err), { event, targets: targets.map((t) => t.name) });
    }
  };
  const tooLong = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > (input.historyLimit ?? 2000);
  const pending: Promise<void>[] = [];
  const tellLater = (event: string, text: string, details: Record<string, unknown> = {}) => void pending.push(tell(event, text, details));
  const scopeText = () => `${state.scope.environments.join(',')}/${state.scope.services.join(',')}`;

  const open = () => state.phase === 'scheduled' || state.phase === 'active';
  const requireOpen = () => {
    if (!open()) throw new Error(`freeze ${state.name} has ${state.phase === 'lifted' ? 'been lifted' : 'ended'}`);
  };
  const find = (changeId: string) => state.exceptions.find((e) => e.changeId === changeId);

  setHandler(freezeStateQuery, () => state);
  setHandler(
    extendFreezeUpdate,
    ({ actor, reason, end }) => {
      state.end = end;
      state.history.push({ time: now(), actor, action: 'extend', reason, end });
      audit('freeze.extended', actor, reason, { end });
      tellLater('freeze-extended', `Freeze ${state.name} (${scopeText()}) extended by ${actor} until ${end}: ${reason}`, { end });
      return state;
    },
    {
      validator: ({ end }) => {
        requireOpen();
        if (!(Date.parse(end) > Date.parse(state.end))) throw new Error(`the new end ${end} is not after the current end ${state.end}`);
        const problem = freezeTimeProblem(Date.parse(state.start), Date.parse(end), Date.now());
        if (problem) throw new Error(`the new end ${end} is too late: ${problem}`);
      },
    },
  );
  setHandler(
    liftFreezeUpdate,
    ({ actor, reason }) => {
      lifted = true;
      state.history.push({ time: now(), actor, action: 'lift', reason });
      return state;
    },
    { validator: (_req: { actor: string; reason: string }) => requireOpen() },
  );
  setHandler(
    redefineFreezeUpdate,
    (def) => {
      if (state.phase === 'active') dropped = guardrailsMinus(input.guardrails, def.guardrails);
      Object.assign(input, {
        scope: def.scope,
        reason: def.reason,
        exceptions: def.exceptions,
        guardrails: def.guardrails,
        notify: def.notify,
        calendar: def.calendar,
      });
      if (def.start && state.phase === 'scheduled') state.start = def.start;
      if (def.end) state.end = def.end;
      Object.assign(state, {
        scope: def.scope,
        reason: def.reason,
        approvers: def.exceptions.approvers,
        quorum: def.exceptions.quorum,
        calendar: def.calendar,
      });
      state.history.push({ time: now(), actor: def.actor, action: 'redefine', reason: `calendar ${def.calendar?.name} changed`, end: state.end });
      audit('freeze.redefined', def.actor, `calendar ${def.calendar?.name} changed`, { start: state.start, end: state.end, scope: state.scope });
      redefined++;
      return state;
    },
    {
      validator: (def) => {
        requireOpen();
        if (!state.calendar) throw new Error(`freeze ${state.name} was not started by a calendar; use extend or lift`);
        if (def.calendar?.name !== state.calendar.name)
          throw new Error(`freeze ${state.name} belongs to calendar ${state.calendar.name}, not ${def.calendar?.name}`);
        const problem = freezeTimeProblem(Date.parse(def.start ?? state.start), Date.parse(def.end ?? state.end), Date.now());
        if (problem) throw new Error(`freeze ${state.name} cannot be redefined: ${problem}`);
      },
    },
  );
  // A gradual unfreeze opens environments one at a time, and closes one again when its soak fails.
  setHandler(
    releaseEnvironmentUpdate,
    ({ actor, reason, environment }) => {
      state.scope = { ...state.scope, environments: state.scope.environments.filter((e) => e !== environment) };
      state.released = [...(state.released ?? []), environment];
      state.history.push({ time: now(), actor, action: 'release', reason, environment });
      if (state.phase === 'active') metrics.freezeActive(workflowId, state.scope.environments, true);
      audit('freeze.environment-released', actor, reason, { environment });
      tellLater('freeze-environment-released', `Freeze ${state.name}: deploys to ${environment} are open again (${actor}: ${reason})`, { environment });
      return state;
    },
    {
      validator: ({ environment }) => {
        requireOpen();
        if (!state.scope.environments.includes(environment))
          throw new Error(`freeze ${state.name} does not hold ${environment} (holds: ${state.scope.environments.join(', ') || 'nothing'})`);
      },
    },
  );
  setHandler(
    refreezeEnvironmentUpdate,
    ({ actor, reason, environment }) => {
      state.scope = { ...state.scope, environments: [...state.scope.environments, environment] };
      state.released = (state.released ?? []).filter((e) => e !== environment);
      state.history.push({ time: now(), actor, action: 'refreeze', reason, environment });
      if (state.phase === 'active') metrics.freezeActive(workflowId, state.scope.environments, true);
      audit('freeze.environment-refrozen', actor, reason, { environment });
      tellLater('freeze-environment-refrozen', `Freeze ${state.name}: ${environment} is frozen again (${actor}: ${reason})`, { environment });
      return state;
    },
    {
      validator: ({ environment }) => {
        requireOpen();
        if (!(state.released ?? []).includes(environment)) throw new Error(`freeze ${state.name} has not released ${environment}`);
      },
    },
  );
  setHandler(
    requestExceptionUpdate,
    ({ actor, reason, changeId, validFor }) => {
      const e: FreezeException = {
        changeId,
        requestedBy: actor,
        reason,
        requestedAt: now(),
        validUntil: new Date(Date.now() + validFor).toISOString(),
        approvals: [],
        status: 'pending',
      };
      state.exceptions.push(e);
      audit('freeze.exception-requested', actor, reason, { changeId, validUntil: e.validUntil });
      tellLater('freeze-exception-requested', `${actor} asks for an exception to freeze ${state.name} for change ${changeId}: ${reason}`, { changeId });
      return e;
    },
    {
      validator: ({ changeId, validFor }) => {
        requireOpen();
        if (typeof validFor !== 'number' || !(validFor > 0 && validFor <= MAX_FREEZE_MS))
          throw new Error(`validFor: expected milliseconds between 1 and ${MAX_FREEZE_MS} (${durationText(MAX_FREEZE_MS)}), got ${JSON.stringify(validFor)}`);
        if (find(changeId)) throw new Error(`an exception for change ${changeId} was already requested`);
      },
    },
  );
  setHandler(
    approveExceptionUpdate,
    ({ actor, changeId }) => {
      const e = find(changeId)!;
      e.approvals.push({ actor, time: now() });
      if (e.approvals.length >= state.quorum) e.status = 'approved';
      audit(e.status === 'approved' ? 'freeze.exception-approved' : 'freeze.exception-vote', actor, `exception for ${changeId}`, {
        changeId,
        approvals: e.approvals.length,
        quorum: state.quorum,
      });
      if (e.status === 'approved')
        tellLater('freeze-exception-approved', `Change ${changeId} may deploy during freeze ${state.name} until ${e.validUntil} (approved by ${actor})`, {
          changeId,
          validUntil: e.validUntil,
        });
      return e;
    },
    {
      validator: ({ actor, changeId }) => {
        requireOpen();
        const e = find(changeId);
        if (!e) throw new Error(`no exception was requested for change ${changeId}`);
        if (!state.approvers.includes(actor))
          throw new Error(`${actor} cannot approve freeze exceptions (approvers: ${state.approvers.join(', ') || 'none configured'})`);
        if (e.requestedBy === actor) throw new Error(`${actor} requested this exception and cannot also approve it`);
        if (e.approvals.some((a) => a.actor === actor)) throw new Error(`${actor} has already approved the exception for ${changeId}`);
        if (e.status === 'approved') throw new Error(`the exception for ${changeId} is already approved`);
      },
    },
  );

  // --- guardrails -----------------------------------------------------------------------------
  const record = (changes: GuardrailChange[]) => {
    state.guardrails ??= { applied: false, restored: false, changes: [] };
    state.guardrails.changes.push(...changes);
  };
  async function applyGuardrails(): Promise<void> {
    if (!input.guardrails) return;
    try {
      const { changes } = await CancellationScope.nonCancellable(() =>
        guardrailActivities.applyGuardrails({ freezeId: workflowId, reason: state.reason, guardrails: input.guardrails! }),
      );
      record(changes);
      state.guardrails!.applied = true;
      audit('freeze.guardrails-applied', 'rearguard', state.reason, { changes });
    } catch (err) {
      // The gate still blocks deploys; say loudly that the other systems are not held.
      audit('freeze.guardrails-failed', 'rearguard', errorMessage(err), {});
      await tell('freeze-guardrails-failed', `Freeze ${state.name}: guardrails could not be applied: ${errorMessage(err)}`);
    }
  }
  async function restoreGuardrails(guardrails: Guardrails | undefined): Promise<void> {
    if (!guardrails) return;
    try {
      const { changes } = await CancellationScope.nonCancellable(() => guardrailActivities.restoreGuardrails({ freezeId: workflowId, guardrails }));
      audit('freeze.guardrails-restored', 'rearguard', `freeze ${state.name} is over`, { changes });
    } catch (err) {
      audit('freeze.guardrails-restore-failed', 'rearguard', errorMessage(err), {});
      await tell('freeze-guardrails-failed', `Freeze ${state.name}: guardrails could not be restored, fix by hand: ${errorMessage(err)}`);
    }
  }

  // --- the window -----------------------------------------------------------------------------
  if (!input.carried) audit('freeze.started', state.actor, state.reason, { start: state.start, scope: state.scope, calendar: state.calendar?.name });
  try {
    while (state.phase === 'scheduled' && !lifted) {
      const seen = redefined;
      const untilStart = Date.parse(state.start) - Date.now();
      // Timers stay within a year: a start further out is waited for in steps.
      if (untilStart > 0 && ((await condition(() => lifted || redefined !== seen, Math.min(untilStart, MAX_FREEZE_MS))) || untilStart > MAX_FREEZE_MS))
        continue;
      if (Date.parse(state.end) <= Date.now()) break; // an edit moved it into the past: it never happens
      state.phase = 'active';
      metrics.freezeActive(workflowId, state.scope.environments, true);
      await tell('freeze-started', `Deploys to ${scopeText()} are frozen until ${state.end}: ${state.reason} (${state.actor})`, { end: state.end });
      await applyGuardrails();
    }
    if (state.phase === 'active') metrics.freezeActive(workflowId, state.scope.environments, true);
    while (state.phase === 'active' && !lifted) {
      if (dropped) {
        // An edit dropped some guardrails and maybe added others: hold the new set before releasing the old.
        const release = dropped;
        dropped = undefined;
        await applyGuardrails();
        await restoreGuardrails(release);
        continue;
      }
      const remaining = Date.parse(state.end) - Date.now();
      if (remaining <= 0) break;
      const end = state.end;
      const seen = redefined;
      await condition(() => lifted || state.end !== end || redefined !== seen || tooLong(), Math.min(remaining, MAX_FREEZE_MS));
      if (!lifted && tooLong()) {
        await condition(allHandlersFinished);
        await Promise.all(pending);
        await trail.flushed();
        const definition: Partial<FreezeWindowInput> = { ...input, carried: undefined };
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
            auditSeq: trail.seq(),
            input: definition,
          },
        });
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelling a freeze lifts it: whatever it held is put back below, outside the cancelled scope.
    lifted = true;
    state.history.push({ time: now(), actor: 'temporal', action: 'lift', reason: 'workflow cancelled' });
  }

  const wasActive = state.phase === 'active';
  state.phase = lifted ? 'lifted' : 'ended';
  metrics.freezeActive(workflowId, state.scope.environments, false);
  await CancellationScope.nonCancellable(async () => {
    // Restored even when applying failed half-way: the activities only undo what carries this freeze's marker.
    if (wasActive && input.guardrails) {
      await restoreGuardrails(input.guardrails);
      state.guardrails ??= { applied: false, restored: false, changes: [] };
      state.guardrails.restored = true;
    }
    const last = state.history.at(-1);
    if (lifted) {
      audit('freeze.lifted', last?.actor ?? 'unknown', last?.reason ?? 'lifted', {});
      await tell('freeze-lifted', `Freeze ${state.name} (${scopeText()}) lifted by ${last?.actor ?? 'unknown'}: ${last?.reason ?? ''}`);
    } else {
      audit('freeze.ended', `schedule:${state.name}`, 'window ended', {});
      await tell('freeze-ended', `Freeze ${state.name} (${scopeText()}) ended: deploys are open again`);
    }
    await condition(allHandlersFinished);
    await Promise.all(pending);
    await trail.flushed();
  });
  return state;
}
