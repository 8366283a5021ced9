// Rearguard on a real Temporal cluster (test/helpers/cluster.ts: the Temporal server on PostgreSQL, mutual TLS),
// not the dev server: the CLI and two worker processes connect with the Temporal CLI's TLS variables; a client
// without a certificate is refused; rollbacks run to the end with the work spread over both workers; a freeze
// blocks the gate (its registry, and the visibility listing, on PostgreSQL).
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { resolveTemporal } from '../../api/temporal-connection.js';
import { rollbackWorkflowId } from '../../api/ids.js';
import { freezeStateQuery } from '../../api/messages.js';
import type { FreezeState } from '../../runbook/freeze.js';
import type { UnfreezeStatus } from '../../runbook/unfreeze.js';
import { startTemporalCluster, type TemporalCluster } from '../helpers/cluster.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startMetricsTarget, startPrometheus, type MetricsTarget, type Prometheus } from '../helpers/prometheus.js';
import { startServe } from '../helpers/gate.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { webhookRunbookYaml } from '../helpers/runbooks.js';
import { waitFor } from '../helpers/wait.js';

let cluster: TemporalCluster;
let receiver: Receiver;
let metricsTarget: MetricsTarget;
let prom: Prometheus;
const RATIO = 'sum(rate(http_requests_total{code=~"5.."}[10s])) / sum(rate(http_requests_total[10s]))';
let dir: string;
let client: Client;
let connection: Connection;
const workers: WorkerProcess[] = [];

before(async () => {
  // One after the other, each kept as soon as it runs: `after` stops whatever started, even when a later one fails.
  dir = await mkdtemp(join(tmpdir(), 'rearguard-cluster-e2e-'));
  receiver = await startReceiver();
  cluster = await startTemporalCluster();
  metricsTarget = await startMetricsTarget({ rps: 20, errorRatio: 0 });
  prom = await startPrometheus({ scrapeTargets: [metricsTarget.hostPort] });
  const target = await resolveTemporal({ ...cluster.env, HOME: dir });
  connection = await Connection.connect(target.connection);
  client = new Client({ connection, namespace: target.namespace });
});
after(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await connection?.close();
  await receiver?.close();
  await prom?.stop();
  await metricsTarget?.stop();
  await cluster?.stop();
});

/** A dev rollback runbook of webhook steps (each POSTs to the receiver under /<service>/<step>), checked over HTTP. */
async function webhookRunbook(service: string, steps: string[]): Promise<string> {
  const file = join(dir, `${service}.yaml`);
  await writeFile(file, webhookRunbookYaml(service, receiver.url, steps));
  return file;
}

/** A Rearguard process's environment: the cluster with the client certificate, no developer profile. */
const settings = (extra: Record<string, string> = {}): Record<string, string> => ({
  ...cluster.env,
  HOME: dir,
  REARGUARD_TASK_QUEUE: 'rearguard-cluster',
  REARGUARD_AUDIT_FILE: join(dir, 'audit.jsonl'),
  REARGUARD_METRICS_PORT: '0',
  REARGUARD_RUNTIME_METRICS_PORT: '0',
  REARGUARD_PROMETHEUS_URL: prom.url,
  ...extra,
});

