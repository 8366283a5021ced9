// The Runbook v1 format (README, "Runbook reference"; docs/architecture.md) as zod schemas. Unknown keys are errors everywhere,
// so a typo (`aproval:`) is caught at validation instead of being silently ignored during an incident.
import { z } from 'zod';
import { DURATION_LIMITS, checkDuration, durationHint, type DurationRange } from './duration.js';
import { describeValue } from './issues.js';
import { ACTOR, DNS1123_LABEL, DNS1123_SUBDOMAIN, ENV_VAR, LABEL_HINT, SUBDOMAIN_HINT } from './names.js';

/**
 * A duration field: text like `1h30m` in, milliseconds out, within `range` (DURATION_LIMITS). Runbooks,
 * calendars and CLI flags all use it, so a duration is parsed once, at validation, and never again.
 */
export function durationField(range: DurationRange) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? undefined : `${durationHint(range)}, got ${describeValue(iss.input)}`) })
    .transform((text, ctx) => {
      const r = checkDuration(text, range);
      if (r.ok) return r.ms;
      ctx.addIssue({ code: 'custom', message: r.message });
      return z.NEVER;
    });
}
const timeout = durationField(DURATION_LIMITS.timeout);
const hold = durationField(DURATION_LIMITS.hold);
const label = z.string().max(63, LABEL_HINT).regex(DNS1123_LABEL, LABEL_HINT);
const subdomain = z.string().max(253, SUBDOMAIN_HINT).regex(DNS1123_SUBDOMAIN, SUBDOMAIN_HINT);
const actor = z.string().regex(ACTOR, 'expected a user or system name such as alice or ci-bot');
const envVar = z.string().regex(ENV_VAR, 'expected an environment variable name such as ONCALL_SLACK_WEBHOOK');
const httpUrl = z.string().refine((s) => /^https?:\/\/[^\s]+$/.test(s) && URL.canParse(s), 'expected an http:// or https:// URL');
/** Git refs, paths and revisions that later reach argv: no leading '-', no whitespace or shell syntax. */
const safeToken = z.string().regex(/^[A-Za-z0-9_./@^~][A-Za-z0-9_./@^~:+-]*$/, "expected a plain value (letters, digits, '._/-@^~'), not starting with '-'");
const revision = z.union([z.literal('previous'), z.number().int().positive()], {
  error: "expected 'previous' or a revision number",
});
const selector = z.record(
  z.string().regex(/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'expected a label key'),
  z.string().regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'expected a label value'),
);

const stepBase = {
  /** Names steps in status and audit; defaults to `<type>-<position>`. Must be unique. */
  name: label.optional(),
  /** Upper bound for one attempt of the step (milliseconds once validated). */
  timeout: timeout.optional(),
  /** Attempts in total for transient failures (configuration errors are never retried). */
  attempts: z.number().int().min(1).max(100).optional(),
};

export const httpMethod = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

const webhookTarget = {
  url: httpUrl.optional(),
  /** Name of an environment variable on the worker holding the URL (for URLs that embed a token). */
  urlEnv: envVar.optional(),
};
const exactlyOneUrl = (v: { url?: string; urlEnv?: string }) => (v.url === undefined) !== (v.urlEnv === undefined);
const ONE_URL = { message: 'expected exactly one of url or urlEnv', path: ['url'] };

export const webhookStep = z
  .strictObject({
    type: z.literal('webhook'),
    ...stepBase,
    ...webhookTarget,
    method: httpMethod.default('POST'),
    /** Header values are literal; use headersFromEnv for secrets. */
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'expected a header name'), z.string()).optional(),
    headersFromEnv: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'expected a header name'), envVar).optional(),
    body: z.unknown().optional(),
    expectStatus: z.array(z.number().int().min(100).max(599)).optional(),
  })
  .refine(exactlyOneUrl, ONE_URL);

export const kubernetesStep = z.strictObject({
  type: z.literal('kubernetes'),
  ...stepBase,
  cluster: label.optional(),
  namespace: label,
  deployment: subdomain,
  toRevision: revision.default('previous'),
});

export const blueGreenStep = z.strictObject({
  type: z.literal('blueGreen'),
  ...stepBase,
  cluster: label.optional(),
  namespace: label,
  service: label,
  selector: selector.refine((s) => Object.keys(s).length > 0, 'expected at least one label'),
});

export const helmStep = z.strictObject({
  type: z.literal('helm'),
  ...stepBase,
  cluster: label.optional(),
  namespace: label,
  release: z.string().max(53, 'expected a Helm release name of at most 53 characters').regex(DNS1123_SUBDOMAIN, SUBDOMAIN_HINT),
  toRevision: revision.default('previous'),
});

