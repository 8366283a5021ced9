// The SLO guard's shapes (input, status, one evaluation) and the pure rule that turns an evaluation into
// violations. Shared by the sloGuard workflow, its evaluateSlo activity and the CLI; plain JSON only.
import { durationText, formatDuration } from './duration.js';
import type { Runbook, SloSpec } from './schema.js';
import type { CatalogRef } from './catalog.js';
import type { Target } from './types.js';

/** One evaluation of a runbook's spec.slo by the evaluateSlo activity. */
export interface SloEvaluation {
  time: string;
  /** Set when Prometheus could not be asked (unreachable, not configured, a refused query): nothing was decided from it. */
  prometheusError?: string;
  conditions: { name: string; value?: number; breached: boolean }[];
  burnRate: { long: string; short: string; factor: number; longBurn?: number; shortBurn?: number; breached: boolean }[];
  health: { deployment?: { ok: boolean; message: string }; http?: { ok: boolean; message: string } };
}

/** The actor of everything the guard does on its own. */
export const GUARD_ACTOR = 'slo-guard';

export type GuardState = 'watching' | 'violated' | 'cooldown' | 'paused' | 'prometheus-unreachable';

export interface GuardTrigger {
  time: string;
  rollbackId: string;
  joined: boolean;
  violations: string[];
}

/** One threshold condition of spec.slo as the guard evaluates it: violated while the value is `op` the threshold for `for`. */
export interface GuardWatchCondition {
  name: string;
  /** The PromQL the guard asks Prometheus (conditions take no variables: the runbook's query as written). */
  query: string;
  /** The bad side: `above` is violated while the worst value is above the threshold (the largest of the series), `below` while below (the smallest). */
  op: 'above' | 'below';
  threshold: number;
  /** How long the threshold must stay crossed (`2m`); absent: one evaluation. */
  for?: string;
}

/** One multi-window burn-rate rule: violated while both windows burn the error budget faster than `factor`. */
export interface GuardWatchBurnWindow {
  long: string;
  short: string;
  factor: number;
  /** The error-ratio query with `$window` replaced by each window, as the guard asks it. */
  longQuery: string;
  shortQuery: string;
}

/**
 * What a guard watches, derived from its runbook's spec.slo (guardWatch). The status Query computes it on each read:
 * it is never stored in the workflow's state or history.
 */
export interface GuardWatch {
  conditions: GuardWatchCondition[];
  /** objective: percent (99.9); the error budget is 1 - objective/100 and a window's burn rate is its error ratio / budget. */
  burnRate?: { objective: number; budget: number; windows: GuardWatchBurnWindow[] };
  health: { deployment: boolean; http?: { url: string; expectStatus: number; failures: number } };
}

export interface SloGuardStatus {
  workflowId: string;
  runbook: string;
  target: Target;
  startedAt: string;
  startedBy: string;
  state: GuardState;
  interval: string;
  cooldown: string;
  /** ISO time until which no rollback is triggered (after the last trigger). */
  cooldownUntil?: string;
  /** signedWith: the fingerprint of the key that signed the pause (README, "Signed decisions"). */
  paused?: { actor: string; reason: string; since: string; signedWith?: string };
  evaluations: number;
  lastEvaluation?: SloEvaluation & { violations: string[] };
  /** Condition name -> since when its threshold has been crossed (the `for` clock). */
  breachedSince: Record<string, string>;
  /** Evaluations in a row whose http health check failed. */
  httpFailures: number;
  prometheus: { reachable: boolean; since?: string; error?: string };
  /** The most recent triggers (the last 20). */
  triggers: GuardTrigger[];
  /** Runs of this workflow so far (continue-as-new). */
  run: number;
  /** What the guard watches (set by the status Query of workers that know it; absent from older workers and from Update results). */
  watches?: GuardWatch;
}

