// The SLO guard of one service in one environment (`guard:<env>:<service>`), running for months: every
// `interval` it evaluates the runbook's spec.slo through an activity (threshold conditions held for a
// duration, multi-window multi-burn-rate, deployment and http health), and on a violation starts the
// runbook's rollback (trigger `slo`, signal-with-start: a running rollback is joined), then observes a
// cooldown. Pause/resume by Update (decisions: who may, judged by the worker's trust settings, which each run
// loads at its start); status by Query; continue-as-new keeps the history bounded. When
// Prometheus cannot be asked, the guard alerts (notify + audit) instead of deciding anything from it.
// This file is the guard's loop; its state and message handlers are slo-guard/state.ts.
import { ApplicationFailure, CancellationScope, condition, continueAsNew, isCancellation, patched, proxyActivities, proxySinks } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { durationText, runbookDurationProblems } from '../runbook/duration.js';
import { GUARD_ACTOR, violations, type CatalogSloGuardInput, type SloEvaluation, type SloGuardInput, type SloGuardStatus } from '../runbook/slo-guard.js';
import { loadCatalogRunbook } from './catalog.js';
import type { RearguardSinks } from './sinks.js';
import { CONFIGURATION_ERRORS, errorMessage, settle } from './kit/index.js';
import { GuardRun } from './slo-guard/state.js';

type Activities = ReturnType<typeof createActivities>;

const { metrics } = proxySinks<RearguardSinks>();
const evaluation = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', maximumAttempts: 2, nonRetryableErrorTypes: CONFIGURATION_ERRORS },
});
const rollbacks = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5 },
});

export async function sloGuard(start: SloGuardInput | CatalogSloGuardInput): Promise<SloGuardStatus> {
  // A catalog runbook is loaded on the worker at the guard's first start (name and digest in history) and
  // carried across continue-as-new; only guards started by name take this path.
  const input: SloGuardInput = start.runbook ? start : { ...start, runbook: (await loadCatalogRunbook(start.catalog)).runbook };
  const { runbook } = input;
  const slo = runbook.spec.slo;
  if (!slo) throw ApplicationFailure.nonRetryable(`runbook ${runbook.metadata.name} has no spec.slo section: nothing to guard`, 'ConfigurationError');
  const inputProblems = runbookDurationProblems(runbook);
  if (inputProblems.length > 0) throw ApplicationFailure.nonRetryable(`invalid runbook input: ${inputProblems.join('; ')}`, 'InvalidRunbook');
  const g = new GuardRun(input, slo);
  const { status } = g;
  const { interval, cooldown } = slo;
  g.registerHandlers();

  if (!input.carried)
    g.audit('guard.started', input.actor, input.reason ?? 'guard started', { interval: durationText(interval), cooldown: durationText(cooldown) });
  try {
    // Who may pause and resume: the worker's trust settings, in this run's history before any decision counts.
    // patched: guards started before signed decisions replay without it (and keep taking unsigned decisions).
    if (patched('guard-signed-decisions')) {
      const problem = await g.decisions.load();
      if (problem) g.audit('guard.trust-unavailable', GUARD_ACTOR, problem);
    } else g.decisions.legacy();
    for (;;) {
      if (!status.paused) await evaluateOnce(g);
      const seen = g.changes;
      // Sleep until the next evaluation; a pause or resume wakes it (resume evaluates at once).
      if (status.paused) await condition(() => g.changes !== seen || g.tooLong());
      else await condition(() => g.changes !== seen || g.tooLong(), interval);
      if (g.tooLong()) {
        await settle(g.trail);
        await continueAsNew<typeof sloGuard>({ ...input, carried: { status, auditSeq: g.trail.seq(), ...g.decisions.carry() } });
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(async () => {
      g.audit('guard.stopped', 'temporal', 'workflow cancelled');
      await settle(g.trail);
    });
    return status;
  }
}

/** One evaluation: ask Prometheus (and the health checks), say when it cannot be asked, trigger on a violation. */
async function evaluateOnce(g: GuardRun): Promise<void> {
  const { status, runbook, spec, workflowId } = g;
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
    g.audit('guard.prometheus-unreachable', GUARD_ACTOR, ev.prometheusError);
    await g.tell(
      'guard-prometheus-unreachable',
      `SLO guard ${workflowId} cannot evaluate ${spec.environment}/${spec.service} (no automatic rollback until it can): ${ev.prometheusError}`,
    );
  } else if (ev.prometheusError) {
    status.prometheus.error = ev.prometheusError;
  } else if (!status.prometheus.reachable) {
    g.audit('guard.prometheus-recovered', GUARD_ACTOR, `evaluating again after an outage since ${status.prometheus.since}`);
    await g.tell('guard-prometheus-recovered', `SLO guard ${workflowId} evaluates ${spec.environment}/${spec.service} again`);
    status.prometheus = { reachable: true };
  }

  if (found.length > 0 && !status.paused && !g.inCooldown()) await trigger(g, found);
  g.refreshState(found.length > 0);
}

/** Starts the runbook's rollback, or joins the one running; then no new trigger until the cooldown ends. */
async function trigger(g: GuardRun, found: string[]): Promise<void> {
  const { status, runbook, spec, workflowId } = g;
  const reason = `SLO violated: ${found.join('; ')}`;
  const requestId = `${workflowId}/${g.runId}/${status.evaluations}`;
  try {
    const r = await CancellationScope.nonCancellable(() =>
      rollbacks.triggerRollback({
        runbook,
        trigger: { source: 'slo', actor: GUARD_ACTOR, reason, requestId },
        ...(g.input.catalog ? { catalog: { name: g.input.catalog.name } } : {}),
      }),
    );
    const now = Date.now();
    status.cooldownUntil = new Date(now + g.slo.cooldown).toISOString();
    status.triggers = [...status.triggers, { time: new Date(now).toISOString(), rollbackId: r.workflowId, joined: r.joined, violations: found }].slice(-20);
    metrics.sloGuardTriggered({ environment: spec.environment, service: spec.service });
    g.audit('guard.triggered', GUARD_ACTOR, reason, { rollback: r.workflowId, joined: r.joined, violations: found, cooldownUntil: status.cooldownUntil });
    await g.tell(
      'guard-triggered',
      `SLO guard ${r.joined ? 'joined the running rollback' : 'started the rollback'} ${r.workflowId}: ${reason}. No new trigger before ${status.cooldownUntil}.`,
      { rollback: r.workflowId, joined: r.joined },
    );
  } catch (err) {
    g.audit('guard.trigger-failed', GUARD_ACTOR, errorMessage(err), { violations: found });
    await g.tell('guard-trigger-failed', `SLO guard ${workflowId} could not start the rollback (${reason}): ${errorMessage(err)}`);
  }
}
