// The Kubernetes mechanisms as activity bodies: plan (resolve the target once; the workflow records it)
// and apply (ensure that target, then wait like `kubectl rollout status`, heartbeating).
import { ApplicationFailure, Context, sleep } from '@temporalio/activity';
import type { Check, Step } from '../../runbook/schema.js';
import { applyBlueGreen, planBlueGreen, type BlueGreenPlan } from './blue-green.js';
import type { Clusters } from '../targets.js';
import type { KubeClient } from './client.js';
import { applyRollout, getDeployment, planRollout, revisionOf, rolloutStatus, type RolloutPlan } from './rollout.js';
import { recordRestored } from './restored.js';

type KubeStep = Extract<Step, { type: 'kubernetes' | 'blueGreen' }>;
export type KubePlan = RolloutPlan | BlueGreenPlan;

export const isKubeStep = (s: Step): s is KubeStep => s.type === 'kubernetes' || s.type === 'blueGreen';

/**
 * How long to wait before the next look at a rollout that has been running `elapsedMs`: often at first, when a
 * rollback's rollout usually completes (kubectl rollout status watches, so it sees the end at once; a 1 s poll
 * lost half a second on average and up to a second: issue 14, `npm run bench -- --only rollback-kubectl`), then
 * less often, so a long rollout costs the API server a GET a second as before. The worker's role has no `watch`.
 */
export const rolloutPollMs = (elapsedMs: number): number => (elapsedMs < 5_000 ? 100 : elapsedMs < 30_000 ? 250 : 1_000);

/**
 * Polls the Deployment until its rollout completes, heartbeating; cancellation ends the wait. Past
 * `deadline` it fails with what it last saw (clearer than an activity timeout). `pollMs`: a fixed interval
 * instead of rolloutPollMs.
 */
export async function waitForRollout(kube: KubeClient, ns: string, name: string, deadline: number, failureType: string, pollMs?: number): Promise<string> {
  const ctx = Context.current();
  const started = Date.now();
  for (;;) {
    const progress = rolloutStatus(await getDeployment(kube, ns, name));
    ctx.heartbeat({ waiting: progress.message });
    if (progress.done) return progress.message;
    const wait = pollMs ?? rolloutPollMs(Date.now() - started);
    if (Date.now() + wait > deadline) throw ApplicationFailure.nonRetryable(`gave up: ${progress.message}`, failureType);
    await sleep(wait);
  }
}

/** The end of this attempt, a little before the activity's own timeout would cut it off. */
const attemptDeadline = (): number => Date.now() + Math.max(5_000, (Context.current().info.startToCloseTimeoutMs ?? 600_000) - 5_000);

export function kubernetesMechanisms(clusters: Clusters) {
  return {
    async plan(step: KubeStep, defaultCluster: string | undefined): Promise<KubePlan> {
      const kube = clusters.client(step.cluster ?? defaultCluster);
      if (step.type === 'kubernetes') return planRollout(kube, step.namespace, step.deployment, step.toRevision);
      return planBlueGreen(kube, step.namespace, step.service, step.selector);
    },

    /** `by`: the rollback, recorded on the Deployment once this step changed it (the repeat rule's memory). */
    async apply(step: KubeStep, plan: KubePlan, by?: { workflowId: string; runId?: string }): Promise<Record<string, unknown>> {
      const kube = clusters.client(plan.cluster);
      if (step.type === 'kubernetes') {
        const p = plan as RolloutPlan;
        // Planned as "already restored": nothing to change (the workflow does not run such a step).
        if (p.alreadyRestored) return { deployment: `${p.namespace}/${p.deployment}`, changed: false, alreadyRestored: p.alreadyRestored };
        const { patched } = await applyRollout(kube, p);
        const status = await waitForRollout(kube, p.namespace, p.deployment, attemptDeadline(), 'RolloutFailed');
        // A retry after our patch landed has patched=false but is still our change: record it either way,
        // unless the plan itself was a no-op (the template already matched: Rearguard restored nothing).
        const restoreRecord = by && !p.alreadyAtTarget ? await recordRestored(kube, p, by) : undefined;
        const dep = await getDeployment(kube, p.namespace, p.deployment);
        return {
          deployment: `${p.namespace}/${p.deployment}`,
          fromRevision: p.fromRevision,
          toRevision: p.toRevision,
          newRevision: revisionOf(dep),
          fromImages: p.fromImages,
          toImages: p.toImages,
          changed: patched,
          status: p.alreadyAtTarget ? `skipped rollback (current template already matches revision ${p.toRevision})` : status,
          ...(restoreRecord ? { restoreRecord } : {}),
        };
      }
      const p = plan as BlueGreenPlan;
      const { patched } = await applyBlueGreen(kube, p);
      return { service: `${p.namespace}/${p.service}`, fromSelector: p.fromSelector, toSelector: p.toSelector, deployments: p.deployments, changed: patched };
    },

    /** `kubernetesAvailable`: the rollout is complete and every desired replica is available. */
    async check(check: Extract<Check, { type: 'kubernetesAvailable' }>, defaultCluster: string | undefined): Promise<Record<string, unknown>> {
      const kube = clusters.client(check.cluster ?? defaultCluster);
      const message = await waitForRollout(kube, check.namespace, check.deployment, Date.now() + (check.timeout ?? 120_000), 'CheckFailed');
      const dep = await getDeployment(kube, check.namespace, check.deployment);
      return {
        deployment: `${check.namespace}/${check.deployment}`,
        revision: revisionOf(dep),
        availableReplicas: dep.status?.availableReplicas ?? 0,
        status: message,
      };
    },
  };
}
