// Alertmanager intake (POST /v1/alerts): firing alerts start rollbacks through startRollback
// (api/rollbacks.ts, the CLI's start-or-join), so a rollback already running for the target is joined, never doubled.
// Each firing alert is mapped to a runbook of the `rearguard serve --runbooks DIR` directory by its labels:
// `rearguard_runbook` (a file name in DIR, with or without .yaml, or a runbook's metadata.name), else
// `service` + `environment` (the runbook whose spec has both). Resolved alerts are ignored.
// Loki's ruler sends the same Alertmanager alerts, so logs-based alerts arrive the same way.
import { createHash, timingSafeEqual } from 'node:crypto';
import { basename, extname } from 'node:path';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import { friendlyErrors, issueLines } from '../runbook/issues.js';
import { printable } from '../runbook/names.js';
import type { Trigger } from '../runbook/types.js';
import { startRollback } from '../api/rollbacks.js';
import { OperationError } from '../api/errors.js';
import type { RunbookFile, RunbookSource } from './runbook-dir.js';
import { internalError, logLine } from './http-errors.js';
import { wedgedRemedy } from '../api/wedged.js';

/** Alertmanager's webhook_config `max_alerts` must not exceed this; larger payloads are refused whole. */
export const MAX_ALERTS_PER_REQUEST = 100;

// --- Alertmanager webhook (version 4) -----------------------------------------------------------

const labels = z.record(z.string(), z.string());
const alertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels,
  annotations: labels.default({}),
  startsAt: z.string().optional(),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().optional(),
});
export const alertmanagerPayload = z.object({
  version: z.literal('4', { error: 'expected "4" (the Alertmanager webhook format)' }),
  status: z.enum(['firing', 'resolved']).optional(),
  receiver: z.string().optional(),
  groupKey: z.string().optional(),
  alerts: z
    .array(alertSchema)
    .max(MAX_ALERTS_PER_REQUEST, `expected at most ${MAX_ALERTS_PER_REQUEST} alerts per request (set max_alerts in Alertmanager's webhook_config)`),
});
export type AlertmanagerPayload = z.output<typeof alertmanagerPayload>;
export type Alert = z.output<typeof alertSchema>;

/** refused: the rollback running for the target is wedged (its workflow task keeps failing), so the alert did not join it. */
export type AlertAction = 'started' | 'joined' | 'ignored' | 'unmatched' | 'refused' | 'error';
export interface AlertOutcome {
  alert: string;
  fingerprint?: string;
  action: AlertAction;
  runbook?: string;
  workflowId?: string;
  message?: string;
}

/** The runbook an alert names, or why there is none. */
export function matchRunbook(alert: Pick<Alert, 'labels'>, runbooks: RunbookFile[]): { ok: true; match: RunbookFile } | { ok: false; message: string } {
  const named = alert.labels.rearguard_runbook;
  if (named !== undefined) {
    const want = basename(named, extname(named));
    const found = runbooks.find((r) => r.file === named || basename(r.file, extname(r.file)) === want || r.runbook.metadata.name === named);
    return found ? { ok: true, match: found } : { ok: false, message: `rearguard_runbook=${named}: no valid runbook of that name in the runbooks directory` };
  }
  const { service, environment } = alert.labels;
  if (!service || !environment) return { ok: false, message: 'expected a rearguard_runbook label, or service and environment labels' };
  const found = runbooks.filter((r) => r.runbook.spec.service === service && r.runbook.spec.environment === environment);
  if (found.length === 1) return { ok: true, match: found[0] };
  if (found.length === 0) return { ok: false, message: `no runbook for service=${service} environment=${environment}` };
  return {
    ok: false,
    message: `several runbooks for service=${service} environment=${environment} (${found.map((r) => r.file).join(', ')}): add a rearguard_runbook label`,
  };
}

const alertName = (a: Alert) => a.labels.alertname ?? 'alert';

/** The trigger's reason: what a human reading the audit trail needs (name, summary, labels). */
export function alertReason(a: Alert): string {
  const text = a.annotations.summary ?? a.annotations.description ?? a.annotations.message;
  const rest = Object.entries(a.labels)
    .filter(([k]) => k !== 'alertname')
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  // Labels and annotations come from any system that can reach Alertmanager: printable text only.
  return printable(`${alertName(a)}${text ? `: ${text}` : ''}${rest ? ` [${rest}]` : ''}`).slice(0, 500);
}

/** Same for every notification of one firing of one alert, so Alertmanager's repeats and retries join once. */
export function alertRequestId(a: Alert): string {
  const id =
    a.fingerprint ??
    createHash('sha256')
      .update(JSON.stringify(Object.entries(a.labels).sort()))
      .digest('hex')
      .slice(0, 16);
  return `alert:${id}:${a.startsAt ?? ''}`;
}

