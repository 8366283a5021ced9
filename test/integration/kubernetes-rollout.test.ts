// `kubernetes` steps against a real control plane, differential against `kubectl rollout undo`: the
// same history is built in two namespaces, kubectl undoes one and Rearguard the other, and the
// resulting pod templates and revision annotations must be equal.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { KubeClient, type KubeObject } from '../../activities/kubernetes/client.js';
import { applyRollout, planRollout, REVISION } from '../../activities/kubernetes/rollout.js';
import { waitForRollout } from '../../activities/kubernetes/index.js';
import { deploymentYaml, rolloutStatus } from '../helpers/fixtures.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let bed: Testbed;
let kube: KubeClient;
let nsCounter = 0;

before(async () => {
  bed = await startTestbed();
  kube = KubeClient.fromConfig('testbed', { kubeconfig: bed.kubeconfig });
});
after(async () => {
  await bed?.stop();
});

const deployment = (ns: string) =>
  deploymentYaml({
    namespace: ns,
    name: 'app',
    annotations: { team: 'payments' },
    revisionHistoryLimit: 10,
    labels: { app: 'web' },
    container: 'web',
    image: 'registry.local/web:1.0',
    env: { MODE: 'normal' },
  });

type Change = string[]; // kubectl arguments, run against deployment/app in the namespace

async function namespaceWithHistory(changes: Change[]): Promise<string> {
  const ns = `diff-${++nsCounter}-${Date.now().toString(36)}`;
  await bed.kubectl(['create', 'namespace', ns]);
  await bed.kubectl(['apply', '-f', '-'], deployment(ns));
  await rolloutStatus(bed, ns, 'app');
  for (const change of changes) {
    await bed.kubectl([...change, '-n', ns]);
    await rolloutStatus(bed, ns, 'app');
  }
  return ns;
}

async function get(ns: string): Promise<KubeObject> {
  return JSON.parse(await bed.kubectl(['get', 'deployment', 'app', '-n', ns, '-o', 'json'])) as KubeObject;
}

/** What must agree between kubectl and Rearguard: the template and the annotations, revision included. */
async function outcome(ns: string) {
  const dep = await get(ns);
  const sets = JSON.parse(await bed.kubectl(['get', 'replicasets', '-n', ns, '-o', 'json'])) as { items: KubeObject[] };
  const revisions = sets.items
    .map((rs) => [rs.spec.template.spec.containers[0].image, rs.spec.template.spec.containers[0].env, rs.metadata.annotations[REVISION]])
    .sort((a, b) => Number(a[2]) - Number(b[2]));
  // kubectl apply's last-applied-configuration names the namespace; everything else must match verbatim.
  return JSON.parse(JSON.stringify({ template: dep.spec.template, annotations: dep.metadata.annotations, revisions }).replaceAll(ns, 'NAMESPACE')) as {
    template: unknown;
    annotations: unknown;
    revisions: unknown;
  };
}

async function rearguardUndo(ns: string, toRevision: 'previous' | number) {
  const plan = await planRollout(kube, ns, 'app', toRevision);
  const { patched } = await applyRollout(kube, plan);
  await new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }).run(() => waitForRollout(kube, ns, 'app', Date.now() + 60_000, 'RolloutFailed'));
  return { plan, patched };
}

const setImage = (tag: string): Change => ['set', 'image', 'deployment/app', `web=registry.local/web:${tag}`];
const histories: { name: string; changes: Change[]; toRevision: 'previous' | number }[] = [
  { name: 'three revisions, undo to previous', changes: [setImage('2.0'), setImage('3.0')], toRevision: 'previous' },
  { name: 'three revisions, to-revision 1', changes: [setImage('2.0'), setImage('3.0')], toRevision: 1 },
  { name: 'env change, undo', changes: [setImage('2.0'), ['set', 'env', 'deployment/app', 'MODE=degraded']], toRevision: 'previous' },
  {
    name: 'template annotation and image change, undo',
    changes: [
      ['patch', 'deployment/app', '--type=merge', '-p', '{"spec":{"template":{"metadata":{"annotations":{"checksum/config":"abc"}}}}}'],
      setImage('2.1'),
    ],
    toRevision: 'previous',
  },
  {
    name: 'previous revision was itself a rollback',
    changes: [setImage('2.0'), setImage('3.0'), ['rollout', 'undo', 'deployment/app']],
    toRevision: 'previous',
  },
  {
    name: 'deployment annotations and a change-cause, to-revision 2',
    changes: [['annotate', 'deployment/app', 'kubernetes.io/change-cause=deploy 2.0', 'owner=alice'], setImage('2.0'), setImage('3.0')],
    toRevision: 2,
  },
];

