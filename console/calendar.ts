// The freeze calendar: month and week views in the viewer's time zone (the header's switch), across environments.
// One-off windows and the occurrences of recurring ones (from their Schedules), with their state (upcoming, active,
// ended, lifted; extended) and approved exceptions; the .ics download of the range shown. Day boundaries and hours
// come from luxon in the chosen zone, so an occurrence lands on the day and hour it has there, daylight saving included.
import { DateTime } from 'luxon';
import { useEffect, useState } from 'preact/hooks';
import { useContext } from 'preact/hooks';
import type { CalendarItem, CalendarView } from '../runbook/console-view.js';
import { html } from './html.js';
import { Problems } from './parts.js';
import { ZoneContext, resolveZone } from './time.js';

type Mode = 'month' | 'week';
const LOCAL = "yyyy-LL-dd'T'HH:mm";

/** #/calendar/<month|week>/<yyyy-mm or yyyy-mm-dd>: what to show, defaulting to this month. */
export function parseCalendarRoute(rest: string[], zone: string): { mode: Mode; anchor: DateTime } {
  const mode: Mode = rest[0] === 'week' ? 'week' : 'month';
  const parsed = rest[1] ? DateTime.fromISO(rest[1], { zone }) : DateTime.invalid('none');
  const anchor = (parsed.isValid ? parsed : DateTime.now().setZone(zone)).startOf('day');
  return { mode, anchor };
}

/** The days shown: a month's weeks (Monday first, whole weeks), or one week. */
function daysOf(mode: Mode, anchor: DateTime): DateTime[] {
  const first = mode === 'month' ? anchor.startOf('month').startOf('week') : anchor.startOf('week');
  const last = mode === 'month' ? anchor.endOf('month').endOf('week') : anchor.endOf('week');
  const days: DateTime[] = [];
  for (let d = first; d < last; d = d.plus({ days: 1 })) days.push(d);
  return days;
}

