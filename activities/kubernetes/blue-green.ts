// The `blueGreen` step: point a Service's selector at the target track (e.g. track: blue) once the
// Deployment behind that selector is available. Only the selector is merge-patched; the previous
// selector is recorded so the change can be read back (and undone) from the audit trail.
import { ApplicationFailure } from '@temporalio/activity';
import type { BlueGreenPlan } from '../../runbook/plan.js';
import type { KubeClient, KubeObject } from './client.js';
import { rolloutStatus } from './rollout.js';

export type { BlueGreenPlan };

const servicePath = (ns: string, name: string) => `/api/v1/namespaces/${ns}/services/${name}`;
const sameLabels = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

export async function planBlueGreen(kube: KubeClient, ns: string, service: string, selector: Record<string, string>): Promise<BlueGreenPlan> {
  let svc: KubeObject;
  try {
    svc = await kube.get(servicePath(ns, service));
  } catch (err) {
    if (err instanceof ApplicationFailure && err.type === 'NotFound')
      throw ApplicationFailure.nonRetryable(`service ${ns}/${service} not found in cluster ${kube.cluster}`, 'NotFound');
    throw err;
  }
  const fromSelector = (svc.spec?.selector ?? {}) as Record<string, string>;
  const toSelector = { ...fromSelector, ...selector };
  const list = await kube.get(`/apis/apps/v1/namespaces/${ns}/deployments`);
  const behind = ((list.items ?? []) as KubeObject[]).filter((d) => {
    const labels = (d.spec?.template?.metadata?.labels ?? {}) as Record<string, string>;
    return Object.entries(toSelector).every(([k, v]) => labels[k] === v);
  });
  if (behind.length === 0) {
    const wanted = Object.entries(toSelector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    throw ApplicationFailure.nonRetryable(`no deployment in ${ns} runs pods matching ${wanted}: nothing to switch service ${ns}/${service} to`, 'NotFound');
  }
  return {
    kind: 'blueGreen',
    cluster: kube.cluster,
    namespace: ns,
    service,
    fromSelector,
    toSelector,
    deployments: behind.map((d) => d.metadata.name as string),
    alreadyAtTarget: sameLabels(fromSelector, toSelector),
  };
}

/** Checks the target deployments are available, then switches the selector (no-op when already switched). */
export async function applyBlueGreen(kube: KubeClient, plan: BlueGreenPlan): Promise<{ patched: boolean }> {
  for (const name of plan.deployments) {
    const dep = await kube.get(`/apis/apps/v1/namespaces/${plan.namespace}/deployments/${name}`);
    const progress = rolloutStatus(dep);
    if (!progress.done || (dep.status?.availableReplicas ?? 0) < 1) {
      throw ApplicationFailure.retryable(
        `not switching ${plan.namespace}/${plan.service}: ${progress.done ? `deployment ${name} has no available replicas` : progress.message}`,
        'TargetNotReady',
      );
    }
  }
  const svc = await kube.get(servicePath(plan.namespace, plan.service));
  if (sameLabels((svc.spec?.selector ?? {}) as Record<string, string>, plan.toSelector)) return { patched: false };
  await kube.patch(servicePath(plan.namespace, plan.service), { spec: { selector: plan.toSelector } }, 'application/merge-patch+json');
  return { patched: true };
}
