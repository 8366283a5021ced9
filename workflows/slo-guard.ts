// The SLO guard of one service in one environment (`guard:<env>:<service>`), running for months: every
// `interval` it evaluates the runbook's spec.slo through an activity (threshold conditions held for a
// duration, multi-window multi-burn-rate, deployment and http health), and on a violation starts the
// runbook's rollback (trigger `slo`, signal-with-start: a running rollback is joined), then observes a
// cooldown. Pause/resume by Update; status by Query; continue-as-new keeps the history bounded. When
// Prometheus cannot be asked, the guard alerts (notify + audit) instead of deciding anything from it.
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
import type { createActivities } from '../activities/index.js';
import { durationText, runbookDurationProblems } from '../runbook/duration.js';
import { GUARD_ACTOR, violations, type GuardState, type SloEvaluation, type SloGuardInput, type SloGuardStatus } from '../runbook/slo-guard.js';
import type { Target } from '../runbook/types.js';
import { auditTrail } from './audit-trail.js';
import { guardStatusQuery, pauseGuardUpdate, resumeGuardUpdate } from '../api/messages.js';
import type { RearguardSinks } from './sinks.js';
import { errorMessage } from './errors.js';

type Activities = ReturnType<typeof createActivities>;

const { metrics } = proxySinks<RearguardSinks>();
const evaluation = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', maximumAttempts: 2, nonRetryableErrorTypes: ['ConfigurationError'] },
});
const rollbacks = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5 },
});
const notifications = proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5 } });

