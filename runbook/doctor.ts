// `rearguard doctor`'s findings: one line per check, ok or failing (or a warning: it works, but not as intended in
// production), with what to do about it. Plain data: the worker's part of the diagnosis crosses a workflow.
import type { Runbook } from './schema.js';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface Finding {
  /** What was checked: temporal, namespace, workers, cluster <name>, helm, git, terraform, catalog, ... */
  check: string;
  verdict: Verdict;
  detail: string;
  /** What to do, when the verdict is not ok. */
  fix?: string;
}

/** What the worker checks: its tools, clusters (and access for these runbooks' namespaces), catalog, Prometheus. */
export interface DiagnoseInput {
  /** Local runbooks whose steps' access to check (besides the catalog's runbooks). */
  runbooks: Runbook[];
}

/** The Kubernetes access a runbook needs, by cluster and namespace: resource, API group, verbs (deploy/rbac). */
export interface AccessNeed {
  cluster: string | undefined;
  namespace: string;
  group: string;
  resource: string;
  verbs: string[];
  /** Which runbook and step need it, for the finding's detail. */
  by: string;
}

/** The access each step and check uses (mechanisms in activities/kubernetes/). */
export function accessNeeds(runbook: Runbook): AccessNeed[] {
  const { spec, metadata } = runbook;
  const needs: AccessNeed[] = [];
  for (const [i, step] of spec.steps.entries()) {
    const by = `${metadata.name} step ${step.name ?? i + 1}`;
    if (step.type === 'kubernetes') {
      const cluster = step.cluster ?? spec.cluster;
      needs.push({ cluster, namespace: step.namespace, group: 'apps', resource: 'deployments', verbs: ['get', 'patch'], by });
      needs.push({ cluster, namespace: step.namespace, group: 'apps', resource: 'replicasets', verbs: ['list'], by });
    } else if (step.type === 'blueGreen') {
      const cluster = step.cluster ?? spec.cluster;
      needs.push({ cluster, namespace: step.namespace, group: '', resource: 'services', verbs: ['get', 'patch'], by });
      needs.push({ cluster, namespace: step.namespace, group: 'apps', resource: 'deployments', verbs: ['get', 'list'], by });
    }
  }
  for (const [i, check] of (spec.verify ?? []).entries())
    if (check.type === 'kubernetesAvailable')
      needs.push({
        cluster: check.cluster ?? spec.cluster,
        namespace: check.namespace,
        group: 'apps',
        resource: 'deployments',
        verbs: ['get'],
        by: `${metadata.name} check ${check.name ?? i + 1}`,
      });
  return needs;
}
