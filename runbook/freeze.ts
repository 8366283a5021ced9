// Release freezes: the shapes the freezeWindow workflow, the gate and the CLI share, and the gate's
// decision as a pure function (a target is frozen while any active window covers it, unless an
// approved, unexpired exception for the change exists in that window).

import { DURATION_LIMITS, durationText } from './duration.js';
import type { NotifyTarget } from './schema.js';

/** The longest a freeze may last, and how far ahead one may be scheduled: 366 days. */
export const MAX_FREEZE_MS = DURATION_LIMITS.freeze.max;

/**
 * Why a freeze's start or end is out of bounds, or undefined. A freeze starts at most 366d from now and ends
 * at most 366d after its start (or after now, once started: an extension counts from now). Keeps every
 * timer the freeze workflow sets, and every date it computes, far inside what Temporal and Date can hold.
 */
export function freezeTimeProblem(startMs: number, endMs: number, nowMs: number): string | undefined {
  if (!Number.isFinite(startMs)) return 'expected a valid start time';
  if (!Number.isFinite(endMs)) return 'expected a valid end time';
  if (startMs - nowMs > MAX_FREEZE_MS) return `a freeze starts at most ${durationText(MAX_FREEZE_MS)} from now`;
  if (endMs - Math.max(startMs, nowMs) > MAX_FREEZE_MS)
    return `a freeze lasts at most ${durationText(MAX_FREEZE_MS)} (from its start, or from now once it has started)`;
  return undefined;
}

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
  /** rejected: an approver (or the requester, withdrawing it) turned it down, before or after its approval. */
  status: 'pending' | 'approved' | 'rejected';
  rejection?: { actor: string; time: string; reason: string };
}

export interface CalendarRef {
  name: string;
  digest: string;
  appliedBy?: string;
}

/** What a calendar's freeze changes on other systems while it is active, and puts back after. */
export interface Guardrails {
  /** Argo CD: a deny sync window on these AppProjects, or (disableAutoSync) `automated` removed from their Applications. */
  argocd?: { cluster: string; namespace: string; projects: string[]; mode: 'syncWindow' | 'disableAutoSync' };
  /** Flux: objects suspended while frozen, as namespace/name. */
  flux?: { cluster: string; kustomizations: string[]; helmReleases: string[] };
  /** OpenFeature flagd flag-definition file on the worker: flags tagged freezeTag are pinned to their off variant. */
  flags?: { file: string; freezeTag: string };
}

/** One change a guardrail made (or found already made by someone else, and so left alone). */
export interface GuardrailChange {
  guardrail: 'argocd' | 'flux' | 'flags';
  /** e.g. "appproject argocd/default", "kustomization flux-system/apps", "flag new-checkout". */
  target: string;
  /** What was done: "deny sync window added", "suspended", "pinned to off"; or why nothing was. */
  action: string;
}

export interface FreezeWindowInput {
  name: string;
  scope: FreezeScope;
  reason: string;
  actor: string;
  /** ISO instants; start defaults to the time a Schedule meant to start the window, else now. */
  start?: string;
  /** The end, or (for windows started by a Schedule) how long each occurrence lasts, in milliseconds (at most 366d). */
  end?: string;
  duration?: number;
  /** IANA zone the window was written in, for display. */
  timezone?: string;
  exceptions: { approvers: string[]; quorum: number };
  guardrails?: Guardrails;
  /** Told when the freeze starts, is extended, gets an exception, is lifted or ends. */
  notify?: NotifyTarget[];
  /**
   * Set for windows a FreezeCalendar manages: which calendar, the fingerprint of the definition, and who ran the
   * `freeze calendar apply` that created (or last changed) it.
   */
  calendar?: CalendarRef;
  /** Continue as new past this many history events (default 2000; the server may suggest it earlier). */
  historyLimit?: number;
  /**
   * The person's signed start decision (FREEZE_DECISIONS.start, extra: freezeStartExtra), judged before the
   * freeze takes effect. Absent for freezes the system starts (an RCA freeze, a calendar's windows) and unsigned starts.
   */
  signed?: { payload: string; signature: string };
  /** Carried over by continue-as-new. */
  carried?: Pick<FreezeState, 'exceptions' | 'end' | 'history' | 'guardrails' | 'phase' | 'released' | 'scope'> & {
    auditSeq: number;
    input?: Partial<FreezeWindowInput>;
    /** Absent from runs started before signed decisions. */
    decisions?: CarriedDecisions;
    /** The last revision published to the gate's registry (absent before the registry). */
    gateRevision?: number;
  };
}

