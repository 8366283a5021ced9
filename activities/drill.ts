// Rollback drills: deploy a deliberately marked bad revision of a Deployment (so the runbook's rollback
// has something real to undo), look at the Deployment afterwards, and put the good template back if
// the rollback did not. Idempotent: the bad revision is found again by its marker, never made twice.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { DRILL_MARKER, badImage, type DrillInspection, type DrillRevision } from '../runbook/drill.js';
import { configurationError } from './errors.js';
import type { KubeClient, KubeObject } from './kubernetes/client.js';
import { waitForRollout } from './kubernetes/index.js';
import { applyRollout, equalIgnoreHash, getDeployment, ownedReplicaSets, revisionOf, rolloutStatus } from './kubernetes/rollout.js';
import type { Clusters } from './targets.js';

export interface DrillTargetRequest {
  cluster: string | undefined;
  namespace: string;
  deployment: string;
}

const deploymentPath = (ns: string, name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;
const markerOf = (obj: KubeObject): string | undefined => obj.spec?.template?.metadata?.annotations?.[DRILL_MARKER];
const imagesOf = (obj: KubeObject): string[] => ((obj.spec?.template?.spec?.containers ?? []) as KubeObject[]).map((c) => `${c.name}=${c.image}`);
/** The end of this attempt, a little before the activity's own timeout would cut it off. */
const attemptDeadline = (): number => Date.now() + Math.max(5_000, (Context.current().info.startToCloseTimeoutMs ?? 600_000) - 5_000);

async function revisionsByNumber(kube: KubeClient, dep: KubeObject): Promise<KubeObject[]> {
  return (await ownedReplicaSets(kube, dep)).filter((rs) => revisionOf(rs) !== undefined).sort((a, b) => revisionOf(b)! - revisionOf(a)!);
}

export function drillActivities(clusters: Clusters) {
  return {
    /**
     * Makes a new revision of the Deployment whose pod template carries `rearguard.io/drill: <marker>` and
     * a bad image (`<repository>:rearguard-drill-bad`), waits until it is the current, rolled-out
     * revision, and records it with the revision it replaced.
     */
    async drillDeployBadRevision(req: DrillTargetRequest & { marker: string }): Promise<DrillRevision> {
      const { namespace: ns, deployment: name, marker } = req;
      const kube = clusters.client(req.cluster);
      let dep = await getDeployment(kube, ns, name);
      const existing = markerOf(dep);
      if (existing !== undefined && existing !== marker) {
        throw ApplicationFailure.nonRetryable(
          `deployment ${ns}/${name} still runs the bad revision of drill ${existing}: that drill was not rolled back; roll it back (rearguard rollback start) before drilling again`,
          'DrillConflict',
        );
      }
      const created = existing === undefined;
      if (created) {
        if (dep.spec.paused) throw configurationError(`deployment ${ns}/${name} is paused: resume it before drilling (a paused Deployment cannot roll back)`);
        // Start from a settled Deployment, so the revision we replace is a complete, good one.
        await waitForRollout(kube, ns, name, attemptDeadline(), 'RolloutFailed');
        dep = await getDeployment(kube, ns, name);
        const containers = (dep.spec.template?.spec?.containers ?? []) as KubeObject[];
        if (containers.length === 0) throw configurationError(`deployment ${ns}/${name} has no containers to break`);
        const meta = dep.spec.template.metadata;
        const ops: unknown[] = [{ op: 'test', path: '/metadata/resourceVersion', value: dep.metadata.resourceVersion }];
        if (meta?.annotations) ops.push({ op: 'add', path: `/spec/template/metadata/annotations/${DRILL_MARKER.replace('/', '~1')}`, value: marker });
        else if (meta) ops.push({ op: 'add', path: '/spec/template/metadata/annotations', value: { [DRILL_MARKER]: marker } });
        else ops.push({ op: 'add', path: '/spec/template/metadata', value: { annotations: { [DRILL_MARKER]: marker } } });
        ops.push({ op: 'replace', path: '/spec/template/spec/containers/0/image', value: badImage(String(containers[0].image)) });
        // Guarded by the resourceVersion: a concurrent change fails the patch and the retry re-reads.
        await kube.patch(deploymentPath(ns, name), ops, 'application/json-patch+json');
      }
      await waitForRollout(kube, ns, name, attemptDeadline(), 'RolloutFailed');
      dep = await getDeployment(kube, ns, name);
      const sets = await revisionsByNumber(kube, dep);
      const bad = sets.find((rs) => markerOf(rs) === marker && equalIgnoreHash(rs.spec.template, dep.spec.template));
      if (!bad) throw ApplicationFailure.retryable(`the marked revision of ${ns}/${name} is not the current one yet`, 'DrillNotDeployed');
      const good = sets.find((rs) => revisionOf(rs)! < revisionOf(bad)! && markerOf(rs) === undefined);
      if (!good) throw configurationError(`deployment ${ns}/${name} has no revision before the drill's to go back to`);
      return {
        cluster: kube.cluster,
        namespace: ns,
        deployment: name,
        marker,
        goodRevision: revisionOf(good)!,
        goodReplicaSet: good.metadata.name as string,
        goodImages: imagesOf(good),
        badRevision: revisionOf(bad)!,
        badImages: imagesOf(bad),
        created,
      };
    },

    /** The Deployment now: revision, images, the drill marker if it is still there, rollout complete. */
    async drillInspect(req: DrillTargetRequest): Promise<DrillInspection> {
      const dep = await getDeployment(clusters.client(req.cluster), req.namespace, req.deployment);
      let rolloutDone: boolean;
      try {
        rolloutDone = rolloutStatus(dep).done;
      } catch {
        rolloutDone = false;
      }
      return { revision: revisionOf(dep), images: imagesOf(dep), marker: markerOf(dep), rolloutDone };
    },

    /** Puts the pre-drill template back if the drill's marker is still there (the rollback did not restore it). */
    async drillRestore(rev: DrillRevision): Promise<{ patched: boolean; revision?: number }> {
      const kube = clusters.client(rev.cluster);
      const dep = await getDeployment(kube, rev.namespace, rev.deployment);
      if (markerOf(dep) !== rev.marker) return { patched: false, revision: revisionOf(dep) };
      const { patched } = await applyRollout(kube, {
        kind: 'kubernetes',
        cluster: rev.cluster,
        namespace: rev.namespace,
        deployment: rev.deployment,
        fromRevision: rev.badRevision,
        toRevision: rev.goodRevision,
        fromImages: rev.badImages,
        toImages: rev.goodImages,
        replicaSet: rev.goodReplicaSet,
        alreadyAtTarget: false,
      });
      await waitForRollout(kube, rev.namespace, rev.deployment, attemptDeadline(), 'RolloutFailed');
      return { patched, revision: revisionOf(await getDeployment(kube, rev.namespace, rev.deployment)) };
    },
  };
}
