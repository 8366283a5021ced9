// `rearguard doctor`'s findings: one line per check, ok or failing (or a warning: it works, but not as intended in
// production), with what to do about it. Plain data: the worker's part of the diagnosis crosses a workflow.
import type { Guardrails } from './freeze.js';
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
  /** Freeze calendars' guardrails whose access to check (Argo CD projects, Flux objects, the flags file). */
  guardrails?: { calendar: string; guardrails: Guardrails }[];
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
  /**
   * The ClusterRole whose binding grants it: deploy/rbac's rearguard-worker, or (helm) a role covering the chart's
   * resources and Helm's release Secrets, such as the built-in `edit`.
   */
  role: 'rearguard-worker' | 'edit';
}

/** Flux kinds as the API names them: group and resource. */
const FLUX_RESOURCES = {
  Kustomization: { group: 'kustomize.toolkit.fluxcd.io', resource: 'kustomizations' },
  GitRepository: { group: 'source.toolkit.fluxcd.io', resource: 'gitrepositories' },
  HelmRelease: { group: 'helm.toolkit.fluxcd.io', resource: 'helmreleases' },
  HelmChart: { group: 'source.toolkit.fluxcd.io', resource: 'helmcharts' },
} as const;

/** The access each step and check uses (mechanisms in activities/kubernetes/, activities/helm.ts, activities/gitops.ts). */
export function accessNeeds(runbook: Runbook): AccessNeed[] {
  const { spec, metadata } = runbook;
  const needs: AccessNeed[] = [];
  const need = (n: Omit<AccessNeed, 'role'> & { role?: AccessNeed['role'] }) => needs.push({ role: 'rearguard-worker', ...n });
  for (const [i, step] of spec.steps.entries()) {
    const by = `${metadata.name} step ${step.name ?? i + 1}`;
    if (step.type === 'kubernetes') {
      const cluster = step.cluster ?? spec.cluster;
      need({ cluster, namespace: step.namespace, group: 'apps', resource: 'deployments', verbs: ['get', 'patch'], by });
      need({ cluster, namespace: step.namespace, group: 'apps', resource: 'replicasets', verbs: ['list'], by });
    } else if (step.type === 'blueGreen') {
      const cluster = step.cluster ?? spec.cluster;
      need({ cluster, namespace: step.namespace, group: '', resource: 'services', verbs: ['get', 'patch'], by });
      need({ cluster, namespace: step.namespace, group: 'apps', resource: 'deployments', verbs: ['get', 'list'], by });
    } else if (step.type === 'helm') {
      // helm rollback reads the release history, writes a new revision, supersedes the old one and prunes revisions
      // beyond --history-max (Secrets, Helm's default storage); Rearguard annotates the revision it made. The chart's
      // own resources are not known here.
      const verbs = ['get', 'list', 'create', 'update', 'patch', 'delete'];
      need({ cluster: step.cluster ?? spec.cluster, namespace: step.namespace, group: '', resource: 'secrets', verbs, by, role: 'edit' });
    } else if (step.type === 'gitops') {
      if (step.argocd)
        need({
          cluster: spec.cluster,
          namespace: step.argocd.namespace ?? 'argocd',
          group: 'argoproj.io',
          resource: 'applications',
          verbs: ['get', 'patch'],
          by,
        });
      if (step.flux) {
        need({ cluster: spec.cluster, namespace: step.flux.namespace, ...FLUX_RESOURCES[step.flux.kind], verbs: ['get', 'patch'], by });
        // --with-source: the Kustomization's or HelmRelease's GitRepository is asked too (most often in its namespace).
        if (step.flux.kind !== 'GitRepository')
          need({ cluster: spec.cluster, namespace: step.flux.namespace, ...FLUX_RESOURCES.GitRepository, verbs: ['patch'], by });
        // A HelmRelease's chart kept in Git: its HelmChart says which commit the released chart came from.
        if (step.flux.kind === 'HelmRelease') need({ cluster: spec.cluster, namespace: step.flux.namespace, ...FLUX_RESOURCES.HelmChart, verbs: ['get'], by });
      }
    }
  }
  for (const [i, check] of (spec.verify ?? []).entries())
    if (check.type === 'kubernetesAvailable')
      need({
        cluster: check.cluster ?? spec.cluster,
        namespace: check.namespace,
        group: 'apps',
        resource: 'deployments',
        verbs: ['get'],
        by: `${metadata.name} check ${check.name ?? i + 1}`,
      });
  return needs;
}

/** The access a freeze's guardrails use (activities/guardrails/): Argo CD projects or Applications, Flux objects. */
export function guardrailNeeds(calendar: string, g: Guardrails): AccessNeed[] {
  const needs: AccessNeed[] = [];
  const by = `calendar ${calendar} guardrails`;
  if (g.argocd) {
    const { cluster, namespace, projects, mode } = g.argocd;
    const base = { cluster, namespace, group: 'argoproj.io', by: `${by}.argocd`, role: 'rearguard-worker' as const };
    // A deny window is a JSON patch of each AppProject ('*': the namespace's projects, listed); disableAutoSync
    // patches the projects' Applications, found by listing the namespace, and never touches the projects.
    if (mode === 'disableAutoSync') needs.push({ ...base, resource: 'applications', verbs: ['get', 'list', 'patch'] });
    else needs.push({ ...base, resource: 'appprojects', verbs: projects.includes('*') ? ['get', 'list', 'patch'] : ['get', 'patch'] });
  }
  if (g.flux) {
    const refs: [keyof typeof FLUX_RESOURCES, string][] = [
      ...g.flux.kustomizations.map((r): [keyof typeof FLUX_RESOURCES, string] => ['Kustomization', r]),
      ...g.flux.helmReleases.map((r): [keyof typeof FLUX_RESOURCES, string] => ['HelmRelease', r]),
    ];
    for (const [kind, ref] of refs)
      needs.push({
        cluster: g.flux.cluster,
        namespace: ref.split('/')[0],
        ...FLUX_RESOURCES[kind],
        verbs: ['get', 'patch'],
        by: `${by}.flux ${kind} ${ref}`,
        role: 'rearguard-worker',
      });
  }
  return needs;
}
