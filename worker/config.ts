// Worker configuration from the environment (flags override it in worker/main.ts), validated with
// zod so a typo in a variable is a clear startup error rather than a silently ignored setting.
import { z } from 'zod';
import { DURATION_LIMITS } from '../runbook/duration.js';
import { friendlyErrors } from '../runbook/issues.js';
import { durationField } from '../runbook/schema.js';
import { DEPLOYMENT_NAME, TASK_QUEUE } from '../api/ids.js';
import { defaultAuditFile } from '../api/audit-file.js';
import { ALLOWED_SIGNERS_ENV, parseRequireSignatures, readAllowedSigners, REQUIRE_SIGNATURES_ENV, TrustConfigError } from '../activities/trust.js';

/** A TrustConfigError's problems as zod issues (without the variable name, which the config message adds). */
function trustIssues(check: () => void, ctx: z.RefinementCtx): void {
  try {
    check();
  } catch (err) {
    if (!(err instanceof TrustConfigError)) throw err;
    for (const p of err.problems) ctx.addIssue({ code: 'custom', message: p.replace(/^REARGUARD_[A-Z_]+: /, '') });
  }
}

const port = z.coerce
  .number({ error: 'expected a port number' })
  .int('expected a port number')
  .min(0, 'expected a port number 0-65535')
  .max(65535, 'expected a port number 0-65535');
export const workerConfigSchema = z.object({
  /** Without them, the Temporal CLI's profile, then localhost:7233 / default (api/temporal-connection.ts). */
  address: z.string().min(1).optional(),
  namespace: z.string().min(1).optional(),
  taskQueue: z.string().min(1).default(TASK_QUEUE),
  /** Absolute by default, shared with the CLI (api/audit-file.ts defaultAuditFile); loadWorkerConfig reads it from the given env. */
  auditFile: z
    .string()
    .min(1)
    .default(() => defaultAuditFile()),
  metricsHost: z.string().min(1).default('0.0.0.0'),
  metricsPort: port.default(9464),
  /** The Temporal runtime serves its own metrics here; /metrics includes them. 0 disables. */
  runtimeMetricsPort: port.default(9465),
  /** YAML file naming the clusters and repositories runbooks may use (activities/targets.ts). */
  targetsFile: z.string().min(1).optional(),
  /** The Policy document (runbook/policy.ts): which secrets runbooks may send where. Without it only metadata and link-local addresses are refused. */
  policyFile: z.string().min(1).optional(),
  /** The runbook catalog (activities/catalog.ts): a directory, or git:REPO[@REF][:PATH] of the targets file. */
  catalog: z.string().min(1).optional(),
  /** How often the catalog is re-read (at most 1h; 0: only on demand, `rearguard catalog refresh`). */
  catalogRefresh: z.union([z.literal('0').transform(() => 0), durationField(DURATION_LIMITS.grace)]).default(60_000),
  /**
   * Development mode: no catalog (local runbook files everywhere, unsigned decisions unless allowed_signers is
   * set). `npm start` turns it on and says so; anywhere else a worker without a catalog refuses to start.
   */
  dev: z
    .union([z.boolean(), z.enum(['1', 'true', 'yes', '0', 'false', 'no', ''])])
    .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes')
    .default(false),
  /** A prebuilt workflow bundle; without it the compiled worker uses dist/workflow-bundle.js (`npm run build`), and from the sources the workflows are bundled at start. */
  workflowBundle: z.string().min(1).optional(),
  logLevel: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('WARN'),
  /**
   * Worker Versioning (README "Upgrading"): the version of this worker's code, e.g. a release tag or git commit.
   * With it the worker polls as that version of the deployment below; runs follow each workflow type's behaviour
   * (workflows/index.ts) and `rearguard upgrade` makes a version current. Without it, no versioning.
   */
  buildId: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/,
      'expected 1-100 letters, digits, ".", "_", "+" or "-", starting with a letter or digit (e.g. 1.4.0 or a git commit)',
    )
    .optional(),
  /** The worker deployment the build IDs belong to: one per Rearguard installation (namespace and task queue). */
  deploymentName: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/, 'expected 1-100 letters, digits, "_" or "-", starting with a letter or digit')
    .default(DEPLOYMENT_NAME),
  /** Workflows kept in memory between their tasks (worker/worker.ts says why 1,000). */
  maxCachedWorkflows: z.coerce
    .number({ error: 'expected a whole number of workflows' })
    .int('expected a whole number of workflows')
    .min(1, 'expected at least 1 workflow')
    .max(100_000, 'expected at most 100000 workflows')
    .default(1_000),
  /** Milliseconds (at most 1h) in-flight activities get on SIGTERM. */
  shutdownGrace: durationField(DURATION_LIMITS.grace).default(30_000),
  /** OpenSSH allowed_signers: who may sign approvals and rejections (activities/trust.ts); checked at start. */
  allowedSignersFile: z
    .string()
    .min(1)
    .optional()
    .superRefine((path, ctx) => trustIssues(() => path && readAllowedSigners(path), ctx)),
  /** Refuse unsigned approvals and rejections; default true when allowedSignersFile is set. */
  requireSignatures: z
    .string()
    .optional()
    .superRefine((raw, ctx) => trustIssues(() => parseRequireSignatures(raw), ctx)),
});
export type WorkerConfig = z.output<typeof workerConfigSchema>;