export const gitopsStep = z.strictObject({
  type: z.literal('gitops'),
  ...stepBase,
  /** A repository name resolved by the worker's configuration (URL, branch, credentials). */
  repo: label,
  branch: safeToken.optional(),
  /** toRef (restore) must be reachable from the repo's protectedBranch or be a protectedTags tag (activities/protected-refs.ts). */
  revert: z
    .strictObject({ commit: safeToken.optional(), commits: z.array(safeToken).min(1).optional(), toRef: safeToken.optional() })
    .refine((r) => [r.commit, r.commits, r.toRef].filter((x) => x !== undefined).length === 1, 'expected exactly one of commit, commits or toRef'),
  argocd: z.strictObject({ application: subdomain, namespace: label.optional(), wait: z.boolean().optional() }).optional(),
  flux: z
    .strictObject({
      kind: z.enum(['Kustomization', 'GitRepository', 'HelmRelease']).default('Kustomization'),
      namespace: label,
      name: subdomain,
      wait: z.boolean().optional(),
    })
    .optional(),
});

export const terraformStep = z.strictObject({
  type: z.literal('terraform'),
  ...stepBase,
  workingDir: z
    .string()
    .regex(/^[A-Za-z0-9_.][A-Za-z0-9_./-]*$/, "expected a relative path (letters, digits, '._/-'), not starting with '-' or '/'")
    .refine((p) => !p.split('/').includes('..'), "expected a path inside the repository (no '..')"),
  /** Branch, tag or commit; the worker refuses one not reachable from the repo's protectedBranch nor a protectedTags tag. */
  toRef: safeToken,
  repo: label.optional(),
  approvePlan: z.boolean().optional(),
});

// Defined apart from zod (step-types.ts), for workflow code.
export { PLANNED_STEP_TYPES, STEP_TYPES, type StepType } from './step-types.js';
import { STEP_TYPES } from './step-types.js';

export const step = z.discriminatedUnion('type', [blueGreenStep, kubernetesStep, helmStep, gitopsStep, terraformStep, webhookStep], {
  error: (iss) => (iss.code === 'invalid_union' ? `expected type to be one of ${STEP_TYPES.join(', ')}` : undefined),
});

const verifyBase = { name: label.optional(), timeout: timeout.optional() };
export const prometheusCheck = z
  .strictObject({
    type: z.literal('prometheus'),
    ...verifyBase,
    query: z.string().min(1),
    below: z.number().optional(),
    above: z.number().optional(),
    /** How long the value must hold; the activity may run `timeout` + `for`. */
    for: hold.optional(),
  })
  .refine((c) => c.below !== undefined || c.above !== undefined, { message: 'expected below or above (a threshold)', path: ['below'] });
export const httpCheck = z.strictObject({
  type: z.literal('http'),
  ...verifyBase,
  url: httpUrl,
  method: httpMethod.default('GET'),
  expectStatus: z.number().int().min(100).max(599).default(200),
  /** Consecutive successes needed, checked every `interval`. */
  successes: z.number().int().min(1).max(100).default(1),
  interval: durationField(DURATION_LIMITS.poll).default(5_000),
});
export const kubernetesAvailableCheck = z.strictObject({
  type: z.literal('kubernetesAvailable'),
  ...verifyBase,
  cluster: label.optional(),
  namespace: label,
  deployment: subdomain,
});
export const CHECK_TYPES = ['prometheus', 'http', 'kubernetesAvailable'] as const;
export const check = z.discriminatedUnion('type', [prometheusCheck, httpCheck, kubernetesAvailableCheck], {
  error: (iss) => (iss.code === 'invalid_union' ? `expected type to be one of ${CHECK_TYPES.join(', ')}` : undefined),
});

export const notifyTarget = z
  .strictObject({
    name: label,
    type: z.enum(['slack', 'webhook']),
    ...webhookTarget,
    webhookUrlEnv: envVar.optional(),
  })
  .transform(({ webhookUrlEnv, ...t }) => ({ ...t, urlEnv: t.urlEnv ?? webhookUrlEnv }))
  .refine(exactlyOneUrl, { message: 'expected exactly one of url, urlEnv or webhookUrlEnv', path: ['url'] });

const percent = z.string().regex(/^(\d{1,3})%$/, 'expected a percentage like 50% or a duration like 5m') as z.ZodType<`${number}%`, string>;
export const ESCALATION_HINT = `expected a percentage of the SLA like 50%, or ${durationHint(DURATION_LIMITS.hold).replace(/^expected /, '')}`;
export const escalation = z.strictObject({
  /** A percentage of the SLA (kept as text, e.g. "50%"), or milliseconds after the trigger. */
  at: z.union([percent, hold], { error: (iss) => (iss.input === undefined ? undefined : `${ESCALATION_HINT}, got ${describeValue(iss.input)}`) }),
  notify: z.array(label).min(1),
});

