// The console's page of one SLO guard (GET /v1/console/guards/<workflowId>): the guard's status (api/guards.ts, what
// `guard status` shows, with what it watches) and, per condition and burn-rate window, its values over the last hour
// from Prometheus (query_range), reduced per instant to the worst value over the query's series as the guard compares
// it. The Prometheus is serve's REARGUARD_PROMETHEUS_URL (the worker's variable); the queries are the guard's own,
// never the caller's. Prometheus's errors reach the caller as one short line each in `problems`, never verbatim; a
// read is shared by every viewer of the guard for VIEW_TTL_MS.
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { guardStatus } from '../../api/guards.js';
import type { GuardSeries, GuardView } from '../../runbook/console-view.js';
import { friendlyErrors } from '../../runbook/issues.js';
import { printable } from '../../runbook/names.js';
import type { GuardWatch } from '../../runbook/slo-guard.js';
import { CONSOLE_SECURITY_HEADERS } from './headers.js';

/** The chart's range and resolution: the last hour, a point every 15 s (241 points a series at most). */
export const GUARD_RANGE_SECONDS = 3_600;
export const GUARD_STEP_SECONDS = 15;
/** The whole Prometheus read of one view (every series, in parallel) ends by then. */
export const PROMETHEUS_TIMEOUT_MS = 5_000;
/** Series charted per guard (conditions first, then burn-rate windows); the rest are named in `problems`. */
const MAX_SERIES = 12;
/** A query_range answer larger than this is refused (a query over thousands of series). */
const MAX_ANSWER_BYTES = 4 << 20;
/** Viewers of one guard share a read this long (the page polls every 15 s). */
const VIEW_TTL_MS = 5_000;
/** Guards whose last read is kept. */
const MAX_CACHED = 100;
const MAX_PROBLEM_CHARS = 160;

const PROMETHEUS_URL_ENV = 'REARGUARD_PROMETHEUS_URL';
const LABEL = '[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?';
const guardId = z
  .string()
  .max(140)
  .regex(new RegExp(`^guard:${LABEL}:${LABEL}$`), 'expected a guard workflow ID such as guard:prod:payments');

export interface GuardRouteOptions {
  client: Client;
  /** serve's REARGUARD_PROMETHEUS_URL (http or https, a path prefix allowed); without it the page has no charts. */
  prometheusUrl?: string;
  rateLimit?: { max: number; timeWindow: number };
}

/** One short printable line (a problem for the page). */
const line = (text: string, max = MAX_PROBLEM_CHARS) => {
  const one = printable(text.split('\n')[0]).trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
};

/** The series a guard's chart has: its conditions, then each burn-rate window's two windows as burn rates. */
export function guardSeriesOf(watch: GuardWatch): Omit<GuardSeries, 'points'>[] {
  const out: Omit<GuardSeries, 'points'>[] = watch.conditions.map((c) => ({
    condition: c.name,
    query: c.query,
    op: c.op,
    threshold: c.threshold,
    ...(c.for ? { note: `for ${c.for}` } : {}),
  }));
  if (watch.burnRate) {
    // The error ratio over the budget: the values are burn rates, comparable with the window's factor.
    const budget = Number(watch.burnRate.budget.toPrecision(12));
    for (const w of watch.burnRate.windows)
      for (const [window, query, other] of [
        [w.long, w.longQuery, w.short],
        [w.short, w.shortQuery, w.long],
      ])
        out.push({
          condition: `burn rate ${w.long}/${w.short}: ${window} window`,
          query: `(${query}) / ${budget}`,
          op: 'above',
          threshold: w.factor,
          note: `and the ${other} window is above ${w.factor}x too (objective ${watch.burnRate.objective}%)`,
        });
  }
  return out;
}

/** Per instant, the worst value over a matrix's series (the largest for `above`, the smallest for `below`); NaN and ±Inf dropped. */
export function worstPoints(result: { values?: [number, string][] }[], op: 'above' | 'below'): [number, number][] {
  const worst = new Map<number, number>();
  for (const s of result)
    for (const [t, raw] of s.values ?? []) {
      const v = Number(raw);
      if (!Number.isFinite(v) || typeof t !== 'number') continue;
      const seen = worst.get(t);
      if (seen === undefined || (op === 'above' ? v > seen : v < seen)) worst.set(t, v);
    }
  return [...worst.entries()].sort((a, b) => a[0] - b[0]).map(([t, v]) => [t, Number(v.toPrecision(6))]);
}

