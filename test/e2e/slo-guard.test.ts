// End to end on the testbed with a real Prometheus scraping a metrics target whose error ratio the test sets:
// the SLO guard (started from the CLI) rolls a Deployment back when errors rise and stays quiet through its
// cooldown once the service recovers; and a real Alertmanager, routing to `rearguard serve`'s /v1/alerts with
// the bearer token, starts a rollback the same way.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import { statusQuery } from '../../api/messages.js';
import { freePort, rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startAlertmanager, startMetricsTarget, startPrometheus, type RunningServer } from '../helpers/prometheus.js';
import { deploymentYaml, rearguardEnv, rolloutStatus } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';
import { type SloGuardStatus } from '../../runbook/slo-guard.js';

let env: TestWorkflowEnvironment;
let bed: Testbed;
let dir: string;
let worker: WorkerProcess | undefined;
let e: Record<string, string>;
const stops: Pick<RunningServer, 'stop'>[] = [];

const ratio = (window: string, job: string) =>
  `sum(rate(http_requests_total{job="${job}",code=~"5.."}[${window}])) / sum(rate(http_requests_total{job="${job}"}[${window}]))`;

const deployment = (name: string, image: string): string => deploymentYaml({ namespace: 'shop', name, image, container: 'app' });

async function twoRevisions(name: string): Promise<void> {
  await bed.kubectl(['apply', '-f', '-'], deployment(name, `${name}:1.0`));
  await rolloutStatus(bed, 'shop', name);
  await bed.kubectl(['set', 'image', '-n', 'shop', `deployment/${name}`, `app=${name}:2.0-bad`]);
  await rolloutStatus(bed, 'shop', name);
}
const image = (name: string) => bed.kubectl(['get', 'deployment', name, '-n', 'shop', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']);

function runbookYaml(name: string, slo = ''): string {
  return `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${name}-prod }
spec:
  service: ${name}
  environment: prod
  cluster: testbed
  sla: 5m
  steps:
    - { name: undo, type: kubernetes, namespace: shop, deployment: ${name}, toRevision: previous }
  verify:
    - { type: kubernetesAvailable, namespace: shop, deployment: ${name} }
${slo}`;
}

/** Waits for the rollback of a target to end, then returns its status (queried while the worker runs). */
async function rollbackEnded(id: string, ms = 90_000): Promise<RollbackStatus> {
  const h = env.client.workflow.getHandle(id);
  await waitFor(async () => ((await h.describe().catch(() => undefined))?.status.name ?? 'RUNNING') !== 'RUNNING' || undefined, `${id} ended`, ms);
  return h.query(statusQuery);
}

before(async () => {
  [env, bed, dir] = await Promise.all([createDevServerEnv(), startTestbed(), mkdtemp(join(tmpdir(), 'rearguard-slo-e2e-'))]);
  await bed.kubectl(['create', 'namespace', 'shop']);
});
after(async () => {
  await worker?.stop('SIGKILL');
  for (const s of stops.reverse()) await s.stop().catch(() => undefined);
  await Promise.all([env?.teardown(), bed?.stop()]);
});

describe('automatic rollback from SLOs and alerts (testbed, real Prometheus and Alertmanager)', () => {
  it('the guard rolls the Deployment back when errors rise, then stays quiet through the cooldown', async (t) => {
    const t0 = Date.now();
    await twoRevisions('checkout');
    const target = await startMetricsTarget({ rps: 20, errorRatio: 0 });
    stops.push(target);
    const prom = await startPrometheus({ scrapeTargets: [target.hostPort], jobName: 'checkout' });
    stops.push(prom);
    const clusters = join(dir, 'clusters.yaml');
    await writeFile(clusters, `clusters:\n  testbed: { kubeconfig: ${bed.kubeconfig} }\n`);
    e = rearguardEnv(env, dir, 'slo', {
      REARGUARD_PROMETHEUS_URL: prom.url,
    });
    const metricsPort = await freePort();
    worker = await startWorker({ ...e, REARGUARD_TARGETS: clusters, REARGUARD_METRICS_PORT: String(metricsPort), REARGUARD_METRICS_HOST: '127.0.0.1' });
    await waitFor(async () => (await prom.query(ratio('5s', 'checkout'))).length === 1 || undefined, 'first scrapes', 30_000);

    const file = join(dir, 'checkout.yaml');
    await writeFile(
      file,
      runbookYaml(
        'checkout',
        `  slo:
    interval: 1s
    cooldown: 20s
    conditions:
      - { name: error-ratio, query: '${ratio('5s', 'checkout')}', above: 0.2, for: 2s }
    health: { deployment: true }
`,
      ),
    );
    const start = await rearguard(['guard', 'start', '--runbook', file, '--as', 'dave'], e);
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /Started guard guard:prod:checkout .*every 1s, cooldown 20s/);
    const again = await rearguard(['guard', 'start', '--runbook', file], e);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a guard is already running for prod\/checkout/);

    const guardStatus = async () =>
      JSON.parse((await rearguard(['guard', 'status', '--env', 'prod', '--service', 'checkout', '--json'], e)).stdout) as SloGuardStatus;
    await waitFor(async () => ((await guardStatus()).evaluations >= 2 ? true : undefined), 'guard evaluating', 20_000);
    assert.equal((await guardStatus()).state, 'watching');

    const errorsAt = Date.now();
    target.set({ errorRatio: 0.5 });
    const rb = await rollbackEnded('rollback:prod:checkout');
    const restoredAt = Date.now();
    assert.equal(rb.outcome, 'succeeded');
    assert.equal(rb.trigger.source, 'slo');
    assert.equal(rb.trigger.actor, 'slo-guard');
    assert.match(rb.trigger.reason, /^SLO violated: error-ratio: 0\.\d+ above 0\.2 for \d+s/);
    assert.equal(await image('checkout'), 'checkout:1.0', 'the Deployment is back at the previous revision');

    // The test plays the recovered service.
    target.set({ errorRatio: 0 });
    const s = await guardStatus();
    assert.equal(s.triggers.length, 1);
    const cooldownEnd = Date.parse(s.cooldownUntil!);
    assert.ok(cooldownEnd > Date.now());
    const human = await rearguard(['guard', 'status', '--env', 'prod', '--service', 'checkout'], e);
    assert.match(human.stdout, /guard:prod:checkout \(runbook checkout-prod\): cooldown/);
    assert.match(human.stdout, /started rollback:prod:checkout: error-ratio/);

    // Through the cooldown and past it: no second trigger, no second rollback.
    await waitFor(() => (Date.now() > cooldownEnd + 5_000 ? true : undefined), 'cooldown over', 60_000);
    const quiet = await guardStatus();
    assert.equal(quiet.triggers.length, 1, 'quiet through the cooldown');
    assert.equal(quiet.state, 'watching');
    assert.deepEqual(quiet.lastEvaluation?.violations, []);
    assert.equal(quiet.lastEvaluation?.health.deployment?.ok, true);
    let runs = 0;
    for await (const w of env.client.workflow.list({ query: `WorkflowId = 'rollback:prod:checkout'` })) if (w.workflowId) runs++;
    assert.equal(runs, 1, 'one rollback');

    // Pause and resume from the CLI.
    const pause = await rearguard(['guard', 'pause', '--env', 'prod', '--service', 'checkout', '--reason', 'maintenance', '--as', 'alice'], e);
    assert.equal(pause.code, 0, pause.stderr);
    assert.equal((await guardStatus()).state, 'paused');
    const noReason = await rearguard(['guard', 'pause', '--env', 'prod', '--service', 'checkout'], e);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /required option '--reason <text>' not specified/);
    const resume = await rearguard(['guard', 'resume', '--env', 'prod', '--service', 'checkout', '--reason', 'done', '--as', 'alice'], e);
    assert.equal(resume.code, 0, resume.stderr);

    const audit = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    const guardEvents = audit.filter((x) => x.workflowId === 'guard:prod:checkout').map((x) => [x.action, x.actor]);
    assert.deepEqual(guardEvents.slice(0, 2), [
      ['guard.started', 'dave'],
      ['guard.triggered', 'slo-guard'],
    ]);
    assert.ok(audit.some((x) => x.workflowId === 'rollback:prod:checkout' && x.action === 'rollback.succeeded'));
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /rearguard_slo_guard_triggers_total\{environment="prod",service="checkout"\} 1/);
    await env.client.workflow.getHandle('guard:prod:checkout').cancel();
    t.diagnostic(`errors -> restored ${restoredAt - errorsAt} ms; total ${Date.now() - t0} ms`);
  });

  it('Alertmanager, routing to `rearguard serve` /v1/alerts with the bearer token, starts the rollback', async (t) => {
    const t0 = Date.now();
    await twoRevisions('cart');
    const runbooks = join(dir, 'runbooks');
    await mkdir(runbooks);
    await writeFile(join(runbooks, 'cart-prod.yaml'), runbookYaml('cart'));
    await writeFile(join(runbooks, 'broken.yaml'), 'apiVersion: rearguard/v1\nkind: Runbook\n');
    const token = randomBytes(16).toString('hex');
    const port = await freePort();
    const serve = rearguard(['serve', '--port', String(port), '--runbooks', runbooks], { ...e, REARGUARD_API_TOKEN: token });
    stops.push({ stop: async () => void (serve.child.kill('SIGTERM'), await serve) });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok || undefined, 'rearguard serve', 30_000);

    assert.equal((await fetch(`${url}/v1/alerts`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status, 401);
    const wrong = await fetch(`${url}/v1/alerts`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json', authorization: 'Bearer nope' },
    });
    assert.equal(wrong.status, 401);
    const bad = await fetch(`${url}/v1/alerts`, {
      method: 'POST',
      body: JSON.stringify({ version: '3', alerts: [{ status: 'firing' }] }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(((await bad.json()) as { problems: string[] }).problems, [
      'version: expected "4" (the Alertmanager webhook format)',
      'alerts[0].labels: Required',
    ]);

    const am = await startAlertmanager({ webhookUrl: `${url}/v1/alerts`, bearerToken: token });
    stops.push(am);
    const target = await startMetricsTarget({ rps: 20, errorRatio: 0 });
    stops.push(target);
    const rules = `groups:
  - name: cart
    rules:
      - alert: CartErrors
        expr: ${ratio('5s', 'cart')} > 0.25
        for: 1s
        labels: { severity: page, service: cart, environment: prod }
        annotations: { summary: 'cart error ratio {{ $value }}' }
`;
    const prom = await startPrometheus({ scrapeTargets: [target.hostPort], jobName: 'cart', rules, alertmanagerUrl: am.url });
    stops.push(prom);
    await waitFor(async () => (await prom.query(ratio('5s', 'cart'))).length === 1 || undefined, 'first scrapes', 30_000);
    await waitFor(
      async () => (await prom.api<{ activeAlertmanagers: unknown[] }>('alertmanagers')).activeAlertmanagers.length > 0 || undefined,
      'alertmanager discovered',
      30_000,
    );

    const errorsAt = Date.now();
    target.set({ errorRatio: 0.5 });
    await waitFor(
      async () =>
        (await env.client.workflow
          .getHandle('rollback:prod:cart')
          .describe()
          .catch(() => undefined)) ?? undefined,
      'rollback started',
      60_000,
    );
    const startedAt = Date.now();
    const rb = await rollbackEnded('rollback:prod:cart');
    assert.equal(rb.outcome, 'succeeded');
    assert.equal(rb.trigger.source, 'alert');
    assert.equal(rb.trigger.actor, 'alertmanager');
    assert.match(rb.trigger.reason, /^CartErrors: cart error ratio 0\.\d+ \[.*environment=prod.*service=cart/);
    assert.equal(await image('cart'), 'cart:1.0');
    target.set({ errorRatio: 0 });

    // What else a payload can hold: an alert naming a runbook that does not exist, one matching none, a resolved one.
    const payload = {
      version: '4',
      status: 'firing',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'Other', rearguard_runbook: 'billing-prod.yaml' },
          annotations: {},
          startsAt: '2026-01-01T00:00:00Z',
          fingerprint: 'abc',
        },
        { status: 'firing', labels: { alertname: 'Nobody', service: 'unknown', environment: 'prod' }, annotations: {} },
        { status: 'resolved', labels: { alertname: 'CartErrors', service: 'cart', environment: 'prod' }, annotations: {} },
      ],
    };
    const res = await fetch(`${url}/v1/alerts`, {
      method: 'POST',
      body: JSON.stringify(payload),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 202);
    const { results } = (await res.json()) as { results: { action: string; message?: string }[] };
    assert.deepEqual(
      results.map((r) => r.action),
      ['unmatched', 'unmatched', 'ignored'],
    );
    assert.match(results[0].message!, /rearguard_runbook=billing-prod.yaml: no valid runbook of that name/);
    assert.match(results[1].message!, /no runbook for service=unknown environment=prod/);
    t.diagnostic(`errors -> rollback started ${startedAt - errorsAt} ms; total ${Date.now() - t0} ms`);
  });
});
