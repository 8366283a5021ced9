// `rearguard freeze calendar validate|apply|export`: a FreezeCalendar file checked, reconciled with the
// server (api/calendars.ts: Schedules for recurring windows, freezeWindow workflows for one-off ones), or
// written as an iCalendar file (runbook/calendar-ics.ts). The command line is client/commands/calendar.ts.
import { writeFile } from 'node:fs/promises';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { loadCalendar, occurrences, planCalendar, type FreezeCalendar } from '../../runbook/calendar.js';
import { calendarIcs } from '../../runbook/calendar-ics.js';
import type { CliContext } from '../context.js';
import { badInput, loadedOrFail, parseOptions } from '../errors.js';
import { wholeNumber } from '../options.js';
import { applyLines, validLine } from '../render/calendar.js';
import { renderValue } from '../output.js';

/** Loads and validates a calendar file, or fails with exit code 2 and every problem as `path: message`. */
export const readCalendarOrFail = async (file: string): Promise<FreezeCalendar> => loadedOrFail(await loadCalendar(file), file, 'freeze calendar');

export async function validate(ctx: () => CliContext, file: string): Promise<void> {
  const c = ctx();
  // With --json, an invalid file is data too (like `runbook validate --json`): its problems on stdout, exit 2.
  const loaded = c.opts.json ? await loadCalendar(file) : undefined;
  if (loaded && !loaded.ok) {
    c.out(JSON.stringify({ file, valid: false, problems: loaded.problems }));
    throw badInput();
  }
  const cal = loaded?.ok ? loaded.value : await readCalendarOrFail(file);
  const plan = planCalendar(cal);
  c.out(c.opts.json ? JSON.stringify({ file, valid: true, calendar: cal }) : validLine(file, cal, plan));
}

export async function apply(ctx: () => CliContext, file: string, raw: { dryRun?: boolean }): Promise<void> {
  const c = ctx();
  const cal = await readCalendarOrFail(file);
  const dryRun = raw.dryRun === true;
  // Temporal's client is loaded here only: validate and export need no server, and start faster without it.
  const { applyCalendar } = await import('../../api/calendars.js');
  const results = await applyCalendar(await c.connect(), cal, { actor: c.actor, taskQueue: c.opts.taskQueue, dryRun });
  if (c.opts.json) return c.out(JSON.stringify({ calendar: cal.metadata.name, dryRun, results }));
  applyLines(cal.metadata.name, results, dryRun).forEach((l) => c.out(l));
}

export async function exportCalendar(ctx: () => CliContext, file: string, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const o = parseOptions(
    z.object({
      ics: z.boolean().optional(),
      outFile: z.string().min(1).optional(),
      from: z
        .string()
        .refine((s) => DateTime.fromISO(s).isValid, 'expected a date such as 2026-11-01')
        .optional(),
      days: wholeNumber(1, 3660),
    }),
    raw,
  );
  const cal = await readCalendarOrFail(file);
  const from = o.from ? DateTime.fromISO(o.from, { zone: cal.spec.timezone }).toMillis() : DateTime.now().setZone(cal.spec.timezone).startOf('day').toMillis();
  const until = from + o.days * 86_400_000;
  const found = occurrences(cal, from, until);
  // --json without --ics: the occurrences themselves are the export.
  const asJson = c.opts.json && !o.ics;
  const data = asJson ? occurrencesJson(cal, from, until, found) : undefined;
  if (!o.outFile) return c.out(data ? JSON.stringify(data) : calendarIcs(cal, from, until).trimEnd());
  // The file holds the occurrences in the format asked for (-o yaml: YAML), like stdout would.
  const format = data && c.opts.output === 'yaml' ? 'yaml' : data ? 'json' : 'ics';
  const text = data ? `${renderValue(data, format === 'yaml' ? 'yaml' : 'json')}\n` : calendarIcs(cal, from, until);
  try {
    await writeFile(o.outFile, text);
  } catch (err) {
    throw badInput(`--out-file: cannot write ${o.outFile}: ${(err as Error).message}`);
  }
  c.out(c.opts.json ? JSON.stringify({ file: o.outFile, format, occurrences: found.length }) : `Wrote ${found.length} freeze occurrence(s) to ${o.outFile}`);
}

/** `export --json`: every occurrence in the range, as instants (UTC) and in the calendar's zone. */
function occurrencesJson(cal: FreezeCalendar, from: number, until: number, found: ReturnType<typeof occurrences>) {
  const local = (ms: number) => DateTime.fromMillis(ms, { zone: cal.spec.timezone }).toISO();
  return {
    calendar: cal.metadata.name,
    timezone: cal.spec.timezone,
    from: new Date(from).toISOString(),
    until: new Date(until).toISOString(),
    occurrences: found.map((x) => ({
      window: x.window.name,
      start: new Date(x.start).toISOString(),
      end: new Date(x.end).toISOString(),
      localStart: local(x.start),
      localEnd: local(x.end),
      scope: x.window.scope,
      reason: x.reason,
    })),
  };
}
