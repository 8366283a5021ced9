// fast-check generators shared by the fuzzers (test/unit/fuzz-validation.test.ts, test/fuzz/workflows.test.ts):
// valid runbooks and freeze calendars as users write them (durations as text, every step, check and notify
// type), and mutations that make them invalid. Seeded: fuzzSeed() reads REARGUARD_FUZZ_SEED or picks one,
// and prints it so any failure can be replayed.
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { DURATION_LIMITS, durationText, type DurationRange } from '../../runbook/duration.js';

/** The seed of this run: REARGUARD_FUZZ_SEED if set, otherwise random; printed so a failure can be replayed. */
export function fuzzSeed(what: string): number {
  const fromEnv = process.env.REARGUARD_FUZZ_SEED;
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isInteger(seed)) throw new Error(`REARGUARD_FUZZ_SEED must be an integer, got ${JSON.stringify(fromEnv)}`);
  console.log(`# ${what}: fuzz seed ${seed} (replay with REARGUARD_FUZZ_SEED=${seed})`);
  return seed;
}

const UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
] as const;

/** Every way to write `ms` that the parser accepts: combined (`1h30m`), one unit (`90m`, `5400s`), milliseconds. */
export function durationForms(ms: number): string[] {
  const forms = new Set([durationText(ms), `${ms}ms`]);
  for (const [unit, size] of UNITS) if (ms % size === 0 && ms > 0) forms.add(`${ms / size}${unit}`);
  if (ms === 0) forms.add('0s');
  return [...forms];
}

/** Milliseconds within `range` (narrowed by `min`/`max`), biased to round values, small values and the caps themselves. */
export function durationMs(range: DurationRange, { min, max }: { min?: number; max?: number } = {}): fc.Arbitrary<number> {
  const hi = Math.min(range.max, max ?? range.max);
  const lo = Math.max(range.min, min ?? range.min);
  const round = fc
    .constantFrom(...UNITS.map(([, size]) => size))
    .chain((size) => fc.integer({ min: Math.ceil(lo / size), max: Math.max(Math.ceil(lo / size), Math.floor(hi / size)) }).map((n) => n * size));
  return fc
    .oneof(
      { weight: 1, arbitrary: fc.constant(lo) },
      { weight: 1, arbitrary: fc.constant(hi) },
      { weight: 4, arbitrary: round },
      { weight: 2, arbitrary: fc.integer({ min: lo, max: hi }) },
    )
    .filter((ms) => ms >= lo && ms <= hi);
}

/** A duration as text, in any accepted form, within `range` (narrowed by `min`/`max`). */
export function durationTextArb(range: DurationRange, opts: { min?: number; max?: number } = {}): fc.Arbitrary<string> {
  return durationMs(range, opts).chain((ms) => fc.constantFrom(...durationForms(ms)));
}

const L = DURATION_LIMITS;
const label = fc.stringMatching(/^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$/);
const PEOPLE = ['alice', 'bob', 'carol', 'dan', 'erin'];
const url = fc.constantFrom('http://127.0.0.1:9/a', 'https://hooks.example.com/rollback', 'http://receiver.internal:8080/x?y=1');

export const STEP_KINDS = ['webhook', 'kubernetes', 'blueGreen', 'helm', 'gitops', 'terraform'] as const;
export const CHECK_KINDS = ['http', 'prometheus', 'kubernetesAvailable'] as const;

const stepCommon = fc.record({ timeout: durationTextArb(L.timeout), attempts: fc.integer({ min: 1, max: 4 }) }, { requiredKeys: [] });

function stepOf(type: (typeof STEP_KINDS)[number]): fc.Arbitrary<Record<string, unknown>> {
  const body: Record<(typeof STEP_KINDS)[number], fc.Arbitrary<Record<string, unknown>>> = {
    webhook: fc.oneof(
      url.map((u) => ({ url: u })),
      fc.constant({ urlEnv: 'ROLLBACK_HOOK' }),
      fc.record({ url, method: fc.constantFrom('POST', 'PUT'), expectStatus: fc.constant([200, 202]), body: fc.constant({ reason: 'x' }) }),
    ),
    kubernetes: fc.record(
      { namespace: label, deployment: label, toRevision: fc.oneof(fc.constant('previous'), fc.integer({ min: 1, max: 50 })) },
      { requiredKeys: ['namespace', 'deployment'] },
    ),
    blueGreen: fc.record({ namespace: label, service: label, selector: fc.constant({ track: 'blue' }) }),
    helm: fc.record(
      { namespace: label, release: label, toRevision: fc.oneof(fc.constant('previous'), fc.integer({ min: 1, max: 9 })) },
      { requiredKeys: ['namespace', 'release'] },
    ),
    gitops: fc.record({
      repo: label,
      revert: fc.oneof(fc.constant({ commit: 'HEAD' }), fc.constant({ commits: ['abc123', 'def456'] }), fc.constant({ toRef: 'v1.2.3' })),
      argocd: fc.constant({ application: 'payments' }),
    }),
    terraform: fc.record(
      { workingDir: fc.constant('infra/payments'), toRef: fc.constant('v1.4.2'), approvePlan: fc.boolean() },
      { requiredKeys: ['workingDir', 'toRef'] },
    ),
  };
  return fc.tuple(body[type], stepCommon).map(([b, c]) => ({ type, ...b, ...c }));
}