/** What a freeze or unfreeze carries of its signed decisions across continue-as-new (workflows/freeze/decisions.ts). */
export interface CarriedDecisions {
  /** The worker's trust settings (activities/trust.ts TrustSettings) the chain of runs started with. */
  trust: unknown;
  /** Nonces of admitted decisions and when they were signed (ms), those still fresh enough to be replayed. */
  nonces: [string, number][];
}

/** What a signed `freeze start` binds (SignedDecision.extra): a signature for one freeze cannot start another scope or time. */
export const freezeStartExtra = (input: Pick<FreezeWindowInput, 'scope' | 'start' | 'end' | 'exceptions'>): Record<string, string> => ({
  environments: input.scope.environments.join(','),
  services: input.scope.services.join(','),
  start: input.start ?? '',
  end: input.end ?? '',
  approvers: input.exceptions.approvers.join(','),
  quorum: String(input.exceptions.quorum),
});

/** A calendar's new definition of a running window (`freeze calendar apply` after an edit). */
export type FreezeRedefinition = Pick<FreezeWindowInput, 'scope' | 'reason' | 'start' | 'end' | 'exceptions' | 'guardrails' | 'notify' | 'calendar'> & {
  actor: string;
};

/** refused: the start decision was refused (signature or policy); the freeze never took effect (`refusal` says why). */
export type FreezePhase = 'scheduled' | 'active' | 'ended' | 'lifted' | 'refused';

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
  /** Extensions, calendar edits, environment releases and the lift, newest last. */
  history: {
    time: string;
    actor: string;
    action: 'extend' | 'lift' | 'redefine' | 'release' | 'refreeze';
    reason: string;
    end?: string;
    environment?: string;
  }[];
  /** Environments a gradual unfreeze has opened again (no longer in scope.environments). */
  released?: string[];
  /**
   * The start was judged and admitted (signature, policy): `freeze start` waits for it (or for `refused`). Absent
   * on runs started before signed decisions.
   */
  admitted?: boolean;
  /** Why the start was refused (phase refused). */
  refusal?: string;
  /**
   * Counts the changes of what the gate sees of this freeze (workflows/freeze/gate.ts); a command that changed the
   * freeze waits until the gate's registry has this revision (api/gate-view.ts syncGate). Absent before the registry.
   */
  gateRevision?: number;
  /** The chain of runs the gate's registry knows this freeze by (its first run ID); set with gateRevision. */
  gateChain?: string;
  calendar?: CalendarRef;
  /** What the guardrails changed while the window was active, and whether it was put back. */
  guardrails?: { applied: boolean; restored: boolean; changes: GuardrailChange[] };
}

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
  blockedBy: {
    id: string;
    name: string;
    reason: string;
    end: string;
    timezone?: string;
    actor: string;
    /** An exception for this change is requested and waits for approvals (or has expired). */
    exception?: {
      status: 'pending' | 'expired' | 'rejected';
      approvals: number;
      quorum: number;
      approvers: string[];
      rejection?: { actor: string; reason: string };
    };
  }[];
  /** Windows that would block it, but an approved exception lets this change through. */
  exceptedBy: { id: string; name: string; changeId: string; validUntil: string }[];
}

export function evaluateGate(
  windows: Omit<FreezeState, 'history'>[],
  q: { environment: string; service: string; change?: string },
  nowMs: number,
): GateDecision {
  const decision: GateDecision = {
    allowed: true,
    environment: q.environment,
    service: q.service,
    ...(q.change ? { change: q.change } : {}),
    blockedBy: [],
    exceptedBy: [],
  };
  for (const w of windows) {
    // A scheduled window blocks from its start, even before its workflow has woken up to say it is active.
    // A start still being judged (admitted false) holds nothing yet; one that is refused never will.
    const open = (w.phase === 'active' || w.phase === 'scheduled') && w.admitted !== false;
    const active = open && Date.parse(w.start) <= nowMs && nowMs < Date.parse(w.end);
    if (!active || !covers(w.scope, q.environment, q.service)) continue;
    const exception = q.change ? w.exceptions.find((e) => e.changeId === q.change && e.status === 'approved' && nowMs < Date.parse(e.validUntil)) : undefined;
    if (exception) decision.exceptedBy.push({ id: w.id, name: w.name, changeId: exception.changeId, validUntil: exception.validUntil });
    else {
      const requested = q.change ? w.exceptions.find((e) => e.changeId === q.change) : undefined;
      decision.blockedBy.push({
        id: w.id,
        name: w.name,
        reason: w.reason,
        end: w.end,
        ...(w.timezone ? { timezone: w.timezone } : {}),
        actor: w.actor,
        ...(requested
          ? {
              exception: {
                status: requested.status === 'approved' ? ('expired' as const) : requested.status,
                approvals: requested.approvals.length,
                quorum: w.quorum,
                approvers: w.approvers.filter((a) => a !== requested.requestedBy),
                ...(requested.rejection ? { rejection: { actor: requested.rejection.actor, reason: requested.rejection.reason } } : {}),
              },
            }
          : {}),
      });
    }
  }
  decision.allowed = decision.blockedBy.length === 0;
  return decision;
}

