// blueGreen steps and kubernetesAvailable checks on the testbed, and the worker's RBAC: the shipped
// role is enough, and a token without it gets a clear, non-retryable permission error.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { applyBlueGreen, planBlueGreen } from '../../activities/kubernetes/blue-green.js';
import { KubeClient } from '../../activities/kubernetes/client.js';
import { Clusters } from '../../activities/targets.js';
import { kubernetesMechanisms } from '../../activities/kubernetes/index.js';
import { applyRollout, planRollout } from '../../activities/kubernetes/rollout.js';
import { deploymentYaml, rolloutStatus, serviceYaml } from '../helpers/fixtures.js';
import { ROOT } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let bed: Testbed;
let admin: KubeClient;

before(async () => {
  bed = await startTestbed();
  admin = KubeClient.fromConfig('testbed', { kubeconfig: bed.kubeconfig });
});
after(async () => {
  await bed?.stop();
});

const app = (ns: string, track: string, image: string, replicas = 2) =>
  deploymentYaml({ namespace: ns, name: `web-${track}`, labels: { app: 'web', track }, container: 'web', image, replicas });
const service = (ns: string) => serviceYaml({ namespace: ns, name: 'web', labels: { owner: 'team-a' }, selector: { app: 'web', track: 'green' } });

async function blueGreenNamespace(name: string): Promise<string> {
  await bed.kubectl(['create', 'namespace', name]);
  await bed.kubectl(['apply', '-f', '-'], [app(name, 'blue', 'web:1.0'), app(name, 'green', 'web:2.0'), service(name)].join('---\n'));
  for (const d of ['web-blue', 'web-green']) await rolloutStatus(bed, name, d);
  return name;
}

const selector = async (ns: string) =>
  JSON.parse(await bed.kubectl(['get', 'service', 'web', '-n', ns, '-o', 'jsonpath={.spec.selector}'])) as Record<string, string>;

describe('blueGreen', () => {
  it('switches the Service selector to the target track, records the previous one, and is idempotent', async () => {
    const ns = await blueGreenNamespace('bg-switch');
    const plan = await planBlueGreen(admin, ns, 'web', { track: 'blue' });
    assert.deepEqual(plan.fromSelector, { app: 'web', track: 'green' });
    assert.deepEqual(plan.toSelector, { app: 'web', track: 'blue' });
    assert.deepEqual(plan.deployments, ['web-blue']);
    assert.equal((await applyBlueGreen(admin, plan)).patched, true);
    assert.deepEqual(await selector(ns), { app: 'web', track: 'blue' });
    assert.equal((await applyBlueGreen(admin, plan)).patched, false, 'a retry changes nothing');
    const labels = JSON.parse(await bed.kubectl(['get', 'service', 'web', '-n', ns, '-o', 'jsonpath={.metadata.labels}'])) as Record<string, string>;
    assert.deepEqual(labels, { owner: 'team-a' }, 'only the selector was patched');
  });

  it('refuses clearly: missing Service, no Deployment behind the target, target not available', async () => {
    const ns = await blueGreenNamespace('bg-errors');
    await assert.rejects(
      planBlueGreen(admin, ns, 'nope', { track: 'blue' }),
      (e: unknown) => e instanceof ApplicationFailure && e.type === 'NotFound' && /service bg-errors\/nope not found/.test(e.message),
    );
    await assert.rejects(
      planBlueGreen(admin, ns, 'web', { track: 'purple' }),
      (e: unknown) => e instanceof ApplicationFailure && e.nonRetryable && /no deployment in bg-errors runs pods matching app=web,track=purple/.test(e.message),
    );
    await bed.kubectl(['scale', '-n', ns, 'deployment/web-blue', '--replicas=0']);
    await rolloutStatus(bed, ns, 'web-blue');
    // `rollout status` can report success before the controller has lowered availableReplicas (seen on a loaded machine).
    await waitFor(
      async () =>
        ['', '0'].includes((await bed.kubectl(['get', 'deployment', 'web-blue', '-n', ns, '-o', 'jsonpath={.status.availableReplicas}'])).trim()) || undefined,
      'web-blue has no available replicas',
      { timeout: 30_000, interval: 200 },
    );
    const plan = await planBlueGreen(admin, ns, 'web', { track: 'blue' });
    await assert.rejects(
      applyBlueGreen(admin, plan),
      (e: unknown) => e instanceof ApplicationFailure && e.type === 'TargetNotReady' && /no available replicas/.test(e.message),
    );
    assert.deepEqual(await selector(ns), { app: 'web', track: 'green' }, 'traffic untouched');
  });
});

