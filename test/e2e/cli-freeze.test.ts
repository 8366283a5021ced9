// Release freezes end to end: the CLI starts a freeze, the gate enforces it the moment the CLI
// returns (CLI exit 3 and HTTP 423 from `rearguard serve`), an approved exception lets one change
// through, and lifting it opens the gate again.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AuditEvent } from '../../runbook/types.js';
import { freePort, rearguard, startWorker, waitUntil, type WorkerProcess } from '../helpers/processes.js';
import { createDevServerEnv } from '../helpers/temporal.js';

let env: TestWorkflowEnvironment;
let dir: string;
let worker: WorkerProcess | undefined;
let server: ReturnType<typeof rearguard> | undefined;

before(async () => {
  [env, dir] = await Promise.all([createDevServerEnv(), mkdtemp(join(tmpdir(), 'rearguard-freeze-'))]);
});
after(async () => {
  server?.child.kill('SIGTERM');
  await server?.catch(() => undefined);
  await worker?.stop('SIGKILL');
  await env?.teardown();
});

describe('release freeze from the CLI', () => {
  it('blocks deploys as soon as it starts, lets an approved exception through, and opens again when lifted', async () => {
    const metricsPort = await freePort();
    const e = {
      TEMPORAL_ADDRESS: env.address,
      REARGUARD_TASK_QUEUE: `freeze-${randomUUID()}`,
      REARGUARD_AUDIT_FILE: join(dir, 'audit.jsonl'),
      REARGUARD_RUNTIME_METRICS_PORT: '0',
      TZ: 'America/New_York',
    };
    worker = await startWorker({ ...e, REARGUARD_METRICS_PORT: String(metricsPort), REARGUARD_METRICS_HOST: '127.0.0.1' });
    const port = await freePort();
    server = rearguard(['serve', '--port', String(port)], e);
    await waitUntil(
      () =>
        fetch(`http://127.0.0.1:${port}/healthz`)
          .then((r) => r.ok)
          .catch(() => false),
      'rearguard serve',
    );

    const gate = (service: string, change?: string) =>
      fetch(`http://127.0.0.1:${port}/v1/gate?env=prod&service=${service}${change ? `&change=${change}` : ''}`);
    assert.equal((await gate('payments')).status, 200, 'open before the freeze');

    const bad = await rearguard(['freeze', 'start', '--name', 'black-friday', '--env', 'prod', '--end', 'next tuesday', '--reason', 'x'], e);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--end: expected a date and time like 2026-11-26T00:00/);

    const start = await rearguard(
      [
        'freeze',
        'start',
        '--name',
        'black-friday',
        '--env',
        'prod',
        '--duration',
        '3d',
        '--reason',
        'Peak business event',
        '--approvers',
        'rm-bo',
        '--as',
        'rm-ann',
      ],
      e,
    );
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /Freeze started: black-friday \(prod \/ \*\)/);

    // Enforced the moment the CLI returned: no waiting here.
    const check = await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'payments'], e);
    assert.equal(check.code, 3, check.stdout + check.stderr);
    assert.match(check.stderr, /FROZEN: prod\/payments is blocked by a release freeze/);
    assert.match(check.stderr, /black-friday: Peak business event \(by rm-ann\) until 20\d\d-\d\d-\d\d \d\d:\d\d EST/);
    assert.match(check.stderr, /rearguard freeze exception request --name black-friday --change <CHANGE-ID>/);
    const http = await gate('payments');
    assert.equal(http.status, 423);
    assert.deepEqual(
      ((await http.json()) as { blockedBy: { name: string }[] }).blockedBy.map((b) => b.name),
      ['black-friday'],
    );
    assert.equal((await rearguard(['freeze', 'check', '--env', 'staging', '--service', 'payments'], e)).code, 0, 'staging is not frozen');

    const again = await rearguard(
      ['freeze', 'start', '--name', 'black-friday', '--env', 'prod', '--duration', '3d', '--reason', 'Peak business event', '--as', 'rm-cy'],
      e,
    );
    assert.equal(again.code, 0, 'starting an existing window is idempotent');
    assert.match(again.stdout, /Freeze already exists/);

    assert.equal(
      (await rearguard(['freeze', 'exception', 'request', '--name', 'black-friday', '--change', 'PR-1234', '--reason', 'checkout bug fix', '--as', 'dave'], e))
        .code,
      0,
    );
    const self = await rearguard(['freeze', 'exception', 'approve', '--name', 'black-friday', '--change', 'PR-1234', '--as', 'dave'], e);
    assert.equal(self.code, 1);
    assert.match(self.stderr, /dave cannot approve freeze exceptions/);
    assert.equal((await rearguard(['freeze', 'exception', 'approve', '--name', 'black-friday', '--change', 'PR-1234', '--as', 'rm-bo'], e)).code, 0);
    assert.equal(
      (await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'payments', '--change', 'PR-1234'], e)).code,
      0,
      'the approved change may deploy',
    );
    assert.equal((await gate('payments', 'PR-1234')).status, 200);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'payments', '--change', 'PR-9'], e)).code, 3, 'others may not');

    const extend = await rearguard(['freeze', 'extend', '--name', 'black-friday', '--by', '1d', '--reason', 'sales extended', '--as', 'rm-ann'], e);
    assert.equal(extend.code, 0, extend.stderr);
    const list = await rearguard(['freeze', 'list'], e);
    assert.match(list.stdout, /black-friday\s+active\s+prod\/\*/);

    const workerMetrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(workerMetrics, /rearguard_freeze_active\{environment="prod"\} 1/);

    const lift = await rearguard(['freeze', 'lift', '--name', 'black-friday', '--reason', 'event over', '--as', 'rm-ann'], e);
    assert.equal(lift.code, 0, lift.stderr);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'payments'], e)).code, 0, 'open again');
    assert.equal((await gate('payments')).status, 200);
    const liftAgain = await rearguard(['freeze', 'lift', '--name', 'black-friday', '--reason', 'again'], e);
    assert.equal(liftAgain.code, 1);
    assert.match(liftAgain.stderr, /freeze black-friday is no longer running \(completed at .*\): nothing to lift/);

    const serveMetrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(serveMetrics, /rearguard_gate_checks_total\{result="frozen"\} 1/);
    assert.match(serveMetrics, /rearguard_gate_checks_total\{result="allowed"\} 3/);

    const audit = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    assert.deepEqual(
      audit.map((x) => `${x.action} by ${x.actor}`),
      [
        'freeze.started by rm-ann',
        'freeze.exception-requested by dave',
        'freeze.exception-approved by rm-bo',
        'freeze.extended by rm-ann',
        'freeze.lifted by rm-ann',
      ],
    );
  });
});
