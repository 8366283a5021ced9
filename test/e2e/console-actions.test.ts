// The web console for signed-in people, in a real browser (test/helpers/browser.ts): `rearguard serve` with OIDC (a
// local provider's tokens, as test/integration/serve-oidc.test.ts) and its delegate key, which the worker's
// allowed_signers lists. A person signs in with a token (a bad one is refused with serve's reason), approves a
// rollback from its page with the keyboard (reason and confirmation in a dialog; cancelling a dialog decides
// nothing), approves a freeze exception and lifts the freeze from "Now", and reads the audit trail filtered, with the
// hash chain's state. Each decision is the person's, signed by serve: the audit names them.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { buildServer } from '../../client/serve.js';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import { OIDC_AUDIENCE, startOidcIssuer, type OidcIssuer } from '../helpers/oidc.js';
import { launchBrowser, screenshot, seriousA11yViolations, tabOrder } from '../helpers/browser.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

const DELEGATE = 'delegate:rearguard-serve';

let env: TestWorkflowEnvironment;
let receiver: Receiver;
let worker: WorkerProcess | undefined;
let dir = '';
let oidc: OidcIssuer | undefined;
let app: FastifyInstance | undefined;
let base = '';
let browser: Browser | undefined;
let e: Record<string, string>;

before(async () => {
  env = await createDevServerEnv();
  receiver = await startReceiver();
  dir = await mkdtemp(join(tmpdir(), 'rearguard-console-actions-'));
  // serve's delegate key, and keys for the people who use the CLI here (this worker requires signed decisions).
  for (const name of ['serve', 'rm-ann', 'bob']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  const publicKey = async (name: string) => (await readFile(join(dir, `${name}.pub`), 'utf8')).trim();
  const allowedSigners = join(dir, 'allowed_signers');
  await writeFile(
    allowedSigners,
    `${DELEGATE} ${await publicKey('serve')}\nrm-ann namespaces="rearguard" ${await publicKey('rm-ann')}\nbob namespaces="rearguard" ${await publicKey('bob')}\n`,
  );
  const taskQueue = `console-actions-${randomUUID()}`;
  e = { TEMPORAL_ADDRESS: env.address, REARGUARD_TASK_QUEUE: taskQueue, REARGUARD_AUDIT_FILE: join(dir, 'audit.jsonl') };
  worker = await startWorker({ ...e, REARGUARD_ALLOWED_SIGNERS: allowedSigners, REARGUARD_RUNTIME_METRICS_PORT: '0', REARGUARD_METRICS_PORT: '0' });
  oidc = await startOidcIssuer();
  ({ app } = buildServer({
    client: env.client,
    taskQueue,
    oidc: { issuer: oidc.issuer, audience: OIDC_AUDIENCE, actorClaim: 'preferred_username' },
    delegate: { principal: DELEGATE, key: join(dir, 'serve'), keySource: 'REARGUARD_SERVE_SIGNING_KEY' },
    auditFile: e.REARGUARD_AUDIT_FILE,
  }));
  base = `${await app.listen({ host: '127.0.0.1', port: 0 })}/`;
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await app?.close();
  await worker?.stop('SIGKILL');
  await oidc?.close();
  await receiver?.close();
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const token = (user: string) => oidc!.token(user);

async function open(path = ''): Promise<Page & { errors: string[] }> {
  const page = Object.assign(await browser!.newPage({ viewport: { width: 1200, height: 900 } }), { errors: [] as string[] });
  page.on('pageerror', (err) => page.errors.push(err.message));
  await page.goto(`${base}${path}`);
  return page;
}

const status = async (service: string): Promise<RollbackStatus> =>
  JSON.parse((await rearguard(['rollback', 'status', '--env', 'dev', '--service', service, '--json'], e)).stdout) as RollbackStatus;

describe('web console: signed-in people act', () => {
  it('signs in with a token, approves a rollback by keyboard, approves an exception and lifts a freeze, reads the audit', async () => {
    const service = 'orders';
    const file = join(dir, `${service}.yaml`);
    await writeFile(
      file,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${service}-dev }
spec:
  service: ${service}
  environment: dev
  sla: 15m
  approval: { required: true, approvers: [alice], timeout: 30m }
  steps:
    - { name: switch-back, type: webhook, url: "${receiver.url}/${service}/switch" }
`,
    );
    const started = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'orders 5xx', '--as', 'dave'], e);
    assert.equal(started.code, 0, started.stderr);

    const page = await open();
    // Read-only until someone signs in: no decision buttons.
    await page.locator('[data-workflow="rollback:dev:orders"]').waitFor({ timeout: 15_000 });
    assert.equal(await page.getByRole('button').count(), 0, 'no action before sign-in');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('OIDC token from your identity provider').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /token/i, 'serve says why the token is refused');
    await page.getByLabel('OIDC token from your identity provider').fill(await token('alice'));
    await screenshot(page, 'sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.match(await page.locator('.who').innerText(), /alice/);

    // The rollback's page, by keyboard only: focus "Approve", open its dialog, give the reason, confirm.
    await page.goto(`${base}#/rollback/${encodeURIComponent('rollback:dev:orders')}`);
    await page.getByRole('button', { name: 'Approve', exact: true }).waitFor({ timeout: 15_000 });
    const keys = await tabOrder(page);
    assert.deepEqual(
      keys.interactive.filter((i) => !keys.reached.includes(i)),
      [],
      `every action is reached by Tab: ${keys.reached.join(' | ')}`,
    );
    // A dialog cancelled decides nothing.
    await page.getByRole('button', { name: 'Reject' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    assert.equal((await status(service)).phase, 'awaiting-approval');

    await page.getByRole('button', { name: 'Approve', exact: true }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.deepEqual(await seriousA11yViolations(page), []);
    // The reason field has focus first in the dialog; an empty reason is refused before anything is sent.
    await page.keyboard.press('Tab');
    await dialog.getByLabel('Reason').fill('checked the dashboards: go');
    await screenshot(page, 'approve-dialog');
    await dialog.getByRole('button', { name: 'Confirm: approve' }).focus();
    await page.keyboard.press('Enter');
    await page.getByText(/alice approved at .*: checked the dashboards: go/).waitFor({ timeout: 5_000 });
    await waitFor(async () => (await status(service)).outcome === 'succeeded', 'the rollback succeeds');
    // Signed in, the page shows the rollback's audit events, the approval among them.
    await page.getByRole('cell', { name: 'rollback.approved' }).waitFor({ timeout: 10_000 });
    const approvedEvent = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent)
      .find((a) => a.action === 'rollback.approved')!;
    assert.equal(approvedEvent.actor, 'alice');
    assert.match(JSON.stringify(approvedEvent.details), new RegExp(DELEGATE));

    // A freeze with a pending exception: approve it, then lift the freeze, from "Now".
    const freeze = await rearguard(
      ['freeze', 'start', '--name', 'quarter-end', '--env', 'prod', '--duration', '1d', '--reason', 'quarter end', '--approvers', 'alice', '--as', 'rm-ann'],
      { ...e, REARGUARD_SIGNING_KEY: join(dir, 'rm-ann') },
    );
    assert.equal(freeze.code, 0, freeze.stderr);
    const request = await rearguard(['freeze', 'exception', 'request', '--name', 'quarter-end', '--change', 'PR-42', '--reason', 'hotfix', '--as', 'bob'], {
      ...e,
      REARGUARD_SIGNING_KEY: join(dir, 'bob'),
    });
    assert.equal(request.code, 0, request.stderr);
    await page.goto(base);
    await page.getByRole('button', { name: 'Approve exception' }).click({ timeout: 15_000 });
    await page.getByRole('dialog').getByLabel('Reason').fill('hotfix reviewed');
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm: approve exception' }).click();
    await page.locator('.exception-approved').waitFor({ timeout: 10_000 });
    const gate = await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'api', '--change', 'PR-42'], e);
    assert.equal(gate.code, 0, `the approved change passes the gate: ${gate.stdout}${gate.stderr}`);
    await screenshot(page, 'now-signed-in');
    const nowKeys = await tabOrder(page);
    assert.deepEqual(
      nowKeys.interactive.filter((i) => !nowKeys.reached.includes(i)),
      [],
      `every action on Now is reached by Tab: ${nowKeys.reached.join(' | ')}`,
    );
    await page.getByRole('button', { name: 'Lift' }).click();
    await page.getByRole('dialog').getByLabel('Reason').fill('quarter closed early');
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm: lift' }).click();
    await waitFor(async () => (await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'api'], e)).code === 0, 'the freeze is lifted');

    // The audit trail, filtered, with the chain's state.
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByLabel('Actor').fill('alice');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.locator('[data-chain="intact"]').waitFor({ timeout: 10_000 });
    // The filtered answer replaces the first one (every actor of the last 7 days).
    let shown: string[] = [];
    const actors = await waitFor(
      async () => {
        shown = await page.locator('table.audit tbody tr td:nth-child(5)').allInnerTexts();
        return shown.length > 0 && shown.every((x) => x === 'alice') ? shown : undefined;
      },
      "only alice's events",
      { timeout: 10_000, detail: () => shown.join(', ') },
    );
    assert.ok(actors.length >= 3, actors.join(', '));
    await page.getByRole('cell', { name: 'rollback.approved' }).waitFor();
    await screenshot(page, 'audit');
    assert.deepEqual(await seriousA11yViolations(page), []);
    assert.deepEqual(page.errors, []);
    await page.close();
  });
});
