// The audit trail as workflows write it: events in the order they happen, one write at a time, outside
// any cancellation scope (cancelling a workflow cannot lose its own trail), with IDs that are stable across
// retries and replays (`<workflowId>/<runId>/<seq>`), so the log appends each once.
// Since `audit-batches` (issue 14: 10 of a webhook rollback's 15 activities were audit writes, each a task-queue
// round trip and a workflow task of its own): the events an activation records go in one write, and so do those
// recorded while a write is in flight; a write is first a local activity (the worker appends to its own file,
// a few milliseconds, recorded in history as a marker). A local activity holds its workflow task open, and with
// it the task's other commands (a step's activity, a cancellation): so it gets a few seconds at most, and a
// write it could not make (a locked or full disk) is made by a regular activity instead, retried patiently in the
// background as before, never holding the rollback up. Runs that began before replay as they ran: one
// appendAudit activity per event.
// `settle` is how every long-lived workflow ends a run (or hands over to continue-as-new): nothing
// recorded by a message handler may be lost with the run.
import { CancellationScope, allHandlersFinished, condition, patched, proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../../activities/index.js';
import type { AuditEvent, Target } from '../../runbook/types.js';

type Activities = ReturnType<typeof createActivities>;
/** Bookkeeping must never be what fails a workflow: retry it patiently. */
const PATIENT = { startToCloseTimeout: '30s', retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' } } as const;
const { appendAudit, appendAuditBatch } = proxyActivities<Activities>(PATIENT);
/** The fast path: two quick attempts, then the patient activity above. */
const { appendAuditBatch: appendAuditBatchHere } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '5s',
  retry: { initialInterval: '200ms', maximumAttempts: 2 },
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
  /** Recorded, not yet handed to a write: they go in the next one. */
  let pending: AuditEvent[] = [];
  let batched: boolean | undefined;
  const write = (event: AuditEvent): void => {
    // Decided at the first event, so a run keeps one way of writing; patched: earlier runs replay with one activity per event.
    batched ??= patched('audit-batches');
    if (!batched) {
      chain = chain.then(() => CancellationScope.nonCancellable(() => appendAudit(event)));
      return;
    }
    pending.push(event);
    if (pending.length > 1) return; // a write is already queued behind the chain: it takes this event too
    chain = chain.then(() =>
      CancellationScope.nonCancellable(async () => {
        // Once this activation's code has run (a condition is checked when no microtask is left), so the events
        // it records (a step's end and the next one's start, a run's last events) go in one write. No command.
        await condition(() => true);
        const events = pending;
        pending = [];
        try {
          await appendAuditBatchHere(events);
        } catch {
          await appendAuditBatch(events);
        }
      }),
    );
  };
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
      write(event);
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
