// The web console's data, read through api/ like the CLI reads it: the "Now" overview (running rollbacks with their
// status, freezes as the gate sees them, unfreezes, guards) and one rollback's page. Reads are shared: however many
// browsers watch, Temporal sees one overview read a second at most, and a running rollback's status is queried again
// only when its memo (phase, since) changed or its copy is older than STATUS_TTL_MS.
import type { Client } from '@temporalio/client';
import { listRollbacks, rollbackStatus } from '../../api/rollbacks.js';
import { endedFreezes, freezeState, listFreezes } from '../../api/freezes.js';
import { freezeSchedules } from '../../api/calendars.js';
import { isOccurrenceOf, occurrenceWorkflowId } from '../../api/ids.js';
import { cronOccurrences } from '../../runbook/calendar.js';
import type { FreezeState } from '../../runbook/freeze.js';
import type { GateEntry } from '../../runbook/gate-view.js';
import { unfreezeStatus } from '../../api/unfreezes.js';
import { guardStatus } from '../../api/guards.js';
import { runningWorkflowIds } from '../../api/overview.js';
import type { CalendarItem, CalendarView, NowView, RollbackCard, RollbackView } from '../../runbook/console-view.js';
import type { RollbackStatus } from '../../runbook/types.js';
import type { UnfreezeStatus } from '../../runbook/unfreeze-model.js';

/** A shared overview is at most this old. */
const NOW_TTL_MS = 1_000;
/** A running rollback's status is read again at least this often, even when its memo did not change (votes). */
const STATUS_TTL_MS = 5_000;
/** Listing bounds: the console is for people, 200 running rollbacks is already more than a page shows. */
const LIMITS = { rollbacks: 200, unfreezes: 50, guards: 200, calendarFreezes: 300, schedules: 500 };
/** A calendar range is read again at most this often (viewers of the same month share it). */
const CALENDAR_TTL_MS = 30_000;
/** Shared reads kept at once (pages being watched, statuses of the overview). */
const MAX_MEMOS = 2_000;
/** The longest range a calendar read covers (a month view with its edges, or a few weeks). */
export const MAX_CALENDAR_RANGE_MS = 62 * 86_400_000;
/** Queries in flight at once for one overview. */
const CONCURRENCY = 16;

/** A rollback's status without its audit events: those are for signed-in people (GET /v1/audit). */
const withoutAudit = ({ audit: _audit, ...card }: RollbackStatus): RollbackCard => card;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 300);

/** `fn` over `items`, at most `n` at a time, in order. */
async function mapLimit<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

