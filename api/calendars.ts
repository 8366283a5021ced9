// `freeze calendar apply`: a FreezeCalendar becomes Temporal Schedules (recurring windows) and freezeWindow
// workflows (one-off windows). Applying is a reconciliation: every window carries its calendar's name and a
// fingerprint of its definition, so re-applying the same file changes nothing and an edited file creates,
// updates, lifts or deletes exactly what changed. The calendar's plan (runbook/calendar.ts) gets its
// workflow and schedule IDs here, from the contract (api/ids.ts).
import { ScheduleNotFoundError, WorkflowNotFoundError, type CalendarSpecDescription, type Client, type Range } from '@temporalio/client';
import { durationText } from '../runbook/duration.js';
import { occurrenceAt, planCalendar, type FreezeCalendar, type PlannedWindow } from '../runbook/calendar.js';
import { redefinitionOf, type FreezeState, type FreezeWindowInput } from '../runbook/freeze.js';
import { localTime } from '../runbook/time.js';
import { failure, opError } from './errors.js';
import { LIST_TIMEOUT_MS, readFreezes, waitUntilGateSees } from './freezes.js';
import type { GateEntry } from '../runbook/gate-view.js';
import { freezeScheduleId, freezeWorkflowId, isOccurrenceOf, occurrenceWorkflowId, windowOfFreezeSchedule } from './ids.js';
import { liftFreezeUpdate, redefineFreezeUpdate } from './messages.js';

type Once = Extract<PlannedWindow, { kind: 'once' }> & { workflowId: string };
type Recurring = Extract<PlannedWindow, { kind: 'recurring' }> & { scheduleId: string };
/** A planned window with the ID it has on the server. */
export type CalendarWindowPlan = Once | Recurring;

/** The calendar's plan, each window with its workflow ID (`freeze:<window>`) or schedule ID (`freeze-schedule:<window>`). */
export const calendarPlan = (cal: FreezeCalendar): CalendarWindowPlan[] =>
  planCalendar(cal).map((p) => (p.kind === 'once' ? { ...p, workflowId: freezeWorkflowId(p.name) } : { ...p, scheduleId: freezeScheduleId(p.name) }));

export type ApplyOutcome = 'created' | 'updated' | 'unchanged' | 'removed' | 'lifted' | 'skipped';
export interface ApplyResult {
  window: string;
  kind: 'recurring' | 'once' | 'occurrence';
  id: string;
  outcome: ApplyOutcome;
  detail: string;
}

type Schedules = Map<string, { window: string; calendar?: string; digest?: string }>;

/** Windows of the calendar's names that another calendar (or a person) owns: one line each. */
export function calendarConflicts(name: string, plan: CalendarWindowPlan[], schedules: Schedules, running: GateEntry[]): string[] {
  return plan.flatMap((p) => {
    const other = p.kind === 'recurring' ? schedules.get(p.scheduleId)?.calendar : running.find((s) => s.id === p.workflowId)?.calendar?.name;
    const byHand = p.kind === 'once' && running.some((s) => s.id === p.workflowId && !s.calendar);
    if (byHand) return [`${p.workflowId}: a freeze of that name was started by hand; lift it or rename the window`];
    return other !== undefined && other !== name
      ? [`${p.kind === 'recurring' ? p.scheduleId : p.workflowId}: belongs to freeze calendar ${other}; rename the window`]
      : [];
  });
}

/** Reconciles the server with the calendar; with dryRun, only reports what it would do. */
export async function applyCalendar(client: Client, cal: FreezeCalendar, opts: { actor: string; taskQueue: string; dryRun: boolean }): Promise<ApplyResult[]> {
  try {
    return await reconcile(client, cal, opts);
  } catch (err) {
    throw failure(err, `cannot apply freeze calendar ${cal.metadata.name}:`);
  }
}

