// Prometheus: instant queries over the HTTP API (/api/v1/query), the `prometheus` verify check, and the
// SLO guard's evaluation (threshold conditions, multi-window multi-burn-rate, deployment and http health).
// The server is the worker's REARGUARD_PROMETHEUS_URL (e.g. http://prometheus:9090, a path prefix allowed);
// runbooks hold queries only, never addresses or credentials.
import { ApplicationFailure, Context, sleep } from '@temporalio/activity';
import { burnObjective, withWindow, type SloEvaluation } from '../runbook/slo-guard.js';
import { durationText, formatDuration } from '../runbook/duration.js';
import type { Check, Runbook } from '../runbook/schema.js';
import { checkFailed, configurationError, excerpt } from './errors.js';
import { send } from './http.js';
import type { Clusters } from './targets.js';
import type { Env } from './secrets.js';

export const PROMETHEUS_URL_ENV = 'REARGUARD_PROMETHEUS_URL';

export type PrometheusCheck = Extract<Check, { type: 'prometheus' }>;

export interface PromSample {
  metric: Record<string, string>;
  /** NaN when Prometheus answers NaN (e.g. 0/0 with no traffic). */
  value: number;
}

/** The worker's Prometheus base URL, or a configuration error naming the variable. */
export function prometheusUrl(env: Env): string {
  const url = env[PROMETHEUS_URL_ENV];
  if (!url) throw configurationError(`no Prometheus configured on this worker: set ${PROMETHEUS_URL_ENV} (e.g. http://prometheus:9090)`);
  if (!URL.canParse(url) || !/^https?:/.test(url)) throw configurationError(`${PROMETHEUS_URL_ENV}: expected an http:// or https:// URL`);
  return url.replace(/\/+$/, '');
}

/**
 * One instant query. Unreachable, 5xx, 429: retryable `PrometheusUnavailable`. 400/422 (a query Prometheus
 * refuses): non-retryable `ConfigurationError` quoting Prometheus's message.
 */
