// The repeat rule's memory for `kubernetes` steps, kept on the Deployment itself: after a rollback step
// changed a Deployment, the annotation `rearguard.io/restored` (metadata, not the pod template, so no new
// rollout) records the revision Rearguard produced, what it restored, the workflow and the time. A relative
// target (`toRevision: previous`) planned while the Deployment is still at that revision with that template
// is a repeat (restoredState in rollout.ts). Any new deploy makes a new revision (and template), so it
// re-arms by itself; the annotation outlives worker and server restarts because it lives in the cluster.
import { RESTORED_ANNOTATION } from '../../runbook/repeat.js';
import type { KubeClient } from './client.js';
import { equalIgnoreHash, getDeployment, images, ownedReplicaSets, revisionOf } from './rollout.js';
import { type RestoreRecord } from '../../runbook/plan.js';

/**
 * Records, after a rollback step changed the Deployment and its rollout completed, that its current
 * revision is Rearguard's restore. Nothing is recorded if the Deployment moved on meanwhile (its template is
 * no longer the restored ReplicaSet's). A merge patch of one annotation: no resourceVersion race with the
 * controller, and the pod template is untouched.
 */
export async function recordRestored(
  kube: KubeClient,
  plan: { namespace: string; deployment: string; replicaSet: string; toRevision: number; toImages: string[] },
  by: { workflowId: string; runId?: string },
): Promise<RestoreRecord | undefined> {
  const dep = await getDeployment(kube, plan.namespace, plan.deployment);
  const rs = (await ownedReplicaSets(kube, dep)).find((s) => s.metadata.name === plan.replicaSet);
  const revision = revisionOf(dep);
  if (!rs || revision === undefined || revisionOf(rs) !== revision || !equalIgnoreHash(rs.spec.template, dep.spec.template)) return undefined;
  const record: RestoreRecord & { toRevision: number; images: string[] } = {
    revision,
    restoredTo: `revision ${revision}`,
    by: by.workflowId,
    ...(by.runId ? { runId: by.runId } : {}),
    at: new Date().toISOString(),
    detail: `deployment ${plan.namespace}/${plan.deployment} at revision ${revision}, the template of revision ${plan.toRevision} (${images(dep.spec.template).join(', ')})`,
    toRevision: plan.toRevision,
    images: images(dep.spec.template),
  };
  await kube.patch(
    `/apis/apps/v1/namespaces/${plan.namespace}/deployments/${plan.deployment}`,
    { metadata: { annotations: { [RESTORED_ANNOTATION]: JSON.stringify(record) } } },
    'application/merge-patch+json',
  );
  return record;
}
