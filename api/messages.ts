// Every message of every workflow, defined once: the workflows set handlers for them and the client
// sends them, so names and payload types cannot drift apart. The contract layer: docs/architecture.md.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { FreezeException, FreezeRedefinition, FreezeState } from '../runbook/freeze.js';
import type { DrillReport } from '../runbook/drill.js';
import type { GatePublication, GateRecord, GateSyncRequest, GateSyncResult, GateWatchRequest, GateWatchResult } from '../runbook/gate-view.js';
import type { RollbackStatus, Trigger } from '../runbook/types.js';
import type { UnfreezeDecision, UnfreezeStatus } from '../runbook/unfreeze.js';
import { type SloGuardStatus } from '../runbook/slo-guard.js';

/**
 * A human decision, signed by its maker's SSH key (client/signing.ts): `payload` is canonicalDecision(d) of a
 * SignedDecision (runbook/decision.ts) whose action is one of the *_DECISIONS below and whose workflowId, actor
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
export const ROLLBACK_DECISIONS = {
  trigger: 'rollback.trigger',
  approve: 'rollback.approve',
  reject: 'rollback.reject',
  approvePlan: 'rollback.approve-plan',
  cancel: 'rollback.cancel',
} as const;
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
/**
 * A cancellation as a decision: the validator checks who may cancel here (the policy's `cancel`) and the
 * signature (ROLLBACK_DECISIONS.cancel, bound to the run), the handler records who and why; the client
 * cancels the workflow only once this Update is accepted.
 */
export const cancelUpdate = defineUpdate<{ accepted: true }, [VoteRequest]>('cancel');
/** Who asked for the cancellation and why, unverified: what clients sent before the `cancel` Update (kept for them). */
export const cancelRequestSignal = defineSignal<[VoteRequest]>('cancelRequest');
export const statusQuery = defineQuery<RollbackStatus>('status');

// --- release freezes ----------------------------------------------------------------------------
export const freezeStateQuery = defineQuery<FreezeState>('state');
/**
 * The action a signed freeze decision names, per Update (start: FreezeWindowInput.signed). Bound to the freeze's
 * workflow ID and, but for the start, to its chain of runs (extra.firstRun: the first run's ID, which
 * continue-as-new keeps); extend names its end, the exception decisions their change (extra.end, extra.change).
 */
export const FREEZE_DECISIONS = {
  start: 'freeze.start',
  extend: 'freeze.extend',
  lift: 'freeze.lift',
  requestException: 'freeze.exception-request',
  approveException: 'freeze.exception-approve',
  rejectException: 'freeze.exception-reject',
} as const;
export const extendFreezeUpdate = defineUpdate<FreezeState, [{ actor: string; reason: string; end: string; signed?: SignedEnvelope }]>('extend');
export const liftFreezeUpdate = defineUpdate<FreezeState, [{ actor: string; reason: string; signed?: SignedEnvelope }]>('lift');
/** validFor: milliseconds (at most 366d) that an approved exception lasts. */
export const requestExceptionUpdate = defineUpdate<
  FreezeException,
  [{ actor: string; reason: string; changeId: string; validFor: number; signed?: SignedEnvelope }]
>('requestException');
/** reason: why the approver lets the change through (optional only for clients older than it). */
export const approveExceptionUpdate = defineUpdate<FreezeException, [{ actor: string; changeId: string; reason?: string; signed?: SignedEnvelope }]>(
  'approveException',
);
/** Turns down a requested exception, or revokes an approved one: an approver, or the requester withdrawing it. */
export const rejectExceptionUpdate = defineUpdate<FreezeException, [{ actor: string; changeId: string; reason: string; signed?: SignedEnvelope }]>(
  'rejectException',
);
/** A FreezeCalendar's new definition of one of its windows (`freeze calendar apply` after an edit). */
export const redefineFreezeUpdate = defineUpdate<FreezeState, [FreezeRedefinition]>('redefine');
/** Gradual unfreeze: open one environment of a freeze (its gate allows deploys there), or close it again. */
export const releaseEnvironmentUpdate = defineUpdate<FreezeState, [{ actor: string; reason: string; environment: string }]>('releaseEnvironment');
export const refreezeEnvironmentUpdate = defineUpdate<FreezeState, [{ actor: string; reason: string; environment: string }]>('refreezeEnvironment');

// --- gradual unfreeze ---------------------------------------------------------------------------
export const unfreezeStatusQuery = defineQuery<UnfreezeStatus>('status');
/** The action a signed unfreeze decision names, per Update (start: UnfreezeInput.signed); bound like FREEZE_DECISIONS. */
export const UNFREEZE_DECISIONS = { start: 'unfreeze.start', approve: 'unfreeze.approve', advance: 'unfreeze.advance', abort: 'unfreeze.abort' } as const;
/** After a failed gate (and a fix): open the failed environment again and soak it again. */
export const advanceUnfreezeUpdate = defineUpdate<UnfreezeStatus, [UnfreezeDecision & { signed?: SignedEnvelope }]>('advance');
/** Stop the ladder: environments not yet opened (and the failed one) stay frozen. */
export const abortUnfreezeUpdate = defineUpdate<UnfreezeStatus, [UnfreezeDecision & { signed?: SignedEnvelope }]>('abort');
/** With approveEach: an approver (not the requester) lets the next environment open. */
export const approveUnfreezeUpdate = defineUpdate<UnfreezeStatus, [UnfreezeDecision & { signed?: SignedEnvelope }]>('approve');

// --- rollback drills ----------------------------------------------------------------------------
/** The drill's report: phase while it runs, then restore time, SLA met or missed, revisions. */
export const drillResultQuery = defineQuery<DrillReport>('result');
/** The action of the signed decision that forces a drill (DrillInput.signed), bound to the drill's workflow ID. */
export const DRILL_DECISIONS = { force: 'drill.force' } as const;

// --- SLO guard ----------------------------------------------------------------------------------
export const guardStatusQuery = defineQuery<SloGuardStatus>('status');
/** The action a signed guard decision names, per Update. */
export const GUARD_DECISIONS = { pause: 'guard.pause', resume: 'guard.resume' } as const;
/** signed: absent for an unsigned decision, which a worker with REARGUARD_REQUIRE_SIGNATURES refuses. */
export type GuardDecision = { actor: string; reason: string; signed?: SignedEnvelope };
/** Pauses automatic rollbacks (evaluations stop too); the validator refuses a guard already paused. */
export const pauseGuardUpdate = defineUpdate<SloGuardStatus, [GuardDecision]>('pause');
export const resumeGuardUpdate = defineUpdate<SloGuardStatus, [GuardDecision]>('resume');

// The freeze gate's registry (workflows/gate-registry.ts): freeze windows publish what the gate sees of them; serve
// watches it with a long-polling Update; commands that change a freeze wait for `syncGate` before they return.
export const publishGateSignal = defineSignal<[GatePublication]>('publishGate');
export const watchGateUpdate = defineUpdate<GateWatchResult, [GateWatchRequest]>('watchGate');
export const syncGateUpdate = defineUpdate<GateSyncResult, [GateSyncRequest]>('syncGate');
/** Every live record of the shard, for `freeze check` and `freeze list` without serve. */
export const gateRecordsQuery = defineQuery<{ epoch: string; version: number; records: GateRecord[] }>('gateRecords');
