// `rearguard rollback plan`: what each step would change, computed by the worker (which holds the
// cluster credentials) without changing anything.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { describePlan, type Plan } from '../runbook/plan.js';
import { PLANNED_STEP_TYPES } from '../runbook/step-types.js';
import type { RollbackInput } from '../runbook/types.js';
import type { CatalogRef } from '../runbook/catalog.js';
import { loadCatalogRunbook } from './catalog.js';
import { FINAL_STEP_ERRORS, errorMessage } from './kit/index.js';

const { preflight, planStep } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 2, nonRetryableErrorTypes: FINAL_STEP_ERRORS },
});

export interface StepPlan {
  name: string;
  type: string;
  summary: string;
  plan?: Plan;
  error?: string;
}

export async function planRollback(input: Pick<RollbackInput, 'runbook'> | { catalog: CatalogRef }): Promise<{ problems: string[]; steps: StepPlan[] }> {
  // A catalog runbook is planned as the worker's catalog holds it (the same load a rollback makes).
  const runbook = 'catalog' in input ? (await loadCatalogRunbook(input.catalog)).runbook : input.runbook;
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
      const plan = await planStep({
        workflowId: 'plan',
        target: { environment: runbook.spec.environment, service: runbook.spec.service },
        cluster: runbook.spec.cluster,
        step,
        // Planning may check things out on the worker: keep concurrent plans apart.
        idempotencyKey: `${workflowInfo().workflowId}/${name}`,
        trigger: { actor: 'plan', reason: 'plan', source: 'manual' },
      });
      steps.push({ name, type: step.type, summary: describePlan(plan), plan });
    } catch (err) {
      steps.push({ name, type: step.type, summary: 'cannot plan', error: errorMessage(err) });
    }
  }
  return { problems, steps };
}
