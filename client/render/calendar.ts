// Human output for freeze calendars: the summary of `validate`, and one line per window of `apply` with
// what was (or, in a dry run, would be) done.
import type { ApplyOutcome, ApplyResult } from '../../api/calendars.js';
import type { FreezeCalendar, PlannedWindow } from '../../runbook/calendar.js';

export const validLine = (file: string, cal: FreezeCalendar, plan: PlannedWindow[]): string =>
  `${file}: valid freeze calendar ${cal.metadata.name} (${cal.spec.timezone}): ${plan.filter((p) => p.kind === 'once').length} one-off and ${plan.filter((p) => p.kind === 'recurring').length} recurring window(s)`;

export function applyLines(name: string, results: ApplyResult[], dryRun: boolean): string[] {
  const verb = (o: ApplyOutcome) => (dryRun && o !== 'unchanged' && o !== 'skipped' ? `would be ${o}` : o);
  const changed = results.filter((r) => r.outcome !== 'unchanged' && r.outcome !== 'skipped').length;
  return [
    ...results.map((r) => `${r.window.padEnd(20)} ${r.kind.padEnd(10)} ${verb(r.outcome).padEnd(16)} ${r.detail}`),
    `${dryRun ? 'Dry run: ' : ''}freeze calendar ${name}: ${changed} change(s), ${results.length - changed} window(s) unchanged or skipped.`,
  ];
}