describe('kubernetes rollout undo, differential against kubectl', () => {
  for (const h of histories) {
    it(h.name, async () => {
      const [viaKubectl, viaRearguard] = await Promise.all([namespaceWithHistory(h.changes), namespaceWithHistory(h.changes)]);
      assert.deepEqual(await outcome(viaKubectl), await outcome(viaRearguard), 'identical histories before the undo');
      await bed.kubectl(['rollout', 'undo', '-n', viaKubectl, 'deployment/app', ...(h.toRevision === 'previous' ? [] : [`--to-revision=${h.toRevision}`])]);
      await rolloutStatus(bed, viaKubectl, 'app');
      const { plan, patched } = await rearguardUndo(viaRearguard, h.toRevision);
      assert.equal(patched, true);
      assert.ok(plan.toRevision < plan.fromRevision);
      const [a, b] = [await outcome(viaKubectl), await outcome(viaRearguard)];
      assert.deepEqual(b.template, a.template, 'same pod template');
      assert.deepEqual(b.annotations, a.annotations, 'same annotations, revision included');
      assert.deepEqual(b.revisions, a.revisions, 'same ReplicaSet revisions');
    });
  }

  it('is a no-op when already at the target, as kubectl skips it', async () => {
    const ns = await namespaceWithHistory([setImage('2.0')]);
    const kubectlSays = await bed.kubectl(['rollout', 'undo', '-n', ns, 'deployment/app', '--to-revision=2']);
    assert.match(kubectlSays, /skipped rollback \(current template already matches revision 2\)/);
    const before = await get(ns);
    const { plan, patched } = await rearguardUndo(ns, 2);
    assert.equal(plan.alreadyAtTarget, true);
    assert.equal(patched, false);
    assert.equal((await get(ns)).metadata.resourceVersion, before.metadata.resourceVersion, 'nothing written');
  });

  it('refuses like kubectl: paused deployment, missing revision, no history', async () => {
    const fresh = await namespaceWithHistory([]);
    await assert.rejects(planRollout(kube, fresh, 'app', 'previous'), /no rollout history found for deployment/);
    const ns = await namespaceWithHistory([setImage('2.0')]);
    await assert.rejects(
      planRollout(kube, ns, 'app', 7),
      (err: unknown) => err instanceof ApplicationFailure && err.nonRetryable && /unable to find specified revision 7.*available: 2, 1/.test(err.message),
    );
    await bed.kubectl(['rollout', 'pause', '-n', ns, 'deployment/app']);
    await assert.rejects(bed.kubectl(['rollout', 'undo', '-n', ns, 'deployment/app']), /you cannot rollback a paused deployment/);
    await assert.rejects(
      planRollout(kube, ns, 'app', 'previous'),
      (err: unknown) => err instanceof ApplicationFailure && err.nonRetryable && /you cannot rollback a paused deployment/.test(err.message),
    );
    await assert.rejects(
      planRollout(kube, ns, 'missing', 'previous'),
      (err: unknown) => err instanceof ApplicationFailure && err.type === 'NotFound' && /deployment .*\/missing not found/.test(err.message),
    );
  });

  it('does not roll back twice when the activity is re-run after its patch landed (retry after a crash)', async () => {
    const ns = await namespaceWithHistory([setImage('2.0'), setImage('3.0')]);
    const plan = await planRollout(kube, ns, 'app', 'previous');
    assert.equal(plan.toRevision, 2);
    assert.equal((await applyRollout(kube, plan)).patched, true);
    // The worker "dies" here; the retry gets the same recorded plan.
    assert.equal((await applyRollout(kube, plan)).patched, false, 'the retry recognises the target template');
    await new MockActivityEnvironment().run(() => waitForRollout(kube, ns, 'app', Date.now() + 60_000, 'RolloutFailed'));
    const dep = await get(ns);
    assert.equal(dep.spec.template.spec.containers[0].image, 'registry.local/web:2.0');
    assert.equal(dep.metadata.annotations[REVISION], '4', 'exactly one new revision');
    // Re-planning instead would have stepped back once more: that is what recording the plan prevents.
    assert.equal((await planRollout(kube, ns, 'app', 'previous')).toImages[0], 'web=registry.local/web:3.0');
  });
});
