// The dashboard (deploy/grafana/rearguard.json) and the alerting rules (deploy/prometheus/rearguard-alerts.yaml)
// against the real thing: a worker and `rearguard serve` on the dev server, scraped by a real Prometheus, after a
// rollback that waited for approval and whose first step attempt failed, and a gate check. Every metric a panel or a
// rule reads is on the worker's or serve's /metrics, every panel's query and every rule runs on Prometheus without
// error, and serve's phase gauges (from visibility) show the rollback awaiting approval while it waits.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { parse } from 'yaml';
import { rearguardEnv } from '../helpers/fixtures.js';
import { startServe, type ServeProcess } from '../helpers/gate.js';
import { freePort, rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startPrometheus, type Prometheus } from '../helpers/prometheus.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { ROOT } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

interface Dashboard {
  panels: { title: string; type: string; gridPos: { x: number; w: number }; targets?: { expr: string }[] }[];
}

let env: TestWorkflowEnvironment;
let dir: string;
let receiver: Receiver;
let worker: WorkerProcess | undefined;
let serve: ServeProcess | undefined;
let prom: Prometheus | undefined;
let e: Record<string, string>;
let workerMetrics: string;

before(async () => {
  [env, dir, receiver] = await Promise.all([createDevServerEnv(), mkdtemp(join(tmpdir(), 'rearguard-observability-')), startReceiver()]);
  e = rearguardEnv(env, dir, 'observability');
  const port = await freePort();
  workerMetrics = `127.0.0.1:${port}`;
  worker = await startWorker({
    ...e,
    REARGUARD_METRICS_HOST: '127.0.0.1',
    REARGUARD_METRICS_PORT: String(port),
    REARGUARD_RUNTIME_METRICS_PORT: String(await freePort()),
  });
  serve = await startServe(e);
  prom = await startPrometheus({
    scrapeTargets: [workerMetrics, serve.url.replace('http://', '')],
    rules: await readFile(join(ROOT, 'deploy/prometheus/rearguard-alerts.yaml'), 'utf8'),
  });
});
after(async () => {
  await prom?.stop();
  await serve?.stop();
  await worker?.stop('SIGKILL');
  await receiver?.close();
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Metric names a PromQL expression reads (a histogram's _bucket/_sum/_count are its own name on /metrics). */
const metricsIn = (expr: string): string[] => [...expr.matchAll(/\b((?:rearguard|temporal)_[a-z_]+)/g)].map((m) => m[1].replace(/_(bucket|sum|count)$/, ''));
/** The metric families a /metrics page declares (# TYPE lines: a family with no sample yet counts). */
const families = (page: string): Set<string> => new Set([...page.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));

describe('dashboard and alerting rules against a real worker, serve and Prometheus', () => {
  it('every metric they read exists, every query runs, serve shows the approval waiting', async () => {
    // A rollback that waits for approval, then runs a step whose first attempt fails (the activity-failure panel).
    receiver.respond('/obs/flaky', 500);
    const file = join(dir, 'obs.yaml');
    await writeFile(
      file,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: obs-dev }
spec:
  service: obs
  environment: dev
  sla: 5m
  approval: { required: true, approvers: [carol], timeout: 1h }
  steps:
    - { name: flaky, type: webhook, url: "${receiver.url}/obs/flaky" }
`,
    );
    const start = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'errors after deploy', '--as', 'alice'], e);
    assert.equal(start.code, 0, start.stderr);

    // serve reads running rollbacks from visibility every 15 s: the waiting one, and how long it has waited.
    const serveMetrics = async () => (await fetch(`${serve!.url}/metrics`)).text();
    await waitFor(
      async () => (/rearguard_rollbacks_running\{phase="awaiting-approval"\} 1/.test(await serveMetrics()) ? true : undefined),
      'serve sees the approval waiting',
      {
        timeout: 45_000,
        interval: 1_000,
      },
    );
    const waited = Number(/^rearguard_approval_oldest_pending_seconds (\S+)$/m.exec(await serveMetrics())?.[1]);
    assert.ok(waited > 0 && waited < 120, `oldest approval waiting ${waited}s`);

    const approve = await rearguard(['rollback', 'approve', '--env', 'dev', '--service', 'obs', '--reason', 'ok', '--as', 'carol'], e);
    assert.equal(approve.code, 0, approve.stderr);
    await waitFor(() => (receiver.requests.some((r) => r.path === '/obs/flaky') ? true : undefined), 'the first attempt', 30_000);
    receiver.respond('/obs/flaky', 200);
    const done = await rearguard(['rollback', 'status', '--env', 'dev', '--service', 'obs', '--wait'], e);
    assert.equal(done.code, 0, done.stdout + done.stderr);
    const gate = await fetch(`${serve!.url}/v1/gate?env=dev&service=obs`);
    assert.equal(gate.status, 200);

    // The names: every metric of every panel and rule is declared on a /metrics page.
    const pages = await waitFor(
      async () => {
        const page = `${await (await fetch(`http://${workerMetrics}/metrics`)).text()}\n${await serveMetrics()}`;
        return families(page).has('temporal_activity_execution_failed') ? page : undefined;
      },
      'the failed attempt counted by the runtime',
      30_000,
    );
    const declared = families(pages);
    const dashboard = JSON.parse(await readFile(join(ROOT, 'deploy/grafana/rearguard.json'), 'utf8')) as Dashboard;
    const rules = (
      parse(await readFile(join(ROOT, 'deploy/prometheus/rearguard-alerts.yaml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }
    ).groups[0].rules;
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
      ...rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
    ];
    assert.ok(exprs.length >= 20, `${exprs.length} queries`);
    const missing = exprs.flatMap(({ where, expr }) =>
      metricsIn(expr)
        .filter((m) => !declared.has(m))
        .map((m) => `${where}: ${m}`),
    );
    assert.deepEqual(missing, [], 'metrics not on /metrics');

    // The panels' layout fits Grafana's 24 columns, and their titles are distinct.
    for (const p of dashboard.panels) assert.ok(p.gridPos.x + p.gridPos.w <= 24, p.title);
    assert.equal(new Set(dashboard.panels.map((p) => p.title)).size, dashboard.panels.length);

    // Every query runs on Prometheus (a syntax or type error is a 400), once it has scraped both pages.
    await waitFor(async () => ((await prom!.query('count(up == 1)'))[0]?.value[1] === '2' ? true : undefined), 'both targets scraped', 30_000);
    for (const { where, expr } of exprs) await assert.doesNotReject(prom!.query(expr.replaceAll('$__rate_interval', '1m')), where);
    // The rules, loaded by this Prometheus, evaluate without error.
    const groups = await prom!.api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>('rules');
    await waitFor(
      async () => {
        const loaded = (await prom!.api<typeof groups>('rules')).groups.flatMap((g) => g.rules);
        return loaded.length === 5 && loaded.every((r) => r.health === 'ok') ? true : undefined;
      },
      'the rules evaluated',
      30_000,
    ).catch(() => assert.fail(JSON.stringify(groups)));
    // The worker's pollers are there: the no-worker alert is not pending.
    const alerts = await prom!.alerts();
    assert.ok(!alerts.some((a) => a.labels.alertname === 'RearguardNoWorkerPolling'), JSON.stringify(alerts));
  });
});