export class ConsoleFeed {
  private memos = new Map<string, { promise: Promise<unknown>; settledAt?: number }>();
  private statuses = new Map<string, { at: number; key: string; status: RollbackStatus }>();

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly actions: boolean,
  ) {}

  /** The overview, shared between callers for NOW_TTL_MS. */
  now(): Promise<NowView> {
    return this.memo('now', NOW_TTL_MS, () => this.read());
  }

  /** One rollback's page, shared between its viewers. Its audit events are left out: they are for signed-in people (GET /v1/audit). */
  rollback(workflowId: string): Promise<RollbackView> {
    return this.memo(`rollback:${workflowId}`, NOW_TTL_MS, async () => {
      const [status, run] = await Promise.all([
        rollbackStatus(this.client, workflowId).then(withoutAudit),
        this.client.workflow
          .getHandle(workflowId)
          .describe()
          .then((d) => d.status.name.toLowerCase()),
      ]);
      return { at: new Date().toISOString(), status, run };
    });
  }

  /**
   * `read` shared by every caller asking for `key`: while it runs, and for `ttlMs` after it settled (so a read slower
   * than the TTL never overlaps the next one). A failed read is not kept: the next caller tries again.
   */
  private memo<T>(key: string, ttlMs: number, read: () => Promise<T>): Promise<T> {
    const hit = this.memos.get(key);
    if (hit && (hit.settledAt === undefined || Date.now() - hit.settledAt <= ttlMs)) return hit.promise as Promise<T>;
    const entry: { promise: Promise<unknown>; settledAt?: number } = { promise: read() };
    entry.promise.then(
      () => (entry.settledAt = Date.now()),
      () => this.memos.get(key) === entry && this.memos.delete(key),
    );
    this.memos.set(key, entry);
    // Bounded: entries of pages no one watches any more go (the oldest first).
    if (this.memos.size > MAX_MEMOS) this.memos.delete(this.memos.keys().next().value!);
    return entry.promise as Promise<T>;
  }

  unfreeze(freezeId: string): Promise<{ at: string; status: UnfreezeStatus; run: string }> {
    return this.memo(`unfreeze:${freezeId}`, NOW_TTL_MS, async () => {
      const status = await unfreezeStatus(this.client, freezeId);
      return { at: new Date().toISOString(), status, run: status.endedAt ? 'ended' : 'running' };
    });
  }

  /**
   * The freeze calendar between two instants: every freeze that ran or runs in the range (its state, extensions, the
   * lift, approved exceptions), and the occurrences of recurring windows their Schedules will start (computed from
   * each Schedule's spec in its time zone, so daylight-saving changes fall where the Schedule puts them).
   */
  calendar(fromMs: number, untilMs: number): Promise<CalendarView> {
    return this.memo(`calendar:${fromMs}:${untilMs}`, CALENDAR_TTL_MS, () => this.readCalendar(fromMs, untilMs));
  }

  private async readCalendar(fromMs: number, untilMs: number): Promise<CalendarView> {
    const problems: string[] = [];
    const noted =
      <T>(what: string, fallback: T) =>
      (err: unknown): T => {
        problems.push(`${what}: ${message(err)}`);
        return fallback;
      };
    const overlaps = (f: { start: string; end: string }) => Date.parse(f.end) > fromMs && Date.parse(f.start) < untilMs;
    const [schedules, running, ended] = await Promise.all([
      freezeSchedules(this.client, LIMITS.schedules).catch(noted('freeze schedules', [])),
      listFreezes(this.client, this.taskQueue)
        .then((s) => s.states)
        .catch(noted('running freezes', [] as GateEntry[])),
      endedFreezes(this.client, fromMs, untilMs, LIMITS.calendarFreezes)
        .then((ended) => {
          if (ended.length >= LIMITS.calendarFreezes)
            problems.push(`more than ${LIMITS.calendarFreezes} ended freezes in this range: the oldest are not shown`);
          return ended;
        })
        .catch(noted('ended freezes', [] as FreezeState[])),
    ]);
    // Running freezes in range with their history (extensions, edits): a Query each, bounded.
    const live = await mapLimit(running.filter(overlaps).slice(0, LIMITS.calendarFreezes), CONCURRENCY, (entry) =>
      freezeState(this.client, entry.id).catch(() => ({ ...entry, history: [] }) as FreezeState),
    );
    const items = new Map<string, CalendarItem>();
    const windowOf = new Map(schedules.map((s) => [s.window, s]));
    for (const f of [...ended.filter(overlaps), ...live]) {
      if (items.has(f.id)) continue;
      const lift = f.history.find((h) => h.action === 'lift');
      const schedule = [...windowOf.values()].find((s) => isOccurrenceOf(f.id, s.window));
      items.set(f.id, {
        id: f.id,
        window: schedule?.window ?? f.name,
        ...(f.calendar?.name ? { calendar: f.calendar.name } : {}),
        kind: schedule ? 'recurring' : 'once',
        start: f.start,
        end: lift ? lift.time : f.end,
        ...(lift && lift.time !== f.end ? { plannedEnd: f.end } : {}),
        scope: f.scope,
        reason: f.reason,
        state: f.phase === 'lifted' ? 'lifted' : f.phase === 'active' ? 'active' : f.phase === 'scheduled' ? 'upcoming' : 'ended',
        extended: f.history.some((h) => h.action === 'extend'),
        ...(lift ? { lifted: { actor: lift.actor, reason: lift.reason, time: lift.time } } : {}),
        exceptions: f.exceptions
          .filter((e) => e.status === 'approved')
          .map(({ changeId, requestedBy, reason, validUntil, status }) => ({ changeId, requestedBy, reason, validUntil, status })),
      });
    }
    const now = Date.now();
    for (const s of schedules) {
      const length = s.input?.duration;
      if (!length) {
        problems.push(`schedule ${s.scheduleId}: no freeze duration in its action`);
        continue;
      }
      for (const cron of s.cron)
        for (const o of cronOccurrences(cron, s.timezone, length, fromMs, untilMs)) {
          const id = occurrenceWorkflowId(s.window, o.start);
          if (items.has(id)) continue;
          if (o.start <= now && o.end > now)
            problems.push(`${s.window}: the occurrence of ${new Date(o.start).toISOString()} should be running, and no freeze of it runs`);
          // Not started (yet): a past occurrence without a record ran before the ended freezes listed here.
          items.set(id, {
            id,
            window: s.window,
            ...(s.input?.calendar?.name ? { calendar: s.input.calendar.name } : {}),
            kind: 'recurring',
            start: new Date(o.start).toISOString(),
            end: new Date(o.end).toISOString(),
            scope: s.input!.scope,
            reason: s.input!.reason,
            // In its window but not started: its Schedule has not started it (yet, or paused); said below.
            state: o.end > now ? 'upcoming' : 'ended',
            extended: false,
            exceptions: [],
            ...(s.paused ? { paused: true } : {}),
          });
        }
    }
    return {
      at: new Date().toISOString(),
      from: new Date(fromMs).toISOString(),
      until: new Date(untilMs).toISOString(),
      items: [...items.values()].sort((a, b) => a.start.localeCompare(b.start)),
      problems,
    };
  }

  private async read(): Promise<NowView> {
    const problems: string[] = [];
    const noted =
      <T>(what: string, fallback: T) =>
      (err: unknown): T => {
        problems.push(`${what}: ${message(err)}`);
        return fallback;
      };
    const [rollbacks, freezes, unfreezes, guards] = await Promise.all([
      this.rollbackCards(problems).catch(noted('rollbacks', [] as RollbackCard[])),
      listFreezes(this.client, this.taskQueue)
        .then((s) => {
          for (const u of s.unreadable) problems.push(`freeze ${u.id} could not be read (${u.kind})`);
          return s.states;
        })
        .catch(noted('freezes', [])),
      runningWorkflowIds(this.client, 'gradualUnfreeze', LIMITS.unfreezes)
        .then((ids) =>
          mapLimit(ids, CONCURRENCY, (id) =>
            this.memo(id, STATUS_TTL_MS, () => unfreezeStatus(this.client, id.replace(/^unfreeze:/, ''))).catch(noted(`unfreeze ${id}`, undefined)),
          ),
        )
        .then((all) => all.filter((u) => u !== undefined))
        .catch(noted('unfreezes', [])),
      runningWorkflowIds(this.client, 'sloGuard', LIMITS.guards)
        .then((ids) =>
          mapLimit(ids, CONCURRENCY, (id) => this.memo(id, STATUS_TTL_MS, () => guardStatus(this.client, id)).catch(noted(`guard ${id}`, undefined))),
        )
        .then((all) => all.filter((g) => g !== undefined))
        .catch(noted('guards', [])),
    ]);
    freezes.sort((a, b) => a.start.localeCompare(b.start));
    return { at: new Date().toISOString(), rollbacks, freezes, unfreezes, guards, problems, actions: this.actions };
  }

  private async rollbackCards(problems: string[]): Promise<RollbackCard[]> {
    const rows = await listRollbacks(this.client, { limit: LIMITS.rollbacks });
    const now = Date.now();
    const seen = new Set(rows.map((r) => r.workflowId));
    for (const id of this.statuses.keys()) if (!seen.has(id)) this.statuses.delete(id);
    const cards = await mapLimit(rows, CONCURRENCY, async (row) => {
      const key = `${String(row.phase)}|${String(row.since)}`;
      const cached = this.statuses.get(row.workflowId);
      if (cached && cached.key === key && now - cached.at < STATUS_TTL_MS) return cached.status;
      const status = await rollbackStatus(this.client, row.workflowId).catch((err: unknown) => {
        problems.push(`rollback ${row.workflowId}: ${message(err)}${cached ? ' (showing the last status read)' : ''}`);
        return undefined;
      });
      if (status) this.statuses.set(row.workflowId, { at: now, key, status });
      return status ?? cached?.status;
    });
    return cards
      .filter((c) => c !== undefined)
      .map(withoutAudit)
      .sort((a, b) => a.sla.deadline.localeCompare(b.sla.deadline));
  }
}
