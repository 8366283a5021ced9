// The state of one rollback run and the messages that read or change it (approvals and rejections, plan
// approvals, joins, cancel requests, the status Query), apart from the procedure (rollback/procedure.ts)
// so the procedure reads as the runbook it runs. Handlers only record: every decision they carry is
// acted on by the procedure, which waits for it with condition().
import { setHandler, workflowInfo } from '@temporalio/workflow';
import { durationText } from '../../runbook/duration.js';
import type { AuditEvent, ItemStatus, Outcome, Phase, RollbackInput, RollbackStatus, Trigger } from '../../runbook/types.js';
import {
  ROLLBACK_DECISIONS,
  approvePlanUpdate,
  approveUpdate,
  cancelRequestSignal,
  cancelUpdate,
  rejectUpdate,
  statusQuery,
  triggerSignal,
  type VoteRequest,
  type VoteResult,
} from '../../api/messages.js';
import type { TrustSettings } from '../../activities/index.js';
import { RunbookRun, auditTrail, errorMessage, notifier } from '../kit/index.js';
import { DEVELOPMENT_TRUST, judgeDecision, type VerifiedDecision } from '../kit/decisions.js';
import { triggerExtra } from '../../runbook/decision.js';
import { mayAct } from '../../runbook/permissions.js';
import { GUARD_ACTOR } from '../../runbook/slo-guard.js';

/** Rollback announcements get quicker retries than other workflows': an incident is going on. */
const send = notifier({ startToCloseTimeout: '30s', retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 5 } });

const pending = (name: string, type: string): ItemStatus => ({ name, type, state: 'pending' });

export class RollbackRun extends RunbookRun {
  readonly trigger: Trigger;
  readonly startedMs: number;
  readonly slaMs: number;
  readonly slaText: string;
  readonly approval: { required: boolean; approvers: string[]; quorum: number; timeout: number };
  readonly approvalText: string;
  readonly status: RollbackStatus;
  /** How the run ends; the procedure sets it, the workflow reports it. */
  outcome = 'succeeded' as Outcome;
  /** Who may sign votes (kit/decisions.ts); the procedure loads the worker's settings before any vote counts. */
  trust: TrustSettings = DEVELOPMENT_TRUST;
  /** Nonces of the signed decisions this run accepted: each counts once. */
  private readonly nonces = new Set<string>();

  /** The approval the worker's policy asks for (rollback/procedure.ts), before anyone can vote. */
  requireApproval({ required, approvers, quorum }: { required: boolean; approvers: string[]; quorum: number }): void {
    Object.assign(this.approval, { required, approvers, quorum });
    Object.assign(this.status.approval, { required, approvers, quorum });
  }
  private readonly trail;

  constructor({ runbook, trigger, origin }: RollbackInput) {
    super(runbook);
    const { workflowId, spec, target } = this;
    this.trigger = trigger;
    const startedMs = (this.startedMs = Date.now());
    const slaMs = (this.slaMs = spec.sla);
    this.slaText = durationText(slaMs);
    const approval = (this.approval = spec.approval ?? { required: false, approvers: [], quorum: 1, timeout: 30 * 60_000 });
    this.approvalText = durationText(approval.timeout);
    this.status = {
      workflowId,
      runbook: runbook.metadata.name,
      ...(origin ? { origin } : {}),
      target,
      trigger,
      joins: [],
      phase: 'preflight',
      startedAt: new Date(startedMs).toISOString(),
      approval: { required: approval.required, approvers: approval.approvers, quorum: approval.quorum, timeout: this.approvalText, votes: [] },
      sla: {
        target: this.slaText,
        deadline: new Date(startedMs + slaMs).toISOString(),
        remainingMs: slaMs,
        breached: false,
        escalations: spec.escalation.map((e) => ({
          at: typeof e.at === 'number' ? durationText(e.at) : e.at,
          atMs: typeof e.at === 'number' ? e.at : Math.round((slaMs * Number(e.at.slice(0, -1))) / 100),
          notify: e.notify,
        })),
      },
      steps: spec.steps.map((s) => pending(s.name ?? s.type, s.type)),
      verify: spec.verify.map((c) => pending(c.name ?? c.type, c.type)),
      audit: [],
    };
    this.trail = auditTrail(
      () => target,
      () => ({ runbook: runbook.metadata.name }),
    );
  }

