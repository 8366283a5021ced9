// End to end against the testbed cluster: the CLI plans and runs a runbook with a blueGreen step and a
// kubernetes (rollout undo) step through the dev server and a worker whose token has only the shipped role.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import { freePort, rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { rearguardEnv, rolloutStatus } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { ROOT } from '../helpers/tools.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';
import { blueGreenWorkloads } from '../helpers/workloads.js';

let env: TestWorkflowEnvironment;
let bed: Testbed;
let dir: string;
let worker: WorkerProcess | undefined;

before(async () => {
  [env, bed, dir] = await Promise.all([createDevServerEnv(), startTestbed(), mkdtemp(join(tmpdir(), 'rearguard-k8s-e2e-'))]);
});
after(async () => {
  await worker?.stop('SIGKILL');
  await Promise.all([env?.teardown(), bed?.stop()]);
});

const workloads = blueGreenWorkloads('shop', { webReplicas: 2, apiReplicas: 3 });

describe('rollback on Kubernetes from the CLI', () => {
  it('plans, then switches traffic to blue and undoes the api rollout, verified, audited and counted', async () => {
    await bed.kubectl(['apply', '-f', '-'], workloads);
    for (const d of ['web-blue', 'web-green', 'api']) await rolloutStatus(bed, 'shop', d);
    await bed.kubectl(['set', 'image', '-n', 'shop', 'deployment/api', 'api=api:2.0-bad']);
    await rolloutStatus(bed, 'shop', 'api');
    const rbac = await readFile(`${ROOT}deploy/rbac/rearguard-worker.yaml`, 'utf8');
    await bed.kubectl(['apply', '-f', '-'], rbac.split('\n---\n')[0]);
    await bed.kubectl(['create', 'rolebinding', 'rearguard-worker', '-n', 'shop', '--clusterrole=rearguard-worker', '--user=rearguard-worker']);

    const clusters = join(dir, 'clusters.yaml');
    await writeFile(clusters, `clusters:\n  testbed: { kubeconfig: ${await bed.kubeconfigFor('rearguard-worker')} }\n`);
    const metricsPort = await freePort();
    const e = rearguardEnv(env, dir, 'k8s');
    worker = await startWorker({ ...e, REARGUARD_TARGETS: clusters, REARGUARD_METRICS_PORT: String(metricsPort), REARGUARD_METRICS_HOST: '127.0.0.1' });

    const runbook = join(dir, 'shop.yaml');
    await writeFile(
      runbook,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: shop-prod }
spec:
  service: shop
  environment: prod
  cluster: testbed
  sla: 5m
  steps:
    - { name: traffic-to-blue, type: blueGreen, namespace: shop, service: web, selector: { track: blue } }
    - { name: undo-api, type: kubernetes, namespace: shop, deployment: api, toRevision: previous }
  verify:
    - { type: kubernetesAvailable, namespace: shop, deployment: api }
`,
    );

    const plan = await rearguard(['rollback', 'plan', '--runbook', runbook], e);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /traffic-to-blue \[blueGreen\] service shop\/web: selector app=web,track=green -> app=web,track=blue/);
    assert.match(plan.stdout, /undo-api \[kubernetes\] deployment shop\/api: revision 2 \(api=api:2\.0-bad\) -> revision 1 \(api=api:1\.0\)/);
    assert.equal(await bed.kubectl(['get', 'service', 'web', '-n', 'shop', '-o', 'jsonpath={.spec.selector.track}']), 'green', 'planning changed nothing');

    const run = await rearguard(['rollback', 'start', '--runbook', runbook, '--reason', 'api 5xx after 2.0', '--as', 'dave', '--wait'], e);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);

    assert.equal(await bed.kubectl(['get', 'service', 'web', '-n', 'shop', '-o', 'jsonpath={.spec.selector.track}']), 'blue');
    const api = JSON.parse(await bed.kubectl(['get', 'deployment', 'api', '-n', 'shop', '-o', 'json'])) as {
      spec: { template: { spec: { containers: { image: string }[] } } };
      status: { readyReplicas: number; updatedReplicas: number };
    };
    assert.equal(api.spec.template.spec.containers[0].image, 'api:1.0');
    assert.equal(api.status.readyReplicas, 3);
    assert.equal(api.status.updatedReplicas, 3);

    const status = JSON.parse((await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'shop', '--json'], e)).stdout) as RollbackStatus;
    assert.equal(status.outcome, 'succeeded');
    assert.deepEqual(
      { from: status.steps[1].result?.fromRevision, to: status.steps[1].result?.toRevision, now: status.steps[1].result?.newRevision },
      { from: 2, to: 1, now: 3 },
    );
    assert.deepEqual(status.steps[0].result?.fromSelector, { app: 'web', track: 'green' });

    const events = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    const planned = events.filter((x) => x.action === 'rollback.step-planned').map((x) => x.reason);
    assert.deepEqual(planned, [
      'service shop/web: selector app=web,track=green -> app=web,track=blue',
      'deployment shop/api: revision 2 (api=api:2.0-bad) -> revision 1 (api=api:1.0)',
    ]);
    assert.equal(events.at(-1)?.action, 'rollback.succeeded');

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /rearguard_step_duration_seconds_count\{type="kubernetes"\} 1/);
    assert.match(metrics, /rearguard_step_duration_seconds_count\{type="blueGreen"\} 1/);
    assert.match(metrics, /rearguard_rollbacks_total\{environment="prod",service="shop",outcome="succeeded"\} 1/);
    const token = /token: "([0-9a-f]+)"/.exec(await readFile(await bed.kubeconfigFor('rearguard-worker'), 'utf8'))![1];
    const history = JSON.stringify(await env.client.workflow.getHandle('rollback:prod:shop').fetchHistory());
    assert.ok(history.length > 1000 && !history.includes(token), 'no credential in workflow history');
    assert.ok(!(await readFile(e.REARGUARD_AUDIT_FILE, 'utf8')).includes(token), 'no credential in the audit trail');
    assert.ok(!worker.output().includes(token), 'no credential in worker logs');
  });

  it('with a token lacking the role, fails at once with a clear permission error: no retry storm', async () => {
    const clusters = join(dir, 'clusters-nobody.yaml');
    await writeFile(clusters, `clusters:\n  testbed: { kubeconfig: ${await bed.kubeconfigFor('nobody')} }\n`);
    const e = {
      TEMPORAL_ADDRESS: env.address,
      REARGUARD_TASK_QUEUE: `k8s-${randomUUID()}`,
      REARGUARD_AUDIT_FILE: join(dir, 'audit-nobody.jsonl'),
      REARGUARD_RUNTIME_METRICS_PORT: '0',
    };
    const nobody = await startWorker({ ...e, REARGUARD_TARGETS: clusters, REARGUARD_METRICS_PORT: '0' });
    try {
      const runbook = join(dir, 'shop-staging.yaml');
      await writeFile(
        runbook,
        `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: shop-staging }
spec:
  service: shop
  environment: staging
  cluster: testbed
  sla: 5m
  steps:
    - { name: undo-api, type: kubernetes, namespace: shop, deployment: api }
`,
      );
      const run = await rearguard(['rollback', 'start', '--runbook', runbook, '--reason', 'permission check', '--as', 'dave', '--wait'], e);
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stdout, /step-failed\s+undo-api .*forbidden: .*"nobody" cannot get resource "deployments".*deploy\/rbac\/rearguard-worker\.yaml/);
      const history = await env.client.workflow.getHandle('rollback:staging:shop').fetchHistory();
      const attempts = (history.events ?? []).filter((ev) => ev.activityTaskStartedEventAttributes).map((ev) => ev.activityTaskStartedEventAttributes!.attempt);
      const planScheduled = (history.events ?? []).filter((ev) => ev.activityTaskScheduledEventAttributes?.activityType?.name === 'planStep');
      assert.equal(planScheduled.length, 1);
      assert.ok(
        attempts.every((a) => a === 1),
        `every activity ran once: ${attempts.join(',')}`,
      );
    } finally {
      await nobody.stop('SIGKILL');
    }
  });
});
