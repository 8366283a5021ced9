// The audit trail as workflows write it: events in the order they happen, one activity at a time,
// outside any cancellation scope (cancelling a workflow cannot lose its own trail), with IDs that are
// stable across retries and replays (`<workflowId>/<runId>/<seq>`), so the log appends each once.
import { CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { AuditEvent, Target } from '../runbook/types.js';

/** Bookkeeping must never be what fails a workflow: retry it patiently. */
const { appendAudit } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

export interface AuditTrail {
  /** Records an event (written in the background, in order) and returns it. */
  record(action: string, actor: string, reason: string, details?: Record<string, unknown>): AuditEvent;
  /** Resolves once every recorded event is written. */
  flushed(): Promise<void>;
  /** The last sequence number used (carried over continue-as-new). */
  seq(): number;
}

export function auditTrail(target: () => Target, common: () => Record<string, unknown>, startSeq = 0): AuditTrail {
  const { workflowId, runId } = workflowInfo();
  let seq = startSeq;
  let chain: Promise<void> = Promise.resolve();
  return {
    record(action, actor, reason, details = {}) {
      const event: AuditEvent = {
        id: `${workflowId}/${runId}/${++seq}`,
        time: new Date().toISOString(),
        actor,
        action,
        reason,
        workflowId,
        target: target(),
        details: { ...common(), ...details },
      };
      chain = chain.then(() => CancellationScope.nonCancellable(() => appendAudit(event)));
      return event;
    },
    flushed: () => chain,
    seq: () => seq,
  };
}
