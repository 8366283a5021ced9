// `rearguard serve`: the HTTP API for machines. GET /v1/gate answers what `freeze check` answers
// (200 allowed, 423 frozen, 503 unknown: a running freeze cannot be read) for CI pipelines and git
// servers; GET /healthz (alive); GET /readyz (Temporal reachable); GET /metrics. And for people
// authenticated by OIDC (client/oidc.ts): decisions, signed by serve as their delegate
// (client/serve-decisions.ts), and GET /v1/audit (client/serve-audit.ts). The web console at `/`, read-only
// (client/console/).
import rateLimit from '@fastify/rate-limit';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { Counter, Registry } from 'prom-client';
import { RollbackProgress } from './serve-progress.js';
import { z } from 'zod';
import { DNS1123_LABEL } from '../runbook/names.js';
import { issueLines, friendlyErrors } from '../runbook/issues.js';
import { GateView, type GateViewOptions } from '../api/gate-view.js';
import { gateAnswer } from '../runbook/gate.js';
import { temporalHealth, type TemporalHealth } from '../api/health.js';
import { OperationError } from '../api/errors.js';
import { registerAlertIntake } from './alerts.js';
import { auditFileFrom } from '../api/audit-file.js';
import { createOidcVerifier, type OidcConfig } from './oidc.js';
import { registerAuditRoute } from './serve-audit.js';
import { registerDecisionRoutes, type DelegateSigning } from './serve-decisions.js';
import { httpStatusOf, internalError, logLine } from './http-errors.js';
import { echo } from './errors.js';
import { changeId } from './options.js';
import { CatalogRunbooks, RunbookDirectory, type RunbookSource } from './runbook-dir.js';
import { readCatalog } from '../api/catalog.js';
import { TASK_QUEUE } from '../api/ids.js';

export interface ServeOptions {
  client: Client;
  /** Bearer token required on write endpoints (none exist yet besides what later issues add). */
  token?: string;
  /** POST /v1/alerts maps Alertmanager alerts to the runbooks of this directory (client/alerts.ts). */
  runbooksDir?: string;
  /** Where rollbacks started by alerts run (default rearguard). */
  taskQueue?: string;
  limits?: Partial<ServeLimits>;
  /** Who people are (decision endpoints, GET /v1/audit); without it those endpoints answer 501 (fail closed). */
  oidc?: OidcConfig;
  /** Serve's key, which signs people's decisions as a delegate; without it decision endpoints answer 501. */
  delegate?: DelegateSigning;
  /** The audit file GET /v1/audit reads (default REARGUARD_AUDIT_FILE, else the worker's default). */
  auditFile?: string;
  /** The web console at `/` (client/console/): on unless false. */
  console?: boolean;
  /** Prometheus, for the console's guard charts (REARGUARD_PROMETHEUS_URL, the worker's variable). */
  prometheusUrl?: string;
  /** The gate's copy of the freeze registry (api/gate-view.ts): lease and reconcile interval, for tests and operators. */
  gate?: Pick<GateViewOptions, 'leaseMs' | 'reconcileMs'>;
}

