// The web console in a real browser: Debian's Chromium driven by Playwright (test/helpers/browser.ts) against
// `rearguard serve` and a worker on the dev server. A rollback waiting for approval appears on "Now" with its SLA bar
// and who still has to approve; approving it from the CLI updates the open page within 2 s without a reload; the
// timeline shows each step's result as it ends. A weekly freeze window in America/New_York shows its occurrences on
// the right days and hours across the daylight-saving change, in two viewer time zones. axe-core finds no serious
// violation, the keyboard reaches every link and control, and each page's screenshot is saved (test-artifacts/console/).
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, screenshot, seriousA11yViolations, tabOrder } from '../helpers/browser.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { rearguard, startServe, startWorker, type ServeProcess, type WorkerProcess } from '../helpers/processes.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

let env: TestWorkflowEnvironment;
let dir: string;
let receiver: Receiver;
let worker: WorkerProcess | undefined;
let server: ServeProcess | undefined;
let browser: Browser | undefined;
let base: string;
let e: Record<string, string>;

before(async () => {
  // One after the other, so that `after` stops whatever did start.
  env = await createDevServerEnv();
  dir = await mkdtemp(join(tmpdir(), 'rearguard-console-'));
  receiver = await startReceiver();
  e = rearguardEnv(env, dir, 'console');
  worker = await startWorker({ ...e, REARGUARD_METRICS_PORT: '0', REARGUARD_RUNTIME_METRICS_PORT: '0' });
  server = await startServe(e);
  base = server.base;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await worker?.stop('SIGKILL');
  await receiver?.close();
  await env?.teardown();
});

