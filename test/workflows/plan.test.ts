// The planRollback workflow (`rearguard rollback plan`) on the time-skipping server with stub activities: preflight
// problems, each planned step's current -> target as the worker resolves it, a step that cannot be planned named
// with its error, a webhook step shown without a plan. Nothing is changed: no step runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { planRollback } from '../../api/rollbacks.js';
import type { RolloutPlan } from '../../runbook/plan.js';
import type { StepRequest } from '../../runbook/types.js';
import { useTemporalEnv, withWorker } from '../helpers/harness.js';
import { stubActivities } from '../helpers/rollback.js';
import { makeRunbook } from '../helpers/runbooks.js';

useTemporalEnv();

describe('planRollback workflow', () => {
  it('plans each step on the worker, names a step that cannot be planned, changes nothing', async () => {
    const runbook = makeRunbook({
      cluster: 'prod-eu',
      steps: [
        { name: 'api', type: 'kubernetes', namespace: 'shop', deployment: 'api' },
        { name: 'cart', type: 'helm', namespace: 'shop', release: 'cart' },
        { name: 'announce', type: 'webhook', url: 'https://hooks.example.com/announce' },
      ],
    });
    const planned: StepRequest[] = [];
    const { activities, calls } = stubActivities({
      preflight: async () => ['spec.steps[1]: helm is not on this worker'],
      planStep: async (req: StepRequest) => {
        planned.push(req);
        if (req.step.type === 'helm') throw ApplicationFailure.nonRetryable('helm release shop/cart not found in cluster prod-eu', 'NotFound');
        const plan: RolloutPlan = {
          kind: 'kubernetes',
          cluster: 'prod-eu',
          namespace: 'shop',
          deployment: 'api',
          fromRevision: 7,
          toRevision: 6,
          fromImages: ['api:2.0'],
          toImages: ['api:1.9'],
          replicaSet: 'api-6f7d',
          alreadyAtTarget: false,
        };
        return plan;
      },
    });
    await withWorker({ activities }, async ({ client, taskQueue }) => {
      const result = await planRollback(client, taskQueue, runbook);
      assert.deepEqual(result.problems, ['spec.steps[1]: helm is not on this worker']);
      assert.deepEqual(
        result.steps.map((s) => [s.name, s.summary, s.error]),
        [
          ['api', 'deployment shop/api: revision 7 (api:2.0) -> revision 6 (api:1.9)', undefined],
          ['cart', 'cannot plan', 'helm release shop/cart not found in cluster prod-eu'],
          ['announce', 'POST https://hooks.example.com/announce', undefined],
        ],
      );
      assert.deepEqual(
        planned.map((r) => r.step.name),
        ['api', 'cart'],
      );
      assert.deepEqual(calls.steps, [], 'no step ran');
    });
  });
});