describe('kubernetesAvailable', () => {
  it('passes for a complete rollout and fails with the last observation for one that cannot finish', async () => {
    const ns = await blueGreenNamespace('avail');
    const mech = kubernetesMechanisms(new Clusters({ testbed: { kubeconfig: bed.kubeconfig } }));
    const ok: Record<string, unknown> = await new MockActivityEnvironment().run(() =>
      mech.check({ type: 'kubernetesAvailable', namespace: ns, deployment: 'web-blue', timeout: 30_000 }, 'testbed'),
    );
    assert.equal(ok.availableReplicas, 2);
    // A Deployment whose pods can never be scheduled (no node has that much CPU) never becomes available.
    await bed.kubectl(['apply', '-f', '-'], app(ns, 'huge', 'web:3.0', 1));
    await bed.kubectl(['set', 'resources', '-n', ns, 'deployment/web-huge', '--requests=cpu=1000']);
    await assert.rejects(
      new MockActivityEnvironment().run(() => mech.check({ type: 'kubernetesAvailable', namespace: ns, deployment: 'web-huge', timeout: 5_000 }, 'testbed')),
      (e: unknown) => e instanceof ApplicationFailure && e.type === 'CheckFailed' && /waiting for deployment avail\/web-huge rollout to finish/.test(e.message),
    );
  });
});

describe('rollout status', () => {
  it('fails the wait when the Deployment exceeds its progress deadline, as kubectl rollout status does', async () => {
    const ns = 'deadline';
    await bed.kubectl(['create', 'namespace', ns]);
    await bed.kubectl(['apply', '-f', '-'], app(ns, 'blue', 'web:1.0'));
    await rolloutStatus(bed, ns, 'web-blue');
    await bed.kubectl(['patch', '-n', ns, 'deployment/web-blue', '--type=merge', '-p', '{"spec":{"progressDeadlineSeconds":2}}']);
    await bed.kubectl(['set', 'resources', '-n', ns, 'deployment/web-blue', '--requests=cpu=1000']);
    const mech = kubernetesMechanisms(new Clusters({ testbed: { kubeconfig: bed.kubeconfig } }));
    await assert.rejects(
      new MockActivityEnvironment().run(() => mech.check({ type: 'kubernetesAvailable', namespace: ns, deployment: 'web-blue', timeout: 60_000 }, 'testbed')),
      (e: unknown) =>
        e instanceof ApplicationFailure &&
        e.type === 'RolloutFailed' &&
        e.nonRetryable &&
        /deployment deadline\/web-blue exceeded its progress deadline/.test(e.message),
    );
  });
});

describe('worker RBAC', () => {
  it('works with exactly the shipped role; without it the error is clear and not retried', async () => {
    const ns = await blueGreenNamespace('rbac');
    await bed.kubectl(['set', 'image', '-n', ns, 'deployment/web-green', 'web=web:2.1']);
    await rolloutStatus(bed, ns, 'web-green');
    const manifest = await readFile(`${ROOT}deploy/rbac/rearguard-worker.yaml`, 'utf8');
    const clusterRole = manifest.split('\n---\n')[0];
    await bed.kubectl(['apply', '-f', '-'], clusterRole);
    await bed.kubectl(['create', 'rolebinding', 'rearguard-worker', '-n', ns, '--clusterrole=rearguard-worker', '--user=rearguard-worker']);

    const worker = KubeClient.fromConfig('testbed', { kubeconfig: await bed.kubeconfigFor('rearguard-worker') });
    const plan = await planRollout(worker, ns, 'web-green', 'previous');
    assert.equal((await applyRollout(worker, plan)).patched, true);
    const bg = await planBlueGreen(worker, ns, 'web', { track: 'blue' });
    assert.equal((await applyBlueGreen(worker, bg)).patched, true);

    const nobody = KubeClient.fromConfig('testbed', { kubeconfig: await bed.kubeconfigFor('nobody') });
    await assert.rejects(planRollout(nobody, ns, 'web-green', 'previous'), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure);
      assert.equal(e.type, 'PermissionDenied');
      assert.equal(e.nonRetryable, true);
      assert.match(e.message, /forbidden: .*nobody.* cannot get resource "deployments".*deploy\/rbac\/rearguard-worker\.yaml/);
      return true;
    });
  });
});
