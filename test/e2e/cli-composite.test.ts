// One runbook with every mechanism (blueGreen, kubernetes, helm, gitops with Argo CD, terraform, webhook), run
// from the CLI through the dev server and a worker: planned, approved, it ends succeeded with every system back at
// its previous version, each change applied once. The service and its checks are the chaos run's
// (test/helpers/chaos-systems.ts).
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { RollbackStatus } from '../../runbook/types.js';
import { startArgoCd, type ArgoCd } from '../helpers/argocd.js';
import { compositeService, type CompositeService } from '../helpers/chaos-systems.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { toolPath } from '../helpers/tools.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let env: TestWorkflowEnvironment;
let bed: Testbed;
let dir: string;
let receiver: Receiver;
let worker: WorkerProcess | undefined;
let store: CompositeService | undefined;
let argo: ArgoCd | undefined;

before(async () => {
  [env, bed, dir, receiver] = await Promise.all([createDevServerEnv(), startTestbed(), mkdtemp(join(tmpdir(), 'rearguard-composite-')), startReceiver()]);
  argo = await startArgoCd(bed);
});
after(async () => {
  store?.stop();
  await worker?.stop('SIGKILL');
  await argo?.stop();
  await receiver?.close();
  await Promise.all([env?.teardown(), bed?.stop()]);
});

describe('composite rollback', () => {
  it('rolls back blueGreen, kubernetes, helm, gitops and terraform in one run, every system back at its previous version', async () => {
    // The bad release, everywhere at once.
    store = await compositeService(bed, dir, 'store', receiver, { approvers: ['alice', 'bob'] });
    const targets = join(dir, 'targets.yaml');
    await writeFile(targets, `clusters:\n  testbed: { kubeconfig: ${bed.kubeconfig} }\nrepos:\n${store.repos}`);
    const e = rearguardEnv(env, dir, 'composite');
    worker = await startWorker({
      ...e,
      REARGUARD_TARGETS: targets,
      REARGUARD_METRICS_PORT: '0',
      REARGUARD_HELM_BIN: toolPath('helm'),
      REARGUARD_TERRAFORM_BIN: toolPath('terraform'),
      REARGUARD_WORKDIR: join(dir, 'work'),
    });
    assert.equal((await rearguard(['runbook', 'validate', store.runbook], e)).code, 0);
    const plan = await rearguard(['rollback', 'plan', '--runbook', store.runbook], e);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /cart \[helm\] helm release store\/cart: revision 2 \(web-1\.0\.0\) -> revision 1 \(web-1\.0\.0\)/);
    assert.match(plan.stdout, /infra \[terraform\] terraform store-infra\/tf at v1 .*0 to add, 1 to change, 0 to destroy/);

    const started = rearguard(['rollback', 'start', '--runbook', store.runbook, '--reason', 'store 2.0 is failing checkout', '--as', 'dave', '--wait'], e);
    let approved;
    for (let i = 0; i < 100; i++) {
      approved = await rearguard(['rollback', 'approve', '--env', 'prod', '--service', 'store', '--as', 'alice', '--reason', 'go'], e);
      if (approved.code === 0) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(approved?.code, 0, approved?.stderr);
    const done = await started;
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);

    const status = JSON.parse((await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'store', '--json'], e)).stdout) as RollbackStatus;
    // Every system is back at its previous version (traffic, image, manifest, config tree and synced revision,
    // terraform output), each change applied once.
    const found = await store.check(status);
    assert.deepEqual(found.problems, []);
    assert.deepEqual(
      Object.entries(found.duplicates).filter(([, n]) => n > 0),
      [],
    );
    assert.deepEqual(
      status.steps.map((s) => s.state),
      ['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded'],
    );
    const r = (i: number) => status.steps[i].result ?? {};
    assert.deepEqual([r(1).fromRevision, r(1).toRevision], [2, 1]);
    assert.deepEqual([r(2).fromRevision, r(2).toRevision, r(2).newRevision], [2, 1, 3]);
    assert.equal(r(3).commit, await store.configHead());
    assert.equal((r(4) as { outputs?: Record<string, string> }).outputs?.version, '"v1"');
  });
});
