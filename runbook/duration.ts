// Durations as users write them in runbooks, calendars and on the command line: `90s`, `5m`, `2h`, `3d`,
// `250ms`, or combined from the largest unit down (`1h30m`, `2d12h`). They are parsed once, when the input
// is validated, into a number of milliseconds within the limits of the field (DURATION_LIMITS); workflows,
// Temporal APIs and `Date` only ever see those numbers. Pure and deterministic: imported by workflows,
// activities and the client.

export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

const UNIT_MS = { d: DAY, h: HOUR, m: MINUTE, s: SECOND, ms: 1 } as const;
/** Each unit at most once, largest first: `1h30m`, not `30m1h` or `5m5m`. */
const DURATION_RE = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

export const DURATION_HINT = 'expected a duration like 90s, 5m, 2h';

/** The smallest and largest value a duration field accepts, in milliseconds. */
export interface DurationRange {
  min: number;
  max: number;
}

/**
 * The caps, by what a duration is for. Every duration a user can write falls in one of these, so a typo
 * like `99999999999h` is a validation error instead of a Date overflow or a timer Temporal cannot keep.
 */
export const DURATION_LIMITS = {
  /** SLAs, approval timeouts, step and check timeouts, soaks: at most a week. */
  timeout: { min: SECOND, max: 7 * DAY },
  /** How long something must hold or wait before it counts (`for`, cooldown, escalation `at`): 0 allowed. */
  hold: { min: 0, max: 7 * DAY },
  /** Polling intervals (http checks): at least 1s, so nothing spins. */
  poll: { min: SECOND, max: HOUR },
  /** Evaluation intervals of SLO guards and unfreeze gates. */
  evaluation: { min: SECOND, max: DAY },
  /** Freeze windows and their extensions, freezeAfter, exception validity. */
  freeze: { min: SECOND, max: 366 * DAY },
  /** Prometheus range windows of burn-rate alerts. */
  window: { min: SECOND, max: 31 * DAY },
  /** How far back `audit --since` reads. */
  lookback: { min: SECOND, max: 3660 * DAY },
  /** Worker shutdown grace. */
  grace: { min: 0, max: HOUR },
} as const satisfies Record<string, DurationRange>;

export type DurationResult = { ok: true; ms: number } | { ok: false; message: string };

/** What a field accepts, for messages: `(at most 7d)`, `(at least 1s, at most 1h)`. */
export function rangeText(range: DurationRange): string {
  return range.min > 0 ? `at least ${durationText(range.min)}, at most ${durationText(range.max)}` : `at most ${durationText(range.max)}`;
}

/** The message for text that is not a duration at all. */
export const durationHint = (range: DurationRange): string => `${DURATION_HINT} (${rangeText(range)})`;

const shown = (text: string): string => (text.length > 40 ? `${text.slice(0, 40)}…` : text);

/**
 * Parses and range-checks a duration. Never throws: the result is the milliseconds or the message a user
 * sees (without the field's path, which the caller adds).
 */
export function checkDuration(text: string, range: DurationRange): DurationResult {
  const m = DURATION_RE.exec(text);
  if (!m || text === '') return { ok: false, message: `${durationHint(range)}, got ${JSON.stringify(shown(text))}` };
  const [, d, h, min, s, ms] = m;
  const total = [d, h, min, s, ms].reduce((sum, part, i) => sum + (part === undefined ? 0 : Number(part) * [DAY, HOUR, MINUTE, SECOND, 1][i]), 0);
  if (!Number.isFinite(total) || total > range.max) return { ok: false, message: `expected at most ${durationText(range.max)}, got ${shown(text)}` };
  if (total < range.min) return { ok: false, message: `expected at least ${durationText(range.min)}, got ${shown(text)}` };
  return { ok: true, ms: total };
}

export function isDuration(text: string): boolean {
  return text !== '' && DURATION_RE.test(text);
}

