// The state of one freeze window and the messages that change it: extend, lift, redefine (a calendar
// edit), release and refreeze of one environment (for a gradual unfreeze), and exception requests and
// approvals. Apart from the window's procedure (freeze.ts), which only waits for what these record.
// Announcements a handler starts run in the background (`pending`), so an Update answers at once.
import { ApplicationFailure, currentUpdateInfo, proxySinks, setHandler, workflowInfo } from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import { durationText } from '../../runbook/duration.js';
import {
  MAX_FREEZE_MS,
  freezeTimeProblem,
  freezeStartExtra,
  guardrailsMinus,
  type FreezeException,
  type FreezeState,
  type FreezeWindowInput,
  type Guardrails,
} from '../../runbook/freeze.js';
import type { AuditEvent, Target } from '../../runbook/types.js';
import { unfreezeWorkflowId } from '../../api/ids.js';
import {
  FREEZE_DECISIONS,
  approveExceptionUpdate,
  extendFreezeUpdate,
  freezeStateQuery,
  liftFreezeUpdate,
  redefineFreezeUpdate,
  refreezeEnvironmentUpdate,
  rejectExceptionUpdate,
  releaseEnvironmentUpdate,
  requestExceptionUpdate,
} from '../../api/messages.js';
import type { RearguardSinks } from '../sinks.js';
import { NOTIFY_OPTIONS, auditTrail, errorMessage, historyTooLong, notifier, type AuditTrail } from '../kit/index.js';
import type { VerifiedDecision } from '../kit/decisions.js';
import { DecisionBook, decisionDetails } from './decisions.js';

const { metrics } = proxySinks<RearguardSinks>();
const send = notifier(NOTIFY_OPTIONS);

/** Set by Temporal on workflows a Schedule starts: the occurrence's nominal time, even when started late. */
const SCHEDULED_START = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

const now = () => new Date().toISOString();

export class FreezeRun {
  readonly workflowId: string;
  /** The current definition: calendar edits replace parts of it, and it is carried across continue-as-new. */
  readonly input: FreezeWindowInput;
  readonly state: FreezeState;
  readonly trail: AuditTrail;
  /** Announcements handlers started; a run ends (or continues as new) only once they are sent. */
  readonly pending: Promise<void>[] = [];
  readonly tooLong: () => boolean;
  lifted = false;
  /** Counts redefinitions, so a wait can tell that one happened. */
  redefined = 0;
  /** Guardrails an edit dropped while active, still to be put back. */
  dropped: Guardrails | undefined;
  /** The signed decisions taken on this freeze: who may sign and decide, the nonces used (freeze/decisions.ts). */
  readonly book: DecisionBook;
  /** The admitted lift, for the freeze.lifted event (recorded when the run ends). */
  liftDecision: VerifiedDecision | undefined;