  /** Audited and kept in the status too (`rollback status` shows the trail without reading the log). */
  audit(action: string, actor: string, reason: string, details: Record<string, unknown> = {}, signature?: AuditEvent['signature']): void {
    this.status.audit.push(this.trail.record(action, actor, reason, details, undefined, signature));
  }

  flushed(): Promise<void> {
    return this.trail.flushed();
  }

  /** Tells the runbook's notify targets named `names`; a failed send is audited, never fatal. */
  notify(names: string[], event: string, text: string, details: Record<string, unknown> = {}): Promise<void> {
    const targets = this.spec.notify.filter((n) => names.includes(n.name));
    return send({ workflowId: this.workflowId, target: this.target, targets, event, text, details }, (err) =>
      this.audit('rollback.notify-failed', 'rearguard', errorMessage(err), { event, targets: names }),
    );
  }

  /** Everyone on the runbook's notify list. */
  everyone(): string[] {
    return this.spec.notify.map((n) => n.name);
  }

  /** The escalation targets, or everyone when the runbook names none. */
  escalation(): string[] {
    const escalate = [...new Set(this.spec.escalation.flatMap((e) => e.notify))];
    return escalate.length ? escalate : this.everyone();
  }

  fail(phase: Phase, error: string, item?: string): void {
    this.outcome = 'failed';
    this.status.failure = { phase, item, error };
  }

  approvals(): number {
    return this.status.approval.votes.filter((v) => v.decision === 'approve').length;
  }

  rejected(): boolean {
    return this.status.approval.votes.some((v) => v.decision === 'reject');
  }

  /** The step whose plan waits for an approver, if any. */
  pendingPlan(): ItemStatus | undefined {
    return this.status.steps.find((s) => s.planApproval && !s.planApproval.approvedBy && s.state === 'running');
  }

  // --- messages -------------------------------------------------------------------------------
  /** Set before the first await: a message that arrives with the start must find its handler. */
  registerHandlers(): void {
    const { status } = this;
    setHandler(approveUpdate, this.vote('approve'), { validator: (v) => this.validateVote(v, 'approve') });
    setHandler(
      approvePlanUpdate,
      (req) => {
        const { actor, reason, step } = req;
        const item = this.pendingPlan()!;
        // A signed plan approval names its step (extra.step): it cannot approve another step's plan.
        const verified = this.admit(ROLLBACK_DECISIONS.approvePlan, req, { step: item.name });
        item.planApproval = { required: true, approvedBy: actor, reason, time: new Date().toISOString() };
        this.audit(
          'rollback.plan-approved',
          actor,
          reason,
          { step: item.name, plan: item.plan, ...(verified ? { decision: verified.decision } : {}) },
          verified?.signature,
        );
        return { accepted: true as const, step: step ?? item.name };
      },
      {
        validator: (req) => {
          const { actor, step } = req;
          const item = this.pendingPlan();
          if (!item) throw new Error('no step is waiting for plan approval');
          if (step !== undefined && step !== item.name) throw new Error(`step ${step} is not waiting for plan approval (${item.name} is)`);
          this.validateApprover(actor);
          this.judge(ROLLBACK_DECISIONS.approvePlan, req, { step: item.name });
        },
      },
    );
    setHandler(rejectUpdate, this.vote('reject'), { validator: (v) => this.validateVote(v, 'reject') });
    setHandler(triggerSignal, (t: Trigger) => {
      if (t.requestId === this.trigger.requestId || status.joins.some((j) => j.requestId === t.requestId)) return;
      const judged = this.joinRefusal(t);
      if ('reason' in judged) {
        this.audit('rollback.join-refused', t.actor, t.reason, { source: t.source, phase: status.phase, refusal: judged.reason });
        return;
      }
      status.joins.push(t);
      // A join never changes the running rollback's targets: an explicit target is recorded, not applied.
      this.audit('rollback.joined', t.actor, t.reason, {
        source: t.source,
        phase: status.phase,
        ...(t.explicitTarget ? { explicitTarget: t.explicitTarget, explicitTargetApplied: false } : {}),
      });
    });
    // A verified cancellation: the client cancels the workflow once this is accepted. The first request names
    // who cancelled (rollback.cancelled); each admitted one is audited, signed ones with their signature.
    setHandler(
      cancelUpdate,
      (req) => {
        const { actor, reason } = req;
        const verified = this.admit(ROLLBACK_DECISIONS.cancel, req);
        status.cancel ??= { actor, reason };
        this.audit(
          'rollback.cancel-requested',
          actor,
          reason,
          { phase: status.phase, ...(verified ? { decision: verified.decision } : {}) },
          verified?.signature,
        );
        return { accepted: true as const };
      },
      { validator: (req) => this.validateCancel(req) },
    );
    // Clients from before the cancel Update: who and why, unverified; ignored where a catalog's settings verify
    // decisions (else anyone could name someone else as the canceller of a verified cancellation).
    setHandler(cancelRequestSignal, (req) => {
      if (this.trust.catalog !== undefined) return;
      status.cancel ??= req;
    });
    setHandler(statusQuery, () => ({ ...status, sla: { ...status.sla, remainingMs: this.startedMs + this.slaMs - Date.now() } }));
  }