/** The body, unless it is longer than `max` bytes (then undefined, the rest unread). */
async function readCapped(res: Response, max: number): Promise<string | undefined> {
  if (Number(res.headers.get('content-length') ?? 0) > max || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    return res.body ? undefined : '';
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

type RangeAnswer = { points: [number, number][] } | { problem: string };

/** One query_range; a failure is one short line, never Prometheus's answer or serve's Prometheus address. */
async function queryRange(
  base: string,
  query: string,
  op: 'above' | 'below',
  range: { start: number; end: number },
  signal: AbortSignal,
): Promise<RangeAnswer> {
  let res: Response;
  try {
    // POST: a long query does not meet a URL length limit on the way.
    res = await fetch(`${base}/api/v1/query_range`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ query, start: String(range.start), end: String(range.end), step: String(GUARD_STEP_SECONDS) }),
      signal,
    });
  } catch {
    return { problem: signal.aborted ? `Prometheus did not answer within ${PROMETHEUS_TIMEOUT_MS / 1000} s` : 'Prometheus cannot be reached' };
  }
  let text: string | undefined;
  try {
    text = await readCapped(res, MAX_ANSWER_BYTES);
  } catch {
    return { problem: signal.aborted ? `Prometheus did not answer within ${PROMETHEUS_TIMEOUT_MS / 1000} s` : 'Prometheus broke off its answer' };
  }
  if (text === undefined) return { problem: `Prometheus's answer is larger than ${MAX_ANSWER_BYTES >> 20} MiB (a query over too many series)` };
  let body: { status?: string; errorType?: string; error?: string; data?: { resultType?: string; result?: unknown } } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // not Prometheus: reported with the status below
  }
  if (res.status === 400 || res.status === 422)
    return { problem: `Prometheus refused the query (${line(String(body.errorType ?? res.status), 20)}): ${line(String(body.error ?? ''), 100)}` };
  if (res.status !== 200 || body.status !== 'success')
    return { problem: `Prometheus answered ${res.status}${res.status === 200 ? ' without a query result' : ''}` };
  if (body.data?.resultType !== 'matrix' || !Array.isArray(body.data.result)) return { problem: 'Prometheus answered something other than a range vector' };
  return { points: worstPoints(body.data.result as { values?: [number, string][] }[], op) };
}

/** serve's Prometheus base URL without trailing slashes, or why there is none. */
function prometheusBase(url: string | undefined): { base: string } | { problem: string } {
  if (!url) return { problem: `no Prometheus configured for rearguard serve (${PROMETHEUS_URL_ENV}): no charts` };
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))
    return { problem: `${PROMETHEUS_URL_ENV} of rearguard serve is not an http:// or https:// URL: no charts` };
  return { base: url.replace(/\/+$/, '') };
}

export class GuardViews {
  private readonly cached = new Map<string, { at: number; view: Promise<GuardView> }>();
  private readonly prometheus: { base: string } | { problem: string };

  constructor(
    private readonly client: Client,
    prometheusUrl: string | undefined,
  ) {
    this.prometheus = prometheusBase(prometheusUrl);
  }

  /** The guard's view, shared with other callers for VIEW_TTL_MS; a failed read is not kept. */
  view(workflowId: string): Promise<GuardView> {
    const now = Date.now();
    const hit = this.cached.get(workflowId);
    if (hit && now - hit.at <= VIEW_TTL_MS) return hit.view;
    for (const [id, c] of this.cached) if (now - c.at > VIEW_TTL_MS || this.cached.size >= MAX_CACHED) this.cached.delete(id);
    const entry = { at: now, view: this.read(workflowId) };
    this.cached.set(workflowId, entry);
    entry.view.catch(() => this.cached.get(workflowId) === entry && this.cached.delete(workflowId));
    return entry.view;
  }

  private async read(workflowId: string): Promise<GuardView> {
    const status = await guardStatus(this.client, workflowId);
    const problems: string[] = [];
    const base = { at: new Date().toISOString(), status };
    if (!status.watches) {
      problems.push("this guard's worker does not say what the guard watches (a worker older than the console's guard page): no charts");
      return { ...base, series: [], problems };
    }
    if ('problem' in this.prometheus) return { ...base, series: [], problems: [this.prometheus.problem] };
    const all = guardSeriesOf(status.watches);
    const charted = all.slice(0, MAX_SERIES);
    if (all.length > charted.length) problems.push(`${all.length - charted.length} more series not charted (at most ${MAX_SERIES} a guard)`);
    const end = Math.floor(Date.now() / 1000);
    const range = { start: end - GUARD_RANGE_SECONDS, end };
    const signal = AbortSignal.timeout(PROMETHEUS_TIMEOUT_MS);
    const { base: prometheus } = this.prometheus;
    const answers = await Promise.all(charted.map((s) => queryRange(prometheus, s.query, s.op, range, signal)));
    const series = charted.map((s, i) => {
      const a = answers[i];
      if ('problem' in a) problems.push(line(`${s.condition}: ${a.problem}`));
      return { ...s, points: 'points' in a ? a.points : [] };
    });
    return {
      ...base,
      at: new Date().toISOString(),
      range: { from: new Date(range.start * 1000).toISOString(), until: new Date(range.end * 1000).toISOString(), stepSeconds: GUARD_STEP_SECONDS },
      series,
      problems,
    };
  }
}

/** GET /v1/console/guards/<workflowId>: the guard page's data (runbook/console-view.ts GuardView). */
export function registerGuardRoutes(app: FastifyInstance, o: GuardRouteOptions): void {
  const views = new GuardViews(o.client, o.prometheusUrl);
  const limited = o.rateLimit ? { config: { rateLimit: o.rateLimit } } : {};
  app.get('/v1/console/guards/*', limited, async (req, reply) => {
    const id = guardId.safeParse((req.params as Record<string, string>)['*'], { error: friendlyErrors });
    if (!id.success)
      return reply
        .code(400)
        .headers(CONSOLE_SECURITY_HEADERS)
        .send({ error: `guard ID: ${id.error.issues.map((i) => i.message).join('; ')}` });
    // A guard that does not exist is the api/ operation's error (404 through serve's error handler).
    const view = await views.view(id.data);
    return reply.headers({ ...CONSOLE_SECURITY_HEADERS, 'cache-control': 'no-store' }).send(view);
  });
}
