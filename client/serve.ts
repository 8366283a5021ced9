// `rearguard serve`: the HTTP API for machines. GET /v1/gate answers what `freeze check` answers
// (200 allowed, 423 frozen) for CI pipelines and git servers; GET /healthz; GET /metrics.
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, Registry } from 'prom-client';
import { z } from 'zod';
import { DNS1123_LABEL } from '../runbook/names.js';
import { issueLines, friendlyErrors } from '../runbook/issues.js';
import { checkGate } from './gate.js';
import { registerAlertIntake } from './alerts.js';
import { TASK_QUEUE } from '../workflows/messages.js';

export interface ServeOptions {
  client: Client;
  /** Bearer token required on write endpoints (none exist yet besides what later issues add). */
  token?: string;
  /** POST /v1/alerts maps Alertmanager alerts to the runbooks of this directory (client/alerts.ts). */
  runbooksDir?: string;
  /** Where rollbacks started by alerts run (default rearguard). */
  taskQueue?: string;
}

const gateQuery = z.object({
  env: z.string().regex(DNS1123_LABEL, 'expected an environment name'),
  service: z.string().regex(DNS1123_LABEL, 'expected a service name'),
  change: z.string().min(1).optional(),
});

export function buildServer({ client, token, runbooksDir, taskQueue }: ServeOptions): { app: FastifyInstance; registry: Registry } {
  const registry = new Registry();
  const gateChecks = new Counter({
    name: 'rearguard_gate_checks_total',
    help: 'Freeze gate checks, by result (allowed, frozen, error)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const app = Fastify({ logger: false });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get('/v1/gate', async (req, reply) => {
    const q = gateQuery.safeParse(req.query, { error: friendlyErrors });
    if (!q.success) return reply.code(400).send({ error: 'bad request', problems: issueLines(q.error.issues) });
    try {
      const decision = await checkGate(client, { environment: q.data.env, service: q.data.service, change: q.data.change });
      gateChecks.inc({ result: decision.allowed ? 'allowed' : 'frozen' });
      return reply.code(decision.allowed ? 200 : 423).send(decision);
    } catch (err) {
      gateChecks.inc({ result: 'error' });
      return reply.code(503).send({ error: `cannot check the freeze gate: ${(err as Error).message}` });
    }
  });
  registerAlertIntake(app, { client, token, runbooksDir, taskQueue: taskQueue ?? TASK_QUEUE, registry });
  return { app, registry };
}
