// Rearguard's Prometheus metrics (README, "Metrics") and the workflow sinks that feed them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InjectedSinks } from '@temporalio/worker';
import type { RearguardSinks } from '../workflows/sinks.js';

/** Labels of a rollback's target. */
const TARGET = ['environment', 'service'] as const;

// One line per metric below: name, help, labels (and buckets), all in this worker's own registry.
const counter = <L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]) =>
  new Counter<L>({ name, help, labelNames, registers: [registry] });
const histogram = <L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], buckets: number[]) =>
  new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
/** Gauges hold the last value the sinks set. */
const gauge = <L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]) =>
  new Gauge<L>({ name, help, labelNames, registers: [registry] });

export class RearguardMetrics {
  readonly registry = new Registry();
  readonly rollbacks = counter(
    this.registry,
    'rearguard_rollbacks_total',
    'Rollbacks finished, by outcome (succeeded, failed, rejected, approval-timeout, cancelled, already-restored)',
    [...TARGET, 'outcome'],
  );
  readonly rollbackDuration = histogram(
    this.registry,
    'rearguard_rollback_duration_seconds',
    'Time from trigger to verified, for rollbacks that succeeded',
    TARGET,
    [15, 30, 60, 120, 300, 600, 900, 1800, 3600],
  );
  readonly slaBreaches = counter(this.registry, 'rearguard_rollback_sla_breaches_total', 'Rollbacks that were not restored within their SLA', TARGET);
  readonly stepDuration = histogram(
    this.registry,
    'rearguard_step_duration_seconds',
    'Duration of rollback steps, by mechanism',
    ['type'],
    [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600],
  );
  private readonly pendingApprovals = new Set<string>();
  readonly approvalsPending = gauge(this.registry, 'rearguard_approvals_pending', 'Rollbacks waiting for approval', []);

  /** workflow ID -> environments it freezes right now. */
  private readonly activeFreezes = new Map<string, string[]>();
  readonly freezeActive = gauge(this.registry, 'rearguard_freeze_active', 'Active freeze windows, by environment', ['environment']);

  readonly drillRestore = gauge(
    this.registry,
    'rearguard_drill_restore_seconds',
    'Time to restore measured by the last rollback drill of each runbook (rollback trigger to verified)',
    ['runbook', ...TARGET],
  );
  readonly drills = counter(
    this.registry,
    'rearguard_drills_total',
    'Rollback drills finished, by verdict (met: restored within the SLA, missed: restored late, failed: not restored)',
    ['runbook', 'verdict'],
  );
  readonly sloGuardTriggers = counter(
    this.registry,
    'rearguard_slo_guard_triggers_total',
    'Rollbacks started (or joined) by SLO guards on a violation',
    TARGET,
  );

  private recountFreezes(): void {
    const counts = new Map<string, number>();
    for (const envs of this.activeFreezes.values()) for (const e of envs) counts.set(e, (counts.get(e) ?? 0) + 1);
    this.freezeActive.reset();
    for (const [environment, n] of counts) this.freezeActive.set({ environment }, n);
  }

  constructor({ defaultMetrics = true }: { defaultMetrics?: boolean } = {}) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'rearguard_worker_' });
  }

  sinks(): InjectedSinks<RearguardSinks> {
    return {
      metrics: {
        rollbackFinished: {
          fn: (_info, labels, seconds) => {
            this.rollbacks.inc(labels);
            if (labels.outcome === 'succeeded') this.rollbackDuration.observe({ environment: labels.environment, service: labels.service }, seconds);
          },
          callDuringReplay: false,
        },
        slaBreached: { fn: (_info, labels) => this.slaBreaches.inc(labels), callDuringReplay: false },
        sloGuardTriggered: { fn: (_info, labels) => this.sloGuardTriggers.inc(labels), callDuringReplay: false },
        stepFinished: { fn: (_info, type, seconds) => this.stepDuration.observe({ type }, seconds), callDuringReplay: false },
        approvalPending: {
          fn: (_info, workflowId, pending) => {
            if (pending) this.pendingApprovals.add(workflowId);
            else this.pendingApprovals.delete(workflowId);
            this.approvalsPending.set(this.pendingApprovals.size);
          },
          // Replaying after a restart rebuilds which rollbacks are still waiting.
          callDuringReplay: true,
        },
        drillFinished: {
          fn: (_info, labels, restoreSeconds) => {
            this.drills.inc({ runbook: labels.runbook, verdict: labels.verdict });
            if (restoreSeconds !== undefined)
              this.drillRestore.set({ runbook: labels.runbook, environment: labels.environment, service: labels.service }, restoreSeconds);
          },
          callDuringReplay: false,
        },
        freezeActive: {
          fn: (_info, workflowId, environments, active) => {
            if (active) this.activeFreezes.set(workflowId, environments);
            else this.activeFreezes.delete(workflowId);
            this.recountFreezes();
          },
          callDuringReplay: true,
        },
      },
    };
  }
}