describe('a real Temporal cluster (PostgreSQL, mTLS)', () => {
  it('refuses a client without a certificate', async () => {
    const serverOnly = settings();
    delete serverOnly.TEMPORAL_TLS_CLIENT_CERT_PATH;
    delete serverOnly.TEMPORAL_TLS_CLIENT_KEY_PATH;
    const r = await rearguard(['rollback', 'list'], serverOnly);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot reach Temporal at 127\.0\.0\.1:\d+ \(namespace default; TLS on\)/);
  });

  it('runs rollbacks to the end on two worker processes, both taking work', async () => {
    workers.push(...(await Promise.all([startWorker(settings()), startWorker(settings())])));
    for (const w of workers) assert.match(w.output(), /on 127\.0\.0\.1:\d+ \(namespace default; TLS on, client certificate\)/);
    const services = ['cart', 'search', 'ledger', 'profile'];
    const files = await Promise.all(services.map((service) => webhookRunbook(service, ['one', 'two', 'three'])));
    const runs = await Promise.all(
      files.map((file) => rearguard(['rollback', 'start', '--runbook', file, '--reason', 'bad deploy', '--wait', '--as', 'dave'], settings())),
    );
    runs.forEach((r, i) => assert.equal(r.code, 0, `${services[i]}: ${r.stdout}\n${r.stderr}`));
    // Each step once, in order (no duplicate deliveries between the two workers).
    for (const service of services) {
      const steps = receiver.requests.filter((r) => r.method === 'POST' && r.path.startsWith(`/${service}/`) && !r.duplicate).map((r) => r.path);
      assert.deepEqual(steps, [`/${service}/one`, `/${service}/two`, `/${service}/three`]);
    }

    // Who did the work: the identities on the workflow and activity tasks of the four histories.
    const identities = new Set<string>();
    for (const service of services) {
      const history = await client.workflow.getHandle(rollbackWorkflowId('dev', service)).fetchHistory();
      for (const e of history.events ?? []) {
        const id = e.workflowTaskStartedEventAttributes?.identity ?? e.activityTaskStartedEventAttributes?.identity;
        if (id) identities.add(id);
      }
    }
    const pids = workers.map((w) => String(w.child.pid));
    assert.deepEqual(
      pids.filter((pid) => [...identities].some((id) => id.startsWith(`${pid}@`))),
      pids,
      `both workers took tasks: ${[...identities].join(', ')}`,
    );
  });

  it('a worker SIGKILLed mid-step: the other worker finishes the run, the step applied once', async () => {
    const service = 'billing';
    const file = await webhookRunbook(service, ['one', 'two', 'three']);
    receiver.hold(`/${service}/two`);
    const start = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'bad deploy', '--as', 'dave'], settings());
    assert.equal(start.code, 0, start.stderr);
    await waitFor(() => receiver.requests.some((r) => r.path === `/${service}/two`), 'step two in progress');
    // The worker running step two, by the identity the server gives its attempt.
    const handle = client.workflow.getHandle(rollbackWorkflowId('dev', service));
    const running = await waitFor(async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      return pending.find((a) => a.activityType?.name === 'runStep')?.lastWorkerIdentity ?? undefined;
    }, 'the attempt of step two');
    const victim = workers.find((w) => running.startsWith(`${w.child.pid}@`));
    assert.ok(victim, `a worker of this test runs step two (${running})`);
    assert.equal(await victim.stop('SIGKILL'), -1);
    receiver.release(`/${service}/two`);
    const survivor = workers.find((w) => w !== victim)!;

    const done = await rearguard(['rollback', 'status', '--env', 'dev', '--service', service, '--wait'], settings());
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
    const two = receiver.requests.filter((r) => r.path === `/${service}/two`);
    assert.equal(new Set(two.map((r) => r.key)).size, 1, 'every attempt of step two carries one Idempotency-Key');
    assert.deepEqual(
      receiver.requests.filter((r) => r.path.startsWith(`/${service}/`) && !r.duplicate && r.method === 'POST').map((r) => r.path),
      [`/${service}/one`, `/${service}/two`, `/${service}/three`],
    );
    // The attempt that completed step two ran on the survivor.
    const history = await handle.fetchHistory();
    // Only runStep's attempts: other activities the victim had in flight (audit, notifications) retry too.
    const events = history.events ?? [];
    const runSteps = new Set(events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runStep').map((e) => String(e.eventId)));
    const finishers = events
      .filter((e) => e.activityTaskStartedEventAttributes?.attempt === 2)
      .filter((e) => runSteps.has(String(e.activityTaskStartedEventAttributes!.scheduledEventId)))
      .map((e) => e.activityTaskStartedEventAttributes!.identity);
    assert.deepEqual(finishers, [`${survivor.child.pid}@${running.split('@')[1]}`]);
    workers.splice(workers.indexOf(victim), 1, await startWorker(settings()));
  });

  it('a freeze blocks the gate, read from the registry and the visibility store on PostgreSQL', async () => {
    const start = await rearguard(
      ['freeze', 'start', '--name', 'cluster-freeze', '--env', 'prod', '--duration', '1d', '--reason', 'peak', '--as', 'rm-cy'],
      settings(),
    );
    assert.equal(start.code, 0, start.stderr);
    const frozen = await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'payments'], settings());
    assert.equal(frozen.code, 3, frozen.stderr);
    assert.match(frozen.stdout + frozen.stderr, /cluster-freeze/);
    const allowed = await rearguard(['freeze', 'check', '--env', 'staging', '--service', 'payments'], settings());
    assert.equal(allowed.code, 0, allowed.stderr);
    // rearguard serve reaches the cluster the same way: its gate answers 423 for the frozen environment.
    const serve = await startServe(settings());
    try {
      const gate = await fetch(`${serve.url}/v1/gate?env=prod&service=payments`);
      assert.equal(gate.status, 423);
      assert.match(JSON.stringify(await gate.json()), /cluster-freeze/);
      assert.match(serve.log() + serve.out(), /Temporal at 127\.0\.0\.1:\d+ \(namespace default; TLS on, client certificate\)/);
    } finally {
      await serve.stop();
    }
    const list = await rearguard(['freeze', 'list', '--json'], settings());
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /cluster-freeze/);
    const lift = await rearguard(['freeze', 'lift', '--name', 'cluster-freeze', '--reason', 'peak over', '--as', 'rm-cy'], settings());
    assert.equal(lift.code, 0, lift.stderr);
  });

  it("a calendar's recurring window becomes a Schedule that the cluster runs: its occurrence blocks the gate", async () => {
    const file = join(dir, 'calendar.yaml');
    await writeFile(
      file,
      `apiVersion: rearguard/v1
kind: FreezeCalendar
metadata: { name: cluster-calendar }
spec:
  timezone: Europe/Paris
  windows:
    - { name: new-year, schedule: "0 3 1 1 *", duration: 1h, scope: { environments: [qa] }, reason: new year }
`,
    );
    const applied = await rearguard(['freeze', 'calendar', 'apply', file, '--json', '--as', 'rm-cy'], settings());
    assert.equal(applied.code, 0, applied.stderr);
    assert.deepEqual(
      (JSON.parse(applied.stdout) as { results: { window: string; outcome: string }[] }).results.map((r) => [r.window, r.outcome]),
      [['new-year', 'created']],
    );
    assert.equal((await rearguard(['freeze', 'check', '--env', 'qa', '--service', 'payments'], settings())).code, 0, 'no occurrence in progress');
    // The cluster's scheduler (its worker service) starts an occurrence now, as it would on January 1st.
    const schedule = client.schedule.getHandle('freeze-schedule:new-year');
    await schedule.trigger();
    const workflowId = await waitFor(async () => (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId, 'the triggered occurrence');
    const state = await waitFor(() => client.workflow.getHandle(workflowId).query(freezeStateQuery) as Promise<FreezeState>, 'the occurrence running', {
      ignoreErrors: true,
    });
    assert.equal(state.actor, 'schedule:new-year');
    const frozen = await waitFor(async () => {
      const r = await rearguard(['freeze', 'check', '--env', 'qa', '--service', 'payments'], settings());
      return r.code === 3 ? r : undefined;
    }, 'the gate to block qa');
    assert.match(frozen.stderr, /new-year/);
    const lift = await rearguard(['freeze', 'lift', '--name', workflowId, '--reason', 'drill', '--as', 'rm-cy'], settings());
    assert.equal(lift.code, 0, lift.stderr);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'qa', '--service', 'payments'], settings())).code, 0);
  });

  it('a gradual unfreeze opens dev, staging and prod one by one behind a Prometheus gate, then lifts the freeze', async () => {
    const start = await rearguard(
      ['freeze', 'start', '--name', 'cluster-peak', '--env', 'dev,staging,prod', '--service', 'shop', '--duration', '3d', '--reason', 'peak', '--as', 'rm-cy'],
      settings(),
    );
    assert.equal(start.code, 0, start.stderr);
    const gate = async (environment: string) => (await rearguard(['freeze', 'check', '--env', environment, '--service', 'shop'], settings())).code;
    assert.equal(await gate('dev'), 3);
    await waitFor(async () => (await prom.query(RATIO)).length === 1 || undefined, 'Prometheus has an error ratio', 30_000);
    const unfreeze = await rearguard(
      ['unfreeze', 'start', '--freeze', 'cluster-peak', '--ladder', 'dev,staging,prod', '--soak', '3s', '--interval', '1s', '--gate', `${RATIO} < 0.05`, '--reason', 'peak over', '--as', 'rm-cy'],
      settings(),
    ); // prettier-ignore
    assert.equal(unfreeze.code, 0, unfreeze.stderr);
    const done = await waitFor(
      async () => {
        const r = await rearguard(['unfreeze', 'status', '--freeze', 'cluster-peak', '--json'], settings());
        const s = r.code === 0 ? (JSON.parse(r.stdout) as UnfreezeStatus) : undefined;
        return s?.phase === 'completed' ? s : undefined;
      },
      'the unfreeze to complete',
      90_000,
    );
    assert.deepEqual(
      done.environments.map((e) => [e.environment, e.state]),
      [
        ['dev', 'released'],
        ['staging', 'released'],
        ['prod', 'released'],
      ],
    );
    for (const environment of ['dev', 'staging', 'prod']) assert.equal(await gate(environment), 0, `${environment} open`);
  });
});
