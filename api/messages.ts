// Every message of every workflow, defined once: the workflows set handlers for them and the client
// sends them, so names and payload types cannot drift apart. The contract layer: docs/architecture.md.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FreezeException, FreezeRedefinition, FreezeState } from '../runbook/freeze.js';
import type { DrillReport } from '../runbook/drill.js';
import type { RollbackStatus, Trigger } from '../runbook/types.js';
import type { UnfreezeDecision, UnfreezeStatus } from '../runbook/unfreeze.js';
import { type SloGuardStatus } from '../runbook/slo-guard.js';

/**
 * A human decision, signed by its maker's SSH key (client/signing.ts): `payload` is canonicalDecision(d) of a
 * SignedDecision (runbook/decision.ts) whose action is one of ROLLBACK_DECISIONS and whose workflowId, actor
 * and reason are this request's; `signature` the armored `ssh-keygen -Y sign -n rearguard` over the payload.
 */
export interface SignedEnvelope {
  payload: string;
  signature: string;
}
export interface VoteRequest {
  actor: string;
  reason: string;
  /** Absent: an unsigned vote, which a worker with REARGUARD_REQUIRE_SIGNATURES refuses. */
  signed?: SignedEnvelope;
}
/** The action a signed rollback decision names (SignedDecision.action), per Update. */
export const ROLLBACK_DECISIONS = { approve: 'rollback.approve', reject: 'rollback.reject', approvePlan: 'rollback.approve-plan' } as const;
export interface VoteResult {
  accepted: true;
  approvals: number;
  quorum: number;
  decided: boolean;
}

/** Sent with signal-with-start: starts the rollback, or joins the one already running for the target. */
export const triggerSignal = defineSignal<[Trigger]>('trigger');
export const approveUpdate = defineUpdate<VoteResult, [VoteRequest]>('approve');
export const rejectUpdate = defineUpdate<VoteResult, [VoteRequest]>('reject');
/** Approves the saved plan of a step marked approvePlan (e.g. a Terraform plan) so it is applied. */
export const approvePlanUpdate = defineUpdate<{ accepted: true; step: string }, [VoteRequest & { step?: string }]>('approvePlan');
/** Who asked for the cancellation and why; the client sends it just before cancelling the workflow. */
export const cancelRequestSignal = defineSignal<[VoteRequest]>('cancelRequest');
export const statusQuery = defineQuery<RollbackStatus>('status');

// --- release freezes ----------------------------------------------------------------------------
export const freezeStateQuery = defineQuery<FreezeState>('state');
export const extendFreezeUpdate = defineUpdate<FreezeState, [{ actor: string; reason: string; end: string }]>('extend');
export const liftFreezeUpdate = defineUpdate<FreezeState, [{ actor: string; reason: string }]>('lift');
/** validFor: milliseconds (at most 366d) that an approved exception lasts. */
export const requestExceptionUpdate = defineUpdate<FreezeException, [{ actor: string; reason: string; changeId: string; validFor: number }]>(
  'requestException',
);
/** reason: why the approver lets the change through (optional only for clients older than it). */
export const approveExceptionUpdate = defineUpdate<FreezeException, [{ actor: string; changeId: string; reason?: string }]>('approveException');
/** Turns down a requested exception, or revokes an approved one: an approver, or the requester withdrawing it. */
export const rejectExceptionUpdate = defineUpdate<FreezeException, [{ actor: string; changeId: string; reason: string }]>('rejectException');
/** A FreezeCalendar's new definition of one of its windows (`freeze calendar apply` after an edit). */
export const redefineFreezeUpdate = defineUpdate<FreezeState, [FreezeRedefinition]>('redefine');
/** Gradual unfreeze: open one environment of a freeze (its gate allows deploys there), or close it again. */
export const releaseEnvironmentUpdate = defineUpdate<FreezeState, [{ actor: string; reason: string; environment: string }]>('releaseEnvironment');
export const refreezeEnvironmentUpdate = defineUpdate<FreezeState, [{ actor: string; reason: string; environment: string }]>('refreezeEnvironment');

// --- gradual unfreeze ---------------------------------------------------------------------------
export const unfreezeStatusQuery = defineQuery<UnfreezeStatus>('status');
/** After a failed gate (and a fix): open the failed environment again and soak it again. */
export const advanceUnfreezeUpdate = defineUpdate<UnfreezeStatus, [UnfreezeDecision]>('advance');
/** Stop the ladder: environments not yet opened (and the failed one) stay frozen. */
export const abortUnfreezeUpdate = defineUpdate<UnfreezeStatus, [UnfreezeDecision]>('abort');
/** With approveEach: an approver (not the requester) lets the next environment open. */
export const approveUnfreezeUpdate = defineUpdate<UnfreezeStatus, [UnfreezeDecision]>('approve');

// --- rollback drills ----------------------------------------------------------------------------
/** The drill's report: phase while it runs, then restore time, SLA met or missed, revisions. */
export const drillResultQuery = defineQuery<DrillReport>('result');

// --- SLO guard ----------------------------------------------------------------------------------
export const guardStatusQuery = defineQuery<SloGuardStatus>('status');
/** Pauses automatic rollbacks (evaluations stop too); the validator refuses a guard already paused. */
export const pauseGuardUpdate = defineUpdate<SloGuardStatus, [{ actor: string; reason: string }]>('pause');
export const resumeGuardUpdate = defineUpdate<SloGuardStatus, [{ actor: string; reason: string }]>('resume');
