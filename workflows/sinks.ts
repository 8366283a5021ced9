// Workflow code never touches prom-client: it reports through these sinks, and the worker turns the
// calls into metrics (see worker/metrics.ts). Counters use callDuringReplay: false there.
import type { Sinks } from '@temporalio/workflow';

export interface RearguardSinks extends Sinks {
  metrics: {
    rollbackFinished(labels: { environment: string; service: string; outcome: string }, durationSeconds: number): void;
    slaBreached(labels: { environment: string; service: string }): void;
    stepFinished(type: string, seconds: number): void;
    /** Idempotent (keyed by workflow ID), so it is safe to call during replay as well. */
    approvalPending(workflowId: string, pending: boolean): void;
    /** Idempotent (keyed by workflow ID): which environments a freeze window is blocking. */
    freezeActive(workflowId: string, environments: string[], active: boolean): void;
    /** The SLO guard started (or joined) a rollback. */
    sloGuardTriggered(labels: { environment: string; service: string }): void;
    /** A rollback drill ended: verdict met, missed or failed; restore time when the rollback restored the service. */
    drillFinished(labels: { runbook: string; environment: string; service: string; verdict: string }, restoreSeconds: number | undefined): void;
  };
}
