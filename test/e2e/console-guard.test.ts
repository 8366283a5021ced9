// The web console's guard page in a real browser (Debian's Chromium, test/helpers/browser.ts) against a real
// Prometheus scraping a metrics target whose error ratio the test sets, a worker process evaluating the guard, and
// `rearguard serve` given the same REARGUARD_PROMETHEUS_URL. The guard, started from the CLI, triggers a rollback when errors rise; its page
// shows the state, the trigger with its rollback, and per condition a chart of the last hour's values from
// Prometheus with the threshold; axe-core finds no serious violation. The route's edges: a bad ID, an unknown guard,
// no Prometheus configured, and Prometheus refusing, unreachable or silent (one short line each, never its answer).
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import Fastify from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { guardStatus } from '../../api/guards.js';
import { registerGuardRoutes } from '../../client/console/guard-view.js';
import type { GuardView } from '../../runbook/console-view.js';
import { launchBrowser, screenshot, seriousA11yViolations } from '../helpers/browser.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { freePort, rearguard, startServe, startWorker, type ServeProcess, type WorkerProcess } from '../helpers/processes.js';
import { startMetricsTarget, startPrometheus, type MetricsTarget, type Prometheus } from '../helpers/prometheus.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

const GUARD = 'guard:dev:checkout';
const RATIO = 'sum(rate(http_requests_total{job="checkout",code=~"5.."}[10s])) / sum(rate(http_requests_total{job="checkout"}[10s]))';
const RATIO_WINDOW = RATIO.replaceAll('[10s]', '[$window]');

let env: TestWorkflowEnvironment;
let dir: string;
let receiver: Receiver;
let target: MetricsTarget;
let prom: Prometheus;
let worker: WorkerProcess | undefined;
let server: ServeProcess | undefined;
let browser: Browser | undefined;
let base: string;
let e: Record<string, string>;
const started = Date.now();

