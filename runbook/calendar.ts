// The FreezeCalendar v1 format (README, "Freeze calendars"): one-off and recurring freeze windows written in
// the calendar's time zone, who approves exceptions, and the guardrails a freeze puts on other systems.
// Loading turns local times into instants and each window into what `freeze calendar apply` creates.
import { createHash } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import { DateTime, IANAZone } from 'luxon';
import { z } from 'zod';
import { cronField } from './cron.js';
import { DURATION_LIMITS } from './duration.js';
import type { FreezeScope, FreezeWindowInput, Guardrails } from './freeze.js';
import { friendlyErrors, issueLines } from './issues.js';
import { parseYaml, readDocumentFile, type Loaded } from './load.js';
import { ACTOR, DNS1123_LABEL, DNS1123_SUBDOMAIN, LABEL_HINT, SUBDOMAIN_HINT } from './names.js';
import { durationField, notifyTarget, type NotifyTarget } from './schema.js';

/** How long a window (or each occurrence of a recurring one) lasts: milliseconds once validated, at most 366d. */
const duration = durationField(DURATION_LIMITS.freeze);
const label = z.string().max(63, LABEL_HINT).regex(DNS1123_LABEL, LABEL_HINT);
const subdomain = z.string().max(253, SUBDOMAIN_HINT).regex(DNS1123_SUBDOMAIN, SUBDOMAIN_HINT);
const scopeName = z.string().regex(/^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/, 'expected a DNS-1123 label or *');
// An IANA name, as Temporal Schedules need: luxon alone would also take fixed offsets such as UTC+25.
const zone = z.string().refine((tz) => IANAZone.isValidZone(tz) && !/^utc[+-]/i.test(tz), 'expected an IANA time zone such as America/New_York');
/** "namespace/name" of a Flux object. */
const namespaced = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected namespace/name, e.g. flux-system/apps');
/** Five-field cron as Temporal Schedules read it (minute hour day-of-month month day-of-week). */
const cron = cronField('"0 16 * * FRI"', (error) => `invalid cron expression: ${error}`);
/** A wall-clock time in the calendar's zone, e.g. 2026-11-26T00:00 (an explicit offset is honoured). */
const localTime = z.string().superRefine((s, ctx) => {
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?([+-]\d{2}:\d{2}|Z)?$/.test(s) || !DateTime.fromISO(s).isValid)
    ctx.addIssue({ code: 'custom', message: 'expected a local date and time such as 2026-11-26T00:00' });
  else if (Number(s.slice(0, 4)) < 1970 || Number(s.slice(0, 4)) > 2199) ctx.addIssue({ code: 'custom', message: 'expected a year between 1970 and 2199' });
});

const window = z
  .strictObject({
    name: label,
    /** One-off: start and end (or duration), local to spec.timezone. */
    start: localTime.optional(),
    end: localTime.optional(),
    /** Recurring: a cron schedule in spec.timezone, each occurrence lasting `duration`. */
    schedule: cron.optional(),
    duration: duration.optional(),
    scope: z.strictObject({ environments: z.array(scopeName).min(1), services: z.array(scopeName).min(1).default(['*']) }),
    reason: z.string().trim().min(1).optional(),
  })
  .superRefine((w, ctx) => {
    if (w.schedule !== undefined) {
      if (w.start !== undefined || w.end !== undefined)
        ctx.addIssue({ code: 'custom', path: ['schedule'], message: 'a recurring window has schedule and duration, not start/end' });
      if (w.duration === undefined) ctx.addIssue({ code: 'custom', path: ['duration'], message: 'Required (how long each occurrence lasts, e.g. 64h)' });
    } else if (w.start === undefined) {
      ctx.addIssue({ code: 'custom', path: ['start'], message: 'Required (or schedule, for a recurring window)' });
    } else if ((w.end === undefined) === (w.duration === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'expected exactly one of end or duration' });
    }
  });

const guardrails = z.strictObject({
  argocd: z
    .strictObject({
      cluster: label.optional(),
      namespace: label.default('argocd'),
      projects: z.array(z.union([subdomain, z.literal('*')])).min(1),
      mode: z.enum(['syncWindow', 'disableAutoSync']).default('syncWindow'),
    })
    .optional(),
  flux: z
    .strictObject({
      cluster: label.optional(),
      kustomizations: z.array(namespaced).default([]),
      helmReleases: z.array(namespaced).default([]),
    })
    .optional(),
  flags: z.strictObject({ file: z.string().startsWith('/', 'expected an absolute path on the worker'), freezeTag: z.string().min(1) }).optional(),
  /** Names from spec.notify: told when a freeze starts, is extended, gets an exception, is lifted or ends. */
  notify: z.array(label).default([]),
});