async function reconcile(client: Client, cal: FreezeCalendar, opts: { actor: string; taskQueue: string; dryRun: boolean }): Promise<ApplyResult[]> {
  const name = cal.metadata.name;
  const tz = cal.spec.timezone;
  const plan = calendarPlan(cal);
  const results: ApplyResult[] = [];
  const act = async (r: ApplyResult, change: () => Promise<unknown>) => {
    if (!opts.dryRun && r.outcome !== 'unchanged' && r.outcome !== 'skipped') await change();
    results.push(r);
  };
  const start = (id: string, input: FreezeWindowInput, reuse?: 'REJECT_DUPLICATE') =>
    client.workflow.start('freezeWindow', {
      workflowId: id,
      taskQueue: opts.taskQueue,
      args: [appliedBy(input, opts.actor)],
      workflowIdConflictPolicy: 'USE_EXISTING',
      ...(reuse ? { workflowIdReusePolicy: reuse } : {}),
      memo: { actor: opts.actor, reason: input.reason, calendar: name },
    });

  const schedules = await calendarSchedules(client);
  // A running freeze that cannot be read might be one of this calendar's: refuse rather than act blindly.
  const snapshot = await readFreezes(client, opts.taskQueue, { listTimeoutMs: LIST_TIMEOUT_MS });
  if (snapshot.unreadable.length > 0)
    throw opError(
      'unavailable',
      `cannot apply freeze calendar ${name}: ${snapshot.unreadable.length} running freeze(s) could not be read:`,
      ...snapshot.unreadable.map((u) => `  ${u.id}: ${u.error}`),
    );
  const running = snapshot.states;
  /** Windows started by this apply that are active now: the gate must see them before apply returns. */
  const activeNow: string[] = [];
  const now = Date.now();
  const span = (startIso: string, endIso: string) => `${localTime(startIso, tz)} - ${localTime(endIso, tz)}`;

  /**
   * The occurrence of a recurring window that covers now (applied during a weekend freeze): its Schedule only
   * starts later occurrences, so it is started here, as the Schedule would have started it (same workflow, input
   * and ID, with the occurrence's start and end as `export --ics` computes them), for the time it has left.
   */
  const occurrenceInProgress = async (p: Recurring) => {
    const o = occurrenceAt(cal, p.name, now);
    if (!o) return;
    // An occurrence of this window already runs (started by the Schedule, or by an earlier apply; an edit updates it below).
    if (running.some((s) => s.calendar?.name === name && s.name === p.name && isOccurrenceOf(s.id, p.name))) return;
    const id = occurrenceWorkflowId(p.name, o.start);
    const when = span(new Date(o.start).toISOString(), new Date(o.end).toISOString());
    const r: ApplyResult = { window: p.name, kind: 'occurrence', id, outcome: 'created', detail: `${when}: in progress, starts now` };
    // It ran already and was lifted by hand (or ended): not restarted.
    const previous = await client.workflow
      .getHandle(id)
      .describe()
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });
    if (previous?.status.name === 'RUNNING') return void results.push({ ...r, outcome: 'unchanged', detail: `${when}: in progress` });
    if (previous) return void results.push({ ...r, outcome: 'skipped', detail: `${when}: ${previous.status.name.toLowerCase()}, not restarted` });
    await act(r, () => start(id, { ...p.input, start: new Date(o.start).toISOString(), end: new Date(o.end).toISOString() }, 'REJECT_DUPLICATE'));
    activeNow.push(id);
  };
  // Windows of the same name that another calendar (or a person) owns: refuse before changing anything.
  const conflicts = calendarConflicts(name, plan, schedules, running);
  if (conflicts.length > 0) throw opError('conflict', `cannot apply freeze calendar ${name}:`, ...conflicts.map((l) => `  ${l}`));

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
      if (!existing) await act({ ...r, outcome: 'created' }, () => client.schedule.create(scheduleOptions(p, opts.taskQueue, opts.actor)));
      else if (existing.digest !== p.digest)
        await act({ ...r, outcome: 'updated' }, () =>
          client.schedule.getHandle(p.scheduleId).update((prev) => {
            const next = scheduleOptions(p, opts.taskQueue, opts.actor);
            return { ...prev, spec: next.spec, action: next.action, policies: { ...prev.policies, ...next.policies } };
          }),
        );
      else results.push(r);
      await occurrenceInProgress(p);
      continue;
    }
    const live = running.find((s) => s.id === p.workflowId);
    const when = span(p.input.start!, p.input.end!);
    const r: ApplyResult = { window: p.name, kind: 'once', id: p.workflowId, outcome: 'unchanged', detail: when };
    if (live) {
      if (live.calendar!.digest === p.digest) results.push(r);
      else await act({ ...r, outcome: 'updated' }, () => redefine(client, p.workflowId, p.input, opts.actor));
      continue;
    }
    if (Date.parse(p.input.end!) <= Date.now()) {
      results.push({ ...r, outcome: 'skipped', detail: `${when}: already over` });
      continue;
    }
    // A run of this window may have finished already (lifted early by someone): do not start it again.
    const previous = await lastRun(client, p.workflowId);
    if (previous?.calendar?.digest === p.digest) {
      results.push({
        ...r,
        outcome: 'skipped',
        detail: `${when}: ${previous.phase}${previous.phase === 'lifted' ? ` by ${previous.history.at(-1)?.actor}` : ''}, not restarted`,
      });
      continue;
    }
    // A one-off window is started by this apply: the person who ran it is its actor.
    await act({ ...r, outcome: 'created' }, () => start(p.workflowId, { ...p.input, actor: opts.actor }));
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
      await act({ window: s.name, kind: 'occurrence', id: s.id, outcome: 'updated', detail: `running occurrence now ends ${localTime(end, tz)}` }, () =>
        redefine(client, s.id, { ...p.input, start: s.start, end }, opts.actor),
      );
    }
  }
  // Enforced as soon as apply returns: the windows it started that are active now are visible to the gate.
  if (!opts.dryRun) await waitUntilGateSees(client, activeNow);
  return results;
}

