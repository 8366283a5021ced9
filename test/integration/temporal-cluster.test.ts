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
import { startTemporalCluster, type TemporalCluster } from '../helpers/cluster.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

let cluster: TemporalCluster;
let receiver: Receiver;
let dir: string;
let client: Client;
let connection: Connection;
const workers: WorkerProcess[] = [];

before(async () => {
  // One after the other, each kept as soon as it runs: `after` stops whatever started, even when a later one fails.
  dir = await mkdtemp(join(tmpdir(), 'rearguard-cluster-e2e-'));
  receiver = await startReceiver();
  cluster = await startTemporalCluster();
  const target = await resolveTemporal({ ...cluster.env, HOME: dir });
  connection = await Connection.connect(target.connection);
  client = new Client({ connection, namespace: target.namespace });
});
after(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await connection?.close();
  await receiver?.close();
  await cluster?.stop();
});

/** A Rearguard process's environment: the cluster with the client certificate, no developer profile. */
const settings = (extra: Record<string, string> = {}): Record<string, string> => ({
  ...cluster.env,
  HOME: dir,
  REARGUARD_TASK_QUEUE: 'rearguard-cluster',
  REARGUARD_AUDIT_FILE: join(dir, 'audit.jsonl'),
  REARGUARD_METRICS_PORT: '0',
  REARGUARD_RUNTIME_METRICS_PORT: '0',
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
    const services = ['cart', 'search', 'ledger', 'profile'];
    const files = await Promise.all(
      services.map(async (service) => {
        const file = join(dir, `${service}.yaml`);
        await writeFile(
          file,
          `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${service}-dev }
spec:
  service: ${service}
  environment: dev
  sla: 5m
  steps:
    - { name: one, type: webhook, url: "${receiver.url}/${service}/one" }
    - { name: two, type: webhook, url: "${receiver.url}/${service}/two" }
    - { name: three, type: webhook, url: "${receiver.url}/${service}/three" }
  verify:
    - { type: http, url: "${receiver.url}/${service}/healthz" }
`,
        );
        return file;
      }),
    );
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
    const list = await rearguard(['freeze', 'list', '--json'], settings());
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /cluster-freeze/);
  });
});