  private requesters(): string[] {
    return [this.trigger.actor, ...this.status.joins.map((j) => j.actor)];
  }

  private validateApprover(actor: string): void {
    const { status } = this;
    if (!status.approval.approvers.includes(actor)) {
      throw new Error(`${actor} is not an approver of runbook ${this.runbook.metadata.name} (approvers: ${status.approval.approvers.join(', ')})`);
    }
    if (this.requesters().includes(actor)) throw new Error(`${actor} requested this rollback and cannot also approve or reject it`);
  }

  /** The signature check of a vote (kit/decisions.ts), at workflow time: pure, so validator and handler agree. */
  private judge(action: string, v: VoteRequest, extra?: Record<string, string>): VerifiedDecision | undefined {
    return judgeDecision(
      this.trust,
      // The run binds the decision: the workflow ID alone is every rollback of this service.
      { action, workflowId: this.workflowId, actor: v.actor, reason: v.reason, signed: v.signed, extra: { run: workflowInfo().runId, ...extra } },
      Date.now(),
      this.nonces,
    );
  }

  /**
   * The trigger that started this run, judged like a vote (a person's trigger is signed over the runbook's name
   * and digest); its nonce is used up. Throws an Error saying why it is refused.
   */
  admitTrigger(t: Trigger = this.trigger, first = true): VerifiedDecision | undefined {
    // Systems act under their own names only: an alert is alertmanager, the SLO guard slo-guard, and a drill's
    // trigger comes from its parent workflow. Their triggers carry no person's key; the policy's `trigger` list
    // still decides whether that system may act here. A person's trigger is signed.
    if (t.source !== 'manual') {
      const expected = SYSTEM_ACTORS[t.source];
      if (expected !== undefined && t.actor !== expected)
        throw new Error(
          `${t.source === 'alert' ? 'an' : 'a'} ${t.source} trigger acts as ${expected}, not ${t.actor}; people start rollbacks with --source manual, signed`,
        );
      if (t.source === 'drill' && (!first || !workflowInfo().parent)) throw new Error('a drill trigger comes only from a drill workflow (rearguard drill run)');
      if (!t.signed) return undefined;
    }
    const origin = this.status.origin;
    const verified = judgeDecision(
      this.trust,
      {
        action: ROLLBACK_DECISIONS.trigger,
        workflowId: this.workflowId,
        actor: t.actor,
        reason: t.reason,
        signed: t.signed,
        // What the signer asked for: this runbook (its digest, for the trigger that loaded it), this source and
        // explicit target, so a captured trigger cannot be replayed with another revision or as another source.
        extra: triggerExtra(this.runbook.metadata.name, first && origin && 'catalog' in origin ? origin.digest : undefined, t),
      },
      Date.now(),
      this.nonces,
    );
    if (verified) this.nonces.add(verified.decision.nonce);
    return verified;
  }