function useCalendar(from: DateTime, until: DateTime): { view?: CalendarView; error?: string } {
  const [state, setState] = useState<{ view?: CalendarView; error?: string }>({});
  const key = `${from.toUTC().toISO()}|${until.toUTC().toISO()}`;
  useEffect(() => {
    let stop = false;
    const url = new URL(
      `v1/console/calendar?from=${encodeURIComponent(from.toUTC().toISO()!)}&until=${encodeURIComponent(until.toUTC().toISO()!)}`,
      document.baseURI,
    );
    const load = () =>
      fetch(url)
        .then(async (r) => (r.ok ? ((await r.json()) as CalendarView) : Promise.reject(new Error(`${r.status}: ${await r.text()}`))))
        .then((view) => !stop && setState({ view }))
        .catch((err: Error) => !stop && setState((s) => ({ ...s, error: err.message })));
    setState({});
    void load();
    // A calendar changes slowly: read again every 30 s.
    const t = setInterval(() => void load(), 30_000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [key]);
  return state;
}

function Chip({ item, day, zone }: { item: CalendarItem; day: DateTime; zone: string }) {
  const start = DateTime.fromISO(item.start, { zone });
  const end = DateTime.fromISO(item.end, { zone });
  const startsToday = start >= day && start < day.plus({ days: 1 });
  const endsToday = end > day && end <= day.plus({ days: 1 });
  const envs = item.scope.environments.join(', ');
  const label = `${startsToday ? start.toFormat('HH:mm') : '…'}–${endsToday ? end.toFormat('HH:mm') : '…'} ${item.window}`;
  const title = [
    `${item.window} (${item.kind === 'recurring' ? 'recurring' : 'one-off'}${item.calendar ? `, calendar ${item.calendar}` : ''})`,
    `${start.toFormat('ccc d LLL HH:mm')} → ${end.toFormat('ccc d LLL HH:mm ZZZZ')}`,
    `${envs} · ${item.scope.services.join(', ')}`,
    item.reason,
    `${item.state}${item.extended ? ', extended' : ''}${item.paused ? ', schedule paused' : ''}`,
    ...(item.lifted ? [`lifted by ${item.lifted.actor}: ${item.lifted.reason}`] : []),
    ...item.exceptions.map((e) => `exception ${e.changeId} (${e.requestedBy}) until ${DateTime.fromISO(e.validUntil, { zone }).toFormat('d LLL HH:mm')}`),
  ].join('\n');
  return html`<li
    class=${`chip chip-${item.state}${item.extended ? ' chip-extended' : ''}`}
    title=${title}
    data-window=${item.window}
    data-first=${startsToday ? 'true' : 'false'}
    data-start-local=${start.toFormat(LOCAL)}
    data-state=${item.state}
  >
    <span class="chip-time">${label}</span>
    <span class="chip-env">${envs}</span>
    ${item.state !== 'upcoming' && item.state !== 'ended' ? html`<span class="chip-state">${item.state}</span>` : ''}
    ${item.extended ? html`<span class="chip-state">extended</span>` : ''}
    ${item.exceptions.length > 0 ? html`<span class="chip-state">${item.exceptions.length} exception(s)</span>` : ''}
  </li>`;
}

const onDay = (items: CalendarItem[], day: DateTime) => {
  const [a, b] = [day.toMillis(), day.plus({ days: 1 }).toMillis()];
  return items.filter((i) => Date.parse(i.end) > a && Date.parse(i.start) < b);
};

export function CalendarPage({ rest }: { rest: string[] }) {
  const zone = resolveZone(useContext(ZoneContext));
  const { mode, anchor } = parseCalendarRoute(rest, zone);
  const days = daysOf(mode, anchor);
  const from = days[0];
  const until = days.at(-1)!.plus({ days: 1 });
  const { view, error } = useCalendar(from, until);
  const step = mode === 'month' ? { months: 1 } : { weeks: 1 };
  const href = (m: Mode, d: DateTime) => `#/calendar/${m}/${m === 'month' ? d.toFormat('yyyy-LL') : d.toFormat('yyyy-LL-dd')}`;
  const title = mode === 'month' ? anchor.toFormat('LLLL yyyy') : `Week of ${from.toFormat('d LLL yyyy')}`;
  const items = view?.items ?? [];
  const environments = [...new Set(items.flatMap((i) => i.scope.environments))].sort();
  const ics = `v1/console/calendar.ics?from=${encodeURIComponent(from.toUTC().toISO()!)}&until=${encodeURIComponent(until.toUTC().toISO()!)}`;
  const today = DateTime.now().setZone(zone).startOf('day');
  return html`<div class="page">
    <h1>Freeze calendar</h1>
    <nav class="cal-nav" aria-label="calendar">
      <a href=${href(mode, anchor.minus(step))}>← previous</a>
      <strong aria-live="polite">${title}</strong>
      <a href=${href(mode, anchor.plus(step))}>next →</a>
      <a href=${href(mode, today)}>today</a>
      <a href=${href(mode === 'month' ? 'week' : 'month', anchor)}>${mode === 'month' ? 'week view' : 'month view'}</a>
      <a href=${ics} download="rearguard-freezes.ics">download .ics</a>
      <span class="muted">times in ${zone}</span>
    </nav>
    ${error && html`<${Problems} problems=${[error]} />`} ${view && html`<${Problems} problems=${view.problems} />`}
    ${
      mode === 'month'
        ? html`<table class="month" aria-label=${title}>
            <thead>
              <tr>
                ${days.slice(0, 7).map((d) => html`<th scope="col">${d.toFormat('ccc')}</th>`)}
              </tr>
            </thead>
            <tbody>
              ${Array.from(
                { length: days.length / 7 },
                (_, w) =>
                  html`<tr>
                    ${days.slice(w * 7, w * 7 + 7).map((d) => {
                      const list = onDay(items, d);
                      return html`<td
                        class=${`day${d.month !== anchor.month ? ' other-month' : ''}${d.equals(today) ? ' today' : ''}`}
                        data-day=${d.toISODate()}
                      >
                        <div class="day-num">${d.day}</div>
                        ${
                          list.length > 0 &&
                          html`<ul class="chips">
                            ${list.map((i) => html`<${Chip} key=${i.id} item=${i} day=${d} zone=${zone} />`)}
                          </ul>`
                        }
                      </td>`;
                    })}
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<table class="week" aria-label=${title}>
            <thead>
              <tr>
                <th scope="col">environment</th>
                ${days.map((d) => html`<th scope="col">${d.toFormat('ccc d LLL')}</th>`)}
              </tr>
            </thead>
            <tbody>
              ${
                environments.length === 0 &&
                html`<tr>
                  <td colspan="8" class="empty">No freeze this week.</td>
                </tr>`
              }
              ${environments.map(
                (env) =>
                  html`<tr>
                    <th scope="row">${env}</th>
                    ${days.map((d) => {
                      const list = onDay(
                        items.filter((i) => i.scope.environments.includes(env)),
                        d,
                      );
                      return html`<td class="day" data-day=${d.toISODate()} data-environment=${env}>
                        ${
                          list.length > 0 &&
                          html`<ul class="chips">
                            ${list.map((i) => html`<${Chip} key=${i.id} item=${i} day=${d} zone=${zone} />`)}
                          </ul>`
                        }
                      </td>`;
                    })}
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </div>`;
}