function checkOf(type: (typeof CHECK_KINDS)[number]): fc.Arbitrary<Record<string, unknown>> {
  const timeout = fc.record({ timeout: durationTextArb(L.timeout) }, { requiredKeys: [] });
  const body: Record<(typeof CHECK_KINDS)[number], fc.Arbitrary<Record<string, unknown>>> = {
    http: fc.record(
      { url, expectStatus: fc.constantFrom(200, 204), successes: fc.integer({ min: 1, max: 3 }), interval: durationTextArb(L.poll) },
      { requiredKeys: ['url'] },
    ),
    prometheus: fc.record(
      { query: fc.constant('sum(rate(errors[1m]))'), below: fc.constant(0.01), for: durationTextArb(L.hold) },
      { requiredKeys: ['query', 'below'] },
    ),
    kubernetesAvailable: fc.record({ namespace: label, deployment: label }),
  };
  return fc.tuple(body[type], timeout).map(([b, t]) => ({ type, ...b, ...t }));
}

/** Names the items explicitly (some of them) without colliding with each other or with generated names. */
const named = (items: Record<string, unknown>[], explicit: boolean[], prefix: string) =>
  items.map((item, i) => (explicit[i] ? { name: `${prefix}${i + 1}`, ...item } : item));

export interface RunbookDoc {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
  spec: Record<string, unknown> & { steps: Record<string, unknown>[] };
}

/** What the generators leave out for the workflow fuzzer (see `timerFloorMs`). */
export interface TimerOptions {
  /**
   * Every timer the generated input makes a workflow start (SLA and escalation marks, approval timeouts,
   * freezeAfter; a calendar window's start and end) is at least this far from the start of the run or from
   * `now`, or not there at all. 0 (the default) leaves every value the schema accepts.
   */
  timerFloorMs?: number;
}