export const freezeCalendarSchema = z.strictObject({
  apiVersion: z.literal('rearguard/v1', { error: 'expected rearguard/v1' }),
  kind: z.literal('FreezeCalendar', { error: 'expected FreezeCalendar' }),
  metadata: z.strictObject({ name: subdomain, description: z.string().optional() }),
  spec: z.strictObject({
    timezone: zone,
    /** Cluster (from the worker's targets) that Argo CD / Flux guardrails act on, unless they name one. */
    cluster: label.optional(),
    windows: z.array(window).default([]),
    exceptions: z
      .strictObject({
        approvers: z.array(z.string().regex(ACTOR, 'expected a user name such as rm-ann')).default([]),
        quorum: z.number().int().min(1).default(1),
      })
      .default({ approvers: [], quorum: 1 }),
    notify: z.array(notifyTarget).default([]),
    guardrails: guardrails.default({ notify: [] }),
  }),
});

export type FreezeCalendar = z.output<typeof freezeCalendarSchema>;
export type CalendarWindow = FreezeCalendar['spec']['windows'][number];

/** Cross-field rules, reported with paths like the schema's. */
function calendarProblems(c: FreezeCalendar): string[] {
  const out: string[] = [];
  const seen = new Map<string, number>();
  c.spec.windows.forEach((w, i) => {
    const first = seen.get(w.name);
    if (first !== undefined) out.push(`spec.windows[${i}].name: duplicate window name "${w.name}" (also spec.windows[${first}])`);
    else seen.set(w.name, i);
    if (w.start !== undefined) {
      const start = instantIn(w.start, c.spec.timezone);
      const end = w.end !== undefined ? instantIn(w.end, c.spec.timezone) : start + w.duration!;
      if (end <= start) out.push(`spec.windows[${i}].end: ${w.end} is not after the start ${w.start}`);
      else if (end - start > DURATION_LIMITS.freeze.max) out.push(`spec.windows[${i}].end: a freeze window lasts at most 366d (${w.start} to ${w.end})`);
    }
  });
  const { exceptions, guardrails: g, notify } = c.spec;
  if (exceptions.approvers.length > 0 && exceptions.quorum > exceptions.approvers.length)
    out.push(`spec.exceptions.quorum: ${exceptions.quorum} is larger than the ${exceptions.approvers.length} approver(s)`);
  g.notify.forEach((n, i) => {
    if (!notify.some((t) => t.name === n))
      out.push(`spec.guardrails.notify[${i}]: no notify target named ${n} in spec.notify (defined: ${notify.map((t) => t.name).join(', ') || 'none'})`);
  });
  if (g.argocd && !(g.argocd.cluster ?? c.spec.cluster)) out.push('spec.guardrails.argocd.cluster: Required (or spec.cluster)');
  if (g.flux && !(g.flux.cluster ?? c.spec.cluster)) out.push('spec.guardrails.flux.cluster: Required (or spec.cluster)');
  return out;
}

const instantIn = (local: string, tz: string): number => DateTime.fromISO(local, { zone: tz }).toMillis();

/** What `freeze calendar validate` checks: YAML text to a calendar, or every problem as `path: message`. */
export function parseCalendar(text: string): Loaded<FreezeCalendar> {
  const yaml = parseYaml(text);
  return yaml.ok ? validateCalendar(yaml.value) : yaml;
}

export function validateCalendar(data: unknown): Loaded<FreezeCalendar> {
  const parsed = freezeCalendarSchema.safeParse(data, { error: friendlyErrors });
  if (!parsed.success) return { ok: false, problems: issueLines(parsed.error.issues) };
  const problems = calendarProblems(parsed.data);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value: parsed.data };
}

export async function loadCalendar(file: string): Promise<Loaded<FreezeCalendar>> {
  const read = await readDocumentFile(file, 'calendar');
  return read.ok ? parseCalendar(read.text) : read;
}

/** The guardrails as the workflow receives them: clusters resolved, notify names replaced by targets. */
export function calendarGuardrails(c: FreezeCalendar): { guardrails?: Guardrails; notify: NotifyTarget[] } {
  const g = c.spec.guardrails;
  const out: Guardrails = {};
  if (g.argocd) out.argocd = { ...g.argocd, cluster: (g.argocd.cluster ?? c.spec.cluster)! };
  if (g.flux) out.flux = { ...g.flux, cluster: (g.flux.cluster ?? c.spec.cluster)! };
  if (g.flags) out.flags = g.flags;
  return { ...(Object.keys(out).length > 0 ? { guardrails: out } : {}), notify: c.spec.notify.filter((t) => g.notify.includes(t.name)) };
}

