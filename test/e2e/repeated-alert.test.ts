// The repeat rule through the Alertmanager path: a real Alertmanager routes a firing alert to
// `rearguard serve`'s /v1/alerts, the rollback restores 1.25, and Alertmanager re-sends the same firing alert
// (repeat_interval) after the rollback ended, as it does while the condition persists. The re-sent alert must
// leave the Deployment on 1.25 and end `already-restored` (audited, escalated); a new deploy re-arms.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import { statusQuery } from '../../api/messages.js';
import { deployImage, deploymentState, deploymentWithHistory } from '../helpers/histories.js';
import { freePort, rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startAlertmanager, type RunningServer } from '../helpers/prometheus.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let env: TestWorkflowEnvironment;
let bed: Testbed;
let dir: string;
let receiver: Receiver;
let worker: WorkerProcess | undefined;
const stops: Pick<RunningServer, 'stop'>[] = [];

before(async () => {
  [env, bed, dir, receiver] = await Promise.all([createDevServerEnv(), startTestbed(), mkdtemp(join(tmpdir(), 'rearguard-repeat-alert-')), startReceiver()]);
});
after(async () => {
  for (const s of stops.reverse()) await s.stop().catch(() => undefined);
  await worker?.stop('SIGKILL');
  await receiver?.close();
  await Promise.all([env?.teardown(), bed?.stop()]);
});

const ID = 'rollback:prod:cart';

/** Every run of the cart rollback, newest first, with the outcome it recorded in its memo. */
async function runs(): Promise<{ runId: string; status: string; outcome?: string }[]> {
  const out: { runId: string; status: string; outcome?: string }[] = [];
  for await (const w of env.client.workflow.list({ query: `WorkflowId = '${ID}'` }))
    out.push({ runId: w.runId, status: w.status.name, outcome: (w.memo as { outcome?: string } | undefined)?.outcome });
  return out;
}
const statusOf = (runId: string): Promise<RollbackStatus> => env.client.workflow.getHandle(ID, runId).query(statusQuery);

