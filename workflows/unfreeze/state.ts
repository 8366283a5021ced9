// The state of one gradual unfreeze and the messages that steer it: advance (after a fix, past a failed
// gate), abort, approve (the next environment, with approveEach), and the status Query. Each Update
// records the decision and answers once the ladder has acted on it; the ladder itself (unfreeze.ts and
// unfreeze/rung.ts) only reads what these record.
import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { durationText } from '../../runbook/duration.js';
import { describeGate, type EnvironmentStatus, type UnfreezeDecision, type UnfreezeInput, type UnfreezeStatus } from '../../runbook/unfreeze-model.js';
import { UNFREEZE_DECISIONS, abortUnfreezeUpdate, advanceUnfreezeUpdate, approveUnfreezeUpdate, unfreezeStatusQuery } from '../../api/messages.js';
import type { AuditEvent } from '../../runbook/types.js';
import { NOTIFY_OPTIONS, auditTrail, errorMessage, historyTooLong, notifier, type AuditTrail } from '../kit/index.js';
import type { VerifiedDecision } from '../kit/decisions.js';
import { DecisionBook, decisionDetails, type Decision } from '../freeze/decisions.js';

const send = notifier(NOTIFY_OPTIONS);
const now = () => new Date().toISOString();

/** A person's decision on the ladder, as admitted: who, why, and the verified signed decision (if signed). */
export type AdmittedDecision = UnfreezeDecision & { verified?: VerifiedDecision };
/** The audit fields and signature of an admitted decision, for `audit(...)`. */
export const signedAudit = (d: AdmittedDecision) => ({ details: decisionDetails(d.verified), signature: d.verified?.signature });

export class UnfreezeRun {
  readonly workflowId: string;
  readonly firstExecutionRunId: string;
  readonly input: UnfreezeInput;
  readonly status: UnfreezeStatus;
  readonly soakMs: number;
  readonly intervalMs: number;
  readonly soakText: string;
  readonly approvers: string[];
  /** The freeze's name, as people type it in commands. */
  readonly freezeName: string;
  readonly trail: AuditTrail;
  readonly tooLong: () => boolean;
  aborted: AdmittedDecision | undefined;
  advance: AdmittedDecision | undefined;
  /** The signed decisions taken on this unfreeze (freeze/decisions.ts, shared with the freeze). */
  readonly book: DecisionBook;
  /** Who opens the environment next: the starter, the approver of that step, or whoever advanced after a fix. */
  opener: { actor: string; reason: string };
  /** The environment the event being recorded is about (its audit target); undefined: the whole ladder. */
  private auditEnvironment: string | undefined;

  /** signedDecisions: patched('signed-decisions'), false for runs started before decisions were judged. */
  constructor(input: UnfreezeInput, signedDecisions: boolean) {
    const { workflowId, firstExecutionRunId } = workflowInfo();
    this.workflowId = workflowId;
    this.firstExecutionRunId = firstExecutionRunId;
    this.input = input;
    this.soakMs = input.soak;
    this.intervalMs = input.interval ?? 30_000;
    this.soakText = durationText(this.soakMs);
    this.approvers = input.approvers ?? [];
    this.status = input.carried?.status ?? {
      workflowId,
      freezeId: input.freezeId,
      ladder: input.ladder,
      soak: this.soakText,
      interval: durationText(this.intervalMs),
      gates: input.gates.map(describeGate),
      approveEach: input.approveEach ?? false,
      approvers: this.approvers,
      actor: input.actor,
      reason: input.reason,
      phase: 'starting',
      current: 0,
      startedAt: now(),
      environments: input.ladder.map((environment): EnvironmentStatus => ({ environment, state: 'frozen', attempts: 0, evaluations: 0, lastGates: [] })),
      lastGates: [],
      decisions: [],
    };
    this.opener = { actor: input.actor, reason: input.reason };
    this.trail = auditTrail(
      () => this.targetOf(this.auditEnvironment),
      () => ({ freeze: input.freezeId }),
      input.carried?.auditSeq,
    );
    this.freezeName = input.freezeId.replace(/^freeze:/, '');
    this.tooLong = historyTooLong(input.historyLimit ?? 5000);
    const decisions = input.carried?.decisions;
    this.book = new DecisionBook(workflowId, `the unfreeze of ${this.freezeName}`, decisions, signedDecisions && decisions === undefined);
  }

  /** Every environment the unfreeze opens: its ladder, and those the freeze's lift opens at the end. */
  environments(): string[] {
    return [...this.input.ladder, ...(this.status.outsideLadder ?? [])];
  }

  /** Judges a decision on the ladder: its signature, and the `unfreeze` permission in every environment it opens. */
  private judge(action: string, d: Decision): void {
    this.book.judge(action, d);
    this.book.permit('unfreeze', this.environments(), d.actor);
  }

  /** The handler's side of judge: uses up the nonce; what it records (never the envelope itself). */
  private admit(action: string, d: Decision): AdmittedDecision {
    const verified = this.book.admit(action, d);
    return { actor: d.actor, reason: d.reason, ...(verified ? { verified } : {}) };
  }