/**
 * What one calendar window becomes on the server: a freeze window (once) or a Schedule of them (recurring).
 * Their workflow and schedule IDs are the contract's (api/calendars.ts adds them: calendarPlan).
 */
export type PlannedWindow =
  | { kind: 'once'; name: string; input: FreezeWindowInput; digest: string }
  | { kind: 'recurring'; name: string; cron: string; timezone: string; input: FreezeWindowInput; digest: string };

export function planCalendar(c: FreezeCalendar): PlannedWindow[] {
  const { guardrails, notify } = calendarGuardrails(c);
  const tz = c.spec.timezone;
  return c.spec.windows.map((w) => {
    const base = {
      name: w.name,
      scope: w.scope as FreezeScope,
      reason: w.reason ?? `scheduled freeze ${w.name} (calendar ${c.metadata.name})`,
      // A recurring window is started by its Schedule; a one-off one by whoever applies the calendar
      // (api/calendars.ts puts that person in; this is what a plan shows before anyone applies it).
      actor: w.schedule !== undefined ? `schedule:${w.name}` : `calendar:${c.metadata.name}`,
      timezone: tz,
      exceptions: c.spec.exceptions,
      ...(guardrails ? { guardrails } : {}),
      ...(notify.length > 0 ? { notify } : {}),
    };
    if (w.schedule !== undefined) {
      const input: FreezeWindowInput = { ...base, duration: w.duration! };
      const digest = digestOf({ cron: w.schedule, tz, input });
      return { kind: 'recurring', name: w.name, cron: w.schedule, timezone: tz, input: withCalendar(input, c, digest), digest };
    }
    const start = DateTime.fromISO(w.start!, { zone: tz });
    const end = w.end !== undefined ? DateTime.fromISO(w.end, { zone: tz }) : start.plus(w.duration!);
    const input: FreezeWindowInput = { ...base, start: start.toUTC().toISO()!, end: end.toUTC().toISO()! };
    // Who applies it is not part of the definition: re-applying an unchanged file as someone else changes nothing.
    const digest = digestOf({ ...input, actor: undefined });
    return { kind: 'once', name: w.name, input: withCalendar(input, c, digest), digest };
  });
}

const withCalendar = (input: FreezeWindowInput, c: FreezeCalendar, digest: string): FreezeWindowInput => ({
  ...input,
  calendar: { name: c.metadata.name, digest },
});

/** A stable fingerprint of a window's definition, so re-applying an unchanged file changes nothing. */
function digestOf(v: unknown): string {
  return createHash('sha256').update(stableJson(v)).digest('hex').slice(0, 16);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** Occurrences of every window between two instants, for calendars and previews. */
export function occurrences(c: FreezeCalendar, fromMs: number, untilMs: number): { window: CalendarWindow; start: number; end: number; reason: string }[] {
  const out: { window: CalendarWindow; start: number; end: number; reason: string }[] = [];
  for (const [i, p] of planCalendar(c).entries()) {
    const w = c.spec.windows[i];
    if (p.kind === 'once') {
      const start = Date.parse(p.input.start!);
      const end = Date.parse(p.input.end!);
      if (end > fromMs && start < untilMs) out.push({ window: w, start, end, reason: p.input.reason });
      continue;
    }
    for (const o of cronOccurrences(p.cron, p.timezone, w.duration!, fromMs, untilMs)) out.push({ window: w, ...o, reason: p.input.reason });
  }
  return out.sort((a, b) => a.start - b.start);
}

/**
 * The occurrences of a recurring window (a cron expression in its time zone, each lasting `lengthMs`) that overlap
 * [fromMs, untilMs), at most 1,000: a Schedule's windows as its spec says, daylight-saving changes included.
 */
export function cronOccurrences(cron: string, timezone: string, lengthMs: number, fromMs: number, untilMs: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  // Start early enough to include an occurrence that began before `from` and is still running.
  const it = CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date(fromMs - lengthMs) });
  for (let n = 0; n < 1000; n++) {
    const start = it.next().getTime();
    if (start >= untilMs) break;
    if (start + lengthMs > fromMs) out.push({ start, end: start + lengthMs });
  }
  return out;
}

/** The occurrence of a recurring window that covers `nowMs`, if one does (`freeze calendar apply` during a weekend freeze). */
export function occurrenceAt(c: FreezeCalendar, window: string, nowMs: number): { start: number; end: number } | undefined {
  return occurrences(c, nowMs, nowMs + 1).find((x) => x.window.name === window && x.start <= nowMs && nowMs < x.end);
}
