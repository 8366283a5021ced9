// The state of one SLO guard and the messages that steer it: pause and resume (Updates, decisions judged by
// slo-guard/decisions.ts) and the status Query. A pause or resume wakes the guard's wait (`changes`), so a
// resume evaluates at once.
import { setHandler } from '@temporalio/workflow';
import { durationText } from '../../runbook/duration.js';
import { GUARD_ACTOR, guardState, guardWatch, inCooldown, type SloGuardInput, type SloGuardStatus } from '../../runbook/slo-guard.js';
import type { AuditEvent } from '../../runbook/types.js';
import { GUARD_DECISIONS, guardStatusQuery, pauseGuardUpdate, resumeGuardUpdate } from '../../api/messages.js';
import { NOTIFY_OPTIONS, RunbookRun, auditTrail, errorMessage, historyTooLong, notifier, type AuditTrail } from '../kit/index.js';
import type { VerifiedDecision } from '../kit/decisions.js';
import { GuardDecisions } from './decisions.js';

const send = notifier(NOTIFY_OPTIONS);

type Slo = NonNullable<SloGuardInput['runbook']['spec']['slo']>;

export class GuardRun extends RunbookRun {
  readonly input: SloGuardInput;
  readonly slo: Slo;
  readonly status: SloGuardStatus;
  readonly trail: AuditTrail;
  readonly tooLong: () => boolean;
  /** Who may pause and resume (the procedure loads the worker's settings at the run's start). */
  readonly decisions: GuardDecisions;
  /** Bumped by every pause and resume: the guard's wait ends when it changes. */
  changes = 0;
  private readonly notifyNames: string[];

  constructor(input: SloGuardInput, slo: Slo) {
    super(input.runbook);
    const { workflowId, runbook, spec, target } = this;
    this.input = input;
    this.slo = slo;
    const { interval, cooldown } = slo;
    this.status = input.carried
      ? { ...input.carried.status, run: input.carried.status.run + 1 }
      : {
          workflowId,
          runbook: runbook.metadata.name,
          target,
          startedAt: new Date().toISOString(),
          startedBy: input.actor,
          state: 'watching',
          interval: durationText(interval),
          cooldown: durationText(cooldown),
          evaluations: 0,
          breachedSince: {},
          httpFailures: 0,
          prometheus: { reachable: true },
          triggers: [],
          run: 1,
        };
    this.trail = auditTrail(
      () => target,
      () => ({ runbook: runbook.metadata.name }),
      input.carried?.auditSeq,
    );
    this.notifyNames = slo.notify ?? spec.notify.map((n) => n.name);
    this.tooLong = historyTooLong(input.historyLimit ?? 2000);
    this.decisions = new GuardDecisions(workflowId, target.environment, input.carried);
  }

  audit(action: string, actor: string, reason: string, details: Record<string, unknown> = {}, signature?: AuditEvent['signature']): void {
    this.trail.record(action, actor, reason, details, undefined, signature);
  }

  /** Best effort: a broken chat webhook is audited, it never stops the guard. */
  tell(event: string, text: string, details: Record<string, unknown> = {}): Promise<void> {
    const targets = this.spec.notify.filter((n) => this.notifyNames.includes(n.name));
    return send({ workflowId: this.workflowId, target: this.target, targets, event, text, details }, (err) =>
      this.audit('guard.notify-failed', GUARD_ACTOR, errorMessage(err), { event }),
    );
  }

  inCooldown(): boolean {
    return inCooldown(this.status, Date.now());
  }

  /** Records the state the guard is in now, after an evaluation that found a violation or not. */
  refreshState(violated: boolean): void {
    this.status.state = guardState(this.status, violated, Date.now());
  }

  /** Set before the first await: a message that arrives with the start must find its handler. */
  registerHandlers(): void {
    const { status } = this;
    // Queries are read-only: the state a reader sees is computed (the cooldown may have run out since the last
    // evaluation), never stored by the query; so is what the guard watches (from the runbook: never in history).
    setHandler(guardStatusQuery, () => ({ ...status, state: guardState(status, status.state === 'violated', Date.now()), watches: guardWatch(this.slo) }));
    // An admitted signed decision is audited with its signature (`rearguard audit verify --allowed-signers`).
    const signedDetails = (v: VerifiedDecision | undefined) => (v ? { decision: v.decision } : {});
    setHandler(
      pauseGuardUpdate,
      (req) => {
        const { actor, reason } = req;
        const verified = this.decisions.admit(GUARD_DECISIONS.pause, req);
        status.paused = { actor, reason, since: new Date().toISOString(), ...(verified ? { signedWith: verified.signature.fingerprint } : {}) };
        status.state = 'paused';
        this.changes++;
        this.audit('guard.paused', actor, reason, signedDetails(verified), verified?.signature);
        return status;
      },
      {
        validator: (req) => {
          if (status.paused) throw new Error(`the guard is already paused (by ${status.paused.actor} since ${status.paused.since}: ${status.paused.reason})`);
          if (!req.reason?.trim()) throw new Error('expected a reason');
          this.decisions.judge(GUARD_DECISIONS.pause, req);
        },
      },
    );
    setHandler(
      resumeGuardUpdate,
      (req) => {
        const { actor, reason } = req;
        const verified = this.decisions.admit(GUARD_DECISIONS.resume, req);
        const was = status.paused;
        status.paused = undefined;
        this.changes++;
        this.refreshState(false);
        this.audit('guard.resumed', actor, reason, { pausedBy: was?.actor, pausedSince: was?.since, ...signedDetails(verified) }, verified?.signature);
        return status;
      },
      {
        validator: (req) => {
          if (!status.paused) throw new Error('the guard is not paused');
          this.decisions.judge(GUARD_DECISIONS.resume, req);
        },
      },
    );
  }
}