  /** signedDecisions: patched('signed-decisions'), false for runs started before decisions were judged. */
  constructor(initial: FreezeWindowInput, signedDecisions: boolean) {
    const { workflowId } = workflowInfo();
    this.workflowId = workflowId;
    const input: FreezeWindowInput = (this.input = { ...initial, ...initial.carried?.input });
    const start = input.start ?? workflowInfo().typedSearchAttributes.get(SCHEDULED_START)?.toISOString() ?? now();
    // Validated inputs never fail here; anything else fails the workflow (not its tasks) with a clear reason.
    const endMs = (input.carried?.end ?? input.end) ? Date.parse((input.carried?.end ?? input.end)!) : Date.parse(start) + (input.duration ?? 0);
    if (!Number.isFinite(Date.parse(start)) || typeof (input.duration ?? 0) !== 'number' || !Number.isFinite(endMs) || Math.abs(endMs) > 8.64e15)
      throw ApplicationFailure.nonRetryable(
        `freeze ${input.name}: invalid times (start ${JSON.stringify(start)}, end ${JSON.stringify(input.end)}, duration ${JSON.stringify(input.duration)})`,
        'InvalidFreezeWindow',
      );
    this.state = {
      id: workflowId,
      name: input.name,
      scope: input.carried?.scope ?? input.scope,
      reason: input.reason,
      actor: input.actor,
      ...(input.timezone ? { timezone: input.timezone } : {}),
      start,
      end: input.carried?.end ?? input.end ?? new Date(endMs).toISOString(),
      phase: input.carried?.phase ?? 'scheduled',
      exceptions: input.carried?.exceptions ?? [],
      approvers: input.exceptions.approvers,
      quorum: input.exceptions.quorum,
      history: input.carried?.history ?? [],
      ...(input.calendar ? { calendar: input.calendar } : {}),
      ...(input.carried?.guardrails ? { guardrails: input.carried.guardrails } : {}),
      ...(input.carried?.released ? { released: input.carried.released } : {}),
      // Until its start is judged, the gate does not count it (runbook/freeze.ts evaluateGate).
      ...(signedDecisions ? { admitted: false } : {}),
    };
    this.trail = auditTrail(
      () => this.target(),
      () => ({ window: this.state.name, end: this.state.end }),
      input.carried?.auditSeq,
    );
    this.tooLong = historyTooLong(input.historyLimit ?? 2000);
    const decisions = input.carried?.decisions;
    this.book = new DecisionBook(workflowId, `freeze ${input.name}`, decisions, signedDecisions && decisions === undefined);
  }

  /** Every environment the freeze was started for, those a gradual unfreeze has opened included: a decision on the freeze is about all of them. */
  environments(): string[] {
    return [...this.state.scope.environments, ...(this.state.released ?? [])];
  }

  /** Started by the system, not by a person's decision: an RCA freeze (a rollback's child) or a calendar's window. */
  systemStart(): boolean {
    return workflowInfo().parent !== undefined || this.input.calendar !== undefined;
  }

  /**
   * Judges the start (before anything is held): the person's signature and the `freeze` permission in every
   * environment; the admitted decision, or throws why the start is refused. The system's starts are not a
   * person's decision: who configured them is recorded as before (the calendar's appliedBy, rearguard).
   */
  admitStart(initial: FreezeWindowInput): VerifiedDecision | undefined {
    if (this.systemStart()) return undefined;
    const verified = this.book.admit(FREEZE_DECISIONS.start, initial, freezeStartExtra(initial), false);
    this.book.permit('freeze', this.environments(), initial.actor);
    return verified;
  }

  /** A lift the gradual unfreeze of this freeze sends when its ladder completes (the unfreeze's decisions were judged there). */
  private liftByUnfreeze(): boolean {
    return currentUpdateInfo()?.id.startsWith(`${unfreezeWorkflowId(this.workflowId)}/`) === true;
  }

  target(): Target {
    return { environment: this.state.scope.environments.join(','), service: this.state.scope.services.join(',') };
  }

  scopeText(): string {
    return `${this.state.scope.environments.join(',')}/${this.state.scope.services.join(',')}`;
  }

  audit(action: string, actor: string, reason: string, details: Record<string, unknown> = {}, on?: Target, signature?: AuditEvent['signature']): void {
    this.trail.record(action, actor, reason, details, on, signature);
  }

  /** Tells the window's notify targets (read now: a calendar edit may have changed them). */
  tell(event: string, text: string, details: Record<string, unknown> = {}): Promise<void> {
    const targets = this.input.notify ?? [];
    return send({ workflowId: this.workflowId, target: this.target(), targets, event, text, details }, (err) =>
      this.audit('freeze.notify-failed', 'rearguard', errorMessage(err), { event, targets: targets.map((t) => t.name) }),
    );
  }

  private tellLater(event: string, text: string, details: Record<string, unknown> = {}): void {
    this.pending.push(this.tell(event, text, details));
  }

  private open(): boolean {
    return this.state.phase === 'scheduled' || this.state.phase === 'active';
  }

  private requireOpen(): void {
    const { state } = this;
    if (state.phase === 'refused') throw new Error(`freeze ${state.name} was refused at its start: ${state.refusal}`);
    if (!this.open()) throw new Error(`freeze ${state.name} has ${state.phase === 'lifted' ? 'been lifted' : 'ended'}`);
  }

