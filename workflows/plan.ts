// `rearguard rollback plan`: what each step would change, computed by the worker (which holds the
// cluster credentials) without changing anything.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { PLANNED_STEP_TYPES } from '../runbook/schema.js';
import type { RollbackInput } from '../runbook/types.js';
import { describePlan } from './rollback.js';

const { preflight, planStep } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 2, nonRetryableErrorTypes: ['ConfigurationError', 'MechanismNotAvailable', 'PermissionDenied', 'NotFound'] },
});

export interface StepPlan {
  name: string;
  type: string;
  summary: string;
  plan?: Record<string, unknown>;
  error?: string;
}

export async function planRollback({ runbook }: Pick<RollbackInput, 'runbook'>): Promise<{ problems: string[]; steps: StepPlan[] }> {
  const problems = await preflight({ runbook });
  const steps: StepPlan[] = [];
  for (const step of runbook.spec.steps) {
    const name = step.name ?? step.type;
    if (!PLANNED_STEP_TYPES.includes(step.type)) {
      steps.push({
        name,
        type: step.type,
        summary: step.type === 'webhook' ? `${step.method} ${step.url ?? `$${step.urlEnv}`}` : 'no plan for this mechanism',
      });
      continue;
    }
    try {
      const plan = (await planStep({
        workflowId: 'plan',
        target: { environment: runbook.spec.environment, service: runbook.spec.service },
        cluster: runbook.spec.cluster,
        step,
        // Planning may check things out on the worker: keep concurrent plans apart.
        idempotencyKey: `${workflowInfo().workflowId}/${name}`,
        trigger: { actor: 'plan', reason: 'plan', source: 'manual' },
      })) as unknown as Record<string, unknown>;
      steps.push({ name, type: step.type, summary: describePlan(plan), plan });
    } catch (err) {
      let e = err as { message?: string; cause?: unknown };
      while (e.cause) e = e.cause as typeof e;
      steps.push({ name, type: step.type, summary: 'cannot plan', error: e.message ?? String(err) });
    }
  }
  return { problems, steps };
}