/** Guardrail targets in `a` that `b` does not also guard: what to put back when a calendar edit drops them. */
export function guardrailsMinus(a: Guardrails | undefined, b: Guardrails | undefined): Guardrails | undefined {
  if (!a) return undefined;
  const out: Guardrails = {};
  if (a.argocd) {
    const same = b?.argocd && b.argocd.cluster === a.argocd.cluster && b.argocd.namespace === a.argocd.namespace && b.argocd.mode === a.argocd.mode;
    const projects = same ? a.argocd.projects.filter((p) => !b.argocd!.projects.includes(p)) : a.argocd.projects;
    if (projects.length > 0) out.argocd = { ...a.argocd, projects };
  }
  if (a.flux) {
    const same = b?.flux && b.flux.cluster === a.flux.cluster;
    const kustomizations = same ? a.flux.kustomizations.filter((k) => !b.flux!.kustomizations.includes(k)) : a.flux.kustomizations;
    const helmReleases = same ? a.flux.helmReleases.filter((k) => !b.flux!.helmReleases.includes(k)) : a.flux.helmReleases;
    if (kustomizations.length + helmReleases.length > 0) out.flux = { ...a.flux, kustomizations, helmReleases };
  }
  if (a.flags && !(b?.flags && b.flags.file === a.flags.file && b.flags.freezeTag === a.flags.freezeTag)) out.flags = a.flags;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A calendar window's definition as the redefine Update takes it (`freeze calendar apply` after an edit). */
export function redefinitionOf(input: FreezeWindowInput, actor: string): FreezeRedefinition {
  const { scope, reason, start, end, exceptions, guardrails, notify, calendar } = input;
  return { actor, scope, reason, start, end, exceptions, guardrails, notify, calendar };
}

export interface StartDifference {
  setting: 'environments' | 'services' | 'start' | 'end' | 'exception approvers';
  running: string;
  asked: string;
}

/** How a `freeze start` for a name that is already running differs from that window (nothing: the same request). */
export function startDifferences(
  state: FreezeState,
  asked: {
    environments: string[];
    services: string[];
    /** Only when --start was given. */
    start?: string;
    end: string;
    /** The end the running window was started with (it may have been extended since). */
    originalEnd?: string;
    /** Only when --approvers was given. */
    exceptions?: { approvers: string[]; quorum: number };
  },
): StartDifference[] {
  const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x)) && b.every((x) => a.includes(x));
  const sameTime = (a: string, b: string) => Math.abs(Date.parse(a) - Date.parse(b)) < 1000;
  const out: StartDifference[] = [];
  // Environments a gradual unfreeze has released are still the window's own.
  const environments = [...state.scope.environments, ...(state.released ?? [])];
  if (!sameSet(environments, asked.environments))
    out.push({ setting: 'environments', running: environments.join(',') || '(none left)', asked: asked.environments.join(',') });
  if (!sameSet(state.scope.services, asked.services))
    out.push({ setting: 'services', running: state.scope.services.join(','), asked: asked.services.join(',') });
  if (asked.start && !sameTime(state.start, asked.start)) out.push({ setting: 'start', running: state.start, asked: asked.start });
  if (!sameTime(state.end, asked.end) && !(asked.originalEnd && sameTime(asked.originalEnd, asked.end)))
    out.push({ setting: 'end', running: state.end, asked: asked.end });
  if (asked.exceptions && (!sameSet(state.approvers, asked.exceptions.approvers) || state.quorum !== asked.exceptions.quorum))
    out.push({
      setting: 'exception approvers',
      running: `${state.approvers.join(',') || 'none'} (quorum ${state.quorum})`,
      asked: `${asked.exceptions.approvers.join(',')} (quorum ${asked.exceptions.quorum})`,
    });
  return out;
}