const redefine = (client: Client, id: string, input: FreezeWindowInput, actor: string): Promise<FreezeState> =>
  client.workflow.getHandle(id).executeUpdate(redefineFreezeUpdate, { args: [redefinitionOf(appliedBy(input, actor), actor)] });

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

/** A recurring freeze window as its Schedule holds it: when (cron and zone), what each occurrence is, and its state. */
export interface FreezeScheduleInfo {
  scheduleId: string;
  window: string;
  cron: string[];
  timezone: string;
  input: FreezeWindowInput | undefined;
  paused: boolean;
  /** Workflow IDs of the occurrences it started most recently. */
  recent: string[];
}

const MONTHS = ['JANUARY', 'FEBRUARY', 'MARCH', 'APRIL', 'MAY', 'JUNE', 'JULY', 'AUGUST', 'SEPTEMBER', 'OCTOBER', 'NOVEMBER', 'DECEMBER'];
const DAYS = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];

/**
 * The server keeps a Schedule's cron expression as calendar ranges (and describes it so); this writes them back as
 * a cron expression with seconds (`s m h dom mon dow`), for cron-parser. Years are not expressible in cron, and
 * Rearguard's schedules (from cron) never restrict them.
 */
export function cronOfCalendarSpec(c: CalendarSpecDescription): string {
  // An empty list is the field's default: 0 for second, minute and hour (as the server reads it), any for the rest.
  const field = <T>(ranges: Range<T>[], num: (v: T) => number, all: [number, number], empty = '*') => {
    if (ranges.length === 0) return empty;
    const parts = ranges.map((r) => {
      const [a, b] = [num(r.start), num(r.end)];
      if (a === all[0] && b === all[1] && r.step === 1) return '*';
      return `${a === b ? a : `${a}-${b}`}${r.step > 1 ? `/${r.step}` : ''}`;
    });
    return parts.includes('*') ? '*' : parts.join(',');
  };
  const n = (v: number) => v;
  return [
    field(c.second, n, [0, 59], '0'),
    field(c.minute, n, [0, 59], '0'),
    field(c.hour, n, [0, 23], '0'),
    field(c.dayOfMonth, n, [1, 31]),
    field(c.month, (m) => MONTHS.indexOf(m) + 1, [1, 12]),
    field(c.dayOfWeek, (d) => DAYS.indexOf(d), [0, 6]),
  ].join(' ');
}

/** Every freeze Schedule on the server (`freeze-schedule:<window>`), described. At most `limit`. */
export async function freezeSchedules(client: Client, limit = 500): Promise<FreezeScheduleInfo[]> {
  const out: FreezeScheduleInfo[] = [];
  for await (const s of client.schedule.list()) {
    const window = windowOfFreezeSchedule(s.scheduleId);
    if (window === undefined) continue;
    try {
      const d = await client.schedule.getHandle(s.scheduleId).describe();
      out.push({
        scheduleId: s.scheduleId,
        window,
        cron: (d.spec.calendars ?? []).map(cronOfCalendarSpec),
        timezone: d.spec.timezone ?? 'UTC',
        input: (d.action.type === 'startWorkflow' ? d.action.args?.[0] : undefined) as FreezeWindowInput | undefined,
        paused: d.state.paused,
        recent: d.info.recentActions.map((a) => a.action.workflow.workflowId),
      });
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
    if (out.length >= limit) break;
  }
  return out;
}

/** Freeze schedules on the server, with the calendar and definition fingerprint they were made from. */
async function calendarSchedules(client: Client): Promise<Schedules> {
  const out: Schedules = new Map();
  for (const s of await freezeSchedules(client, Infinity))
    out.set(s.scheduleId, { window: s.window, calendar: s.input?.calendar?.name, digest: s.input?.calendar?.digest });
  return out;
}

/** The window as this apply starts it: the calendar reference records who applied it. */
const appliedBy = (input: FreezeWindowInput, actor: string): FreezeWindowInput => ({ ...input, calendar: { ...input.calendar!, appliedBy: actor } });

function scheduleOptions(p: Recurring, taskQueue: string, actor: string) {
  return {
    scheduleId: p.scheduleId,
    spec: { cronExpressions: [p.cron], timezone: p.timezone },
    // The Schedule names each run `freeze:<window>-<nominal time>` (occurrenceWorkflowId).
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'freezeWindow',
      workflowId: freezeWorkflowId(p.name),
      taskQueue,
      args: [appliedBy(p.input, actor)],
    },
    // A window missed while the cluster was down still starts late (it ends on time: its start is the scheduled one).
    policies: { overlap: 'ALLOW_ALL' as const, catchupWindow: p.input.duration! },
    memo: { calendar: p.input.calendar!.name },
    state: { note: `freeze window ${p.name} of calendar ${p.input.calendar!.name}` },
  };
}