export const approval = z.strictObject({
  required: z.boolean().default(true),
  approvers: z.array(actor).default([]),
  quorum: z.number().int().min(1).default(1),
  timeout: timeout.default(30 * 60_000),
});

// spec.slo: what the SLO guard (workflow sloGuard, `rearguard guard start`) watches. A condition names the
// *bad* side (`above: 0.05` = violated while the value is above 0.05 for `for`), as an alerting rule does.
export const sloCondition = z
  .strictObject({
    name: label,
    query: z.string().min(1),
    above: z.number().optional(),
    below: z.number().optional(),
    /** The threshold must be crossed continuously this long (default: one evaluation). */
    for: hold.optional(),
  })
  .refine((c) => (c.above === undefined) !== (c.below === undefined), { message: 'expected exactly one of above or below', path: ['above'] });
export const burnRateWindow = z
  .strictObject({ long: durationField(DURATION_LIMITS.window), short: durationField(DURATION_LIMITS.window), factor: z.number().positive() })
  .refine((w) => w.short < w.long, {
    message: 'expected short to be shorter than long',
    path: ['short'],
  });
export const sloSpec = z
  .strictObject({
    interval: durationField(DURATION_LIMITS.evaluation).default(30_000),
    /** After triggering a rollback, no second trigger for this long. */
    cooldown: hold.default(15 * 60_000),
    /** Percent, e.g. 99.9: the error budget is 1 - objective/100. Required with burnRate. */
    objective: z.number().gt(0, 'expected a percentage between 0 and 100').lt(100, 'expected a percentage between 0 and 100').optional(),
    conditions: z.array(sloCondition).default([]),
    burnRate: z
      .strictObject({
        /** PromQL of the error ratio (0..1) with `$window` where the range goes, e.g. rate(x[$window]). */
        errorRatio: z
          .string()
          .min(1)
          .refine((q) => q.includes('$window'), 'expected $window in the query (e.g. rate(http_requests_total[$window]))'),
        windows: z
          .array(burnRateWindow)
          .min(1)
          .default([
            { long: 3_600_000, short: 300_000, factor: 14.4 },
            { long: 21_600_000, short: 1_800_000, factor: 6 },
          ]),
      })
      .optional(),
    health: z
      .strictObject({
        /** true: the Deployments of the runbook's kubernetes steps; or one Deployment. Violated on ProgressDeadlineExceeded. */
        deployment: z
          .union([z.literal(true), z.strictObject({ cluster: label.optional(), namespace: label, deployment: subdomain })], {
            error: 'expected true or { namespace, deployment }',
          })
          .optional(),
        /** Violated after `failures` evaluations in a row without expectStatus. */
        http: z
          .strictObject({
            url: httpUrl,
            expectStatus: z.number().int().min(100).max(599).default(200),
            failures: z.number().int().min(1).max(100).default(3),
          })
          .optional(),
      })
      .optional(),
    /** spec.notify targets told when the guard triggers or cannot reach Prometheus (default: all). */
    notify: z.array(label).optional(),
  })
  .refine((s) => s.objective !== undefined || !s.burnRate, { message: 'expected objective (e.g. 99.9) with burnRate', path: ['objective'] })
  .refine((s) => s.conditions.length > 0 || s.burnRate !== undefined || s.health?.deployment !== undefined || s.health?.http !== undefined, {
    message: 'expected at least one of conditions, burnRate or health',
  });

export const runbookSpec = z.strictObject({
  service: label,
  environment: label,
  cluster: label.optional(),
  sla: timeout,
  approval: approval.optional(),
  escalation: z.array(escalation).default([]),
  steps: z.array(step).min(1, 'expected at least one step'),
  verify: z.array(check).default([]),
  notify: z.array(notifyTarget).default([]),
  freezeAfter: durationField(DURATION_LIMITS.freeze).optional(),
  slo: sloSpec.optional(),
});

export const runbookSchema = z.strictObject({
  apiVersion: z.literal('rearguard/v1', { error: 'expected rearguard/v1' }),
  kind: z.literal('Runbook', { error: 'expected Runbook' }),
  metadata: z.strictObject({
    name: subdomain,
    description: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  spec: runbookSpec,
});

export type Runbook = z.output<typeof runbookSchema>;
export type RunbookSpec = Runbook['spec'];
export type Step = z.output<typeof step>;
export type WebhookStep = z.output<typeof webhookStep>;
export type Check = z.output<typeof check>;
export type HttpCheck = z.output<typeof httpCheck>;
export type NotifyTarget = z.output<typeof notifyTarget>;
export type Escalation = z.output<typeof escalation>;
export type SloSpec = z.output<typeof sloSpec>;
export type SloCondition = z.output<typeof sloCondition>;
