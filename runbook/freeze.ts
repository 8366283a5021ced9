// Release freezes: the shapes the freezeWindow workflow, the gate and the CLI share, and the gate's
// decision as a pure function (a target is frozen while any active window covers it, unless an
// approved, unexpired exception for the change exists in that window).

export interface FreezeScope {
  environments: string[];
  /** Service names, or ["*"] for every service. */
  services: string[];
}

export interface ExceptionVote {
  actor: string;
  time: string;
}

export interface FreezeException {
  changeId: string;
  requestedBy: string;
  reason: string;
  requestedAt: string;
  /** End of the exception's validity (ISO). */
  validUntil: string;
  approvals: ExceptionVote[];
  status: 'pending' | 'approved';
}

export interface FreezeWindowInput {
  name: string;
  scope: FreezeScope;
  reason: string;
  actor: string;
  /** ISO instants; start defaults to now. */
  start?: string;
  end: string;
  /** IANA zone the window was written in, for display. */
  timezone?: string;
  exceptions: { approvers: string[]; quorum: number };
  /** Carried over by continue-as-new. */
  carried?: Pick<FreezeState, 'exceptions' | 'end' | 'history'> & { auditSeq: number };
}

export type FreezePhase = 'scheduled' | 'active' | 'ended' | 'lifted';

export interface FreezeState {
  id: string;
  name: string;
  scope: FreezeScope;
  reason: string;
  actor: string;
  timezone?: string;
  start: string;
  /** Effective end, after extensions. */
  end: string;
  phase: FreezePhase;
  exceptions: FreezeException[];
  approvers: string[];
  quorum: number;
  /** Extensions and the lift, newest last. */
  history: { time: string; actor: string; action: 'extend' | 'lift'; reason: string; end?: string }[];
}

export const freezeWorkflowId = (name: string): string => `freeze:${name}`;

export function covers(scope: FreezeScope, environment: string, service: string): boolean {
  const env = scope.environments.includes('*') || scope.environments.includes(environment);
  const svc = scope.services.includes('*') || scope.services.includes(service);
  return env && svc;
}

export interface GateDecision {
  allowed: boolean;
  environment: string;
  service: string;
  change?: string;
  /** The windows that block this change. */
  blockedBy: { id: string; name: string; reason: string; end: string; timezone?: string; actor: string }[];
  /** Windows that would block it, but an approved exception lets this change through. */
  exceptedBy: { id: string; name: string; changeId: string; validUntil: string }[];
}

export function evaluateGate(windows: FreezeState[], q: { environment: string; service: string; change?: string }, nowMs: number): GateDecision {
  const decision: GateDecision = {
    allowed: true,
    environment: q.environment,
    service: q.service,
    ...(q.change ? { change: q.change } : {}),
    blockedBy: [],
    exceptedBy: [],
  };
  for (const w of windows) {
    const active = w.phase === 'active' && Date.parse(w.start) <= nowMs && nowMs < Date.parse(w.end);
    if (!active || !covers(w.scope, q.environment, q.service)) continue;
    const exception = q.change ? w.exceptions.find((e) => e.changeId === q.change && e.status === 'approved' && nowMs < Date.parse(e.validUntil)) : undefined;
    if (exception) decision.exceptedBy.push({ id: w.id, name: w.name, changeId: exception.changeId, validUntil: exception.validUntil });
    else decision.blockedBy.push({ id: w.id, name: w.name, reason: w.reason, end: w.end, ...(w.timezone ? { timezone: w.timezone } : {}), actor: w.actor });
  }
  decision.allowed = decision.blockedBy.length === 0;
  return decision;
}
