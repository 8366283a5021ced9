// A FreezeCalendar as an iCalendar file (`freeze calendar export --ics`), so people see freezes in their
// calendar app: one event per occurrence, with the scope and how to ask for an exception.
import icalGenerator from 'ical-generator';
import { occurrences, type FreezeCalendar } from './calendar.js';
import type { CalendarItem } from './console-view.js';

/** An iCalendar file of every occurrence in [from, until). */
export function calendarIcs(cal: FreezeCalendar, fromMs: number, untilMs: number): string {
  const ics = icalGenerator({ name: `Release freezes: ${cal.metadata.name}`, prodId: { company: 'rearguard', product: 'freeze-calendar' } });
  for (const o of occurrences(cal, fromMs, untilMs)) {
    const scope = `${o.window.scope.environments.join(',')}/${o.window.scope.services.join(',')}`;
    ics.createEvent({
      id: `${cal.metadata.name}.${o.window.name}.${o.start}@rearguard`,
      start: new Date(o.start),
      end: new Date(o.end),
      summary: `Release freeze: ${o.window.name} (${scope})`,
      description: [
        o.reason,
        `Deploys to ${scope} are blocked by the Rearguard gate.`,
        cal.spec.exceptions.approvers.length
          ? `Exceptions: rearguard freeze exception request (approvers: ${cal.spec.exceptions.approvers.join(', ')}, quorum ${cal.spec.exceptions.quorum}).`
          : 'No exception approvers are configured.',
      ].join('\n'),
      categories: [{ name: 'release-freeze' }],
    });
  }
  return ics.toString();
}

/** The console's calendar (runbook/console-view.ts) as an iCalendar file: one event per freeze or occurrence, with its state. */
export function calendarItemsIcs(items: CalendarItem[]): string {
  const ics = icalGenerator({ name: 'Release freezes', prodId: { company: 'rearguard', product: 'console' } });
  for (const i of items) {
    const scope = `${i.scope.environments.join(',')}/${i.scope.services.join(',')}`;
    ics.createEvent({
      id: `${i.id}@rearguard`,
      start: new Date(i.start),
      end: new Date(i.end),
      summary: `Release freeze: ${i.window} (${scope})${i.state === 'lifted' ? ' [lifted]' : ''}`,
      description: [
        i.reason,
        `State: ${i.state}${i.extended ? ', extended' : ''}${i.lifted ? `; lifted by ${i.lifted.actor}: ${i.lifted.reason}` : ''}.`,
        ...i.exceptions.map((e) => `Exception ${e.changeId} for ${e.requestedBy} until ${e.validUntil}: ${e.reason}`),
      ].join('\n'),
      categories: [{ name: 'release-freeze' }],
    });
  }
  return ics.toString();
}