  private find(changeId: string): FreezeException | undefined {
    return this.state.exceptions.find((e) => e.changeId === changeId);
  }

  /** Set before the first await: a message that arrives with the start must find its handler. */
  registerHandlers(): void {
    const { state, input, workflowId } = this;
    setHandler(freezeStateQuery, () => state);
    setHandler(
      extendFreezeUpdate,
      (req) => {
        const { actor, reason, end } = req;
        const verified = this.book.admit(FREEZE_DECISIONS.extend, req, { end });
        state.end = end;
        state.history.push({ time: now(), actor, action: 'extend', reason, end });
        this.audit('freeze.extended', actor, reason, { end, ...decisionDetails(verified) }, undefined, verified?.signature);
        this.tellLater('freeze-extended', `Freeze ${state.name} (${this.scopeText()}) extended by ${actor} until ${end}: ${reason}`, { end });
        return state;
      },
      {
        validator: (req) => {
          const { end } = req;
          this.requireOpen();
          if (!(Date.parse(end) > Date.parse(state.end))) throw new Error(`the new end ${end} is not after the current end ${state.end}`);
          const problem = freezeTimeProblem(Date.parse(state.start), Date.parse(end), Date.now());
          if (problem) throw new Error(`the new end ${end} is too late: ${problem}`);
          this.book.judge(FREEZE_DECISIONS.extend, req, { end });
          this.book.permit('freeze', this.environments(), req.actor);
        },
      },
    );
    setHandler(
      liftFreezeUpdate,
      (req) => {
        const { actor, reason } = req;
        if (!this.liftByUnfreeze()) this.liftDecision = this.book.admit(FREEZE_DECISIONS.lift, req);
        this.lifted = true;
        state.history.push({ time: now(), actor, action: 'lift', reason });
        return state;
      },
      {
        validator: (req) => {
          this.requireOpen();
          // The gradual unfreeze's lift, like its releases, is the worker acting on the unfreeze's decisions.
          if (this.liftByUnfreeze()) return;
          this.book.judge(FREEZE_DECISIONS.lift, req);
          this.book.permit('freeze', this.environments(), req.actor);
        },
      },
    );
    setHandler(
      redefineFreezeUpdate,
      (def) => {
        if (state.phase === 'active') this.dropped = guardrailsMinus(input.guardrails, def.guardrails);
        Object.assign(input, {
          scope: def.scope,
          reason: def.reason,
          exceptions: def.exceptions,
          guardrails: def.guardrails,
          notify: def.notify,
          calendar: def.calendar,
        });
        if (def.start && state.phase === 'scheduled') state.start = def.start;
        if (def.end) state.end = def.end;
        Object.assign(state, {
          scope: def.scope,
          reason: def.reason,
          approvers: def.exceptions.approvers,
          quorum: def.exceptions.quorum,
          calendar: def.calendar,
        });
        state.history.push({ time: now(), actor: def.actor, action: 'redefine', reason: `calendar ${def.calendar?.name} changed`, end: state.end });
        this.audit('freeze.redefined', def.actor, `calendar ${def.calendar?.name} changed`, { start: state.start, end: state.end, scope: state.scope });
        this.redefined++;
        return state;
      },
      {
        validator: (def) => {
          this.requireOpen();
          if (!state.calendar) throw new Error(`freeze ${state.name} was not started by a calendar; use extend or lift`);
          if (def.calendar?.name !== state.calendar.name)
            throw new Error(`freeze ${state.name} belongs to calendar ${state.calendar.name}, not ${def.calendar?.name}`);
          const problem = freezeTimeProblem(Date.parse(def.start ?? state.start), Date.parse(def.end ?? state.end), Date.now());
          if (problem) throw new Error(`freeze ${state.name} cannot be redefined: ${problem}`);
        },
      },
    );
    // A gradual unfreeze opens environments one at a time, and closes one again when its soak fails.
    setHandler(
      releaseEnvironmentUpdate,
      ({ actor, reason, environment }) => {
        state.scope = { ...state.scope, environments: state.scope.environments.filter((e) => e !== environment) };
        state.released = [...(state.released ?? []), environment];
        state.history.push({ time: now(), actor, action: 'release', reason, environment });
        if (state.phase === 'active') metrics.freezeActive(workflowId, state.scope.environments, true);
        // The event is about the environment that opened, not about the scope still frozen.
        this.audit('freeze.environment-released', actor, reason, { environment }, { environment, service: state.scope.services.join(',') });
        this.tellLater('freeze-environment-released', `Freeze ${state.name}: deploys to ${environment} are open again (${actor}: ${reason})`, { environment });
        return state;
      },
      {
        validator: ({ environment }) => {
          this.requireOpen();
          if (!state.scope.environments.includes(environment))
            throw new Error(`freeze ${state.name} does not hold ${environment} (holds: ${state.scope.environments.join(', ') || 'nothing'})`);
        },
      },
    );
    setHandler(
      refreezeEnvironmentUpdate,
      ({ actor, reason, environment }) => {
        state.scope = { ...state.scope, environments: [...state.scope.environments, environment] };
        state.released = (state.released ?? []).filter((e) => e !== environment);
        state.history.push({ time: now(), actor, action: 'refreeze', reason, environment });
        if (state.phase === 'active') metrics.freezeActive(workflowId, state.scope.environments, true);
        this.audit('freeze.environment-refrozen', actor, reason, { environment }, { environment, service: state.scope.services.join(',') });
        this.tellLater('freeze-environment-refrozen', `Freeze ${state.name}: ${environment} is frozen again (${actor}: ${reason})`, { environment });
        return state;
      },
      {
        validator: ({ environment }) => {
          this.requireOpen();
          if (!(state.released ?? []).includes(environment)) throw new Error(`freeze ${state.name} has not released ${environment}`);
        },
      },
    );
    setHandler(
      requestExceptionUpdate,
      (req) => {
        const { actor, reason, changeId, validFor } = req;
        const verified = this.book.admit(FREEZE_DECISIONS.requestException, req, { change: changeId, validFor: String(validFor) });
        const e: FreezeException = {
          changeId,
          requestedBy: actor,
          reason,
          requestedAt: now(),
          validUntil: new Date(Date.now() + validFor).toISOString(),
          approvals: [],
          status: 'pending',
        };
        // A rejected request may be made again (the change was fixed, or the reason is better): the new one replaces it.
        state.exceptions = state.exceptions.filter((x) => x.changeId !== changeId);
        state.exceptions.push(e);
        this.audit(
          'freeze.exception-requested',
          actor,
          reason,
          { changeId, validUntil: e.validUntil, ...decisionDetails(verified) },
          undefined,
          verified?.signature,
        );
        this.tellLater('freeze-exception-requested', `${actor} asks for an exception to freeze ${state.name} for change ${changeId}: ${reason}`, { changeId });
        return e;
      },
      {
        validator: (req) => {
          const { changeId, validFor } = req;
          this.requireOpen();
          if (typeof validFor !== 'number' || !(validFor > 0 && validFor <= MAX_FREEZE_MS))
            throw new Error(`validFor: expected milliseconds between 1 and ${MAX_FREEZE_MS} (${durationText(MAX_FREEZE_MS)}), got ${JSON.stringify(validFor)}`);
          // Anyone may ask for an exception (the policy limits who approves it); a signed request is judged all the same.
          this.book.judge(FREEZE_DECISIONS.requestException, req, { change: changeId, validFor: String(validFor) });
          const earlier = this.find(changeId);
          // A rejected request, or an approved exception that has expired, may be asked for again.
          const expired = earlier?.status === 'approved' && Date.parse(earlier.validUntil) <= Date.now();
          if (earlier && earlier.status !== 'rejected' && !expired)
            throw new Error(`an exception for change ${changeId} was already requested (${earlier.status}, by ${earlier.requestedBy})`);
          // Nobody could ever approve it: say so now instead of leaving a request pending for good.
          if (state.approvers.length === 0)
            throw new Error(
              `freeze ${state.name} has no exception approvers, so no exception can be approved; start the freeze with --approvers (or exceptions.approvers in its calendar), or lift it`,
            );
        },
      },
    );
    setHandler(
      approveExceptionUpdate,
      (req) => {
        const { actor, changeId, reason } = req;
        const verified = this.book.admit(FREEZE_DECISIONS.approveException, { ...req, reason: reason ?? '' }, { change: changeId });
        const e = this.find(changeId)!;
        e.approvals.push({ actor, time: now() });
        if (e.approvals.length >= state.quorum) e.status = 'approved';
        this.audit(
          e.status === 'approved' ? 'freeze.exception-approved' : 'freeze.exception-vote',
          actor,
          reason ?? `exception for ${changeId}`,
          { changeId, approvals: e.approvals.length, quorum: state.quorum, ...decisionDetails(verified) },
          undefined,
          verified?.signature,
        );
        if (e.status === 'approved')
          this.tellLater(
            'freeze-exception-approved',
            `Change ${changeId} may deploy during freeze ${state.name} until ${e.validUntil} (approved by ${actor})`,
            {
              changeId,
              validUntil: e.validUntil,
            },
          );
        return e;
      },
      {
        validator: (req) => {
          const { actor, changeId } = req;
          this.requireOpen();
          const e = this.find(changeId);
          if (!e) throw new Error(`no exception was requested for change ${changeId}`);
          if (!state.approvers.includes(actor))
            throw new Error(`${actor} cannot approve freeze exceptions (approvers: ${state.approvers.join(', ') || 'none configured'})`);
          if (e.requestedBy === actor) throw new Error(`${actor} requested this exception and cannot also approve it`);
          // Before the one-vote rule: a signed approval sent twice is refused as the replay it is.
          this.book.judge(FREEZE_DECISIONS.approveException, { ...req, reason: req.reason ?? '' }, { change: changeId });
          this.book.permit('exceptions', this.environments(), actor);
          if (e.status === 'rejected') throw new Error(`the exception for ${changeId} was rejected by ${e.rejection?.actor}; it can be requested again`);
          if (e.approvals.some((a) => a.actor === actor)) throw new Error(`${actor} has already approved the exception for ${changeId}`);
          if (e.status === 'approved') throw new Error(`the exception for ${changeId} is already approved`);
        },
      },
    );
    setHandler(
      rejectExceptionUpdate,
      (req) => {
        const { actor, changeId, reason } = req;
        const verified = this.book.admit(FREEZE_DECISIONS.rejectException, req, { change: changeId });
        const e = this.find(changeId)!;
        const wasApproved = e.status === 'approved';
        e.status = 'rejected';
        e.rejection = { actor, time: now(), reason };
        this.audit(
          wasApproved ? 'freeze.exception-revoked' : 'freeze.exception-rejected',
          actor,
          reason,
          { changeId, ...decisionDetails(verified) },
          undefined,
          verified?.signature,
        );
        this.tellLater(
          'freeze-exception-rejected',
          `${wasApproved ? 'The approved exception' : 'The exception request'} for change ${changeId} to freeze ${state.name} was ${wasApproved ? 'revoked' : 'rejected'} by ${actor}: ${reason}`,
          { changeId },
        );
        return e;
      },
      {
        validator: (req) => {
          const { actor, changeId } = req;
          this.requireOpen();
          const e = this.find(changeId);
          if (!e) throw new Error(`no exception was requested for change ${changeId}`);
          if (!state.approvers.includes(actor) && e.requestedBy !== actor)
            throw new Error(
              `${actor} cannot reject this exception: only its requester (${e.requestedBy}) or an exception approver (${state.approvers.join(', ') || 'none configured'}) can`,
            );
          this.book.judge(FREEZE_DECISIONS.rejectException, req, { change: changeId });
          if (e.status === 'rejected') throw new Error(`the exception for ${changeId} was already rejected by ${e.rejection?.actor}`);
          // The requester withdrawing their own request needs no permission; turning down someone else's does.
          if (e.requestedBy !== actor) this.book.permit('exceptions', this.environments(), actor);
        },
      },
    );
  }
}