/** A valid runbook document as a user writes it: every step, check and notify type can occur. */
export function runbookDocArb({ timerFloorMs = 0 }: TimerOptions = {}): fc.Arbitrary<RunbookDoc> {
  const timer = timerFloorMs > 0 ? { min: timerFloorMs } : {};
  return fc
    .record({
      name: label,
      environment: fc.constantFrom('prod', 'staging', 'dev'),
      slaMs: durationMs(L.timeout, timer),
      approval: fc.option(
        fc.record({
          required: fc.boolean(),
          approvers: fc.shuffledSubarray(PEOPLE, { minLength: 1, maxLength: 4 }),
          quorumPick: fc.integer({ min: 1, max: 4 }),
          timeout: fc.option(durationTextArb(L.timeout, timer), { nil: undefined }),
        }),
        { nil: undefined },
      ),
      notify: fc.uniqueArray(fc.record({ name: label, kind: fc.constantFrom('slack-url', 'slack-env', 'webhook-url', 'webhook-env'), u: url }), {
        maxLength: 3,
        selector: (n) => n.name,
      }),
      escalations: fc.array(fc.record({ percent: fc.boolean(), pct: fc.integer({ min: 1, max: 100 }), frac: fc.double({ min: 0, max: 1, noNaN: true }) }), {
        maxLength: 3,
      }),
      steps: fc.array(fc.constantFrom(...STEP_KINDS).chain(stepOf), { minLength: 1, maxLength: 4 }),
      stepNames: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
      verify: fc.array(fc.constantFrom(...CHECK_KINDS).chain(checkOf), { maxLength: 3 }),
      checkNames: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
      freezeAfter: fc.option(durationTextArb(L.freeze, timer), { nil: undefined }),
      cluster: fc.option(label, { nil: undefined }),
      slo: fc.option(
        fc.record({
          interval: durationTextArb(L.evaluation),
          cooldown: durationTextArb(L.hold),
          conditions: fc.constant([{ name: 'errors', query: 'x', above: 0.05 }]),
        }),
        { nil: undefined },
      ),
    })
    .chain((r) =>
      fc.constantFrom(...durationForms(r.slaMs)).map((sla) => {
        const notify = r.notify.map((n) => {
          const base = { name: n.name, type: n.kind.startsWith('slack') ? 'slack' : 'webhook' };
          if (n.kind === 'slack-env') return { ...base, webhookUrlEnv: 'ONCALL_SLACK_WEBHOOK' };
          if (n.kind === 'webhook-env') return { ...base, urlEnv: 'INCIDENT_HOOK' };
          return { ...base, url: n.u };
        });
        const spec: RunbookDoc['spec'] = {
          service: 'payments',
          environment: r.environment,
          sla,
          steps: named(r.steps, r.stepNames, 'step-'),
        };
        if (r.cluster) spec.cluster = r.cluster;
        if (r.approval) {
          const a = r.approval;
          spec.approval = {
            required: a.required,
            approvers: a.approvers,
            quorum: Math.min(a.quorumPick, a.approvers.length),
            ...(a.timeout ? { timeout: a.timeout } : {}),
          };
        }
        if (notify.length > 0) {
          spec.notify = notify;
          // Marks within the floor move up to it (the SLA is at least the floor).
          const floorPct = Math.ceil((timerFloorMs * 100) / r.slaMs);
          spec.escalation = r.escalations.map((e, i) => ({
            // A duration escalation must not be after the SLA (a cross-check): a fraction of it, or the SLA itself.
            at: e.percent ? `${Math.max(e.pct, floorPct)}%` : durationText(timerFloorMs + Math.floor((r.slaMs - timerFloorMs) * e.frac)),
            notify: [notify[i % notify.length].name],
          }));
        }
        if (r.verify.length > 0) spec.verify = named(r.verify, r.checkNames, 'check-');
        if (r.freezeAfter) spec.freezeAfter = r.freezeAfter;
        if (r.slo) spec.slo = r.slo;
        return { apiVersion: 'rearguard/v1', kind: 'Runbook', metadata: { name: r.name }, spec };
      }),
    );
}

/** A valid runbook document as a user writes it: every step, check and notify type can occur. */
export const validRunbookDoc: fc.Arbitrary<RunbookDoc> = runbookDocArb();

export interface CalendarDoc {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
  spec: Record<string, unknown> & { windows: Record<string, unknown>[] };
}

const ZONES = ['UTC', 'America/New_York', 'Europe/Paris', 'Asia/Kolkata', 'Australia/Lord_Howe'];
const scope = fc.record({
  environments: fc.oneof(fc.constant(['*']), fc.shuffledSubarray(['prod', 'staging', 'dev'], { minLength: 1 })),
  services: fc.oneof(fc.constant(['*']), fc.shuffledSubarray(['payments', 'cart', 'search'], { minLength: 1 })),
});

/**
 * A valid FreezeCalendar around `now` (one-off windows from a few days ago to a few weeks ahead, so some are
 * over, some active and some scheduled when the workflow starts), with recurring windows, exceptions,
 * notify targets and guardrails. With `timerFloorMs`, no window starts or ends between `now` and that much
 * later, and a recurring window lasts at least that long.
 */
