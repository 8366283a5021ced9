// `kubectl rollout undo` for Deployments, with kubectl's semantics (k8s.io/kubectl polymorphichelpers
// rollback.go): the target is a ReplicaSet owned by the Deployment, chosen by its revision annotation;
// the Deployment gets that ReplicaSet's pod template (without pod-template-hash) and kubectl's
// annotation set. Split into plan (resolve once, recorded in workflow history) and apply (ensure that
// template; a retry after the patch landed is a no-op, never a second step back).
import { ApplicationFailure } from '@temporalio/activity';
import { configurationError } from '../errors.js';
import { parseRestoreRecord, RESTORED_ANNOTATION } from '../../runbook/repeat.js';
import type { RolloutPlan } from '../../runbook/plan.js';
import type { KubeClient, KubeObject } from './client.js';
import { type RestoreRecord } from '../../runbook/plan.js';

export const REVISION = 'deployment.kubernetes.io/revision';
const HASH_LABEL = 'pod-template-hash';
/** Annotations kubectl keeps from the Deployment rather than copying from the ReplicaSet. */
const ANNOTATIONS_TO_SKIP = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

export type { RolloutPlan };

const deploymentPath = (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;
export const images = (template: KubeObject): string[] =>
  [...(template.spec?.initContainers ?? []), ...(template.spec?.containers ?? [])].map((c: KubeObject) => `${c.name}=${c.image}`);
export const revisionOf = (obj: KubeObject): number | undefined => {
  const v = obj.metadata?.annotations?.[REVISION];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
};

/** Deep equality on JSON where missing, null, empty object and empty list are the same (apimachinery's semantic equality). */
export function semanticEqual(a: unknown, b: unknown): boolean {
  const empty = (v: unknown) =>
    v === undefined ||
    v === null ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
  if (empty(a) && empty(b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => semanticEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => semanticEqual((a as KubeObject)[k], (b as KubeObject)[k]));
  }
  return a === b;
}

function withoutHash(template: KubeObject): KubeObject {
  const copy = structuredClone(template);
  if (copy.metadata?.labels) delete copy.metadata.labels[HASH_LABEL];
  return copy;
}
export const equalIgnoreHash = (a: KubeObject, b: KubeObject): boolean => semanticEqual(withoutHash(a), withoutHash(b));

function selectorString(dep: KubeObject): string {
  const sel = dep.spec?.selector ?? {};
  const parts = Object.entries((sel.matchLabels ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`);
  for (const e of (sel.matchExpressions ?? []) as { key: string; operator: string; values?: string[] }[]) {
    if (e.operator === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

export async function getDeployment(kube: KubeClient, ns: string, name: string): Promise<KubeObject> {
  try {
    return await kube.get(deploymentPath(ns, name));
  } catch (err) {
    if (err instanceof ApplicationFailure && err.type === 'NotFound') {
      throw ApplicationFailure.nonRetryable(`deployment ${ns}/${name} not found in cluster ${kube.cluster}`, 'NotFound');
    }
    throw err;
  }
}

/** ReplicaSets controlled by the Deployment (owner reference with its UID), as kubectl finds them. */
export async function ownedReplicaSets(kube: KubeClient, dep: KubeObject): Promise<KubeObject[]> {
  const ns = dep.metadata.namespace as string;
  const list = await kube.get(`/apis/apps/v1/namespaces/${ns}/replicasets?labelSelector=${encodeURIComponent(selectorString(dep))}`);
  return ((list.items ?? []) as KubeObject[]).filter((rs) =>
    (rs.metadata.ownerReferences ?? []).some((o: KubeObject) => o.controller && o.uid === dep.metadata.uid),
  );
}

/**
 * The record of the rollback that produced the Deployment's current state (the `rearguard.io/restored`
 * annotation, written by recordRestored in restored.ts), or undefined when the current revision is not one
 * Rearguard made: no record, a record of an older revision, or a template changed since. `sets` are the
 * Deployment's ReplicaSets.
 */
export function restoredState(dep: KubeObject, sets: KubeObject[]): RestoreRecord | undefined {
  const record = parseRestoreRecord(dep.metadata?.annotations?.[RESTORED_ANNOTATION]);
  const current = revisionOf(dep);
  if (!record || current === undefined || record.revision !== current) return undefined;
  // The deployment controller bumps the revision shortly after a template change: until it has, the
  // template tells a new deploy apart from the state we restored.
  const rs = sets.find((s) => revisionOf(s) === current);
  if (!rs || !equalIgnoreHash(rs.spec.template, dep.spec.template)) return undefined;
  return {
    revision: record.revision,
    restoredTo: record.restoredTo,
    by: record.by,
    ...(record.runId ? { runId: record.runId } : {}),
    at: record.at,
    detail: record.detail,
  };
}

export async function planRollout(kube: KubeClient, ns: string, name: string, toRevision: 'previous' | number): Promise<RolloutPlan> {
  const dep = await getDeployment(kube, ns, name);
  const sets = (await ownedReplicaSets(kube, dep)).filter((rs) => revisionOf(rs) !== undefined).sort((a, b) => revisionOf(b)! - revisionOf(a)!);
  // The repeat rule: `previous` of a state Rearguard restored is the bad revision it replaced. Plan to stay.
  const restored = toRevision === 'previous' ? restoredState(dep, sets) : undefined;
  if (restored) {
    const current = sets.find((rs) => revisionOf(rs) === revisionOf(dep))!;
    return {
      kind: 'kubernetes',
      cluster: kube.cluster,
      namespace: ns,
      deployment: name,
      fromRevision: revisionOf(dep)!,
      toRevision: revisionOf(dep)!,
      fromImages: images(dep.spec.template),
      toImages: images(dep.spec.template),
      replicaSet: current.metadata.name,
      alreadyAtTarget: true,
      alreadyRestored: restored,
    };
  }
  let target: KubeObject | undefined;
  if (toRevision === 'previous') {
    if (sets.length < 2) throw configurationError(`no rollout history found for deployment ${ns}/${name}: there is no previous revision to go back to`);
    target = sets[1];
  } else {
    target = sets.find((rs) => revisionOf(rs) === toRevision);
    if (!target)
      throw configurationError(
        `unable to find specified revision ${toRevision} in the history of deployment ${ns}/${name} (available: ${sets.map(revisionOf).join(', ') || 'none'})`,
      );
  }
  if (dep.spec.paused)
    throw configurationError(`you cannot rollback a paused deployment; resume ${ns}/${name} first with 'kubectl rollout resume' and try again`);
  return {
    kind: 'kubernetes',
    cluster: kube.cluster,
    namespace: ns,
    deployment: name,
    fromRevision: revisionOf(dep) ?? 0,
    toRevision: revisionOf(target)!,
    fromImages: images(dep.spec.template),
    toImages: images(target.spec.template),
    replicaSet: target.metadata.name,
    alreadyAtTarget: equalIgnoreHash(target.spec.template, dep.spec.template),
  };
}

/** Makes the Deployment's template the planned ReplicaSet's. Returns whether it patched anything. */
export async function applyRollout(kube: KubeClient, plan: RolloutPlan): Promise<{ patched: boolean }> {
  const { namespace: ns, deployment: name } = plan;
  const dep = await getDeployment(kube, ns, name);
  const sets = await ownedReplicaSets(kube, dep);
  const target = sets.find((rs) => rs.metadata.name === plan.replicaSet);
  if (!target) {
    throw ApplicationFailure.nonRetryable(
      `ReplicaSet ${plan.replicaSet} (revision ${plan.toRevision} of ${ns}/${name}) no longer exists; it may have been pruned by revisionHistoryLimit`,
      'NotFound',
    );
  }
  // Already there: planned as a no-op, or a retry after our patch landed (the ReplicaSet now carries
  // a newer revision number, but it is the same template): never step back again.
  if (equalIgnoreHash(target.spec.template, dep.spec.template)) return { patched: false };
  if (dep.spec.paused)
    throw configurationError(`you cannot rollback a paused deployment; resume ${ns}/${name} first with 'kubectl rollout resume' and try again`);

  const template = withoutHash(target.spec.template);
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries((dep.metadata.annotations ?? {}) as Record<string, string>)) if (ANNOTATIONS_TO_SKIP.has(k)) annotations[k] = v;
  for (const [k, v] of Object.entries((target.metadata.annotations ?? {}) as Record<string, string>)) if (!ANNOTATIONS_TO_SKIP.has(k)) annotations[k] = v;
  // kubectl's JSON patch, guarded by the resourceVersion we decided on: a concurrent change makes it
  // fail (and the activity retry re-reads) instead of being overwritten.
  await kube.patch(
    deploymentPath(ns, name),
    [
      { op: 'test', path: '/metadata/resourceVersion', value: dep.metadata.resourceVersion },
      { op: 'replace', path: '/spec/template', value: template },
      { op: 'replace', path: '/metadata/annotations', value: annotations },
    ],
    'application/json-patch+json',
  );
  return { patched: true };
}

export interface RolloutProgress {
  done: boolean;
  message: string;
}

/** `kubectl rollout status` for one observation of a Deployment. Throws when the rollout failed. */
export function rolloutStatus(dep: KubeObject): RolloutProgress {
  const name = `${dep.metadata.namespace}/${dep.metadata.name}`;
  const status = dep.status ?? {};
  if ((dep.metadata.generation ?? 0) > (status.observedGeneration ?? 0))
    return { done: false, message: `waiting for deployment ${name} spec update to be observed` };
  const progressing = ((status.conditions ?? []) as KubeObject[]).find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    throw ApplicationFailure.nonRetryable(`deployment ${name} exceeded its progress deadline: ${progressing.message ?? ''}`.trim(), 'RolloutFailed');
  }
  const want = dep.spec.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  const replicas = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  if (updated < want) return { done: false, message: `waiting for deployment ${name} rollout to finish: ${updated} of ${want} updated replicas are available` };
  if (replicas > updated)
    return { done: false, message: `waiting for deployment ${name} rollout to finish: ${replicas - updated} old replicas are pending termination` };
  if (available < updated)
    return { done: false, message: `waiting for deployment ${name} rollout to finish: ${available} of ${updated} updated replicas are available` };
  return { done: true, message: `deployment ${name} successfully rolled out` };
}
