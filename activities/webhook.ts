// The `webhook` step: one HTTP call with an Idempotency-Key that is the same on every attempt, so
// a receiver that deduplicates by key applies the step once even if a worker dies mid-request.
import { Context } from '@temporalio/activity';
import type { WebhookStep } from '../runbook/schema.js';
import type { StepRequest } from '../runbook/types.js';
import { excerpt } from './errors.js';
import { rejectStatus, send } from './http.js';
import { fromEnv, resolveUrl, type Env } from './secrets.js';
import { withHeartbeat } from './heartbeat.js';

export async function runWebhookStep(env: Env, req: StepRequest & { step: WebhookStep }): Promise<Record<string, unknown>> {
  const { step } = req;
  const field = `step ${step.name ?? 'webhook'}`;
  const { url, label } = resolveUrl(env, step, field);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'rearguard',
    'idempotency-key': req.idempotencyKey,
    ...step.headers,
  };
  for (const [name, variable] of Object.entries(step.headersFromEnv ?? {})) headers[name] = fromEnv(env, variable, `${field} header ${name}`);
  const body =
    step.method === 'GET' || step.method === 'DELETE'
      ? undefined
      : JSON.stringify(
          step.body ?? {
            event: 'rearguard.rollback.step',
            workflowId: req.workflowId,
            step: step.name,
            target: req.target,
            trigger: req.trigger,
          },
        );
  const ctx = Context.current();
  const res = await withHeartbeat({ step: step.name }, () =>
    send({ url, label, method: step.method, headers, body, timeoutMs: 30_000, signal: ctx.cancellationSignal }),
  );
  const ok = step.expectStatus ? step.expectStatus.includes(res.status) : res.status >= 200 && res.status < 300;
  if (!ok) rejectStatus({ method: step.method, label }, res, step.expectStatus?.join(' or ') ?? '2xx');
  return { url: label, status: res.status, attempt: ctx.info.attempt, ...(res.body ? { response: excerpt(res.body, 200) } : {}) };
}
