// Gradual unfreeze end to end with a real Prometheus: the CLI starts a freeze, then its gradual unfreeze
// with a Prometheus error-ratio gate and 5 s soaks; a worker process evaluates the gate against what a
// metrics target serves. Healthy: dev, staging, prod open one by one and the freeze is lifted (the gate
// allows every environment). Errors: the gate fails at dev, dev is frozen again and the freeze holds.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AuditEvent } from '../../runbook/types.js';
import type { UnfreezeStatus } from '../../runbook/unfreeze.js';
import { freePort, rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startMetricsTarget, startPrometheus, type MetricsTarget, type Prometheus } from '../helpers/prometheus.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';

const RATIO = 'sum(rate(http_requests_total{code=~"5.."}[10s])) / sum(rate(http_requests_total[10s]))';

let env: TestWorkflowEnvironment;
let dir: string;
let worker: WorkerProcess | undefined;
let target: MetricsTarget | undefined;
let prom: Prometheus | undefined;
let e: Record<string, string>;

before(async () => {
  [env, dir, target] = await Promise.all([
    createDevServerEnv(),
    mkdtemp(join(tmpdir(), 'rearguard-unfreeze-')),
    startMetricsTarget({ rps: 20, errorRatio: 0 }),
  ]);
  prom = await startPrometheus({ scrapeTargets: [target.hostPort] });
  e = rearguardEnv(env, dir, 'unfreeze');
  worker = await startWorker({
    ...e,
    REARGUARD_METRICS_PORT: String(await freePort()),
    REARGUARD_METRICS_HOST: '127.0.0.1',
    REARGUARD_PROMETHEUS_URL: prom.url,
  });
});
after(async () => {
  await worker?.stop('SIGKILL');
  await prom?.stop();
  await target?.stop();
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ratio = async (): Promise<number | undefined> => {
  const samples = await prom!.query(RATIO);
  return samples.length === 1 && !Number.isNaN(Number(samples[0].value[1])) ? Number(samples[0].value[1]) : undefined;
};
const status = async (freeze: string): Promise<UnfreezeStatus> => {
  const r = await rearguard(['unfreeze', 'status', '--freeze', freeze, '--json'], e);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as UnfreezeStatus;
};
const gate = async (environment: string) => (await rearguard(['freeze', 'check', '--env', environment, '--service', 'payments'], e)).code;
const freezeStart = async (name: string) => {
  const r = await rearguard(
    ['freeze', 'start', '--name', name, '--env', 'dev,staging,prod', '--duration', '3d', '--reason', 'Black Friday', '--as', 'rm-ann'],
    e,
  );
  assert.equal(r.code, 0, r.stderr);
};
const unfreezeStart = (name: string) =>
  rearguard(
    [
      'unfreeze',
      'start',
      '--freeze',
      name,
      '--ladder',
      'dev,staging,prod',
      '--soak',
      '5s',
      '--interval',
      '2s',
      '--gate',
      `${RATIO} < 0.05`,
      '--reason',
      'sales are over',
      '--as',
      'rm-ann',
    ],
    e,
  );

describe('gradual unfreeze from the CLI, with a real Prometheus gate', () => {
  it('healthy: dev, staging and prod open one by one after their soaks, then the freeze is lifted', async (t) => {
    await waitFor(async () => (await ratio()) === 0 || undefined, 'Prometheus has an error ratio of 0', 30_000);
    await freezeStart('black-friday');
    assert.equal(await gate('dev'), 3, 'frozen before the unfreeze');

    const bad = await rearguard(['unfreeze', 'start', '--freeze', 'black-friday', '--ladder', 'dev,qa', '--soak', '5s', '--reason', 'x'], e);
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /--ladder: freeze black-friday does not hold qa \(holds: dev, staging, prod\)/);

    const started = Date.now();
    const start = await unfreezeStart('black-friday');
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /Gradual unfreeze started: dev -> staging -> prod, soak 5s each, 1 gate\(s\) every 2s/);

    const soaking = await waitFor(async () => {
      const s = await status('black-friday');
      return s.environments[0].state === 'soaking' ? s : undefined;
    }, 'dev soaking');
    assert.ok(soaking.environments[0].remainingMs! <= 5_000);
    const text = await rearguard(['unfreeze', 'status', '--freeze', 'black-friday'], e);
    assert.match(text.stdout, /Gradual unfreeze of freeze:black-friday: soaking \(step 1\/3: dev\)/);

    const done = await waitFor(
      async () => {
        const s = await status('black-friday');
        return s.phase === 'completed' ? s : undefined;
      },
      'unfreeze completed',
      60_000,
    );
    t.diagnostic(`ladder completed in ${Date.now() - started} ms`);
    for (const x of done.environments) {
      assert.equal(x.state, 'released');
      assert.ok(Date.parse(x.healthyAt!) - Date.parse(x.releasedAt!) >= 5_000);
      assert.ok(x.lastGates.every((g) => g.ok) && x.lastGates[0].type === 'prometheus', JSON.stringify(x.lastGates));
    }
    for (const environment of ['dev', 'staging', 'prod']) assert.equal(await gate(environment), 0, `${environment} open`);
    const audit = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    const unfreeze = audit.filter((x) => x.workflowId === 'unfreeze:freeze:black-friday').map((x) => `${x.action} ${x.target.environment}`);
    assert.deepEqual(unfreeze.at(-1), 'unfreeze.completed dev,staging,prod');
    assert.ok(audit.some((x) => x.action === 'freeze.lifted' && x.reason === 'gradual unfreeze complete'));
  });

  it('errors: the gate fails at dev, dev is frozen again and the freeze holds; abort ends it', async () => {
    target!.set({ errorRatio: 0.3 });
    await waitFor(async () => ((await ratio()) ?? 0) > 0.2 || undefined, 'error ratio above 0.2', 30_000);
    await freezeStart('cyber-monday');
    const start = await unfreezeStart('cyber-monday');
    assert.equal(start.code, 0, start.stderr);
    const failed = await waitFor(
      async () => {
        const s = await status('cyber-monday');
        return s.phase === 'failed' ? s : undefined;
      },
      'gate failed',
      60_000,
    );
    assert.equal(failed.currentEnvironment, 'dev');
    assert.deepEqual(
      failed.environments.map((x) => x.state),
      ['failed', 'frozen', 'frozen'],
    );
    assert.match(failed.environments[0].failure!, /prometheus check: expected below 0\.05 .*last value 0\.[23]/);
    for (const environment of ['dev', 'staging', 'prod']) assert.equal(await gate(environment), 3, `${environment} frozen`);
    const text = await rearguard(['unfreeze', 'status', '--freeze', 'cyber-monday'], e);
    assert.match(text.stdout, /dev +failed +frozen again: /);
    assert.match(text.stdout, /next: fix it, then `rearguard unfreeze advance --freeze freeze:cyber-monday/);

    const abort = await rearguard(['unfreeze', 'abort', '--freeze', 'cyber-monday', '--reason', 'errors persist', '--as', 'rm-ann'], e);
    assert.equal(abort.code, 0, abort.stderr);
    assert.match(abort.stdout, /aborted by rm-ann\. Still frozen: dev, staging, prod/);
    const again = await rearguard(['unfreeze', 'advance', '--freeze', 'cyber-monday', '--reason', 'x'], e);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /advance refused: the gradual unfreeze of freeze:cyber-monday has ended \(aborted\)/);
    assert.equal(await gate('prod'), 3, 'the freeze still holds');
    const lift = await rearguard(['freeze', 'lift', '--name', 'cyber-monday', '--reason', 'test over'], e);
    assert.equal(lift.code, 0, lift.stderr);
  });
});
