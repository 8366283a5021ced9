// The audit trail as workflows write it: events in the order they happen, one activity at a time,
// outside any cancellation scope (cancelling a workflow cannot lose its own trail), with IDs that are
// stable across retries and replays (`<workflowId>/<runId>/<seq>`), so the log appends each once.
// `settle` is how every long-lived workflow ends a run (or hands over to continue-as-new): nothing
// recorded by a message handler may be lost with the run.
import { CancellationScope, allHandlersFinished, condition, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../../activities/index.js';
import type { AuditEvent, Target } from '../../runbook/types.js';

/** Bookkeeping must never be what fails a workflow: retry it patiently. */
const { appendAudit } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

export interface AuditTrail {
  /** Records an event (written in the background, in order) and returns it. */
  /** `on`: what the event acted on, when it is not the workflow's whole target (one environment of a freeze). */
  /** `signature`: the person's SSH signature of the decision in `details.decision` (`rearguard audit verify --allowed-signers`). */
  record(action: string, actor: string, reason: string, details?: Record<string, unknown>, on?: Target, signature?: AuditEvent['signature']): AuditEvent;
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
    record(action, actor, reason, details = {}, on, signature) {
      const event: AuditEvent = {
        id: `${workflowId}/${runId}/${++seq}`,
        time: new Date().toISOString(),
        actor,
        action,
        reason,
        workflowId,
        target: on ?? target(),
        details: { ...common(), ...details },
        ...(signature ? { signature } : {}),
      };
      chain = chain.then(() => CancellationScope.nonCancellable(() => appendAudit(event)));
      return event;
    },
    flushed: () => chain,
    seq: () => seq,
  };
}

/**
 * Waits for every message handler to finish (an Update answered mid-way would be lost with the run), then
 * for the announcements they started (`pending`, when a workflow sends them in the background), then for
 * the audit trail to be written.
 */
export async function settle(trail: AuditTrail, pending?: Promise<void>[]): Promise<void> {
  await condition(allHandlersFinished);
  if (pending) await Promise.all(pending);
  await trail.flushed();
}