  /**
   * Under a catalog that requires signatures: a join is judged like the first trigger (and by the policy's
   * `trigger`); a refused one is audited and neither joins nor counts as a requester (who may not vote).
   */
  private joinRefusal(t: Trigger): { reason: string } | { verified?: VerifiedDecision } {
    if (!(this.trust.catalog !== undefined && this.trust.requireSignatures)) return {};
    try {
      const rules = this.trust.permissions;
      const may = rules ? mayAct(rules, this.target.environment, 'trigger', t.actor) : { ok: true as const };
      if (!may.ok) return { reason: `refused by the worker's policy: ${may.reason}` };
      return { verified: this.admitTrigger(t, false) };
    } catch (err) {
      return { reason: (err as Error).message };
    }
  }

  /** Records what the validator admitted; the nonce of a signed vote is used up here (validators change nothing). */
  private admit(action: string, v: VoteRequest, extra?: Record<string, string>): VerifiedDecision | undefined {
    const verified = this.judge(action, v, extra);
    if (verified) this.nonces.add(verified.decision.nonce);
    return verified;
  }

  /** Who may cancel this rollback: the policy's `cancel` for its environment, and a signature as the worker requires. */
  private validateCancel(req: VoteRequest): void {
    const { status } = this;
    if (status.outcome) throw new Error(`the rollback has already ended (${status.outcome})`);
    // The procedure loads the settings first thing; until then a cancel would be judged by none (fail closed).
    if (this.trust === DEVELOPMENT_TRUST && status.phase === 'preflight')
      throw new Error("the rollback is starting: the worker's trust settings are not loaded yet; try again in a moment");
    if (!req.reason?.trim()) throw new Error('expected a reason');
    const rules = this.trust.permissions;
    if (rules) {
      const may = mayAct(rules, this.target.environment, 'cancel', req.actor);
      if (!may.ok) throw new Error(`refused by the worker's policy: ${may.reason}`);
    }
    this.judge(ROLLBACK_DECISIONS.cancel, req);
  }

  private validateVote(v: VoteRequest, decision: 'approve' | 'reject'): void {
    const { status } = this;
    const { actor } = v;
    if (status.phase === 'running-steps' && this.pendingPlan()) {
      // A reject while a plan waits for approval stops the rollback before that plan is applied.
      this.validateApprover(actor);
      this.judge(ROLLBACK_DECISIONS[decision], v);
      return;
    }
    if (status.phase !== 'awaiting-approval') {
      throw new Error(`no approval is pending: the rollback is ${status.outcome ?? status.phase}`);
    }
    this.validateApprover(actor);
    // Before the one-vote rule: a signed decision sent twice is refused as the replay it is.
    this.judge(ROLLBACK_DECISIONS[decision], v);
    const earlier = status.approval.votes.find((v) => v.actor === actor);
    if (earlier) throw new Error(`${actor} has already voted (${earlier.decision}) on this rollback`);
  }

  private vote(decision: 'approve' | 'reject') {
    return (v: VoteRequest): VoteResult => {
      const { actor, reason } = v;
      const verified = this.admit(ROLLBACK_DECISIONS[decision], v);
      const quorum = this.approval.quorum;
      this.status.approval.votes.push({ actor, decision, reason, time: new Date().toISOString() });
      this.audit(
        decision === 'approve' ? 'rollback.approved' : 'rollback.rejected',
        actor,
        reason,
        { approvals: this.approvals(), quorum, ...(verified ? { decision: verified.decision } : {}) },
        verified?.signature,
      );
      return { accepted: true, approvals: this.approvals(), quorum, decided: this.rejected() || this.approvals() >= quorum };
    };
  }
}

/** The actor each kind of system trigger acts as (runbook/types.ts TRIGGER_SOURCES). */
const SYSTEM_ACTORS: Partial<Record<Trigger['source'], string>> = { alert: 'alertmanager', slo: GUARD_ACTOR };