before(async () => {
  // One after the other, so that `after` stops whatever did start.
  env = await createDevServerEnv();
  dir = await mkdtemp(join(tmpdir(), 'rearguard-console-guard-'));
  receiver = await startReceiver();
  target = await startMetricsTarget({ rps: 20, errorRatio: 0 });
  prom = await startPrometheus({ scrapeTargets: [target.hostPort], jobName: 'checkout' });
  e = rearguardEnv(env, dir, 'console-guard', { REARGUARD_PROMETHEUS_URL: prom.url });
  worker = await startWorker({ ...e, REARGUARD_METRICS_PORT: '0' });
  // `rearguard serve` as a process, given the worker's REARGUARD_PROMETHEUS_URL (its guard charts read it).
  server = await startServe(e);
  base = server.base;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await worker?.stop('SIGKILL');
  await prom?.stop();
  await target?.stop();
  await receiver?.close();
  await env?.teardown();
  console.log(`console-guard: ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});

async function open(path: string): Promise<Page & { errors: string[] }> {
  const page = Object.assign(await browser!.newPage({ viewport: { width: 1200, height: 900 } }), { errors: [] as string[] });
  page.on('pageerror', (err) => page.errors.push(err.message));
  page.on('console', (m) => m.type() === 'error' && page.errors.push(m.text()));
  await page.goto(`${base}${path}`);
  return page;
}

const guardView = async (): Promise<GuardView> => {
  const res = await fetch(`${base}v1/console/guards/${encodeURIComponent(GUARD)}`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as GuardView;
};

describe('web console: the guard page', () => {
  it("shows the guard's state, its trigger and a chart of each condition's last hour with the threshold", async () => {
    await waitFor(async () => (await prom.query(RATIO)).length === 1 || undefined, 'first scrapes', 30_000);
    const file = join(dir, 'checkout.yaml');
    await writeFile(
      file,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: checkout-dev }
spec:
  service: checkout
  environment: dev
  sla: 10m
  steps:
    - { name: switch-traffic, type: webhook, url: "${receiver.url}/checkout/switch", body: { to: stable } }
  slo:
    interval: 1s
    cooldown: 10m
    objective: 99
    conditions:
      - { name: error-ratio, query: '${RATIO}', above: 0.2, for: 2s }
    burnRate:
      errorRatio: '${RATIO_WINDOW}'
      windows: [{ long: 30s, short: 10s, factor: 60 }]
`,
    );
    const start = await rearguard(['guard', 'start', '--runbook', file, '--as', 'dave', '--reason', 'watch checkout'], e);
    assert.equal(start.code, 0, start.stderr);
    await waitFor(async () => ((await guardStatus(env.client, GUARD)).evaluations >= 2 ? true : undefined), 'guard evaluating', 20_000);

    // What the guard watches comes with its status (the workflow's Query), queries as it evaluates them.
    const first = await guardView();
    assert.deepEqual(first.status.watches?.conditions, [{ name: 'error-ratio', query: RATIO, op: 'above', threshold: 0.2, for: '2s' }]);
    assert.equal(first.status.watches?.burnRate?.windows[0].shortQuery, RATIO);
    assert.deepEqual(
      first.series.map((s) => [s.condition, s.op, s.threshold]),
      [
        ['error-ratio', 'above', 0.2],
        ['burn rate 30s/10s: 30s window', 'above', 60],
        ['burn rate 30s/10s: 10s window', 'above', 60],
      ],
    );
    assert.equal(first.series[2].query, `(${RATIO}) / 0.01`);
    assert.deepEqual(first.problems, []);
    assert.equal(first.range?.stepSeconds, 15);

    // Errors rise: the guard starts the rollback (a webhook step), then cools down.
    target.set({ errorRatio: 0.5 });
    const triggered = await waitFor(
      async () => {
        const s = await guardStatus(env.client, GUARD);
        return s.triggers.length > 0 ? s : undefined;
      },
      'the guard triggers',
      60_000,
    );
    assert.equal(triggered.triggers[0].rollbackId, 'rollback:dev:checkout');
    await waitFor(() => receiver.requests.some((r) => r.path === '/checkout/switch') || undefined, 'the rollback ran its step', 30_000);

    // A fresh Prometheus has a few minutes of data at most: wait until the chart has several points (one each 15 s).
    const view = await waitFor(
      async () => {
        const v = await guardView();
        return v.series[0].points.length >= 3 && v.series[0].points.some(([, value]) => value > 0.2) ? v : undefined;
      },
      'three points in the last hour, one past the threshold',
      { timeout: 150_000, interval: 2_000 },
    );
    assert.deepEqual(view.problems, []);
    for (const [t, v] of view.series[0].points) {
      assert.ok(Number.isInteger(t) && Math.abs(t * 1000 - Date.now()) < 3_600_000 + 60_000, `unix seconds of the last hour: ${t}`);
      assert.ok(v >= 0 && v <= 1, `an error ratio: ${v}`);
    }

    const page = await open(`#/guard/${encodeURIComponent(GUARD)}`);
    await page.getByRole('heading', { name: 'Guard of checkout in dev' }).waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('[data-state]').first().innerText(), 'cooldown');
    assert.match(await page.locator('[data-fact="cooldown until"] dd').innerText(), /left\)/);
    assert.match(await page.locator('[data-fact="runbook"] dd').innerText(), /checkout-dev/);
    assert.match(await page.locator('[data-fact="evaluates"] dd').innerText(), /every 1s/);

    const chart = page.locator('figure[data-condition="error-ratio"]');
    await chart.waitFor();
    const drawn = await chart
      .locator('polyline.series-line')
      .evaluateAll((els) => els.map((el) => (el.getAttribute('points') ?? '').trim().split(/\s+/).length));
    assert.ok(drawn.reduce((a, b) => a + b, 0) >= 3, `the line has several points: ${JSON.stringify(drawn)}`);
    assert.equal(await chart.locator('line.threshold').getAttribute('data-threshold'), '0.2');
    assert.match(
      await chart
        .locator('line.threshold')
        .evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { strokeDasharray: string } }).getComputedStyle(el).strokeDasharray),
      /^6(px)?,? 4(px)?$/,
      'dashed',
    );
    const name = (await chart.getByRole('img').getAttribute('aria-label')) ?? '';
    assert.match(name, /^error-ratio: latest [\d.]+ at .+, (past|within) the threshold \(violated while above 0\.2 for 2s\); \d+ points in the last hour$/);
    // Every point, for screen readers.
    assert.ok((await chart.locator('table.visually-hidden tbody tr').count()) >= 3);
    assert.equal(await page.locator('figure.chart').count(), 3, 'the condition and both burn-rate windows');

    const trigger = page.locator('tr[data-rollback="rollback:dev:checkout"]');
    await trigger.waitFor();
    assert.equal(await trigger.getByRole('link', { name: 'rollback:dev:checkout' }).getAttribute('href'), '#/rollback/rollback%3Adev%3Acheckout');
    assert.match(await trigger.innerText(), /started it/);
    assert.match(await trigger.innerText(), /error-ratio: 0\.\d+ above 0\.2 for \d+s/);

    await screenshot(page, 'guard');
    assert.deepEqual(await seriousA11yViolations(page), []);
    // Phone width: the charts shrink, nothing is wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone screen`);
    await screenshot(page, 'guard-phone');

    // The trigger's link opens the rollback's page.
    await page.setViewportSize({ width: 1200, height: 900 });
    await trigger.getByRole('link', { name: 'rollback:dev:checkout' }).click();
    await page.getByRole('heading', { name: 'Rollback of checkout in dev' }).waitFor({ timeout: 15_000 });
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  it('refuses a bad ID, answers 404 for an unknown guard, and says in one short line why a chart is missing', async () => {
    const bad = await fetch(`${base}v1/console/guards/${encodeURIComponent('<script>')}`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /guard ID: expected a guard workflow ID such as guard:prod:payments/);
    assert.match(bad.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const ok = await fetch(`${base}v1/console/guards/${GUARD}`);
    assert.equal(ok.status, 200, 'the ID unencoded');
    assert.match(ok.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(ok.headers.get('cache-control'), 'no-store');
    await ok.body?.cancel();
    const unknown = await fetch(`${base}v1/console/guards/guard:dev:nothing`);
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { error: string }).error, /no guard guard:dev:nothing was found/);

    // Prometheus stand-ins: one refusing every query at length, one that never answers.
    const secret = 'x'.repeat(400) + ' SECRET-TAIL';
    const refusing = await listen((_req, res) =>
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: `parse error: ${secret}` })),
    );
    const silent = await listen(() => undefined);
    const closedPort = await freePort();
    const viewWith = async (prometheusUrl: string | undefined): Promise<GuardView> => {
      const a = Fastify();
      registerGuardRoutes(a, { client: env.client, prometheusUrl });
      try {
        const res = await a.inject({ url: `/v1/console/guards/${GUARD}` });
        assert.equal(res.statusCode, 200, res.body);
        return res.json<GuardView>();
      } finally {
        await a.close();
      }
    };
    try {
      const none = await viewWith(undefined);
      assert.equal(none.status.workflowId, GUARD);
      assert.deepEqual(none.series, []);
      assert.deepEqual(none.problems, ['no Prometheus configured for rearguard serve (REARGUARD_PROMETHEUS_URL): no charts']);

      const refused = await viewWith(`http://127.0.0.1:${(refusing.address() as AddressInfo).port}/`);
      assert.equal(refused.problems.length, 3);
      for (const p of refused.problems) {
        assert.ok(p.length <= 160, p);
        assert.doesNotMatch(p, /SECRET-TAIL/);
      }
      assert.match(refused.problems[0], /^error-ratio: Prometheus refused the query \(bad_data\): parse error: x+…$/);
      assert.deepEqual(refused.series[0].points, []);

      const unreachable = await viewWith(`http://127.0.0.1:${closedPort}`);
      assert.equal(unreachable.problems[0], 'error-ratio: Prometheus cannot be reached');
      assert.doesNotMatch(unreachable.problems.join(' '), new RegExp(String(closedPort)));

      const t0 = Date.now();
      const slow = await viewWith(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
      const took = Date.now() - t0;
      assert.equal(slow.problems[0], 'error-ratio: Prometheus did not answer within 5 s');
      assert.ok(took >= 4_500 && took < 8_000, `answered after ${took} ms`);
    } finally {
      for (const s of [refusing, silent]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    }
  });
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const s = createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}