/** Protection against slow and flooding clients; every figure can be set by the operator (README, `serve`). */
export interface ServeLimits {
  /** GET /v1/gate requests per client address per minute (0: no limit). */
  gatePerMinute: number;
  /** POST /v1/alerts requests per client address per minute (0: no limit). */
  alertsPerMinute: number;
  /** Requests per client address per minute to the endpoints for people (decisions, audit; 0: no limit). */
  peoplePerMinute: number;
  /** Largest request body accepted. */
  bodyLimitBytes: number;
  /** Time a client has to send its headers, and its whole request. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** An idle connection is closed after this long (keep-alive included). */
  idleTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServeLimits = {
  gatePerMinute: 60_000,
  alertsPerMinute: 120,
  peoplePerMinute: 300,
  bodyLimitBytes: 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
};

const perMinute = (max: number) => (max > 0 ? { max, timeWindow: 60_000 } : undefined);

const gateQuery = z.object({
  env: z.string().regex(DNS1123_LABEL, 'expected an environment name in lowercase, such as prod (a DNS-1123 label)'),
  service: z.string().regex(DNS1123_LABEL, 'expected a service name in lowercase, such as payments (a DNS-1123 label)'),
  change: changeId.optional(),
  /** Opt in to failing open: answer 200 (logged) when a running freeze cannot be read, instead of 503 unknown. */
  failOpen: z.enum(['true', 'false', '1', '0']).optional(),
});

/** `env: expected ...` lines of a query string's problems, each with the value that was sent. */
function withValues(lines: string[], query: unknown): string[] {
  const q = (query ?? {}) as Record<string, unknown>;
  return lines.map((line) => {
    const value = q[line.split(':')[0]];
    return typeof value === 'string' && !line.includes(', got ') ? `${line}, got ${echo(value)}` : line;
  });
}

export function buildServer({
  client,
  token,
  runbooksDir,
  taskQueue,
  limits: given,
  oidc,
  delegate,
  auditFile,
  gate: gateOptions,
  console: withConsole = true,
  prometheusUrl,
}: ServeOptions): {
  app: FastifyInstance;
  registry: Registry;
  /** The gate's copy of the freeze registry: start it once listening (the first gate check would otherwise). */
  gate: GateView;
  /** Running rollbacks for /metrics, read from visibility in the background: start it once listening. */
  progress: RollbackProgress;
} {
  // Options left undefined keep their default.
  const limits: ServeLimits = { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(given ?? {}).filter(([, v]) => v !== undefined)) };
  const registry = new Registry();
  const gateChecks = new Counter({
    name: 'rearguard_gate_checks_total',
    help: 'Freeze gate checks, by result (allowed, frozen, unknown, fail-open, error)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const app = Fastify({
    logger: false,
    bodyLimit: limits.bodyLimitBytes,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: Math.min(5_000, limits.idleTimeoutMs),
    // Slow-loris: a client that trickles its headers is cut off long before the whole-request timeout;
    // Node checks these deadlines every connectionsCheckingInterval.
    http: { headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs), connectionsCheckingInterval: 1_000 },
  });
  // A 5xx never carries an internal error to the caller: it gets a reference, the log gets the error.
  app.setErrorHandler((err: FastifyError | OperationError, req, reply) => {
    // An operation's refusal is the caller's business; its 5xx failures (wedged, unavailable, failed) stay in the log.
    const code = err instanceof OperationError ? httpStatusOf(err) : err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (code < 500 && err instanceof OperationError) return reply.code(code).send({ error: err.lines.join('\n'), kind: err.kind });
    if (code < 500) return reply.code(code).send({ error: err.message });
    return reply.code(code).send({ error: internalError(err, `${req.method} ${req.url}`) });
  });
  // Limits are per route: /healthz and /metrics never touch Temporal and stay unlimited.
  void app.register(rateLimit, { global: false });
  void app.register(async (api) => routes(api));
  // Without --runbooks (development), alerts start the worker's catalog runbooks, by name and digest.
  const runbooks: RunbookSource =
    runbooksDir !== undefined ? new RunbookDirectory(runbooksDir) : new CatalogRunbooks(() => readCatalog(client, taskQueue ?? TASK_QUEUE));
  app.addHook('onClose', async () => runbooks?.close());
  // The gate answers from a copy of the freeze registry kept current by long polls: `rearguard serve` starts it when
  // it listens; otherwise the first gate check does (servers that never answer the gate start nothing).
  const view = new GateView(client, { taskQueue: taskQueue ?? TASK_QUEUE, ...gateOptions, log: logLine });
  app.addHook('onClose', async () => view.stop());
  const progress = new RollbackProgress(client, registry);
  return { app, registry, gate: view, progress };

  function routes(app: FastifyInstance): void {
    // Liveness: the process answers. Readiness: it can reach Temporal (a load balancer or kubelet stops sending
    // gate checks to an instance that would only answer 503); a change either way is logged once.
    app.get('/healthz', async () => ({ ok: true }));
    let lastReachable: boolean | undefined;
    // One check a second at most, however many probes and callers ask: /readyz cannot be used to flood Temporal.
    let recent: { at: number; health: Promise<TemporalHealth> } | undefined;
    app.get('/readyz', async (_req, reply) => {
      if (!recent || Date.now() - recent.at > 1_000) recent = { at: Date.now(), health: temporalHealth(client) };
      const health = await recent.health;
      if (health.reachable !== lastReachable)
        logLine(health.reachable ? 'info' : 'error', health.reachable ? 'Temporal is reachable' : 'Temporal is not reachable', {
          ...(health.reachable ? {} : { error: health.error }),
        });
      lastReachable = health.reachable;
      return reply.code(health.reachable ? 200 : 503).send({ ready: health.reachable, temporal: health.reachable ? 'reachable' : 'unreachable' });
    });
    app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
    const gateLimit = perMinute(limits.gatePerMinute);
    app.get('/v1/gate', { config: gateLimit ? { rateLimit: gateLimit } : {} }, async (req, reply) => {
      const q = gateQuery.safeParse(req.query, { error: friendlyErrors });
      if (!q.success) return reply.code(400).send({ error: 'bad request', problems: withValues(issueLines(q.error.issues), req.query) });
      try {
        const failOpen = q.data.failOpen === 'true' || q.data.failOpen === '1';
        const target = { environment: q.data.env, service: q.data.service, ...(q.data.change ? { change: q.data.change } : {}) };
        // Answered from memory. A serve that has only just started waits for its first copy (bounded by the lease).
        view.start();
        await view.warmedUp(limits.requestTimeoutMs);
        const snapshot = view.snapshotFor(target.environment, target.service);
        const answer = gateAnswer({ states: snapshot.entries, unreadable: snapshot.unreadable }, target, Date.now(), failOpen);
        // Fails closed: an unreadable freeze makes the answer unknown (503) unless the caller opted in to failing open.
        const result = answer.failedOpen ? 'fail-open' : answer.result;
        gateChecks.inc({ result });
        // Why a freeze could not be read goes to the log; the caller gets its ID and the kind of problem.
        if (answer.unreadable.length)
          logLine(answer.failedOpen ? 'warn' : 'info', answer.failedOpen ? 'gate failed open (failOpen=true)' : 'gate answered unknown', {
            ...target,
            unreadable: answer.unreadable,
          });
        const body = { ...answer, unreadable: answer.unreadable.map(({ id, kind }) => ({ id, kind })) };
        return reply.code(answer.result === 'allowed' ? 200 : answer.result === 'frozen' ? 423 : 503).send(body);
      } catch (err) {
        gateChecks.inc({ result: 'error' });
        return reply.code(503).send({ result: 'unknown', allowed: false, error: `cannot check the freeze gate: ${internalError(err, 'GET /v1/gate')}` });
      }
    });
    registerAlertIntake(app, { client, token, runbooks, taskQueue: taskQueue ?? TASK_QUEUE, registry, rateLimit: perMinute(limits.alertsPerMinute) });
    const people = { oidc: oidc ? createOidcVerifier(oidc) : undefined, rateLimit: perMinute(limits.peoplePerMinute) };
    registerDecisionRoutes(app, { client, delegate, ...people });
    registerAuditRoute(app, { auditFile: auditFile ?? auditFileFrom(process.env), ...people });
    if (withConsole)
      void app.register(async (web) => {
        // Loaded (or bundled, from the sources) once, before serve listens.
        const [{ loadConsoleAssets }, { registerConsoleRoutes }, { ConsoleFeed }, { registerGuardRoutes }] = await Promise.all([
          import('./console/assets.js'),
          import('./console/routes.js'),
          import('./console/feed.js'),
          import('./console/guard-view.js'),
        ]);
        const feed = new ConsoleFeed(client, taskQueue ?? TASK_QUEUE, Boolean(oidc && delegate));
        registerConsoleRoutes(web, { assets: await loadConsoleAssets(), feed, rateLimit: people.rateLimit, oidc: people.oidc, actions: Boolean(delegate) });
        registerGuardRoutes(web, { client, prometheusUrl, rateLimit: people.rateLimit });
      });
  }
}
