// All activities, built from their dependencies (samples-typescript's createActivities pattern), so
// tests can pass their own audit file and environment, and workflows import only the type.
import type { Runbook } from '../runbook/schema.js';
import type { AuditEvent, CheckRequest, NotifyRequest, StepRequest } from '../runbook/types.js';
import type { AuditLog } from './audit-log.js';
import { notAvailable } from './errors.js';
import { runHttpCheck } from './http-check.js';
import { sendNotifications } from './notify.js';
import type { Env } from './secrets.js';
import { runWebhookStep } from './webhook.js';

export interface ActivityDeps {
  auditLog: AuditLog;
  /** Where secrets named by runbooks (urlEnv, headersFromEnv, webhookUrlEnv) are looked up. */
  env: Env;
}

/** Mechanisms this worker can run; the others arrive with their issues and fail preflight until then. */
const STEP_MECHANISMS = new Set(['webhook']);
const CHECK_MECHANISMS = new Set(['http']);

export function createActivities({ auditLog, env }: ActivityDeps) {
  return {
    async appendAudit(event: AuditEvent): Promise<void> {
      await auditLog.append(event);
    },

    /** Problems that would make the rollback fail half-way, found before anything is changed. */
    async preflight({ runbook }: { runbook: Runbook }): Promise<string[]> {
      const problems: string[] = [];
      runbook.spec.steps.forEach((s, i) => {
        if (!STEP_MECHANISMS.has(s.type))
          problems.push(`spec.steps[${i}] (${s.type}): the ${s.type} mechanism is not available yet in this version of Rearguard`);
        if (s.type === 'webhook') {
          for (const v of [s.urlEnv, ...Object.values(s.headersFromEnv ?? {})]) {
            if (v !== undefined && !env[v]) problems.push(`spec.steps[${i}]: environment variable ${v} is not set on the worker`);
          }
        }
      });
      runbook.spec.verify.forEach((c, i) => {
        if (!CHECK_MECHANISMS.has(c.type))
          problems.push(`spec.verify[${i}] (${c.type}): the ${c.type} check is not available yet in this version of Rearguard`);
      });
      runbook.spec.notify.forEach((n, i) => {
        if (n.urlEnv !== undefined && !env[n.urlEnv]) problems.push(`spec.notify[${i}] (${n.name}): environment variable ${n.urlEnv} is not set on the worker`);
      });
      return problems;
    },

    async runStep(req: StepRequest): Promise<Record<string, unknown>> {
      const { step } = req;
      if (step.type === 'webhook') return runWebhookStep(env, { ...req, step });
      throw notAvailable(`the ${step.type} mechanism`);
    },

    async runCheck(req: CheckRequest): Promise<Record<string, unknown>> {
      const { check } = req;
      if (check.type === 'http') return runHttpCheck(check);
      throw notAvailable(`the ${check.type} check`);
    },

    async notify(req: NotifyRequest): Promise<{ sent: string[] }> {
      return sendNotifications(env, req);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