/**
 * Milliseconds in a duration string; throws on anything else. For trusted literals and tests only: user
 * input goes through checkDuration (or the zod schemas built on it), which also applies the limits.
 */
export function parseDuration(text: string): number {
  if (!isDuration(text)) throw new Error(`${JSON.stringify(text)}: ${DURATION_HINT}`);
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return total;
}

/**
 * The exact form of a configured duration, the inverse of parsing: 5_400_000 -> "1h30m", 1_500 -> "1s500ms",
 * 0 -> "0s". Used to show what a user wrote and in Prometheus range selectors.
 */
export function durationText(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${durationText(-ms)}`;
  let rest = Math.round(ms);
  const parts: string[] = [];
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('') || '0s';
}

/** Compact human form of an elapsed time, rounded to seconds, e.g. 330000 -> "5m30s"; negative values get a leading "-". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('') || '0s';
}

/** A validated duration field: a finite number of milliseconds within `range`. */
export const isWithin = (v: unknown, range: DurationRange): v is number => typeof v === 'number' && Number.isFinite(v) && v >= range.min && v <= range.max;

/** The duration fields of a runbook as validation leaves them (milliseconds), described loosely so any input can be checked. */
interface RunbookDurations {
  spec: {
    sla: unknown;
    approval?: { timeout?: unknown };
    escalation?: { at?: unknown }[];
    steps?: { timeout?: unknown }[];
    verify?: { timeout?: unknown; for?: unknown; interval?: unknown }[];
    freezeAfter?: unknown;
    slo?: { interval?: unknown; cooldown?: unknown; conditions?: { for?: unknown }[]; burnRate?: { windows?: { long?: unknown; short?: unknown }[] } };
  };
}

/**
 * Duration fields of a runbook that are not validated milliseconds: what a workflow refuses (with a
 * non-retryable failure) instead of handing it to a timer or to Date, e.g. `sla: '5m'` from an older client.
 */
export function runbookDurationProblems(runbook: RunbookDurations): string[] {
  const L = DURATION_LIMITS;
  const spec = runbook?.spec;
  if (!spec || typeof spec !== 'object') return ['spec: expected a validated runbook'];
  const out: string[] = [];
  const need = (v: unknown, range: DurationRange, path: string, optional = true) => {
    if (v === undefined && optional) return;
    if (!isWithin(v, range)) out.push(`${path}: expected milliseconds between ${range.min} and ${range.max}, got ${JSON.stringify(v) ?? String(v)}`);
  };
  need(spec.sla, L.timeout, 'spec.sla', false);
  need(spec.approval?.timeout, L.timeout, 'spec.approval.timeout');
  spec.escalation?.forEach((e, i) => {
    if (typeof e?.at === 'string' && /^\d{1,3}%$/.test(e.at)) return;
    need(e?.at, L.hold, `spec.escalation[${i}].at`, false);
  });
  spec.steps?.forEach((s, i) => need(s?.timeout, L.timeout, `spec.steps[${i}].timeout`));
  spec.verify?.forEach((c, i) => {
    need(c?.timeout, L.timeout, `spec.verify[${i}].timeout`);
    need(c?.for, L.hold, `spec.verify[${i}].for`);
    need(c?.interval, L.poll, `spec.verify[${i}].interval`);
  });
  need(spec.freezeAfter, L.freeze, 'spec.freezeAfter');
  if (spec.slo) {
    need(spec.slo.interval, L.evaluation, 'spec.slo.interval');
    need(spec.slo.cooldown, L.hold, 'spec.slo.cooldown');
    spec.slo.conditions?.forEach((c, i) => need(c?.for, L.hold, `spec.slo.conditions[${i}].for`));
    spec.slo.burnRate?.windows?.forEach((w, i) => {
      need(w?.long, L.window, `spec.slo.burnRate.windows[${i}].long`, false);
      need(w?.short, L.window, `spec.slo.burnRate.windows[${i}].short`, false);
    });
  }
  return out;
}
