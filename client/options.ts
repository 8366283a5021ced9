// Option schemas several command groups share, so a flag means the same thing (and fails with the same
// message) in every command that takes it.
import { z } from 'zod';
import { checkDuration, durationText, type DurationRange } from '../runbook/duration.js';
import { durationField } from '../runbook/schema.js';
import { ACTOR, ACTOR_HINT, CHANGE_ID, CHANGE_ID_HINT, CHANGE_ID_MAX, DNS1123_LABEL, REASON_HINT, REASON_MAX, isPrintable } from '../runbook/names.js';
import { echo, parseOptions } from './errors.js';

/** `--env`, `--service`: the value is echoed, and the usual mistake (capitals) named. */
export const label = z.string().regex(DNS1123_LABEL, {
  error: (issue) => `expected a lowercase DNS-1123 label such as prod or payments (letters, digits, '-'), got ${JSON.stringify(issue.input)}`,
});

/** `--limit 20`, `--days 90`: a whole number within bounds, echoed back when it is not one. */
export const wholeNumber = (min: number, max: number) =>
  z.string().transform((text, ctx) => {
    const n = /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : NaN;
    if (n >= min && n <= max) return n;
    ctx.addIssue({ code: 'custom', message: `expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}` });
    return z.NEVER;
  });

/** `--reason`: shown to approvers, in Slack and in commit messages, so printable and bounded. */
export const reason = z.string().trim().min(1, 'expected a reason').max(REASON_MAX, REASON_HINT).refine(isPrintable, REASON_HINT);

/** `--as` and REARGUARD_ACTOR: a name, never free text. */
export const actorName = z.string().regex(ACTOR, ACTOR_HINT);

/**
 * Every flag that takes a duration (`--valid-for 4h`, `--soak 30m`): milliseconds within `range`
 * (DURATION_LIMITS), parsed by the same schema as runbook durations; parseOptions reports
 * `--flag: expected a duration like 90s, 5m, 2h (at most 366d), got "x"` with exit code 2.
 */
export const durationOption = (range: DurationRange) => durationField(range);

/** An instant in ISO 8601 with its zone (`2026-11-29T08:00Z`, `...+01:00`), or a day (`2026-11-29`, from 00:00 UTC). */
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * `--since`: a duration back from now (`24h`, `7d`, within `range`) or a time (`2026-11-29T08:00Z`,
 * `2026-11-29`). Gives the cutoff in epoch milliseconds and how to say it (`in the last 24h`).
 */
export const sinceOption = (range: DurationRange) =>
  z.string().transform((text, ctx) => {
    const t = text.trim();
    if (/^\d{4}-/.test(t)) {
      const ms = INSTANT.test(t) ? Date.parse(t.length === 10 ? `${t}T00:00Z` : t) : NaN;
      if (Number.isFinite(ms)) return { cutoffMs: ms, text: `since ${new Date(ms).toISOString()}` };
      ctx.addIssue({ code: 'custom', message: `expected a time like 2026-11-29T08:00Z (with its zone) or a day like 2026-11-29, got ${JSON.stringify(text)}` });
      return z.NEVER;
    }
    const d = checkDuration(t, range);
    if (d.ok) return { cutoffMs: Date.now() - d.ms, text: `in the last ${durationText(d.ms)}` };
    ctx.addIssue({ code: 'custom', message: `${d.message}; or a time like 2026-11-29T08:00Z` });
    return z.NEVER;
  });

/** A comma-separated list, each item matching `re`: `--env prod,staging`. */
export const list = (re: RegExp, what: string) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(re, { error: (iss) => `expected ${what}, got ${echo(String(iss.input))}` })).min(1, `expected at least one ${what}`));

/** --change: the change ID a freeze exception is for (a PR, commit or ticket). */
export const changeId = z.string().max(CHANGE_ID_MAX, `expected a change ID of at most ${CHANGE_ID_MAX} characters`).regex(CHANGE_ID, CHANGE_ID_HINT);

/** --step: a runbook step's name (a DNS-1123 label; `<type>-<position>` when the runbook does not name it). */
export const stepName = z.string().regex(DNS1123_LABEL, 'expected a step name such as helm-2 (a DNS-1123 label)');

/** `--env E --service S`, or `--id <kind>:<env>:<service>`: how rollbacks and guards are named on the command line. */
export const targetOptions = (kind: 'rollback' | 'guard') =>
  z
    .object({
      env: label.optional(),
      service: label.optional(),
      id: z
        .string()
        .regex(new RegExp(`^${kind}:[^:]+:[^:]+$`), `expected ${kind}:<env>:<service>`)
        .optional(),
    })
    .refine((o) => o.id !== undefined || (o.env !== undefined && o.service !== undefined), {
      message: `expected --env and --service (or --id ${kind}:<env>:<service>)`,
      path: ['env'],
    });

/** The workflow ID the target options name: --id as given, else idOf(--env, --service). */
export function targetIdOf(kind: 'rollback' | 'guard', raw: Record<string, unknown>, idOf: (environment: string, service: string) => string): string {
  const o = parseOptions(targetOptions(kind), { env: raw.env, service: raw.service, id: raw.id });
  return o.id ?? idOf(o.env!, o.service!);
}

/** A freeze by window name (black-friday), or by ID for occurrences of recurring windows (freeze:weekends-2026-11-27T21:00:00Z). */
export const freezeRef = z
  .string()
  .regex(
    /^(freeze:[A-Za-z0-9._:-]+|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/,
    'expected a window name such as black-friday, or a freeze ID such as freeze:black-friday',
  );