describe('Alertmanager re-sends the firing alert after the rollback ended', () => {
  it('the Deployment stays on the restored revision; the repeat is audited and escalated; a new deploy re-arms', async (t) => {
    const t0 = Date.now();
    await deploymentWithHistory(bed, 'shop', 'cart');
    const clusters = join(dir, 'clusters.yaml');
    await writeFile(clusters, `clusters:\n  testbed: { kubeconfig: ${bed.kubeconfig} }\n`);
    const e = rearguardEnv(env, dir, 'repeat-alert');
    worker = await startWorker({ ...e, REARGUARD_TARGETS: clusters, REARGUARD_METRICS_PORT: '0' });
    const runbooks = join(dir, 'runbooks');
    await mkdir(runbooks);
    await writeFile(
      join(runbooks, 'cart-prod.yaml'),
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: cart-prod }
spec:
  service: cart
  environment: prod
  cluster: testbed
  sla: 5m
  escalation: [{ at: 50%, notify: [oncall] }]
  steps:
    - { name: undo, type: kubernetes, namespace: shop, deployment: cart, toRevision: previous }
  verify:
    - { type: kubernetesAvailable, namespace: shop, deployment: cart }
  notify:
    - { name: oncall, type: webhook, url: "${receiver.url}/oncall" }
`,
    );
    const token = randomBytes(16).toString('hex');
    const port = await freePort();
    const serve = rearguard(['serve', '--port', String(port), '--runbooks', runbooks], { ...e, REARGUARD_API_TOKEN: token });
    stops.push({ stop: async () => void (serve.child.kill('SIGTERM'), await serve) });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok || undefined, 'rearguard serve', 30_000);

    // A real Alertmanager that re-sends a still-firing alert every 4 s; the test plays Prometheus, posting the alert once.
    const am = await startAlertmanager({ webhookUrl: `${url}/v1/alerts`, bearerToken: token, repeatInterval: '4s' });
    stops.push(am);
    const alert = {
      labels: { alertname: 'CartErrors', service: 'cart', environment: 'prod', severity: 'page' },
      annotations: { summary: 'cart error ratio 0.3' },
      startsAt: new Date().toISOString(),
    };
    const posted = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([alert]) });
    assert.equal(posted.status, 200, await posted.text());

    // The first notification starts the rollback: 1.27 -> 1.25.
    const first = await waitFor(
      async () => (await runs()).find((r) => r.status === 'COMPLETED' && r.outcome === 'succeeded'),
      'the first rollback succeeded',
      90_000,
    );
    const firstStatus = await statusOf(first.runId);
    assert.deepEqual([firstStatus.trigger.source, firstStatus.trigger.actor], ['alert', 'alertmanager']);
    assert.deepEqual(await deploymentState(bed, 'shop', 'cart').then((d) => [d.tag, d.revision]), ['1.25', 4]);

    // Alertmanager re-sends the same firing alert after the rollback ended: a new run, which changes nothing.
    const repeat = await waitFor(
      async () => (await runs()).find((r) => r.status === 'COMPLETED' && r.outcome === 'already-restored'),
      'Alertmanager re-sent the alert and the repeat ended',
      60_000,
    );
    const s = await statusOf(repeat.runId);
    assert.deepEqual([s.trigger.source, s.trigger.actor, s.trigger.requestId], ['alert', 'alertmanager', firstStatus.trigger.requestId], 'the same alert');
    assert.deepEqual(
      { by: s.alreadyRestored?.record.by, runId: s.alreadyRestored?.record.runId, revision: s.alreadyRestored?.record.revision },
      { by: ID, runId: first.runId, revision: 4 },
    );
    assert.deepEqual(
      s.steps.map((x) => x.state),
      ['skipped'],
    );
    assert.deepEqual(await deploymentState(bed, 'shop', 'cart').then((d) => [d.tag, d.revision]), ['1.25', 4], 'not rolled forward to 1.27');
    const message = /^already rolled back to revision 4 by rollback:prod:cart at \d{4}-\d\d-\d\dT[^;]+; the condition persists$/;
    assert.match(s.alreadyRestored!.message, message);
    const events = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    const refused = events.find((x) => x.action === 'rollback.already-restored' && x.id.split('/')[1] === repeat.runId)!;
    assert.match(refused.reason, message);
    assert.equal(refused.details.runId, first.runId);
    assert.ok(!events.some((x) => x.action === 'rollback.step-started' && x.id.split('/')[1] === repeat.runId), 'the repeat started no step');
    const escalated = receiver.requests
      .filter((r) => r.path === '/oncall')
      .map((r) => JSON.parse(r.body) as { event: string; text: string; workflowId: string });
    assert.ok(
      escalated.some(
        (n) => n.event === 'already-restored' && /already rolled back to revision 4 by rollback:prod:cart at \S+; the condition persists/.test(n.text),
      ),
      JSON.stringify(escalated),
    );

    // The condition is fixed by a new deploy (1.28) that goes bad again: the next alert rolls back normally.
    await am.stop();
    await waitFor(async () => (await runs()).every((r) => r.status !== 'RUNNING') || undefined, 'no rollback running', 60_000);
    await deployImage(bed, 'shop', 'cart', '1.28');
    const again = await fetch(`${url}/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ version: '4', status: 'firing', alerts: [{ ...alert, status: 'firing', startsAt: new Date().toISOString() }] }),
    });
    assert.equal(again.status, 202);
    assert.equal(((await again.json()) as { results: { action: string }[] }).results[0].action, 'started');
    const rearmed = await waitFor(
      async () => (await runs()).find((r) => r.status === 'COMPLETED' && r.outcome === 'succeeded' && r.runId !== first.runId),
      'the re-armed rollback succeeded',
      90_000,
    );
    const r = await statusOf(rearmed.runId);
    assert.deepEqual([r.steps[0].result?.fromRevision, r.steps[0].result?.toRevision], [5, 4]);
    assert.deepEqual(await deploymentState(bed, 'shop', 'cart').then((d) => [d.tag, d.revision]), ['1.25', 6]);
    t.diagnostic(`repeat seen ${Date.now() - t0} ms after start; ${(await runs()).length} runs in all`);
  });
});