export interface SloGuardInput {
  runbook: Runbook;
  /**
   * A catalog runbook (`guard start --runbook NAME`): the guard's rollbacks name it (without a digest, so each
   * loads the catalog's reviewed version of the moment) instead of sending this copy.
   */
  catalog?: CatalogRef;
  /** Who started the guard. */
  actor: string;
  reason?: string;
  /** Continue-as-new past this many history events (default 2000, or when Temporal suggests it). */
  historyLimit?: number;
  carried?: {
    status: SloGuardStatus;
    auditSeq: number;
    /**
     * The worker's trust settings the last run judged pause/resume by (activities/trust.ts TrustSettings, opaque
     * here): the next run's until it has loaded its own, and if it cannot.
     */
    trust?: unknown;
    /** Nonces of signed decisions still young enough to be replayed, with when they were admitted (workflow time). */
    nonces?: { nonce: string; admittedMs: number }[];
  };
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/** `$window` in a burn-rate errorRatio query, replaced by each window (the guard's evaluation and its status both use this). */
export const withWindow = (query: string, window: string): string => query.replaceAll('$window', window);

/** The objective a burn rate is computed against (the schema requires one with burnRate; 99.9 as the evaluation's fallback). */
export const burnObjective = (slo: Pick<SloSpec, 'objective'>): number => slo.objective ?? 99.9;

/** What a guard with this spec.slo watches: its conditions and burn-rate windows with the queries as evaluated. Pure. */
export function guardWatch(slo: SloSpec): GuardWatch {
  const objective = burnObjective(slo);
  return {
    conditions: slo.conditions.map((c) => ({
      name: c.name,
      query: c.query,
      op: c.above !== undefined ? 'above' : 'below',
      threshold: (c.above ?? c.below)!,
      ...(c.for !== undefined ? { for: durationText(c.for) } : {}),
    })),
    ...(slo.burnRate
      ? {
          burnRate: {
            objective,
            budget: 1 - objective / 100,
            windows: slo.burnRate.windows.map((w) => ({
              long: durationText(w.long),
              short: durationText(w.short),
              factor: w.factor,
              longQuery: withWindow(slo.burnRate!.errorRatio, durationText(w.long)),
              shortQuery: withWindow(slo.burnRate!.errorRatio, durationText(w.short)),
            })),
          },
        }
      : {}),
    health: {
      deployment: slo.health?.deployment !== undefined,
      // Without credentials or query string: either may carry a token (the evaluation labels the URL the same way).
      ...(slo.health?.http
        ? {
            http: {
              url: slo.health.http.url.replace(/[?#].*$/, '').replace(/^([a-z]+:\/\/)[^/@]*@/i, '$1'),
              expectStatus: slo.health.http.expectStatus,
              failures: slo.health.http.failures,
            },
          }
        : {}),
    },
  };
}

/**
 * What is violated in an evaluation, updating the `for` clocks and the http failure count in `status`.
 * Pure (workflow time comes in as `nowMs`).
 */
export function violations(runbook: Runbook, ev: SloEvaluation, status: Pick<SloGuardStatus, 'breachedSince' | 'httpFailures'>, nowMs: number): string[] {
  const slo = runbook.spec.slo!;
  const out: string[] = [];
  if (!ev.prometheusError) {
    for (const c of slo.conditions) {
      const r = ev.conditions.find((x) => x.name === c.name);
      if (!r?.breached) {
        delete status.breachedSince[c.name];
        continue;
      }
      status.breachedSince[c.name] ??= new Date(nowMs).toISOString();
      const heldMs = nowMs - Date.parse(status.breachedSince[c.name]);
      if (heldMs >= (c.for ?? 0)) {
        const side = c.above !== undefined ? `above ${c.above}` : `below ${c.below}`;
        out.push(`${c.name}: ${round(r.value!)} ${side}${c.for !== undefined ? ` for ${formatDuration(heldMs)}` : ''}`);
      }
    }
    for (const w of ev.burnRate) {
      if (w.breached) out.push(`burn rate ${w.long}/${w.short}: ${round(w.longBurn!)}x and ${round(w.shortBurn!)}x > ${w.factor}x`);
    }
  }
  if (ev.health.deployment && !ev.health.deployment.ok) out.push(ev.health.deployment.message);
  if (ev.health.http) {
    status.httpFailures = ev.health.http.ok ? 0 : status.httpFailures + 1;
    const needed = slo.health?.http?.failures ?? 3;
    if (status.httpFailures >= needed) out.push(`http health: ${ev.health.http.message} (${status.httpFailures} in a row)`);
  }
  return out;
}

/** Whether a trigger's cooldown is still running at `nowMs`: no new rollback until it ends. */
export const inCooldown = (status: Pick<SloGuardStatus, 'cooldownUntil'>, nowMs: number): boolean =>
  status.cooldownUntil !== undefined && Date.parse(status.cooldownUntil) > nowMs;

/**
 * The state a guard shows, by precedence: paused, then cooling down, then unable to ask Prometheus, then
 * what the last evaluation found. Pure (workflow time comes in as `nowMs`).
 */
export function guardState(status: Pick<SloGuardStatus, 'paused' | 'cooldownUntil' | 'prometheus'>, violated: boolean, nowMs: number): GuardState {
  if (status.paused) return 'paused';
  if (inCooldown(status, nowMs)) return 'cooldown';
  if (!status.prometheus.reachable) return 'prometheus-unreachable';
  return violated ? 'violated' : 'watching';
}

/** `guard start --runbook NAME`: the workflow loads the runbook from the worker's catalog at its start. */
export type CatalogSloGuardInput = Omit<SloGuardInput, 'runbook' | 'carried'> & { catalog: CatalogRef; runbook?: undefined };
