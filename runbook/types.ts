// Plain-JSON shapes that cross the workflow boundary (inputs, queries, audit events). No Date, Map
// or Set: everything here is serialised into Temporal history as it is. The domain layer (it imports
// nothing of Rearguard's above it): docs/architecture.md.
import type { Runbook, Step, Check } from './schema.js';
import type { Plan, RestoreRecord } from './plan.js';
import type { CatalogRef, RunbookOrigin } from './catalog.js';

export const TRIGGER_SOURCES = ['manual', 'alert', 'slo', 'drill'] as const;
export type TriggerSource = (typeof TRIGGER_SOURCES)[number];

export interface Trigger {
  source: TriggerSource;
  /** A named person or system; never empty. */
  actor: string;
  reason: string;
  /** Distinguishes this request from others that join the same rollback. */
  requestId: string;
  /**
   * A person's explicit target (`rollback start --to-revision N [--step NAME]`) for one kubernetes or helm
   * step: it replaces the step's `toRevision` for this run and bypasses the repeat rule (runbook/repeat.ts).
   */
  explicitTarget?: ExplicitTarget;
  /**
   * A person's trigger, signed like every decision (action rollback.trigger, extra: the runbook's name and,
   * for a catalog runbook, its digest): `payload` canonicalDecision, `signature` the armored SSH signature.
   */
  signed?: { payload: string; signature: string };
}

export interface ExplicitTarget {
  /** The step's name (a kubernetes or helm step of the runbook). */
  step: string;
  toRevision: number;
}

export interface RollbackInput {
  runbook: Runbook;
  trigger: Trigger;
  /** Where the runbook came from (absent: sent by the client, as before catalogs). */
  origin?: RunbookOrigin;
}

/** A rollback of a catalog runbook: the workflow loads the runbook on the worker (never trusting a body sent by the client). */
export interface CatalogRollbackInput {
  catalog: CatalogRef;
  trigger: Trigger;
}

export interface Target {
  environment: string;
  service: string;
}

export interface AuditEvent {
  /** Stable per event: a retried audit write is recognised and not appended twice. */
  id: string;
  time: string;
  actor: string;
  action: string;
  reason: string;
  workflowId: string;
  target: Target;
  details: Record<string, unknown>;
  /**
   * The hash chain (api/audit-file.ts): `sha256:<hex>` of the previous event line of the audit file, or
   * `sha256:` and 64 zeros for the file's first event. Set by the audit log when it appends, never by the caller.
   */
  prev?: string;
  /** A person's SSH signature of a decision; `rearguard audit verify --allowed-signers FILE` checks it. */
  signature?: { armored: string; principal: string; fingerprint?: string };
}

export type Phase = 'preflight' | 'awaiting-approval' | 'running-steps' | 'verifying' | 'done';
/** `already-restored`: a relative target would have moved past a state an earlier rollback restored; nothing changed. */
export type Outcome = 'succeeded' | 'failed' | 'rejected' | 'approval-timeout' | 'cancelled' | 'already-restored';
export type ItemState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface ItemStatus {
  name: string;
  type: string;
  state: ItemState;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  attempts?: number;
  /** The target resolved before the step ran (e.g. from/to revision); retries aim at exactly this. */
  plan?: Plan;
  /** For steps whose plan a person must approve before it is applied (terraform approvePlan). */
  planApproval?: { required: true; approvedBy?: string; reason?: string; time?: string };
  /** A short summary from the mechanism (e.g. from/to revision); never secrets, never whole logs. */
  result?: Record<string, unknown>;
  error?: string;
}

export interface Vote {
  actor: string;
  decision: 'approve' | 'reject';
  reason: string;
  time: string;
}

export interface RollbackStatus {
  workflowId: string;
  runbook: string;
  target: Target;
  trigger: Trigger;
  joins: Trigger[];
  phase: Phase;
  outcome?: Outcome;
  startedAt: string;
  endedAt?: string;
  approval: {
    required: boolean;
    approvers: string[];
    quorum: number;
    timeout: string;
    deadline?: string;
    votes: Vote[];
  };
  sla: {
    target: string;
    deadline: string;
    /** Computed when the query is answered (workflow time), for convenience; clients may recompute. */
    remainingMs: number;
    breached: boolean;
    escalations: { at: string; atMs: number; notify: string[]; firedAt?: string }[];
  };
  steps: ItemStatus[];
  verify: ItemStatus[];
  failure?: { phase: Phase; item?: string; error: string };
  /** Where the runbook came from: the catalog (source, revision, digest), or a local file. */
  origin?: RunbookOrigin;
  /** Outcome `already-restored`: which step's target was already restored, by whom, and the message sent. */
  alreadyRestored?: { step: string; record: RestoreRecord; message: string };
  cancel?: { actor: string; reason: string };
  audit: AuditEvent[];
}

export interface StepRequest {
  workflowId: string;
  target: Target;
  cluster?: string;
  step: Step;
  /** Same value on every attempt of this step in this run; sent as Idempotency-Key to receivers. */
  idempotencyKey: string;
  /** For planned mechanisms: the target recorded by planStep. */
  plan?: Plan;
  trigger: Pick<Trigger, 'actor' | 'reason' | 'source'>;
}

export interface CheckRequest {
  workflowId: string;
  target: Target;
  cluster?: string;
  check: Check;
}

export interface NotifyRequest {
  workflowId: string;
  target: Target;
  /** Targets by name, resolved against the runbook's notify list. */
  targets: Runbook['spec']['notify'];
  event: string;
  text: string;
  details: Record<string, unknown>;
}
