// Rearguard's Prometheus metrics (README, "Metrics") and the workflow sinks that feed them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InjectedSinks } from '@temporalio/worker';
import type { RearguardSinks } from '../workflows/sinks.js';

export class RearguardMetrics {
  readonly registry = new Registry();
  readonly rollbacks = new Counter({
    name: 'rearguard_rollbacks_total',
    help: 'Rollbacks finished, by outcome (succeeded, failed, rejected, approval-timeout, cancelled, already-restored)',
    labelNames: ['environment', 'service', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly rollbackDuration = new Histogram({
    name: 'rearguard_rollback_duration_seconds',
    help: 'Time from trigger to verified, for rollbacks that succeeded',
    labelNames: ['environment', 'service'] as const,
    buckets: [15, 30, 60, 120, 300, 600, 900, 1800, 3600],
    registers: [this.registry],
  });
  readonly slaBreaches = new Counter({
    name: 'rearguard_rollback_sla_breaches_total',
    help: 'Rollbacks that were not restored within their SLA',
    labelNames: ['environment', 'service'] as const,
    registers: [this.registry],
  });
  readonly stepDuration = new Histogram({
    name: 'rearguard_step_duration_seconds',
    help: 'Duration of rollback steps, by mechanism',
    labelNames: ['type'] as const,
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  private readonly pendingApprovals = new Set<string>();
  readonly approvalsPending = new Gauge({
    name: 'rearguard_approvals_pending',
    help: 'Rollbacks waiting for approval',
    registers: [this.registry],
    collect: () => undefined,
  });

  /** workflow ID -> environments it freezes right now. */
  private readonly activeFreezes = new Map<string, string[]>();
  readonly freezeActive = new Gauge({
    name: 'rearguard_freeze_active',
    help: 'Active freeze windows, by environment',
    labelNames: ['environment'] as const,
    registers: [this.registry],
    collect: () => undefined,
  });

  readonly drillRestore = new Gauge({
    name: 'rearguard_drill_restore_seconds',
    help: 'Time to restore measured by the last rollback drill of each runbook (rollback trigger to verified)',
    labelNames: ['runbook', 'environment', 'service'] as const,
    registers: [this.registry],
  });
  readonly drills = new Counter({
    name: 'rearguard_drills_total',
    help: 'Rollback drills finished, by verdict (met: restored within the SLA, missed: restored late, failed: not restored)',
    labelNames: ['runbook', 'verdict'] as const,
    registers: [this.registry],
  });

  readonly sloGuardTriggers = new Counter({
    name: 'rearguard_slo_guard_triggers_total',
    help: 'Rollbacks started (or joined) by SLO guards on a violation',
    labelNames: ['environment', 'service'] as const,
    registers: [this.registry],
  });

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
