// A release freeze window as a durable workflow: scheduled, then active until its (extendable) end or
// a lift; exceptions are requested and approved by Update; long windows stay small with continue-as-new.
import { allHandlersFinished, condition, continueAsNew, proxySinks, setHandler, workflowInfo } from '@temporalio/workflow';
import { parseDuration } from '../runbook/duration.js';
import type { FreezeException, FreezeState, FreezeWindowInput } from '../runbook/freeze.js';
import { approveExceptionUpdate, extendFreezeUpdate, freezeStateQuery, liftFreezeUpdate, requestExceptionUpdate } from './messages.js';
import type { RearguardSinks } from './sinks.js';
import { auditTrail } from './audit-trail.js';

const { metrics } = proxySinks<RearguardSinks>();

export async function freezeWindow(input: FreezeWindowInput): Promise<FreezeState> {
  const { workflowId } = workflowInfo();
  const now = () => new Date().toISOString();
  const state: FreezeState = {
    id: workflowId,
    name: input.name,
    scope: input.scope,
    reason: input.reason,
    actor: input.actor,
    ...(input.timezone ? { timezone: input.timezone } : {}),
    start: input.start ?? now(),
    end: input.carried?.end ?? input.end,
    phase: 'scheduled',
    exceptions: input.carried?.exceptions ?? [],
    approvers: input.exceptions.approvers,
    quorum: input.exceptions.quorum,
    history: input.carried?.history ?? [],
  };
  let lifted = false;

  const trail = auditTrail(
    () => ({ environment: state.scope.environments.join(','), service: state.scope.services.join(',') }),
    () => ({ window: state.name, end: state.end }),
    input.carried?.auditSeq,
  );
  const audit = (action: string, actor: string, reason: string, details: Record<string, unknown> = {}): void => {
    trail.record(action, actor, reason, details);
  };

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
      return state;
    },
    {
      validator: ({ end }) => {
        requireOpen();
        if (!(Date.parse(end) > Date.parse(state.end))) throw new Error(`the new end ${end} is not after the current end ${state.end}`);
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
    requestExceptionUpdate,
    ({ actor, reason, changeId, validFor }) => {
      const e: FreezeException = {
        changeId,
        requestedBy: actor,
        reason,
        requestedAt: now(),
        validUntil: new Date(Date.now() + parseDuration(validFor)).toISOString(),
        approvals: [],
        status: 'pending',
      };
      state.exceptions.push(e);
      audit('freeze.exception-requested', actor, reason, { changeId, validUntil: e.validUntil });
      return e;
    },
    {
      validator: ({ changeId }) => {
        requireOpen();
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

  if (!input.carried) audit('freeze.started', state.actor, state.reason, { start: state.start, scope: state.scope });
  const untilStart = Date.parse(state.start) - Date.now();
  if (untilStart > 0) await condition(() => lifted, untilStart);

  if (!lifted) {
    state.phase = 'active';
    metrics.freezeActive(workflowId, state.scope.environments, true);
    for (;;) {
      const remaining = Date.parse(state.end) - Date.now();
      if (remaining <= 0) break;
      const end = state.end;
      await condition(() => lifted || state.end !== end || workflowInfo().continueAsNewSuggested, remaining);
      if (lifted) break;
      if (workflowInfo().continueAsNewSuggested) {
        await condition(allHandlersFinished);
        await trail.flushed();
        await continueAsNew<typeof freezeWindow>({
          ...input,
          start: state.start,
          carried: { exceptions: state.exceptions, end: state.end, history: state.history, auditSeq: trail.seq() },
        });
      }
    }
  }

  state.phase = lifted ? 'lifted' : 'ended';
  metrics.freezeActive(workflowId, state.scope.environments, false);
  const last = state.history.at(-1);
  if (lifted) audit('freeze.lifted', last?.actor ?? 'unknown', last?.reason ?? 'lifted', {});
  else audit('freeze.ended', `schedule:${state.name}`, 'window ended', {});
  await condition(allHandlersFinished);
  await trail.flushed();
  return state;
}