  /** An environment of the ladder (or all of it) and the freeze's services. */
  targetOf(environment: string | undefined): { environment: string; service: string } {
    return { environment: environment ?? this.input.ladder.join(','), service: (this.status.services ?? ['*']).join(',') };
  }

  audit(action: string, actor: string, reason: string, details: Record<string, unknown> = {}, environment?: string, signature?: AuditEvent['signature']): void {
    this.auditEnvironment = environment;
    this.trail.record(action, actor, reason, details, undefined, signature);
  }

  /** Announcements are best effort: a broken chat webhook is audited, it never stops the ladder. */
  tell(event: string, text: string, environment?: string, details: Record<string, unknown> = {}): Promise<void> {
    const targets = this.input.notify ?? [];
    return send({ workflowId: this.workflowId, target: this.targetOf(environment), targets, event, text, details }, (err) =>
      this.audit('unfreeze.notify-failed', 'rearguard', errorMessage(err), { event, targets: targets.map((t) => t.name) }, environment),
    );
  }

  /** Stable across retries and replays, so the freeze applies each release or refreeze once. */
  requestId(what: string, environment: string, attempt: number): string {
    return `${this.workflowId}/${this.firstExecutionRunId}/${what}-${environment}-${attempt}`;
  }

  finished(): boolean {
    return ['completed', 'aborted', 'freeze-ended', 'error', 'refused'].includes(this.status.phase);
  }

  current(): EnvironmentStatus | undefined {
    return this.status.environments[this.status.current];
  }

  /** What the status Query answers: the soak's remaining time is computed, never stored. */
  snapshot(): UnfreezeStatus {
    const { status } = this;
    return {
      ...status,
      environments: status.environments.map((e) =>
        e.state === 'soaking' && e.soakEndsAt ? { ...e, remainingMs: Math.max(0, Date.parse(e.soakEndsAt) - Date.now()) } : e,
      ),
    };
  }

  /** Set before the first await: a message that arrives with the start must find its handler. */
  registerHandlers(): void {
    const { status, approvers, input } = this;
    setHandler(unfreezeStatusQuery, () => this.snapshot());
    setHandler(
      advanceUnfreezeUpdate,
      async (req) => {
        const d = (this.advance = this.admit(UNFREEZE_DECISIONS.advance, req));
        status.decisions.push({ action: 'advance', actor: d.actor, reason: d.reason, environment: this.current()?.environment, time: now() });
        // Answer once the environment is open again (or the ladder could not go on).
        await condition(() => status.phase !== 'failed' || this.finished());
        return this.snapshot();
      },
      {
        validator: (req) => {
          if (status.phase !== 'failed')
            throw new Error(`nothing to advance: the unfreeze is ${status.phase}${this.finished() ? '' : ', not stopped by a failed gate'}`);
          this.judge(UNFREEZE_DECISIONS.advance, req);
        },
      },
    );
    setHandler(
      abortUnfreezeUpdate,
      async (req) => {
        const d = (this.aborted = this.admit(UNFREEZE_DECISIONS.abort, req));
        status.decisions.push({ action: 'abort', actor: d.actor, reason: d.reason, environment: this.current()?.environment, time: now() });
        await condition(() => this.finished());
        return this.snapshot();
      },
      {
        validator: (req) => {
          if (this.finished()) throw new Error(`the unfreeze has already ended (${status.phase})`);
          if (this.aborted) throw new Error(`the unfreeze is already being aborted by ${this.aborted.actor}`);
          this.judge(UNFREEZE_DECISIONS.abort, req);
        },
      },
    );
    setHandler(
      approveUnfreezeUpdate,
      async (req) => {
        const d = this.admit(UNFREEZE_DECISIONS.approve, req);
        const e = this.current()!;
        e.approvedBy = { actor: d.actor, reason: d.reason, time: now() };
        status.decisions.push({ action: 'approve', actor: d.actor, reason: d.reason, environment: e.environment, time: now() });
        const signed = signedAudit(d);
        this.audit('unfreeze.approved', d.actor, d.reason, { step: status.current + 1, ...signed.details }, e.environment, signed.signature);
        await condition(() => status.phase !== 'awaiting-approval' || this.finished());
        return this.snapshot();
      },
      {
        validator: (req) => {
          const { actor } = req;
          if (status.phase !== 'awaiting-approval') throw new Error(`no approval is pending: the unfreeze is ${status.phase}`);
          if (!approvers.includes(actor))
            throw new Error(`${actor} is not an approver of this unfreeze (approvers: ${approvers.join(', ') || 'none configured'})`);
          if (actor === input.actor) throw new Error(`${actor} started this unfreeze and cannot also approve it`);
          // Before the one-approval rule: a signed approval sent twice is refused as the replay it is.
          this.judge(UNFREEZE_DECISIONS.approve, req);
          const e = this.current();
          if (e?.approvedBy) throw new Error(`${e.environment} was already approved by ${e.approvedBy.actor}`);
        },
      },
    );
  }
}