export function validCalendarDoc(nowMs: number, { timerFloorMs = 0 }: TimerOptions = {}): fc.Arbitrary<CalendarDoc> {
  // In whole minutes: a one-off window's start (or end) at `now` plus N minutes, floored to the minute, is in
  // the past for N <= 0 and at least N - 1 minutes ahead otherwise.
  const floorMin = Math.ceil(timerFloorMs / 60_000);
  const clear = (min: number) => (min >= 1 && min <= floorMin ? floorMin + 1 : min);
  const window = fc.oneof(
    fc.record({
      kind: fc.constant('once' as const),
      startOffsetMin: fc.integer({ min: -3 * 24 * 60, max: 20 * 24 * 60 }),
      length: durationMs(L.freeze, { max: 30 * 86_400_000 }),
      byDuration: fc.boolean(),
      scope,
      reason: fc.option(fc.constantFrom('Peak business event', 'Quarter end', 'Release train'), { nil: undefined }),
    }),
    fc.record({
      kind: fc.constant('recurring' as const),
      cron: fc.constantFrom('0 16 * * FRI', '*/30 * * * *', '0 0 1 * *', '15 3 * * MON-FRI'),
      duration: durationTextArb(L.freeze, { max: 10 * 86_400_000, ...(timerFloorMs > 0 ? { min: timerFloorMs } : {}) }),
      scope,
    }),
  );
  return fc
    .record({
      name: label,
      timezone: fc.constantFrom(...ZONES),
      windows: fc.array(window, { maxLength: 4 }),
      approvers: fc.shuffledSubarray(PEOPLE, { maxLength: 3 }),
      quorumPick: fc.integer({ min: 1, max: 3 }),
      notify: fc.boolean(),
      guardrails: fc.boolean(),
    })
    .map((r) => {
      const windows = r.windows.map((w, i) => {
        const name = `${w.kind === 'once' ? 'window' : 'weekly'}-${i + 1}`;
        if (w.kind === 'recurring') return { name, schedule: w.cron, duration: w.duration, scope: w.scope };
        // Local times in the calendar's zone, to the minute (a DST gap may move one; the length stays >= 1m).
        const startMin = clear(w.startOffsetMin);
        const start = DateTime.fromMillis(nowMs, { zone: r.timezone }).plus({ minutes: startMin }).startOf('minute');
        const lengthMin = Math.max(1, Math.floor(w.length / 60_000));
        const endMin = startMin + lengthMin + (w.byDuration ? 0 : 120);
        const length = (lengthMin + clear(endMin) - endMin) * 60_000;
        const out: Record<string, unknown> = { name, start: start.toFormat("yyyy-MM-dd'T'HH:mm"), scope: w.scope };
        if (w.byDuration) out.duration = durationText(length);
        else out.end = start.plus({ milliseconds: length + 2 * 3_600_000 }).toFormat("yyyy-MM-dd'T'HH:mm");
        if (w.reason) out.reason = w.reason;
        return out;
      });
      const spec: CalendarDoc['spec'] = { timezone: r.timezone, windows, cluster: 'prod-eu' };
      if (r.approvers.length > 0) spec.exceptions = { approvers: r.approvers, quorum: Math.min(r.quorumPick, r.approvers.length) };
      if (r.notify) spec.notify = [{ name: 'release-channel', type: 'slack', webhookUrlEnv: 'RELEASE_SLACK_WEBHOOK' }];
      if (r.guardrails)
        spec.guardrails = {
          argocd: { projects: ['default'] },
          flux: { kustomizations: ['flux-system/apps'] },
          ...(r.notify ? { notify: ['release-channel'] } : {}),
        };
      return { apiVersion: 'rearguard/v1', kind: 'FreezeCalendar', metadata: { name: r.name }, spec };
    });
}

// --- invalid inputs -------------------------------------------------------------------------------

/** Strings meant to break things: control characters, bidi overrides, shell and path syntax, huge, prototype keys. */
export const hostileString = fc.constantFrom(
  '',
  ' ',
  '\n',
  'a\nb: c',
  '\u0000',
  '\u202eevil',
  '$(rm -rf /)',
  '`id`',
  '../../etc/passwd',
  '-rf',
  '--upload-pack=evil',
  '__proto__',
  'constructor',
  'toString',
  '{{ .Values }}',
  '%s%s%n',
  '😀',
  'x'.repeat(300),
  '9'.repeat(400),
  'NaN',
  'Infinity',
  '1e999',
  'null',
  '[]',
  '*',
  'Payments_Prod',
);

/** Values that are not durations, or are out of every field's range. */
export const badDuration = fc.oneof(
  fc.constantFrom('5 minutes', '1.5h', '-5m', '5', 'm5', '5M', '5min', 'PT5M', '30m1h', '5m5m', '1h 30m', 'soon', '', '0x10s', '٣s'),
  fc.constantFrom('99999999999h', '9'.repeat(30) + 'd', '400d', '8d', '100000000d', '1' + '0'.repeat(400) + 's'),
  fc.constantFrom(300, -1, 1.5, true, null, [], {}, ['5m']),
  hostileString,
);

/** A value of the wrong type for whatever field it lands in (as far as anything can be). */
export const wrongValue = fc.oneof(fc.constantFrom(null, true, 42, -1, 1.5, [], [null], {}, { a: 1 }), hostileString);

/** Keys that must be refused as unknown, including ones that touch prototypes. */
export const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'a\nb', 'x y', '.', '', 'apiversion', 'aproval', 'Steps', '😀'),
  fc.stringMatching(/^[a-z]{1,8}[A-Z0-9_]{1,4}$/),
);

export const outOfRange = fc.constantFrom(0, -1, 101, 1.5, 1e9, -0.5, Number.MAX_SAFE_INTEGER);