export async function sloGuard(input: SloGuardInput): Promise<SloGuardStatus> {
  const { workflowId, runId } = workflowInfo();
  const { runbook } = input;
  const spec = runbook.spec;
  const slo = spec.slo;
  if (!slo) throw ApplicationFailure.nonRetryable(`runbook ${runbook.metadata.name} has no spec.slo section: nothing to guard`, 'ConfigurationError');
  const inputProblems = runbookDurationProblems(runbook);
  if (inputProblems.length > 0) throw ApplicationFailure.nonRetryable(`invalid runbook input: ${inputProblems.join('; ')}`, 'InvalidRunbook');
  const target: Target = { environment: spec.environment, service: spec.service };
  const { interval, cooldown } = slo;
  const status: SloGuardStatus = input.carried
    ? { ...input.carried.status, run: input.carried.status.run + 1 }
    : {
        workflowId,
        runbook: runbook.metadata.name,
        target,
        startedAt: new Date().toISOString(),
        startedBy: input.actor,
        state: 'watching',
        interval: durationText(interval),
        cooldown: durationText(cooldown),
        evaluations: 0,
        breachedSince: {},
        httpFailures: 0,
        prometheus: { reachable: true },
        triggers: [],
        run: 1,
      };
  const trail = auditTrail(
    () => target,
    () => ({ runbook: runbook.metadata.name }),
    input.carried?.auditSeq,
  );
  const audit = (action: string, actor: string, reason: string, details: Record<string, unknown> = {}) => void trail.record(action, actor, reason, details);
  const notifyNames = slo.notify ?? spec.notify.map((n) => n.name);
  /** Best effort: a broken chat webhook is audited, it never stops the guard. */
  const tell = async (event: string, text: string, details: Record<string, unknown> = {}): Promise<void> => {
    const targets = spec.notify.filter((n) => notifyNames.includes(n.name));
    if (targets.length === 0) return;
    try {
      await CancellationScope.nonCancellable(() => notifications.notify({ workflowId, target, targets, event, text, details }));
    } catch (err) {
      audit('guard.notify-failed', GUARD_ACTOR, errorMessage(err), { event });
    }
  };
  const inCooldown = () => status.cooldownUntil !== undefined && Date.parse(status.cooldownUntil) > Date.now();
  const currentState = (violated: boolean): GuardState =>
    status.paused ? 'paused' : inCooldown() ? 'cooldown' : !status.prometheus.reachable ? 'prometheus-unreachable' : violated ? 'violated' : 'watching';
  const refreshState = (violated: boolean) => {
    status.state = currentState(violated);
  };
  let changes = 0;

  // Queries are read-only: the state a reader sees is computed (the cooldown may have run out since the last
  // evaluation), never stored by the query.
  setHandler(guardStatusQuery, () => ({ ...status, state: currentState(status.state === 'violated') }));
  setHandler(
    pauseGuardUpdate,
    ({ actor, reason }) => {
      status.paused = { actor, reason, since: new Date().toISOString() };
      status.state = 'paused';
      changes++;
      audit('guard.paused', actor, reason);
      return status;
    },
    {
      validator: ({ reason }) => {
        if (status.paused) throw new Error(`the guard is already paused (by ${status.paused.actor} since ${status.paused.since}: ${status.paused.reason})`);
        if (!reason?.trim()) throw new Error('expected a reason');
      },
    },
  );
  setHandler(
    resumeGuardUpdate,
    ({ actor, reason }) => {
      const was = status.paused;
      status.paused = undefined;
      changes++;
      refreshState(false);
      audit('guard.resumed', actor, reason, { pausedBy: was?.actor, pausedSince: was?.since });
      return status;
    },
    {
      validator: (_req: { actor: string; reason: string }) => {
        if (!status.paused) throw new Error('the guard is not paused');
      },
    },
  );

  const tooLong = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > (input.historyLimit ?? 2000);

  async function evaluateOnce(): Promise<void> {
    let ev: SloEvaluation;
    try {
      ev = await evaluation.evaluateSlo({ runbook });
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The guard cannot evaluate at all (e.g. a configuration error on the worker): alert, keep trying.
      ev = { time: new Date().toISOString(), prometheusError: errorMessage(err), conditions: [], burnRate: [], health: {} };
    }
    status.evaluations++;
    const found = violations(runbook, ev, status, Date.now());
    status.lastEvaluation = { ...ev, violations: found };

    if (ev.prometheusError && status.prometheus.reachable) {
      status.prometheus = { reachable: false, since: ev.time, error: ev.prometheusError };
      audit('guard.prometheus-unreachable', GUARD_ACTOR, ev.prometheusError);
      await tell(
        'guard-prometheus-unreachable',
        `SLO guard ${workflowId} cannot evaluate ${spec.environment}/${spec.service} (no automatic rollback until it can): ${ev.prometheusError}`,
      );
    } else if (ev.prometheusError) {
      status.prometheus.error = ev.prometheusError;
    } else if (!status.prometheus.reachable) {
      audit('guard.prometheus-recovered', GUARD_ACTOR, `evaluating again after an outage since ${status.prometheus.since}`);
      await tell('guard-prometheus-recovered', `SLO guard ${workflowId} evaluates ${spec.environment}/${spec.service} again`);
      status.prometheus = { reachable: true };
    }

    if (found.length > 0 && !status.paused && !inCooldown()) await trigger(found);
    refreshState(found.length > 0);
  }

  async function trigger(found: string[]): Promise<void> {
    const reason = `SLO violated: ${found.join('; ')}`;
    const requestId = `${workflowId}/${runId}/${status.evaluations}`;
    try {
      const r = await CancellationScope.nonCancellable(() =>
        rollbacks.triggerRollback({ runbook, trigger: { source: 'slo', actor: GUARD_ACTOR, reason, requestId } }),
      );
      const now = Date.now();
      status.cooldownUntil = new Date(now + cooldown).toISOString();
      status.triggers = [...status.triggers, { time: new Date(now).toISOString(), rollbackId: r.workflowId, joined: r.joined, violations: found }].slice(-20);
      metrics.sloGuardTriggered({ environment: spec.environment, service: spec.service });
      audit('guard.triggered', GUARD_ACTOR, reason, { rollback: r.workflowId, joined: r.joined, violations: found, cooldownUntil: status.cooldownUntil });
      await tell(
        'guard-triggered',
        `SLO guard ${r.joined ? 'joined the running rollback' : 'started the rollback'} ${r.workflowId}: ${reason}. No new trigger before ${status.cooldownUntil}.`,
        { rollback: r.workflowId, joined: r.joined },
      );
    } catch (err) {
      audit('guard.trigger-failed', GUARD_ACTOR, errorMessage(err), { violations: found });
      await tell('guard-trigger-failed', `SLO guard ${workflowId} could not start the rollback (${reason}): ${errorMessage(err)}`);
    }
  }

  if (!input.carried)
    audit('guard.started', input.actor, input.reason ?? 'guard started', { interval: durationText(interval), cooldown: durationText(cooldown) });
  try {
    for (;;) {
      if (!status.paused) await evaluateOnce();
      const seen = changes;
      // Sleep until the next evaluation; a pause or resume wakes it (resume evaluates at once).
      if (status.paused) await condition(() => changes !== seen || tooLong());
      else await condition(() => changes !== seen || tooLong(), interval);
      if (tooLong()) {
        await condition(allHandlersFinished);
        await trail.flushed();
        await continueAsNew<typeof sloGuard>({ ...input, carried: { status, auditSeq: trail.seq() } });
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(async () => {
      audit('guard.stopped', 'temporal', 'workflow cancelled');
      await condition(allHandlersFinished);
      await trail.flushed();
    });
    return status;
  }
}
