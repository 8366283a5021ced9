// A rollback's SLA as a bar: time used from the start to the deadline, escalation marks (filled once fired), and
// the breach. Redrawn every second between server updates, from the same numbers (runbook/console-view.ts slaBar).
import { useEffect, useState } from 'preact/hooks';
import { shortDuration, slaBar } from '../runbook/console-view.js';
import type { RollbackStatus } from '../runbook/types.js';
import { html } from './html.js';
import { useTime } from './time.js';

export function useClock(everyMs = 1_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

export function SlaBar({ status, label }: { status: Pick<RollbackStatus, 'startedAt' | 'endedAt' | 'sla'>; label: string }) {
  const now = useClock();
  const time = useTime();
  const bar = slaBar(status, now);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const text = bar.breached
    ? `SLA breached ${shortDuration(-bar.remainingMs)} ago (target ${status.sla.target})`
    : `${shortDuration(bar.remainingMs)} left of ${status.sla.target}`;
  return html`<div class="sla">
    <div
      class=${`sla-bar ${bar.breached ? 'breached' : bar.elapsed > 0.75 ? 'late' : ''}`}
      role="meter"
      aria-label=${`${label}: SLA`}
      aria-valuemin="0"
      aria-valuemax="100"
      aria-valuenow=${Math.round(bar.elapsed * 100)}
      aria-valuetext=${text}
    >
      <div class="sla-used" style=${{ width: pct(bar.elapsed) }}></div>
      ${bar.marks.map(
        (m) =>
          html`<span
            class=${`sla-mark ${m.fired ? 'fired' : ''}`}
            style=${{ left: pct(m.at) }}
            title=${`escalation ${m.label} after the start (${time(m.time)}) to ${m.notify.join(', ')}${m.fired ? ', fired' : ''}`}
          ></span>`,
      )}
    </div>
    <div class="sla-text">${text} · deadline ${time(status.sla.deadline)}</div>
  </div>`;
}