export async function instantQuery(baseUrl: string, expr: string, signal?: AbortSignal, timeoutMs = 10_000): Promise<PromSample[]> {
  const url = `${baseUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`;
  const label = `${baseUrl}/api/v1/query`;
  let res;
  try {
    res = await send({ url, label, method: 'GET', timeoutMs, signal });
  } catch (err) {
    if (signal?.aborted) throw err;
    // A refusal by the egress check (a metadata or link-local address) is configuration: retrying cannot help.
    if (err instanceof ApplicationFailure && err.type === 'ConfigurationError') throw err;
    throw ApplicationFailure.retryable(`Prometheus at ${baseUrl} cannot be reached: ${(err as Error).message}`, 'PrometheusUnavailable');
  }
  let body: { status?: string; data?: { resultType: string; result: unknown }; errorType?: string; error?: string } = {};
  try {
    body = JSON.parse(res.body) as typeof body;
  } catch {
    // not JSON: reported with the status below
  }
  if (res.status === 400 || res.status === 422) {
    throw configurationError(
      `Prometheus refused the query ${JSON.stringify(expr)}: "${body.error ?? excerpt(res.body, 200)}" (${body.errorType ?? res.status})`,
    );
  }
  if (res.status >= 500 || res.status === 429 || res.status === 408) {
    throw ApplicationFailure.retryable(`Prometheus at ${baseUrl} answered ${res.status}: ${body.error ?? excerpt(res.body, 200)}`, 'PrometheusUnavailable');
  }
  if (res.status !== 200 || body.status !== 'success' || !body.data) {
    throw configurationError(
      `${label} answered ${res.status}, expected a Prometheus query result: ${excerpt(res.body, 200)} (is ${PROMETHEUS_URL_ENV} a Prometheus?)`,
    );
  }
  const { resultType, result } = body.data;
  if (resultType === 'scalar') return [{ metric: {}, value: Number((result as [number, string])[1]) }];
  if (resultType === 'vector')
    return (result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  throw configurationError(`Prometheus query ${JSON.stringify(expr)} returned a ${resultType}; expected an instant vector or a scalar`);
}

/**
 * The value a threshold is compared with: the worst sample (the largest for `above`, the smallest for
 * `below`); undefined when there is no data (no series, or NaN such as 0/0 without traffic).
 */
export function worstValue(samples: PromSample[], direction: 'above' | 'below'): number | undefined {
  const values = samples.map((s) => s.value).filter((v) => !Number.isNaN(v));
  if (values.length === 0) return undefined;
  return direction === 'above' ? Math.max(...values) : Math.min(...values);
}

/** Whether a value is on the good side of a check's thresholds (below: value < below; above: value > above). */
export function holds(value: number | undefined, c: { below?: number; above?: number }): boolean {
  if (value === undefined) return false;
  if (c.below !== undefined && !(value < c.below)) return false;
  if (c.above !== undefined && !(value > c.above)) return false;
  return true;
}

const thresholdText = (c: { below?: number; above?: number }) =>
  [c.below !== undefined ? `below ${c.below}` : '', c.above !== undefined ? `above ${c.above}` : ''].filter(Boolean).join(' and ');

/**
 * The `prometheus` verify check: the query's value must hold the threshold(s) continuously for `for`
 * (default: one good sample), polled every 1-5 s with a heartbeat each time, within the activity's time
 * (the rollback gives it `timeout` (2m) + 30 s). Fails with the last value seen (`CheckFailed`).
 */
export async function runPrometheusCheck(env: Env, check: PrometheusCheck): Promise<Record<string, unknown>> {
  const ctx = Context.current();
  const base = prometheusUrl(env);
  const forMs = check.for ?? 0;
  const started = Date.now();
  const budgetMs = Math.max(1_000, (ctx.info.startToCloseTimeoutMs ?? (check.timeout ?? 120_000) + forMs) - 5_000);
  const deadline = started + budgetMs;
  if (forMs >= budgetMs) throw configurationError(`for (${durationText(forMs)}) must be shorter than the time the check may run (${formatDuration(budgetMs)})`);
  const pollMs = Math.min(5_000, Math.max(1_000, Math.floor(forMs / 10)));
  const want = `${thresholdText(check)}${forMs ? ` for ${durationText(forMs)}` : ''}`;
  let holdingSince: number | undefined;
  let polls = 0;
  let last: number | undefined;
  for (;;) {
    polls++;
    const samples = await instantQuery(base, check.query, ctx.cancellationSignal);
    last = worstValue(samples, check.below !== undefined ? 'above' : 'below');
    const now = Date.now();
    if (holds(last, check)) holdingSince ??= now;
    else holdingSince = undefined;
    ctx.heartbeat({ polls, value: last ?? null, holdingMs: holdingSince === undefined ? 0 : now - holdingSince });
    if (holdingSince !== undefined && now - holdingSince >= forMs) return { query: check.query, value: last, held: formatDuration(now - holdingSince), polls };
    if (now + pollMs > deadline || (holdingSince === undefined && now + forMs > deadline)) {
      throw checkFailed(
        `prometheus check: expected ${want} within ${formatDuration(budgetMs)}; last value ${last === undefined ? 'none (no data)' : last} (query ${check.query})`,
      );
    }
    await sleep(pollMs);
  }
}

// --- SLO guard evaluation ----------------------------------------------------------------------------

/** `$window` in a burn-rate errorRatio query, replaced by each window (runbook/slo-guard.ts, shared with the guard's status). */
export { withWindow };

/**
 * One evaluation of a runbook's spec.slo. Never throws for Prometheus problems: they are reported as
 * prometheusError (the guard alerts instead of rolling back). Deployment and http health are independent
 * of Prometheus and are evaluated either way.
 */
export async function evaluateSlo(deps: { env: Env; clusters: Clusters }, runbook: Runbook): Promise<SloEvaluation> {
  const slo = runbook.spec.slo;
  if (!slo) throw configurationError(`runbook ${runbook.metadata.name} has no spec.slo section`);
  const signal = Context.current().cancellationSignal;
  const out: SloEvaluation = { time: new Date().toISOString(), conditions: [], burnRate: [], health: {} };
  const promWork = async () => {
    if (slo.conditions.length === 0 && !slo.burnRate) return;
    try {
      const base = prometheusUrl(deps.env);
      for (const c of slo.conditions) {
        const v = worstValue(await instantQuery(base, c.query, signal), c.above !== undefined ? 'above' : 'below');
        const breached = v !== undefined && ((c.above !== undefined && v > c.above) || (c.below !== undefined && v < c.below));
        out.conditions.push({ name: c.name, ...(v !== undefined ? { value: v } : {}), breached });
      }
      if (slo.burnRate) {
        const budget = 1 - burnObjective(slo) / 100;
        for (const w of slo.burnRate.windows) {
          const burn = async (window: string) => {
            const v = worstValue(await instantQuery(base, withWindow(slo.burnRate!.errorRatio, window), signal), 'above');
            return v === undefined ? undefined : v / budget;
          };
          // Prometheus reads the same forms (`1h30m`, `5m`, `1d`) in a range selector.
          const longBurn = await burn(durationText(w.long));
          const shortBurn = await burn(durationText(w.short));
          out.burnRate.push({
            long: durationText(w.long),
            short: durationText(w.short),
            factor: w.factor,
            ...(longBurn !== undefined ? { longBurn } : {}),
            ...(shortBurn !== undefined ? { shortBurn } : {}),
            // Both windows: the long one says the budget burns fast, the short one that it still does.
            breached: longBurn !== undefined && shortBurn !== undefined && longBurn > w.factor && shortBurn > w.factor,
          });
        }
      }
    } catch (err) {
      if (signal.aborted) throw err;
      out.prometheusError = (err as Error).message;
      out.conditions = [];
      out.burnRate = [];
    }
  };
  const deploymentWork = async () => {
    const d = slo.health?.deployment;
    if (!d) return;
    const targets =
      d === true
        ? runbook.spec.steps.flatMap((s) => (s.type === 'kubernetes' ? [{ namespace: s.namespace, deployment: s.deployment, cluster: s.cluster }] : []))
        : [d];
    if (targets.length === 0) {
      out.health.deployment = { ok: true, message: 'health.deployment: true, but the runbook has no kubernetes step naming a Deployment' };
      return;
    }
    for (const t of targets) {
      const name = `${t.namespace}/${t.deployment}`;
      try {
        const dep = await deps.clusters.client(t.cluster ?? runbook.spec.cluster).get(`/apis/apps/v1/namespaces/${t.namespace}/deployments/${t.deployment}`);
        const progressing = ((dep.status?.conditions ?? []) as { type: string; reason?: string; message?: string }[]).find((c) => c.type === 'Progressing');
        if (progressing?.reason === 'ProgressDeadlineExceeded') {
          out.health.deployment = { ok: false, message: `deployment ${name} exceeded its progress deadline: ${progressing.message ?? ''}`.trim() };
          return;
        }
      } catch (err) {
        if (signal.aborted) throw err;
        // Not a reason to roll back: the guard reports it (status, audit) and asks again next time.
        out.health.deployment = { ok: true, message: `deployment ${name} could not be read: ${(err as Error).message}` };
        return;
      }
    }
    out.health.deployment = { ok: true, message: `${targets.map((t) => `${t.namespace}/${t.deployment}`).join(', ')} progressing` };
  };
  const httpWork = async () => {
    const h = slo.health?.http;
    if (!h) return;
    const label = h.url.replace(/\?.*$/, '');
    try {
      const res = await send({ url: h.url, label, method: 'GET', timeoutMs: 10_000, signal });
      out.health.http = { ok: res.status === h.expectStatus, message: `GET ${label}: ${res.status}` };
    } catch (err) {
      if (signal.aborted) throw err;
      out.health.http = { ok: false, message: (err as Error).message };
    }
  };
  await Promise.all([promWork(), deploymentWork(), httpWork()]);
  return out;
}
