// One SLO guard: its state, target and settings (interval, cooldown and until when), a pause, the last evaluation,
// and per condition (and burn-rate window) a small chart of the query's values over the last hour from Prometheus with
// the threshold, then the rollbacks it triggered. Read from /v1/console/guards/<id> (client/console/guard-view.ts)
// every 15 s; the URL is relative to the page, so the console works under a reverse proxy's path prefix.
import { useEffect, useState } from 'preact/hooks';
import { shortDuration, type GuardSeries, type GuardView } from '../runbook/console-view.js';
import type { SloGuardStatus } from '../runbook/slo-guard.js';
import { html } from './html.js';
import { Problems } from './parts.js';
import { useClock } from './sla.js';
import { useTime } from './time.js';

export const POLL_MS = 15_000;

interface Polled<T> {
  view?: T;
  /** The last read's failure (the server's error line, or that serve cannot be reached). */
  problem?: string;
  /** When the last successful read arrived (ms). */
  readAt?: number;
}

/** GETs `path` (relative to the page) now and every `everyMs`, keeping the last view through a failed read. */
function usePolled<T>(path: string, everyMs = POLL_MS): Polled<T> {
  const [state, setState] = useState<Polled<T>>({});
  useEffect(() => {
    setState({});
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = async () => {
      try {
        const res = await fetch(new URL(path, document.baseURI), { headers: { accept: 'application/json' }, cache: 'no-store' });
        const body = (await res.json().catch(() => ({}))) as T & { error?: string };
        if (stopped) return;
        if (!res.ok) setState((s) => ({ ...s, problem: body.error ?? `rearguard serve answered ${res.status}` }));
        else setState({ view: body, readAt: Date.now() });
      } catch {
        if (!stopped) setState((s) => ({ ...s, problem: s.view ? 'cannot reach rearguard serve, retrying…' : 'cannot reach rearguard serve' }));
      }
      if (!stopped) timer = setTimeout(() => void read(), everyMs);
    };
    void read();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [path, everyMs]);
  return state;
}

/** A value as a chart label: at most 4 significant digits, no exponent for everyday magnitudes. */
export function num(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** Whether a value is on the bad side of the threshold (as the guard compares: strictly). */
const crossed = (s: Pick<GuardSeries, 'op' | 'threshold'>, v: number) => (s.op === 'above' ? v > s.threshold : v < s.threshold);

// The chart's drawing box (SVG user units; the SVG scales with the page).
const W = 640;
const H = 220;
const M = { left: 64, right: 16, top: 14, bottom: 40 };
/** The time axis spans at least this much (a guard started a minute ago still gets a readable axis). */
const MIN_SPAN_S = 300;

/**
 * One series as a line chart: the values (worst over the query's series per instant), the threshold as a dashed line
 * with the bad side shaded, a value axis and a time axis in the viewer's zone. For screen readers: the SVG's name says
 * the latest value against the threshold, and a visually hidden table lists every point.
 */
export function Chart({ s, range }: { s: GuardSeries; range?: GuardView['range'] }) {
  const time = useTime();
  const pts = s.points;
  const untilS = range ? Date.parse(range.until) / 1000 : (pts.at(-1)?.[0] ?? Date.now() / 1000);
  const fromS = Math.min(pts.length ? pts[0][0] : range ? Date.parse(range.from) / 1000 : untilS - 3600, untilS - MIN_SPAN_S);
  const values = pts.map((p) => p[1]);
  let lo = Math.min(s.threshold, ...values);
  let hi = Math.max(s.threshold, ...values);
  if (lo >= 0 && lo <= hi / 2) lo = 0;
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.12;
  hi += pad;
  if (lo !== 0) lo -= pad;
  const x = (t: number) => M.left + ((t - fromS) / (untilS - fromS)) * (W - M.left - M.right);
  const y = (v: number) => H - M.bottom - ((v - lo) / (hi - lo)) * (H - M.top - M.bottom);
  const iso = (t: number) => new Date(t * 1000).toISOString();
  // A gap of more than two steps (no data: a scrape stopped, 0/0 without traffic) breaks the line.
  const step = range?.stepSeconds ?? 15;
  const runs: [number, number][][] = [];
  for (const p of pts) {
    const run = runs.at(-1);
    if (run && p[0] - run.at(-1)![0] <= step * 2) run.push(p);
    else runs.push([p]);
  }
  const last = pts.at(-1);
  // `violated while above 0.2 for 2m`: the whole rule, as the caption and the accessible name say it.
  const rule = `violated while ${s.op} ${num(s.threshold)}${s.note ? ` ${s.note}` : ''}`;
  const label = last
    ? `${s.condition}: latest ${num(last[1])} at ${time(iso(last[0]))}, ${crossed(s, last[1]) ? 'past' : 'within'} the threshold (${rule}); ${pts.length} points in the last hour`
    : `${s.condition}: no data in the last hour (${rule})`;
  const yTicks = [lo, (lo + hi) / 2, hi];
  const xTicks = [fromS, (fromS + untilS) / 2, untilS];
  const ty = y(s.threshold);
  return html`<figure class="chart" data-condition=${s.condition}>
    <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-label=${label} preserveAspectRatio="xMidYMid meet">
      <rect
        class="chart-bad"
        x=${M.left}
        width=${W - M.left - M.right}
        y=${s.op === 'above' ? M.top : ty}
        height=${Math.max(0, s.op === 'above' ? ty - M.top : H - M.bottom - ty)}
      />
      ${yTicks.map(
        (v) =>
          html`<g class="tick">
            <line class="grid" x1=${M.left} x2=${W - M.right} y1=${y(v)} y2=${y(v)} />
            <text x=${M.left - 6} y=${y(v) + 4} text-anchor="end">${num(v)}</text>
          </g>`,
      )}
      ${xTicks.map(
        (t, i) =>
          html`<text class="tick" x=${x(t)} y=${H - M.bottom + 16} text-anchor=${i === 0 ? 'start' : i === 2 ? 'end' : 'middle'}>${time(iso(t))}</text>`,
      )}
      <line class="axis" x1=${M.left} x2=${M.left} y1=${M.top} y2=${H - M.bottom} />
      <line class="axis" x1=${M.left} x2=${W - M.right} y1=${H - M.bottom} y2=${H - M.bottom} />
      <text class="axis-title" x=${M.left} y=${H - 4}>time</text>
      <text
        class="axis-title"
        x="12"
        y=${M.top + (H - M.top - M.bottom) / 2}
        transform=${`rotate(-90 12 ${M.top + (H - M.top - M.bottom) / 2})`}
        text-anchor="middle"
      >
        value
      </text>
      <line class="threshold" x1=${M.left} x2=${W - M.right} y1=${ty} y2=${ty} data-threshold=${s.threshold} />
      <text class="threshold-label" x=${W - M.right - 4} y=${s.op === 'above' ? ty - 5 : ty + 13} text-anchor="end">threshold ${num(s.threshold)}</text>
      ${runs.map(
        (run) =>
          html`<polyline class="series-line" data-points=${run.length} points=${run.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ')} />`,
      )}
      ${last && html`<circle class=${`series-last ${crossed(s, last[1]) ? 'bad' : ''}`} cx=${x(last[0])} cy=${y(last[1])} r="4" />`}
    </svg>
    <figcaption class="muted">
      ${last ? html`latest <strong>${num(last[1])}</strong> at ${time(iso(last[0]))} · ${rule}` : `no data in the last hour · ${rule}`}
    </figcaption>
    ${
      pts.length > 0 &&
      html`<table class="visually-hidden">
        <caption>
          Values of ${s.condition} in the last hour
        </caption>
        <thead>
          <tr>
            <th scope="col">time</th>
            <th scope="col">value</th>
          </tr>
        </thead>
        <tbody>
          ${pts.map(
            ([t, v]) =>
              html`<tr>
                <td>${time(iso(t))}</td>
                <td>${num(v)}${crossed(s, v) ? ' (past the threshold)' : ''}</td>
              </tr>`,
          )}
        </tbody>
      </table>`
    }
  </figure>`;
}

/** What the guard watches without charts (no Prometheus on serve, or an older worker): the conditions as text. */
function Watches({ g }: { g: SloGuardStatus }) {
  const w = g.watches;
  if (!w) return null;
  return html`<ul class="watches">
    ${w.conditions.map(
      (c) => html`<li><strong>${c.name}</strong>: violated while ${c.op} ${num(c.threshold)}${c.for ? ` for ${c.for}` : ''} · <code>${c.query}</code></li>`,
    )}
    ${w.burnRate?.windows.map(
      (b) => html`<li><strong>burn rate ${b.long}/${b.short}</strong>: both windows above ${b.factor}x of the ${w.burnRate!.objective}% objective</li>`,
    )}
  </ul>`;
}

function Facts({ g }: { g: SloGuardStatus }) {
  // Only the facts follow the clock (the cooldown's time left): the charts are redrawn when a read arrives.
  const now = useClock();
  const time = useTime();
  const cooling = g.cooldownUntil && Date.parse(g.cooldownUntil) > now;
  const ev = g.lastEvaluation;
  const rows: [string, unknown][] = [
    ['target', `${g.target.service} in ${g.target.environment}`],
    ['runbook', g.runbook],
    ['evaluates', `every ${g.interval} (${g.evaluations} evaluation${g.evaluations === 1 ? '' : 's'})`],
    ['cooldown', `${g.cooldown} after a trigger`],
    [
      'cooldown until',
      g.cooldownUntil
        ? `${time(g.cooldownUntil, true)}${cooling ? ` (${shortDuration(Date.parse(g.cooldownUntil) - now)} left)` : ' (over)'}`
        : 'no trigger yet',
    ],
    ['started', `${time(g.startedAt, true)} by ${g.startedBy}`],
    [
      'paused',
      g.paused
        ? `by ${g.paused.actor} since ${time(g.paused.since, true)}: ${g.paused.reason}${g.paused.signedWith ? ` (signed with ${g.paused.signedWith})` : ''}`
        : 'no',
    ],
    ['Prometheus', g.prometheus.reachable ? 'reachable' : `unreachable since ${time(g.prometheus.since, true)}: ${g.prometheus.error ?? ''}`],
    [
      'last evaluation',
      ev
        ? html`${time(ev.time, true)}: ${ev.violations.length ? html`<strong class="bad-text">${ev.violations.join('; ')}</strong>` : 'within thresholds'}`
        : 'not evaluated yet',
    ],
  ];
  if (ev?.health.deployment) rows.push(['deployment health', ev.health.deployment.message]);
  if (ev?.health.http) rows.push(['http health', `${ev.health.http.message}${g.httpFailures ? ` (${g.httpFailures} failure(s) in a row)` : ''}`]);
  return html`<dl class="facts">
    ${rows.map(
      ([k, v]) =>
        html`<div data-fact=${k}>
          <dt>${k}</dt>
          <dd>${v}</dd>
        </div>`,
    )}
  </dl>`;
}

function Triggers({ g }: { g: SloGuardStatus }) {
  const time = useTime();
  if (!g.triggers.length) return html`<p class="empty">No rollback triggered yet.</p>`;
  return html`<table class="triggers">
    <thead>
      <tr>
        <th scope="col">time</th>
        <th scope="col">rollback</th>
        <th scope="col">started or joined</th>
        <th scope="col">violations</th>
      </tr>
    </thead>
    <tbody>
      ${[...g.triggers].reverse().map(
        (t) =>
          html`<tr data-rollback=${t.rollbackId}>
            <td>${time(t.time, true)}</td>
            <td><a href=${`#/rollback/${encodeURIComponent(t.rollbackId)}`}>${t.rollbackId}</a></td>
            <td>${t.joined ? 'joined the running rollback' : 'started it'}</td>
            <td>${t.violations.join('; ')}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** The health checks a guard also watches, in one line (none: empty). */
function health(g: SloGuardStatus): string {
  const h = g.watches?.health;
  const parts = [
    h?.deployment ? 'deployment health (ProgressDeadlineExceeded)' : '',
    h?.http ? `http health GET ${h.http.url} (${h.http.failures} failures in a row)` : '',
  ].filter(Boolean);
  return parts.length ? `Also watched: ${parts.join(' · ')}` : '';
}

export function GuardPage({ id }: { id: string }) {
  const polled = usePolled<GuardView>(`v1/console/guards/${encodeURIComponent(id)}`);
  const time = useTime();
  const v = polled.view;
  const g = v?.status;
  const state = g ? (g.paused ? 'paused' : g.state) : undefined;
  return html`<div class="page guard-page">
    <p><a href="#/">← Now</a></p>
    <h1>${g ? `Guard of ${g.target.service} in ${g.target.environment}` : id}</h1>
    <p class="live">${polled.readAt ? `read ${time(new Date(polled.readAt).toISOString())}, again every ${POLL_MS / 1000} s` : 'loading…'}</p>
    <p class="live problem" role="status">${polled.problem ?? ''}</p>
    ${
      g &&
      v &&
      html`<p>
          <span class=${`phase phase-guard-${state}`} data-state=${state}>${state}</span>
          <span class="muted"> · ${g.workflowId}${g.run > 1 ? ` · run ${g.run}` : ''}</span>
        </p>
        <${Problems} problems=${v.problems} />
        <${Facts} g=${g} />
        <h2>What it watches</h2>
        ${
          v.series.length
            ? html`<div class="charts">
                ${v.series.map(
                  (s) =>
                    html`<section class="condition" aria-label=${s.condition}>
                      <h3>${s.condition}</h3>
                      <p class="query"><code>${s.query}</code></p>
                      <${Chart} s=${s} range=${v.range} />
                    </section>`,
                )}
              </div>`
            : g.watches
              ? html`<${Watches} g=${g} />`
              : html`<p class="empty">This guard's worker does not say what it watches.</p>`
        }
        ${health(g) && html`<p class="muted">${health(g)}</p>`}
        <h2>Triggers</h2>
        <${Triggers} g=${g} />`
    }
  </div>`;
}
