// The `webhook` step: one HTTP call with an Idempotency-Key that is the same on every attempt, so
// a receiver that deduplicates by key applies the step once even if a worker dies mid-request.
import { Context } from '@temporalio/activity';
import type { WebhookStep } from '../runbook/schema.js';
import type { StepRequest } from '../runbook/types.js';
import { excerpt } from './errors.js';
import { rejectStatus, send } from './http.js';
import { fromEnv, resolveUrl, type Env } from './secrets.js';
import { withHeartbeat } from './heartbeat.js';
import { enforcePolicy, type Egress } from './egress.js';

/** At most this many characters of a response body are kept (the excerpt adds '…' when it cuts). */
export const RESPONSE_SNIPPET = 200;

export async function runWebhookStep(env: Env, req: StepRequest & { step: WebhookStep }, egress: Egress = {}): Promise<Record<string, unknown>> {
  const { step } = req;
  const field = `step ${step.name ?? 'webhook'}`;
  const { url, label } = resolveUrl(env, step, field);
  // The policy first: a secret is not even read for a request that may not be made.
  enforcePolicy(egress.policy, { url, urlEnv: step.urlEnv, secrets: Object.values(step.headersFromEnv ?? {}) }, `${field}: ${step.method} ${label}`);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'rearguard',
    'idempotency-key': req.idempotencyKey,
    ...step.headers,
  };
  const secrets = step.urlEnv !== undefined ? [url] : [];
  for (const [name, variable] of Object.entries(step.headersFromEnv ?? {})) {
    headers[name] = fromEnv(env, variable, `${field} header ${name}`);
    secrets.push(headers[name]);
  }
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
    send({ url, label, method: step.method, headers, body, timeoutMs: 30_000, signal: ctx.cancellationSignal, secrets, lookup: egress.lookup }),
  );
  const ok = step.expectStatus ? step.expectStatus.includes(res.status) : res.status >= 200 && res.status < 300;
  if (!ok) rejectStatus({ method: step.method, label }, res, step.expectStatus?.join(' or ') ?? '2xx');
  // Into workflow history: the status and a short snippet of the body (secrets already redacted by send), nothing else of the response.
  return { url: label, status: res.status, attempt: ctx.info.attempt, ...(res.body ? { response: excerpt(res.body, RESPONSE_SNIPPET - 1) } : {}) };
}