/** Constant-time comparison of a presented bearer token with the configured one. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = createHash('sha256').update(m[1].trim()).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

export interface AlertIntakeOptions {
  client: Client;
  taskQueue: string;
  /** REARGUARD_API_TOKEN: without it (or without a runbooks source) the route answers 503. */
  token?: string;
  /** A directory (`serve --runbooks DIR`, development) or the worker's catalog (client/runbook-dir.ts). */
  runbooks?: RunbookSource;
  registry?: Registry;
  /** Per-client request budget for this route (see client/serve.ts). */
  rateLimit?: { max: number; timeWindow: number };
}

export function registerAlertIntake(app: FastifyInstance, o: AlertIntakeOptions): void {
  const received = new Counter({
    name: 'rearguard_alerts_total',
    help: 'Alerts received on POST /v1/alerts, by what was done (started, joined, ignored, unmatched, refused, error)',
    labelNames: ['action'] as const,
    registers: o.registry ? [o.registry] : [],
  });
  app.post('/v1/alerts', { config: o.rateLimit ? { rateLimit: o.rateLimit } : {} }, async (req, reply) => {
    if (!o.token || !o.runbooks)
      return reply.code(503).send({
        error:
          "alert intake is not configured: start `rearguard serve` with REARGUARD_API_TOKEN set (runbooks come from the worker's catalog, or --runbooks DIR in development)",
      });
    if (!tokenMatches(req.headers.authorization, o.token)) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'expected Authorization: Bearer <REARGUARD_API_TOKEN>' });
    }
    const parsed = alertmanagerPayload.safeParse(req.body, { error: friendlyErrors });
    if (!parsed.success)
      return reply.code(400).send({ error: 'expected an Alertmanager webhook payload (version 4)', problems: issueLines(parsed.error.issues) });
    const firing = parsed.data.alerts.filter((a) => a.status === 'firing');
    let runbooks: RunbookFile[] = [];
    try {
      if (firing.length) ({ runbooks } = await o.runbooks.get());
    } catch (err) {
      // No catalog on the worker (development mode without --runbooks), or it cannot be read now: Alertmanager retries.
      const why = err instanceof OperationError ? err.lines.join('; ') : internalError(err, 'POST /v1/alerts: read the runbook catalog');
      return reply.code(503).send({ error: `alert intake cannot read its runbooks: ${why}` });
    }
    const results: AlertOutcome[] = [];
    for (const a of parsed.data.alerts) {
      const base = { alert: alertName(a), ...(a.fingerprint ? { fingerprint: a.fingerprint } : {}) };
      if (a.status !== 'firing') {
        results.push({ ...base, action: 'ignored', message: 'resolved' });
        continue;
      }
      const m = matchRunbook(a, runbooks);
      if (!m.ok) {
        results.push({ ...base, action: 'unmatched', message: m.message });
        continue;
      }
      const { runbook, catalog } = m.match;
      try {
        const trigger: Trigger = { source: 'alert', actor: 'alertmanager', reason: alertReason(a), requestId: alertRequestId(a) };
        const r = await startRollback(o.client, o.taskQueue, runbook, trigger, catalog);
        results.push({ ...base, action: r.joined ? 'joined' : 'started', runbook: runbook.metadata.name, workflowId: r.workflowId });
      } catch (err) {
        if (err instanceof OperationError && err.wedged) {
          // Not joined to a run that makes no progress; Alertmanager retries (503), and starts a new rollback once it is ended.
          const w = err.wedged;
          logLine('error', 'POST /v1/alerts: the rollback is wedged, alert not joined', { workflowId: w.workflowId, error: w.error, alert: base.alert });
          results.push({
            ...base,
            action: 'refused',
            runbook: runbook.metadata.name,
            workflowId: w.workflowId,
            message: `${w.workflowId} is wedged (its workflow task keeps failing): the alert was not joined to it. \`rearguard rollback status --id ${w.workflowId}\` shows the error; ${wedgedRemedy(w.workflowId)}`,
          });
          continue;
        }
        // The reason goes to the server's log under a reference; the caller learns that it failed, not our internals.
        results.push({ ...base, action: 'error', runbook: runbook.metadata.name, message: internalError(err, 'POST /v1/alerts: start or join the rollback') });
      }
    }
    for (const r of results) received.inc({ action: r.action });
    // A failed start is worth Alertmanager's retry: the request ID makes the retry join, not double.
    const status = results.some((r) => r.action === 'error' || r.action === 'refused') ? 503 : 202;
    return reply.code(status).send({ results });
  });
}
