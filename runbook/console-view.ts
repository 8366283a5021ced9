// What the web console shows (console/, served by `rearguard serve`, client/console/): the shapes the server sends and
// the browser renders, and the pure arithmetic both may need (an SLA bar's marks). Plain data, no Temporal.
import type { GateEntry } from './gate-view.js';
import type { FreezeException, FreezeScope } from './freeze.js';
import type { RollbackStatus } from './types.js';
import type { SloGuardStatus } from './slo-guard.js';
import type { UnfreezeStatus } from './unfreeze-model.js';

/** A running rollback as the "Now" page lists it: its status without the audit events (the rollback page has them). */
export type RollbackCard = Omit<RollbackStatus, 'audit'>;

/** The "Now" page: everything running, read in one pass (what could not be read is in `problems`, never hidden). */
export interface NowView {
  /** When the server read it (ISO). */
  at: string;
  rollbacks: RollbackCard[];
  /** Active and upcoming freeze windows, as the gate sees them. */
  freezes: GateEntry[];
  unfreezes: UnfreezeStatus[];
  guards: SloGuardStatus[];
  /** One line per thing that could not be read (a freeze that did not answer, a listing that failed). */
  problems: string[];
  /** Whether this serve lets people act (OIDC configured); the console is read-only otherwise. */
  actions: boolean;
}

/** The page of one rollback: its status; its audit events are for signed-in people (serve's GET /v1/audit). */
export interface RollbackView {
  at: string;
  status: RollbackCard;
  /** running, completed, failed, ... (Temporal's view of the run). */
  run: string;
}

/** Where an SLA bar stands at `nowMs`: fractions (0..1) of the span from the start to the deadline. */
export interface SlaBar {
  elapsed: number;
  breached: boolean;
  remainingMs: number;
  /** `at` as a fraction of the bar, `label` the offset as written (`5m`), `time` when it is due (ISO). */
  marks: { at: number; fired: boolean; notify: string[]; label: string; time: string }[];
}

export function slaBar(status: Pick<RollbackStatus, 'startedAt' | 'endedAt' | 'sla'>, nowMs: number): SlaBar {
  const start = Date.parse(status.startedAt);
  const deadline = Date.parse(status.sla.deadline);
  const end = status.endedAt ? Date.parse(status.endedAt) : nowMs;
  const span = Math.max(1, deadline - start);
  const clamp = (x: number) => Math.min(1, Math.max(0, x));
  return {
    elapsed: clamp((end - start) / span),
    breached: status.sla.breached || end > deadline,
    remainingMs: deadline - end,
    // An escalation's `at` is its offset as the runbook wrote it (`5m`); atMs is that offset in milliseconds.
    marks: status.sla.escalations.map((e) => ({
      at: clamp(e.atMs / span),
      fired: e.firedAt !== undefined,
      notify: e.notify,
      label: e.at,
      time: new Date(start + e.atMs).toISOString(),
    })),
  };
}

/** `1h 2m`, `3m 4s`, `5s`: a duration as people read it on a bar. */
export function shortDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const text = h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
  return ms < 0 ? `-${text}` : text;
}

/** One freeze window on the calendar: a one-off window, or one occurrence of a recurring one. */
export interface CalendarItem {
  /** The freeze's workflow ID (for an occurrence: `freeze:<window>-<start>`, started or not yet). */
  id: string;
  window: string;
  calendar?: string;
  kind: 'once' | 'recurring';
  start: string;
  /** The end now in force (after extensions; the lift's time once lifted). */
  end: string;
  /** The end it was planned with, when an extension or a lift moved it. */
  plannedEnd?: string;
  scope: FreezeScope;
  reason: string;
  /** upcoming: not started yet; active; ended; lifted (ended early by a person). */
  state: 'upcoming' | 'active' | 'ended' | 'lifted';
  extended: boolean;
  lifted?: { actor: string; reason: string; time: string };
  /** Approved exceptions (changes let through while it holds). */
  exceptions: Pick<FreezeException, 'changeId' | 'requestedBy' | 'reason' | 'validUntil' | 'status'>[];
  /** The Schedule of a recurring window is paused: its occurrences will not start. */
  paused?: boolean;
}

export interface CalendarView {
  at: string;
  from: string;
  until: string;
  items: CalendarItem[];
  problems: string[];
}

/** One line of a guard's chart: what one condition (or one burn-rate window) measured over the last hour. */
export interface GuardSeries {
  /** The condition's name, or `burn rate <window>` for a burn-rate window. */
  condition: string;
  /** The PromQL charted (a burn-rate window's error ratio divided by the budget, so its values are burn rates). */
  query: string;
  /** The bad side of the threshold. */
  op: 'above' | 'below';
  threshold: number;
  /** The rest of the rule: `for 2m` of a condition; of a burn-rate window, that the other window must burn faster too. */
  note?: string;
  /** [unix seconds, value]: per instant the worst value over the query's series, as the guard compares it. */
  points: [number, number][];
}

/** The page of one SLO guard: its status, and its conditions' recent values from Prometheus. */
export interface GuardView {
  at: string;
  status: SloGuardStatus;
  /** The range read from Prometheus (ISO instants, step in seconds); absent when no chart could be read. */
  range?: { from: string; until: string; stepSeconds: number };
  series: GuardSeries[];
  /** What could not be read (no Prometheus configured, a query Prometheus refused), one short line each. */
  problems: string[];
}