async function open(path = ''): Promise<Page> {
  const page = await browser!.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${base}${path}`);
  // A page that throws is a failure even when the text looks right.
  (page as Page & { errors?: string[] }).errors = errors;
  return page;
}
const errorsOf = (page: Page) => (page as Page & { errors?: string[] }).errors ?? [];

describe('web console', () => {
  it('serves the page and its bundle with a strict content security policy, compressed', async () => {
    const page = await fetch(base, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const html = await page.text();
    // Relative URLs only: the console works under a reverse proxy's path prefix.
    assert.match(html, /src="console\/app\.js"/);
    assert.doesNotMatch(html, /(src|href)="\//);
    const js = await fetch(`${base}console/app.js`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(js.headers.get('content-encoding'), 'gzip');
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    const bad = await fetch(`${base}v1/console/stream?view=rollback&id=${encodeURIComponent('<script>')}`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { problems: string[] }).problems.join(' '), /id: expected a rollback workflow ID/);
    // Bad input names the field and what was expected.
    const problemsOf = async (path: string) => {
      const r = await fetch(`${base}${path}`);
      assert.equal(r.status, 400, path);
      return ((await r.json()) as { problems: string[] }).problems.join(' | ');
    };
    assert.match(await problemsOf('v1/console/calendar?from=yesterday&until=2027-03-01T00:00:00Z'), /from: expected an ISO date and time/);
    assert.match(
      await problemsOf('v1/console/calendar?from=2027-03-01T00:00:00Z&until=2027-06-01T00:00:00Z'),
      /until: expected until after from, at most 62 days later/,
    );
    assert.match(await problemsOf('v1/console/calendar?from=2027-03-01T00:00:00Z'), /until: /);
    assert.match(await problemsOf('v1/console/stream?view=everything'), /view: /);
    // The console is read-only without OIDC: whoami says what to configure.
    const whoami = await fetch(`${base}v1/console/whoami`);
    assert.equal(whoami.status, 501);
    assert.deepEqual(await (await fetch(`${base}v1/console/config`)).json(), { signIn: false, actions: false });
    // A wrong REARGUARD_CONSOLE is refused at start, naming it.
    const wrong = await rearguard(['serve', '--port', '0'], { ...e, REARGUARD_CONSOLE: 'maybe' });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /REARGUARD_CONSOLE: expected on or off, got "maybe"/);
    // A console stream open does not hold serve's shutdown: SIGTERM ends the stream and serve exits.
    {
      const streaming = await startServe(e);
      const stream = await fetch(`${streaming.base}v1/console/stream?view=now`);
      const reader = stream.body!.getReader();
      assert.match(new TextDecoder().decode((await reader.read()).value), /event: (view|problem)/);
      const t0 = Date.now();
      const exit = await streaming.stop();
      assert.equal(exit.code, 0, exit.stderr);
      assert.ok(Date.now() - t0 < 10_000, `serve took ${Date.now() - t0} ms to stop with a stream open`);
      assert.equal((await reader.read()).done, true, 'the stream was ended');
    }
    // --no-console: the API without the console.
    const bare = await startServe(e, ['--no-console']);
    try {
      assert.equal((await fetch(bare.base)).status, 404);
      assert.equal((await fetch(`${bare.base}v1/console/now`)).status, 404);
    } finally {
      await bare.stop();
    }
  });

  it('a rollback awaiting approval shows its SLA bar; a CLI approval updates the open page within 2 s; the timeline fills in', async () => {
    const service = 'checkout';
    receiver.hold(`/${service}/switch`);
    const file = join(dir, `${service}.yaml`);
    await writeFile(
      file,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${service}-dev }
spec:
  service: ${service}
  environment: dev
  sla: 10m
  escalation:
    - { at: 5m, notify: [team] }
  approval: { required: true, approvers: [alice, bob], quorum: 1, timeout: 30m }
  steps:
    - { name: drain-canary, type: webhook, url: "${receiver.url}/${service}/drain" }
    - { name: switch-traffic, type: webhook, url: "${receiver.url}/${service}/switch", body: { to: stable } }
  verify:
    - { name: healthz, type: http, url: "${receiver.url}/${service}/healthz", expectStatus: 200 }
  notify:
    - { name: team, type: webhook, url: "${receiver.url}/${service}/notify" }
`,
    );
    const start = await rearguard(['rollback', 'start', '--runbook', file, '--reason', '5xx spike after deploy', '--as', 'dave'], e);
    assert.equal(start.code, 0, start.stderr);

    const now = await open();
    const card = now.locator('[data-workflow="rollback:dev:checkout"]');
    await card.waitFor({ timeout: 15_000 });
    await card.getByText('awaiting approval').waitFor();
    await card.getByText('waiting on alice, bob').waitFor();
    const meter = card.getByRole('meter');
    assert.match((await meter.getAttribute('aria-valuetext')) ?? '', /left of 10m/);
    assert.equal(await card.locator('.sla-mark').count(), 1, 'the escalation at 5m is marked on the bar');
    // serve without OIDC: read-only, no sign-in and no decision anywhere.
    assert.equal(await now.getByRole('button').count(), 0);
    assert.equal(await now.getByRole('link', { name: 'Sign in' }).count(), 0);
    await screenshot(now, 'now');
    assert.deepEqual(await seriousA11yViolations(now), []);
    const keys = await tabOrder(now);
    assert.deepEqual(
      keys.interactive.filter((i) => !keys.reached.includes(i)),
      [],
      `reached by Tab: ${keys.reached.join(' | ')}`,
    );

    await card.getByRole('link', { name: 'checkout in dev' }).click();
    await now.getByRole('heading', { name: 'Rollback of checkout in dev' }).waitFor();
    await now.getByText('No vote yet.').waitFor();
    // Set in the page: a reload would clear it.
    await now.evaluate("window.marker = 'same page'");
    const approved = await rearguard(['rollback', 'approve', '--env', 'dev', '--service', service, '--as', 'alice', '--reason', 'go'], e);
    assert.equal(approved.code, 0, approved.stderr);
    const t0 = Date.now();
    await now.getByText(/alice approved at .*: go/).waitFor({ timeout: 2_000 });
    const seen = Date.now() - t0;
    assert.ok(seen <= 2_000, `the vote appeared ${seen} ms after the CLI returned`);
    assert.equal(await now.evaluate('window.marker'), 'same page', 'no reload');

    // The first step ends (its result shows); the second is running, held by the receiver.
    const drain = now.locator('[data-item="drain-canary"]');
    await now.locator('[data-item="drain-canary"][data-state="succeeded"]').waitFor({ timeout: 15_000 });
    assert.match(await drain.locator('.result').innerText(), /status\s*200/);
    await now.locator('[data-item="switch-traffic"][data-state="running"]').waitFor({ timeout: 15_000 });
    await screenshot(now, 'rollback-running');
    receiver.release(`/${service}/switch`);
    await now.locator('[data-item="switch-traffic"][data-state="succeeded"]').waitFor({ timeout: 15_000 });
    await now.locator('[data-item="healthz"][data-state="succeeded"]').waitFor({ timeout: 15_000 });
    await now.getByText('succeeded', { exact: true }).first().waitFor({ timeout: 15_000 });
    // Its audit events are for signed-in people (as GET /v1/audit), and this serve signs no one in.
    await now.getByText('The audit events are for signed-in people.').waitFor();
    assert.doesNotMatch(await (await fetch(`${base}v1/console/rollbacks/${encodeURIComponent('rollback:dev:checkout')}`)).text(), /rollback\.triggered/);
    await screenshot(now, 'rollback-done');
    assert.deepEqual(await seriousA11yViolations(now), []);
    assert.equal(await now.evaluate('window.marker'), 'same page', 'no reload through the whole run');

    // Phone width: one column, nothing wider than the screen.
    await now.setViewportSize({ width: 390, height: 844 });
    const overflow = (await now.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone screen`);
    await screenshot(now, 'rollback-phone');
    assert.deepEqual(errorsOf(now), []);
    await now.close();
  });

  it('works behind a reverse proxy that serves it under a path prefix', async () => {
    // A reverse proxy as nginx would be configured: /rearguard/* goes to serve with the prefix stripped, streamed.
    const target = new URL(base);
    const proxy = createServer((req, res) => {
      if (!req.url?.startsWith('/rearguard/')) return void res.writeHead(404).end('not here');
      const upstream = request(
        { host: target.hostname, port: target.port, path: req.url.slice('/rearguard'.length), method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const page = await open();
      const prefixed = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/rearguard/`;
      await page.goto(prefixed);
      await page.getByRole('heading', { name: 'Now' }).waitFor();
      // The event stream too comes through the prefix.
      await page.getByText('live', { exact: true }).waitFor({ timeout: 15_000 });
      await page.goto(`${prefixed}#/rollback/${encodeURIComponent('rollback:dev:checkout')}`);
      await page.locator('[data-item="switch-traffic"][data-state="succeeded"]').waitFor({ timeout: 15_000 });
      await page.getByRole('link', { name: 'Calendar' }).click();
      await page.getByRole('heading', { name: 'Freeze calendar' }).waitFor();
      assert.match(page.url(), /\/rearguard\/#\/calendar$/);
      assert.deepEqual(errorsOf(page), []);
      await page.close();
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('a weekly window in America/New_York lands on the right days and hours across the DST change, in two viewer zones', async () => {
    const file = join(dir, 'weekends.yaml');
    await writeFile(
      file,
      `apiVersion: rearguard/v1
kind: FreezeCalendar
metadata: { name: weekends }
spec:
  timezone: America/New_York
  windows:
    - { name: weekend, schedule: "0 18 * * FRI", duration: 60h, scope: { environments: [prod], services: ["*"] }, reason: no weekend deploys }
`,
    );
    const applied = await rearguard(['freeze', 'calendar', 'apply', file, '--as', 'rm-ann'], e);
    assert.equal(applied.code, 0, applied.stderr);

    const page = await open('#/calendar/month/2027-03');
    const starts = async () => {
      // Each occurrence's first day: its start as the viewer's zone has it, and the day cell it sits in.
      const chips = page.locator('li[data-window="weekend"][data-first="true"]');
      await chips.first().waitFor({ timeout: 15_000 });
      return chips.evaluateAll((els) => els.map((el) => `${el.closest('td')!.getAttribute('data-day')} ${el.getAttribute('data-start-local')}`));
    };
    await page.getByLabel('Time zone').selectOption('America/New_York');
    await page.getByText('times in America/New_York').waitFor();
    // 2027-03-14: New York moves to daylight time; the window stays at 18:00 local.
    assert.deepEqual(await starts(), [
      '2027-03-05 2027-03-05T18:00',
      '2027-03-12 2027-03-12T18:00',
      '2027-03-19 2027-03-19T18:00',
      '2027-03-26 2027-03-26T18:00',
      '2027-04-02 2027-04-02T18:00',
    ]);
    await screenshot(page, 'calendar-new-york');
    assert.deepEqual(await seriousA11yViolations(page), []);

    // Paris moves to summer time two weeks later (2027-03-28): between the two changes the window starts an hour
    // earlier there, on Friday instead of Saturday.
    await page.getByLabel('Time zone').selectOption('Europe/Paris');
    await page.getByText('times in Europe/Paris').waitFor();
    assert.deepEqual(await starts(), [
      '2027-03-06 2027-03-06T00:00',
      '2027-03-13 2027-03-13T00:00',
      '2027-03-19 2027-03-19T23:00',
      '2027-03-26 2027-03-26T23:00',
      '2027-04-03 2027-04-03T00:00',
    ]);
    await screenshot(page, 'calendar-paris');

    // The week view: the same occurrence by environment.
    await page.getByRole('link', { name: 'week view' }).click();
    await page.locator('td[data-environment="prod"] li[data-window="weekend"]').first().waitFor();
    await screenshot(page, 'calendar-week');

    // The .ics download of what is shown: the occurrences as instants (UTC).
    const ics = await page.getByRole('link', { name: 'download .ics' }).getAttribute('href');
    const text = await (await fetch(new URL(ics!, base))).text();
    assert.match(text, /BEGIN:VEVENT/);
    assert.match(text, /Release freeze: weekend \(prod\/\*\)/);
    const keys = await tabOrder(page);
    assert.deepEqual(
      keys.interactive.filter((i) => !keys.reached.includes(i)),
      [],
    );
    assert.deepEqual(errorsOf(page), []);
    await page.close();
  });

  it("an unfreeze ladder shows each stage's state as it advances, and the failed gate that stopped it", async () => {
    const freeze = await rearguard(
      ['freeze', 'start', '--name', 'launch', '--env', 'dev,staging,prod', '--duration', '3d', '--reason', 'launch week', '--as', 'rm-ann'],
      e,
    );
    assert.equal(freeze.code, 0, freeze.stderr);
    // prod's health gate fails: the ladder opens dev and staging, then stops at prod.
    receiver.respond('/gate/prod', 503);
    const unfreeze = await rearguard(
      [
        'unfreeze',
        'start',
        '--freeze',
        'launch',
        '--ladder',
        'dev,staging,prod',
        '--soak',
        '4s',
        '--interval',
        '1s',
        '--gate-http',
        `${receiver.url}/gate/$environment`,
        '--reason',
        'launch done',
        '--as',
        'rm-ann',
      ],
      e,
    );
    assert.equal(unfreeze.code, 0, unfreeze.stderr);
    const page = await open('#/unfreeze/freeze:launch');
    const stage = (env: string) => page.locator(`li[data-environment="${env}"]`);
    await stage('dev').waitFor({ timeout: 15_000 });
    // Every state each stage shows, in order, as the page changes under the stream.
    const seen: Record<string, string[]> = { dev: [], staging: [], prod: [] };
    let shot = false;
    await waitFor(
      async () => {
        for (const env of Object.keys(seen)) {
          const state = (await stage(env).getAttribute('data-state')) ?? '';
          if (seen[env].at(-1) !== state) seen[env].push(state);
        }
        if (!shot && seen.staging.at(-1) === 'soaking') {
          shot = true;
          await screenshot(page, 'unfreeze-soaking');
        }
        return seen.prod.at(-1) === 'failed';
      },
      'the ladder reaches prod and its gate fails',
      { timeout: 60_000, interval: 100, detail: () => JSON.stringify(seen) },
    );
    assert.deepEqual(seen.dev.slice(0, 1), ['soaking'], JSON.stringify(seen));
    assert.ok(['healthy', 'released'].includes(seen.dev.at(-1)!), JSON.stringify(seen));
    assert.deepEqual(seen.staging.slice(0, 2), ['frozen', 'soaking'], `staging waited for dev: ${JSON.stringify(seen)}`);
    assert.ok(['healthy', 'released'].includes(seen.staging.at(-1)!), JSON.stringify(seen));
    assert.equal(seen.prod[0], 'frozen');
    assert.ok(seen.prod.includes('soaking'), JSON.stringify(seen));
    // The last gate results name the failure.
    await page.getByRole('cell', { name: 'failed' }).first().waitFor();
    await screenshot(page, 'unfreeze-failed');
    assert.deepEqual(await seriousA11yViolations(page), []);
    assert.deepEqual(errorsOf(page), []);
    await page.close();
  });
});
