// `rearguard freeze calendar validate|apply|export`: a FreezeCalendar file becomes Temporal Schedules
// (recurring windows) and freezeWindow workflows (one-off windows). Applying is a reconciliation:
// every window carries its calendar's name and a fingerprint of its definition, so re-applying the same
// file changes nothing and an edited file creates, updates, lifts or deletes exactly what changed.
import { writeFile } from 'node:fs/promises';
import { ScheduleNotFoundError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import icalGenerator from 'ical-generator';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { loadCalendar, occurrences, planCalendar, type FreezeCalendar, type PlannedWindow } from '../../runbook/calendar.js';
import { durationText } from '../../runbook/duration.js';
import type { FreezeRedefinition, FreezeState, FreezeWindowInput } from '../../runbook/freeze.js';
import type { freezeWindow } from '../../workflows/freeze.js';
import { liftFreezeUpdate, redefineFreezeUpdate } from '../../api/messages.js';
import { occurrenceWorkflowId } from '../../api/ids.js';
import type { CliContext } from '../context.js';
import { CliError, badInput, failed, parseOptions, rootMessage } from '../errors.js';
import { localTime, readFreezes, waitUntilGateSees } from '../gate.js';

export async function readCalendarOrFail(file: string): Promise<FreezeCalendar> {
  const loaded = await loadCalendar(file);
  if (!loaded.ok) throw loaded.io ? badInput(...loaded.problems) : badInput(`${file}: invalid freeze calendar`, ...loaded.problems.map((p) => `  ${p}`));
  return loaded.value;
}

export type ApplyOutcome = 'created' | 'updated' | 'unchanged' | 'removed' | 'lifted' | 'skipped';
export interface ApplyResult {
  window: string;
  kind: 'recurring' | 'once' | 'occurrence';
  id: string;
  outcome: ApplyOutcome;
  detail: string;
}

/** Reconciles the server with the calendar; with dryRun, only reports what it would do. */
export async function applyCalendar(client: Client, cal: FreezeCalendar, opts: { actor: string; taskQueue: string; dryRun: boolean }): Promise<ApplyResult[]> {
  const name = cal.metadata.name;
  const plan = planCalendar(cal);
  const results: ApplyResult[] = [];
  const act = async (r: ApplyResult, change: () => Promise<unknown>) => {
    if (!opts.dryRun && r.outcome !== 'unchanged' && r.outcome !== 'skipped') await change();
    results.push(r);
  };

  const schedules = await calendarSchedules(client);
  // A running freeze that cannot be read might be one of this calendar's: refuse rather than act blindly.
  const snapshot = await readFreezes(client);
  if (snapshot.unreadable.length > 0)
    throw failed(
      `cannot apply freeze calendar ${name}: ${snapshot.unreadable.length} running freeze(s) could not be read:`,
      ...snapshot.unreadable.map((u) => `  ${u.id}: ${u.error}`),
    );
  const running = snapshot.states;
  /** Windows started by this apply that are active now: the gate must see them before apply returns. */
  const activeNow: string[] = [];
  const now = Date.now();

  /**
   * The occurrence of a recurring window that covers now (applied during a weekend freeze): its Schedule only
   * starts later occurrences, so it is started here, as the Schedule would have started it (same workflow, input
   * and ID, with the occurrence's start and end as `export --ics` computes them), for the time it has left.
   */
  const occurrenceInProgress = async (p: Extract<PlannedWindow, { kind: 'recurring' }>) => {
    const o = occurrences(cal, now, now + 1).find((x) => x.window.name === p.name && x.start <= now && now < x.end);
    if (!o) return;
    // An occurrence of this window already runs (started by the Schedule, or by an earlier apply; an edit updates it below).
    if (running.some((s) => s.calendar?.name === name && s.name === p.name && s.id.startsWith(`freeze:${p.name}-`))) return;
    const id = occurrenceWorkflowId(p.name, o.start);
    const span = `${localTime(new Date(o.start).toISOString(), cal.spec.timezone)} - ${localTime(new Date(o.end).toISOString(), cal.spec.timezone)}`;
    const r: ApplyResult = { window: p.name, kind: 'occurrence', id, outcome: 'created', detail: `${span}: in progress, starts now` };
    // It ran already and was lifted by hand (or ended): not restarted.
    const previous = await client.workflow
      .getHandle(id)
      .describe()
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });
    if (previous?.status.name === 'RUNNING') return void results.push({ ...r, outcome: 'unchanged', detail: `${span}: in progress` });
    if (previous) return void results.push({ ...r, outcome: 'skipped', detail: `${span}: ${previous.status.name.toLowerCase()}, not restarted` });
    await act(r, () =>
      client.workflow.start<typeof freezeWindow>('freezeWindow', {
        workflowId: id,
        taskQueue: opts.taskQueue,
        args: [{ ...p.input, start: new Date(o.start).toISOString(), end: new Date(o.end).toISOString() }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        memo: { actor: opts.actor, reason: p.input.reason, calendar: name },
      }),
    );
    activeNow.push(id);
  };
  // Windows of the same name that another calendar (or a person) owns: refuse before changing anything.
  const conflicts = plan.flatMap((p) => {
    const other = p.kind === 'recurring' ? schedules.get(p.scheduleId)?.calendar : running.find((s) => s.id === p.workflowId)?.calendar?.name;
    const byHand = p.kind === 'once' && running.some((s) => s.id === p.workflowId && !s.calendar);
    if (byHand) return [`${p.workflowId}: a freeze of that name was started by hand; lift it or rename the window`];
    return other !== undefined && other !== name
      ? [`${p.kind === 'recurring' ? p.scheduleId : p.workflowId}: belongs to freeze calendar ${other}; rename the window`]
      : [];
  });
  if (conflicts.length > 0) throw failed(`cannot apply freeze calendar ${name}:`, ...conflicts.map((l) => `  ${l}`));

  for (const p of plan) {
    if (p.kind === 'recurring') {
      const existing = schedules.get(p.scheduleId);
      const r: ApplyResult = {
        window: p.name,
        kind: 'recurring',
        id: p.scheduleId,
        outcome: 'unchanged',
        detail: `${p.cron} (${p.timezone}) for ${durationText(p.input.duration!)}`,
      };
      if (!existing) await act({ ...r, outcome: 'created' }, () => client.schedule.create(scheduleOptions(p, opts.taskQueue)));
      else if (existing.digest !== p.digest)
        await act({ ...r, outcome: 'updated' }, () =>
          client.schedule.getHandle(p.scheduleId).update((prev) => {
            const next = scheduleOptions(p, opts.taskQueue);
            return { ...prev, spec: next.spec, action: next.action, policies: { ...prev.policies, ...next.policies } };
          }),
        );
      else results.push(r);
      await occurrenceInProgress(p);
      continue;
    }
    const live = running.find((s) => s.id === p.workflowId);
    const span = `${localTime(p.input.start!, cal.spec.timezone)} - ${localTime(p.input.end!, cal.spec.timezone)}`;
    const r: ApplyResult = { window: p.name, kind: 'once', id: p.workflowId, outcome: 'unchanged', detail: span };
    if (live) {
      if (live.calendar!.digest === p.digest) results.push(r);
      else await act({ ...r, outcome: 'updated' }, () => redefine(client, p.workflowId, p.input, opts.actor));
      continue;
    }
    if (Date.parse(p.input.end!) <= Date.now()) {
      results.push({ ...r, outcome: 'skipped', detail: `${span}: already over` });
      continue;
    }
    // A run of this window may have finished already (lifted early by someone): do not start it again.
    const previous = await lastRun(client, p.workflowId);
    if (previous?.calendar?.digest === p.digest) {
      results.push({
        ...r,
        outcome: 'skipped',
        detail: `${span}: ${previous.phase}${previous.phase === 'lifted' ? ` by ${previous.history.at(-1)?.actor}` : ''}, not restarted`,
      });
      continue;
    }
    await act({ ...r, outcome: 'created' }, () =>
      client.workflow.start<typeof freezeWindow>('freezeWindow', {
        workflowId: p.workflowId,
        taskQueue: opts.taskQueue,
        args: [p.input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        memo: { actor: opts.actor, reason: p.input.reason, calendar: name },
      }),
    );
    if (Date.parse(p.input.start!) <= now) activeNow.push(p.workflowId);
  }

  // What the calendar no longer has, and occurrences of recurring windows whose definition changed.
  const planned = new Map(plan.map((p) => [p.name, p]));
  for (const [id, s] of schedules) {
    if (s.calendar !== name || plan.some((p) => p.kind === 'recurring' && p.scheduleId === id)) continue;
    await act({ window: s.window, kind: 'recurring', id, outcome: 'removed', detail: 'schedule deleted' }, () => client.schedule.getHandle(id).delete());
  }
  for (const s of running) {
    if (s.calendar?.name !== name) continue;
    const p = planned.get(s.name);
    if (p?.kind === 'once' && p.workflowId === s.id) continue;
    if (!p || (p.kind === 'once' && p.workflowId !== s.id)) {
      await act({ window: s.name, kind: p ? 'once' : 'occurrence', id: s.id, outcome: 'lifted', detail: `removed from calendar ${name}` }, () =>
        client.workflow.getHandle(s.id).executeUpdate(liftFreezeUpdate, { args: [{ actor: opts.actor, reason: `removed from freeze calendar ${name}` }] }),
      );
    } else if (s.calendar.digest !== p.digest) {
      // The occurrence running now follows the edit too (its start stays; the new duration counts from it).
      const end = new Date(Date.parse(s.start) + p.input.duration!).toISOString();
      await act(
        { window: s.name, kind: 'occurrence', id: s.id, outcome: 'updated', detail: `running occurrence now ends ${localTime(end, cal.spec.timezone)}` },
        () => redefine(client, s.id, { ...p.input, start: s.start, end }, opts.actor),
      );
    }
  }
  // Enforced as soon as apply returns: the windows it started that are active now are visible to the gate.
  if (!opts.dryRun) await waitUntilGateSees(client, activeNow);
  return results;
}

/** The workflow ID a Schedule gives the run of one occurrence: its action's ID, "-", the nominal time (RFC 3339, UTC, in seconds). */

function redefine(client: Client, id: string, input: FreezeWindowInput, actor: string): Promise<FreezeState> {
  const def: FreezeRedefinition = {
    actor,
    scope: input.scope,
    reason: input.reason,
    start: input.start,
    end: input.end,
    exceptions: input.exceptions,
    guardrails: input.guardrails,
    notify: input.notify,
    calendar: input.calendar,
  };
  return client.workflow.getHandle(id).executeUpdate(redefineFreezeUpdate, { args: [def] });
}

async function lastRun(client: Client, id: string): Promise<FreezeState | undefined> {
  try {
    const d = await client.workflow.getHandle(id).describe();
    if (d.status.name !== 'COMPLETED') return undefined;
    return (await client.workflow.getHandle(id).result()) as FreezeState;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Freeze schedules on the server, with the calendar and definition fingerprint they were made from. */
async function calendarSchedules(client: Client): Promise<Map<string, { window: string; calendar?: string; digest?: string }>> {
  const out = new Map<string, { window: string; calendar?: string; digest?: string }>();
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith('freeze-schedule:')) continue;
    try {
      const d = await client.schedule.getHandle(s.scheduleId).describe();
      const input = (d.action.type === 'startWorkflow' ? d.action.args?.[0] : undefined) as FreezeWindowInput | undefined;
      out.set(s.scheduleId, { window: s.scheduleId.slice('freeze-schedule:'.length), calendar: input?.calendar?.name, digest: input?.calendar?.digest });
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
  }
  return out;
}

function scheduleOptions(p: Extract<PlannedWindow, { kind: 'recurring' }>, taskQueue: string) {
  return {
    scheduleId: p.scheduleId,
    spec: { cronExpressions: [p.cron], timezone: p.timezone },
    action: { type: 'startWorkflow' as const, workflowType: 'freezeWindow', workflowId: `freeze:${p.name}`, taskQueue, args: [p.input] },
    // A window missed while the cluster was down still starts late (it ends on time: its start is the scheduled one).
    policies: { overlap: 'ALLOW_ALL' as const, catchupWindow: p.input.duration! },
    memo: { calendar: p.input.calendar!.name },
    state: { note: `freeze window ${p.name} of calendar ${p.input.calendar!.name}` },
  };
}

/** An iCalendar file of every occurrence in [from, until), so people see freezes in their calendar app. */
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

export function registerCalendar(freeze: Command, ctx: () => CliContext): void {
  const calendar = freeze.command('calendar').description('Freeze calendars: recurring and one-off windows kept in a file');

  calendar
    .command('validate')
    .description('Check a FreezeCalendar file; exit 0 if valid, 2 with every problem listed if not')
    .argument('<file>', 'FreezeCalendar YAML file')
    .action(async (file: string) => {
      const c = ctx();
      const cal = await readCalendarOrFail(file);
      const plan = planCalendar(cal);
      if (c.opts.json) return c.out(JSON.stringify({ file, valid: true, calendar: cal }));
      c.out(
        `${file}: valid freeze calendar ${cal.metadata.name} (${cal.spec.timezone}): ${plan.filter((p) => p.kind === 'once').length} one-off and ${plan.filter((p) => p.kind === 'recurring').length} recurring window(s)`,
      );
    });

  calendar
    .command('apply')
    .description('Create, update or remove schedules and windows so the server matches the file (idempotent)')
    .argument('<file>', 'FreezeCalendar YAML file')
    .option('--dry-run', 'show what would change, change nothing')
    .action(async (file: string, raw: { dryRun?: boolean }) => {
      const c = ctx();
      const cal = await readCalendarOrFail(file);
      const client = await c.connect();
      let results: ApplyResult[];
      try {
        results = await applyCalendar(client, cal, { actor: c.actor, taskQueue: c.opts.taskQueue, dryRun: raw.dryRun === true });
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw failed(`cannot apply freeze calendar ${cal.metadata.name}: ${rootMessage(err)}`);
      }
      if (c.opts.json) return c.out(JSON.stringify({ calendar: cal.metadata.name, dryRun: raw.dryRun === true, results }));
      const verb = (o: ApplyOutcome) => (raw.dryRun && o !== 'unchanged' && o !== 'skipped' ? `would be ${o}` : o);
      for (const r of results) c.out(`${r.window.padEnd(20)} ${r.kind.padEnd(10)} ${verb(r.outcome).padEnd(16)} ${r.detail}`);
      const changed = results.filter((r) => r.outcome !== 'unchanged' && r.outcome !== 'skipped').length;
      c.out(
        `${raw.dryRun ? 'Dry run: ' : ''}freeze calendar ${cal.metadata.name}: ${changed} change(s), ${results.length - changed} window(s) unchanged or skipped.`,
      );
    });

  calendar
    .command('export')
    .description('Write the calendar as an iCalendar (.ics) file for calendar apps')
    .argument('<file>', 'FreezeCalendar YAML file')
    .option('--ics', 'iCalendar format (the only one so far)')
    .option('--output <path>', 'where to write it (default: stdout)')
    .option('--from <date>', 'first day to include, e.g. 2026-11-01 (default: today)')
    .option('--days <n>', 'how many days of occurrences to include', '365')
    .action(async (file: string, raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(
        z.object({
          ics: z.literal(true, { error: 'expected --ics (the only export format)' }),
          output: z.string().min(1).optional(),
          from: z
            .string()
            .refine((s) => DateTime.fromISO(s).isValid, 'expected a date such as 2026-11-01')
            .optional(),
          days: z.coerce.number().int().min(1).max(3660),
        }),
        { ...raw, ics: raw.ics ?? undefined },
      );
      const cal = await readCalendarOrFail(file);
      const from = o.from
        ? DateTime.fromISO(o.from, { zone: cal.spec.timezone }).toMillis()
        : DateTime.now().setZone(cal.spec.timezone).startOf('day').toMillis();
      const text = calendarIcs(cal, from, from + o.days * 86_400_000);
      if (!o.output) return c.out(text.trimEnd());
      try {
        await writeFile(o.output, text);
      } catch (err) {
        throw badInput(`--output: cannot write ${o.output}: ${(err as Error).message}`);
      }
      c.out(`Wrote ${occurrences(cal, from, from + o.days * 86_400_000).length} freeze occurrence(s) to ${o.output}`);
    });
}