export const ENV_NAMES: Record<keyof WorkerConfig, string> = {
  address: 'TEMPORAL_ADDRESS',
  namespace: 'TEMPORAL_NAMESPACE',
  taskQueue: 'REARGUARD_TASK_QUEUE',
  auditFile: 'REARGUARD_AUDIT_FILE',
  metricsHost: 'REARGUARD_METRICS_HOST',
  metricsPort: 'REARGUARD_METRICS_PORT',
  runtimeMetricsPort: 'REARGUARD_RUNTIME_METRICS_PORT',
  targetsFile: 'REARGUARD_TARGETS',
  policyFile: 'REARGUARD_POLICY',
  workflowBundle: 'REARGUARD_WORKFLOW_BUNDLE',
  catalog: 'REARGUARD_CATALOG',
  catalogRefresh: 'REARGUARD_CATALOG_REFRESH',
  dev: 'REARGUARD_DEV_MODE',
  logLevel: 'REARGUARD_LOG_LEVEL',
  buildId: 'REARGUARD_BUILD_ID',
  deploymentName: 'REARGUARD_DEPLOYMENT',
  shutdownGrace: 'REARGUARD_SHUTDOWN_GRACE',
  maxCachedWorkflows: 'REARGUARD_MAX_CACHED_WORKFLOWS',
  allowedSignersFile: ALLOWED_SIGNERS_ENV,
  requireSignatures: REQUIRE_SIGNATURES_ENV,
};

/** Flags whose names are not the setting's (worker/main.ts). */
const FLAG_NAMES: Partial<Record<keyof WorkerConfig, string>> = { targetsFile: '--targets', deploymentName: '--deployment' };

export function loadWorkerConfig(env: NodeJS.ProcessEnv, overrides: Partial<Record<keyof WorkerConfig, unknown>> = {}): WorkerConfig {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV_NAMES)) if (env[name] !== undefined && env[name] !== '') raw[key] = env[name];
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) raw[key] = value;
  raw.auditFile ??= defaultAuditFile(env);
  const parsed = workerConfigSchema.safeParse(raw, { error: friendlyErrors });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = String(i.path[0]) as keyof WorkerConfig;
      const flag = FLAG_NAMES[key] ?? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      return `${flag} (env ${ENV_NAMES[key] ?? key}): ${i.message}`;
    });
    throw new ConfigError(lines);
  }
  return parsed.data;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid worker configuration:\n  ${problems.join('\n  ')}`);
  }
}
