// The state of one gradual unfreeze and the messages that steer it: advance (after a fix, past a failed
// gate), abort, approve (the next environment, with approveEach), and the status Query. Each Update
// records the decision and answers once the ladder has acted on it; the ladder itself (unfreeze.ts and
// unfreeze/rung.ts) only reads what these record.
import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { durationText } from '../../runbook/duration.js';
import { describeGate, type EnvironmentStatus, type UnfreezeDecision, type UnfreezeInput, type UnfreezeStatus } from '../../runbook/unfreeze.js';
import { abortUnfreezeUpdate, advanceUnfreezeUpdate, approveUnfreezeUpdate, unfreezeStatusQuery } from '../../api/messages.js';
import { NOTIFY_OPTIONS, auditTrail, errorMessage, historyTooLong, notifier, type AuditTrail } from '../kit/index.js';

const send = notifier(NOTIFY_OPTIONS);
const now = () => new Date().toISOString();

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
  aborted: UnfreezeDecision | undefined;
  advance: UnfreezeDecision | undefined;
  /** Who opens the environment next: the starter, the approver of that step, or whoever advanced after a fix. */
  opener: { actor: string; reason: string };
  /** The environment the event being recorded is about (its audit target); undefined: the whole ladder. */
  private auditEnvironment: string | undefined;

  constructor(input: UnfreezeInput) {
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
  }

  /** An environment of the ladder (or all of it) and the freeze's services. */
  targetOf(environment: string | undefined): { environment: string; service: string } {
    return { environment: environment ?? this.input.ladder.join(','), service: (this.status.services ?? ['*']).join(',') };
  }

  audit(action: string, actor: string, reason: string, details: Record<string, unknown> = {}, environment?: string): void {
    this.auditEnvironment = environment;
    this.trail.record(action, actor, reason, details);
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
    return ['completed', 'aborted', 'freeze-ended', 'error'].includes(this.status.phase);
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
      async (d) => {
        this.advance = d;
        status.decisions.push({ action: 'advance', ...d, environment: this.current()?.environment, time: now() });
        // Answer once the environment is open again (or the ladder could not go on).
        await condition(() => status.phase !== 'failed' || this.finished());
        return this.snapshot();
      },
      {
        validator: (_d: UnfreezeDecision) => {
          if (status.phase !== 'failed')
            throw new Error(`nothing to advance: the unfreeze is ${status.phase}${this.finished() ? '' : ', not stopped by a failed gate'}`);
        },
      },
    );
    setHandler(
      abortUnfreezeUpdate,
      async (d) => {
        this.aborted = d;
        status.decisions.push({ action: 'abort', ...d, environment: this.current()?.environment, time: now() });
        await condition(() => this.finished());
        return this.snapshot();
      },
      {
        validator: (_d: UnfreezeDecision) => {
          if (this.finished()) throw new Error(`the unfreeze has already ended (${status.phase})`);
          if (this.aborted) throw new Error(`the unfreeze is already being aborted by ${this.aborted.actor}`);
        },
      },
    );
    setHandler(
      approveUnfreezeUpdate,
      async (d) => {
        const e = this.current()!;
        e.approvedBy = { ...d, time: now() };
        status.decisions.push({ action: 'approve', ...d, environment: e.environment, time: now() });
        this.audit('unfreeze.approved', d.actor, d.reason, { step: status.current + 1 }, e.environment);
        await condition(() => status.phase !== 'awaiting-approval' || this.finished());
        return this.snapshot();
      },
      {
        validator: ({ actor }) => {
          if (status.phase !== 'awaiting-approval') throw new Error(`no approval is pending: the unfreeze is ${status.phase}`);
          if (!approvers.includes(actor))
            throw new Error(`${actor} is not an approver of this unfreeze (approvers: ${approvers.join(', ') || 'none configured'})`);
          if (actor === input.actor) throw new Error(`${actor} started this unfreeze and cannot also approve it`);
          const e = this.current();
          if (e?.approvedBy) throw new Error(`${e.environment} was already approved by ${e.approvedBy.actor}`);
        },
      },
    );
  }
}
