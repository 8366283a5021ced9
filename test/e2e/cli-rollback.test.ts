// End to end as a user types it: the `rearguard` CLI -> Temporal dev server -> worker process ->
// webhook steps against a local HTTP receiver; then the audit trail and /metrics.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { parseAllDocuments } from 'yaml';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import { freePort, rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';

let env: TestWorkflowEnvironment;
let receiver: Receiver;
let dir: string;
const workers: WorkerProcess[] = [];

before(async () => {
  [env, receiver, dir] = await Promise.all([createDevServerEnv(), startReceiver(), mkdtemp(join(tmpdir(), 'rearguard-e2e-'))]);
});
after(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await receiver?.close();
  await env?.teardown();
});

function setting(taskQueue: string) {
  return {
    TEMPORAL_ADDRESS: env.address,
    REARGUARD_TASK_QUEUE: taskQueue,
    REARGUARD_AUDIT_FILE: join(dir, `${taskQueue}.jsonl`),
    REARGUARD_RUNTIME_METRICS_PORT: '0',
  };
}

async function writeRunbook(service: string, spec: string): Promise<string> {
  const file = join(dir, `${service}.yaml`);
  await writeFile(
    file,
    `apiVersion: rearguard/v1\nkind: Runbook\nmetadata: { name: ${service}-dev }\nspec:\n  service: ${service}\n  environment: dev\n${spec}`,
  );
  return file;
}

const auditOf = async (e: Record<string, string>, service: string): Promise<AuditEvent[]> => {
  const r = await rearguard(['audit', '--json', '--service', service], e);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim()
    ? r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AuditEvent)
    : [];
};

describe('rollback from the CLI', () => {
  it('starts, waits for a second person to approve, runs webhook steps in order, verifies, audits and counts', async () => {
    const taskQueue = `e2e-${randomUUID()}`;
    const metricsPort = await freePort();
    const runtimeMetricsPort = await freePort();
    const e = setting(taskQueue);
    workers.push(
      await startWorker({
        ...e,
        REARGUARD_METRICS_PORT: String(metricsPort),
        REARGUARD_METRICS_HOST: '127.0.0.1',
        REARGUARD_RUNTIME_METRICS_PORT: String(runtimeMetricsPort),
      }),
    );
    const service = 'checkout';
    const file = await writeRunbook(
      service,
      `  sla: 5m
  approval: { required: true, approvers: [alice, bob, dave], quorum: 1, timeout: 10m }
  steps:
    - { name: drain-canary, type: webhook, url: "${receiver.url}/${service}/drain" }
    - { name: switch-traffic, type: webhook, url: "${receiver.url}/${service}/switch", body: { to: stable } }
    - { name: announce, type: webhook, url: "${receiver.url}/${service}/announce" }
  verify:
    - { type: http, url: "${receiver.url}/${service}/healthz", expectStatus: 200 }
  notify:
    - { name: team, type: webhook, url: "${receiver.url}/${service}/notify" }
`,
    );

    const invalid = await rearguard(['runbook', 'validate', file.replace('.yaml', '-missing.yaml')], e);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /no such file/);
    assert.equal((await rearguard(['runbook', 'validate', file], e)).code, 0);

    const start = rearguard(['rollback', 'start', '--runbook', file, '--reason', '5xx spike after deploy', '--wait', '--as', 'dave'], e);
    const id = ['--env', 'dev', '--service', service];
    await waitFor(async () => {
      const r = await rearguard(['rollback', 'status', ...id, '--json'], e);
      return r.code === 0 && (JSON.parse(r.stdout) as RollbackStatus).phase === 'awaiting-approval';
    }, 'awaiting approval');
    assert.equal(receiver.requests.filter((r) => r.path.startsWith(`/${service}/`)).length, 0, 'nothing runs before approval');

    const self = await rearguard(['rollback', 'approve', ...id, '--as', 'dave', '--reason', 'me'], e);
    assert.equal(self.code, 1);
    assert.match(self.stderr, /dave requested this rollback and cannot also approve/);
    const stranger = await rearguard(['rollback', 'approve', ...id, '--as', 'mallory', '--reason', 'me'], e);
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /mallory is not an approver/);
    const noReason = await rearguard(['rollback', 'approve', ...id, '--as', 'alice'], e);
    assert.equal(noReason.code, 2, 'missing --reason is bad input');

    const approve = await rearguard(['rollback', 'approve', ...id, '--as', 'alice', '--reason', 'confirmed on the dashboard'], e);
    assert.equal(approve.code, 0, approve.stderr);
    assert.match(approve.stdout, /Approved rollback:dev:checkout as alice \(1\/1\): quorum reached/);

    const done = await start;
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
    assert.match(done.stdout, /Started rollback rollback:dev:checkout/);
    assert.match(done.stdout, /step-succeeded\s+switch-traffic/);
    assert.match(done.stdout, /rollback:dev:checkout: succeeded/);

    const calls = receiver.requests.filter((r) => r.path.startsWith(`/${service}/`) && r.path !== `/${service}/notify`).map((r) => r.path);
    assert.deepEqual(calls, [`/${service}/drain`, `/${service}/switch`, `/${service}/announce`, `/${service}/healthz`]);
    const switchCall = receiver.requests.find((r) => r.path === `/${service}/switch`)!;
    assert.deepEqual(JSON.parse(switchCall.body), { to: 'stable' });
    assert.match(switchCall.key ?? '', /^rollback:dev:checkout\/.+\/switch-traffic$/);

    const events = await auditOf(e, service);
    const byAction = (a: string) => events.filter((x) => x.action === a);
    assert.equal(byAction('rollback.triggered')[0]?.actor, 'dave');
    assert.equal(byAction('rollback.triggered')[0]?.reason, '5xx spike after deploy');
    assert.equal(byAction('rollback.approved')[0]?.actor, 'alice');
    assert.equal(byAction('rollback.step-succeeded').length, 3);
    assert.equal(byAction('rollback.check-succeeded').length, 1);
    assert.equal(events.at(-1)?.action, 'rollback.succeeded');
    assert.ok(events.every((x) => x.actor && x.workflowId === 'rollback:dev:checkout'));

    const human = await rearguard(['audit', '--since', '1h', '--service', service], e);
    assert.match(human.stdout, /dev\/checkout {2}rollback\.approved {2}by alice: confirmed on the dashboard/);
    assert.equal((await rearguard(['audit', '--since', 'yesterday'], e)).code, 2);

    const status = await rearguard(['rollback', 'status', ...id], e);
    assert.equal(status.code, 0);
    assert.match(status.stdout, /outcome SUCCEEDED/);
    assert.match(status.stdout, /✓ switch-traffic \[webhook\] succeeded/);

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /rearguard_rollbacks_total\{environment="dev",service="checkout",outcome="succeeded"\} 1/);
    assert.match(metrics, /rearguard_step_duration_seconds_count\{type="webhook"\} 3/);
    assert.match(metrics, /rearguard_rollback_duration_seconds_count\{environment="dev",service="checkout"\} 1/);
    assert.match(metrics, /rearguard_approvals_pending 0/);
    assert.match(metrics, /temporal_(request|workflow_task|activity)\w*/, 'Temporal runtime metrics are included');
  });

  it('survives SIGKILL of the worker mid-step: same Idempotency-Key on retry, steps never overlap, audit has no gap or duplicate', async () => {
    const taskQueue = `e2e-${randomUUID()}`;
    const e = setting(taskQueue);
    const service = 'ledger';
    const file = await writeRunbook(
      service,
      `  sla: 5m
  steps:
    - { name: step-one, type: webhook, url: "${receiver.url}/${service}/one" }
    - { name: step-two, type: webhook, url: "${receiver.url}/${service}/two" }
    - { name: step-three, type: webhook, url: "${receiver.url}/${service}/three" }
`,
    );
    receiver.hold(`/${service}/two`);
    const first = await startWorker({ ...e, REARGUARD_METRICS_PORT: '0' });
    workers.push(first);
    const start = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'crash drill', '--as', 'dave'], e);
    assert.equal(start.code, 0, start.stderr);

    await waitFor(() => receiver.requests.some((r) => r.path === `/${service}/two`), 'step two in progress');
    assert.equal(await first.stop('SIGKILL'), -1);
    receiver.release(`/${service}/two`);
    workers.push(await startWorker({ ...e, REARGUARD_METRICS_PORT: '0' }));

    const done = await rearguard(['rollback', 'status', '--env', 'dev', '--service', service, '--wait'], e);
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);

    const calls = receiver.requests.filter((r) => r.path.startsWith(`/${service}/`));
    const two = calls.filter((r) => r.path === `/${service}/two`);
    assert.equal(two.length, 2, 'step two was retried once after the crash');
    assert.equal(two[0].key, two[1].key, 'the retry carries the same Idempotency-Key');
    assert.equal(two[1].duplicate, true, 'so the receiver applied step two only once');
    assert.deepEqual(
      calls.filter((r) => !r.duplicate).map((r) => r.path),
      [`/${service}/one`, `/${service}/two`, `/${service}/three`],
    );
    const three = calls.find((r) => r.path === `/${service}/three`)!;
    assert.ok(three.at >= two[1].answeredAt!, 'step three started only after step two finished');

    const events = await auditOf(e, service);
    const seqs = events.map((x) => Number(x.id.split('/').at(-1)));
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => i + 1),
      'audit sequence has no gap and no duplicate',
    );
    for (const step of ['step-one', 'step-two', 'step-three']) {
      assert.equal(events.filter((x) => x.action === 'rollback.step-succeeded' && x.details.step === step).length, 1, `${step} completed once`);
    }
    assert.equal(events.at(-1)?.action, 'rollback.succeeded');
  });

  it('cancels from the CLI while awaiting approval: audited with the canceller, listed as cancelled', async () => {
    const taskQueue = `e2e-${randomUUID()}`;
    const e = setting(taskQueue);
    workers.push(await startWorker({ ...e, REARGUARD_METRICS_PORT: '0' }));
    const service = 'search';
    const file = await writeRunbook(
      service,
      `  sla: 5m
  approval: { required: true, approvers: [alice], timeout: 10m }
  steps:
    - { type: webhook, url: "${receiver.url}/${service}/one" }
`,
    );
    const id = ['--env', 'dev', '--service', service];
    assert.equal((await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'latency alert', '--as', 'dave'], e)).code, 0);
    await waitFor(async () => {
      const r = await rearguard(['rollback', 'status', ...id, '--json'], e);
      return r.code === 0 && (JSON.parse(r.stdout) as RollbackStatus).phase === 'awaiting-approval';
    }, 'awaiting approval');
    // Where it stands comes from its memo (progress-memo): visibility, no Query per rollback.
    const running = await waitFor(async () => {
      const r = await rearguard(['rollback', 'list', '--json'], e);
      const row = (JSON.parse(r.stdout) as { workflowId: string; phase?: string }[]).find((x) => x.workflowId === 'rollback:dev:search');
      return row?.phase === 'awaiting-approval' ? r : undefined;
    }, 'listed awaiting approval');
    assert.match((await rearguard(['rollback', 'list'], e)).stdout, /rollback:dev:search\s+awaiting-approval /);
    // -o yaml: the same rows and status as --json, as YAML documents.
    const listed = parseAllDocuments((await rearguard(['rollback', 'list', '-o', 'yaml'], e)).stdout).map((d) => d.toJS() as unknown);
    assert.equal(listed.length, 1);
    assert.equal((listed[0] as { workflowId: string; phase?: string }[]).find((x) => x.workflowId === 'rollback:dev:search')?.phase, 'awaiting-approval');
    const statusYaml = await rearguard(['rollback', 'status', ...id, '-o', 'yaml'], e);
    assert.equal(statusYaml.code, 0, statusYaml.stderr);
    assert.equal((parseAllDocuments(statusYaml.stdout)[0].toJS() as RollbackStatus).phase, 'awaiting-approval');
    assert.ok(running.stdout.endsWith('\n'), 'JSON output ends with a newline');
    assert.equal(
      (JSON.parse(running.stdout) as { workflowId: string; outcome: string | null }[]).find((r) => r.workflowId === 'rollback:dev:search')?.outcome,
      null,
    );

    const cancel = await rearguard(['rollback', 'cancel', ...id, '--reason', 'false alarm', '--as', 'erin', '--wait'], e);
    assert.equal(cancel.code, 0, cancel.stderr);
    const status = await rearguard(['rollback', 'status', ...id], e);
    assert.equal(status.code, 1, 'a cancelled rollback is not a success');
    assert.match(status.stdout, /outcome CANCELLED/);
    assert.match(status.stdout, /cancelled by erin: false alarm/);
    const again = await rearguard(['rollback', 'cancel', ...id, '--reason', 'twice'], e);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not running \(cancelled\)/);
    assert.equal(receiver.requests.filter((r) => r.path.startsWith(`/${service}/`)).length, 0);
    const cancelled = (await auditOf(e, service)).find((x) => x.action === 'rollback.cancelled');
    assert.equal(cancelled?.actor, 'erin');
    const all = await waitFor(async () => {
      const r = await rearguard(['rollback', 'list', '--all', '--json'], e);
      const row = (JSON.parse(r.stdout) as { workflowId: string; status: string }[]).find((x) => x.workflowId === 'rollback:dev:search');
      return row?.status === 'cancelled' ? row : undefined;
    }, 'listed as cancelled');
    assert.equal(all.status, 'cancelled');
    assert.equal((all as { outcome?: string }).outcome, 'cancelled', 'list --json says how a finished rollback ended');
    assert.equal((all as { phase?: string }).phase, undefined, 'a finished rollback shows its outcome, not its last phase');
  });

  it('drains on SIGTERM: the in-flight step finishes within the grace period, the next worker carries on', async () => {
    const taskQueue = `e2e-${randomUUID()}`;
    const e = { ...setting(taskQueue), REARGUARD_SHUTDOWN_GRACE: '20s' };
    const service = 'inventory';
    const file = await writeRunbook(
      service,
      `  sla: 5m
  steps:
    - { name: first, type: webhook, url: "${receiver.url}/${service}/first" }
    - { name: second, type: webhook, url: "${receiver.url}/${service}/second" }
`,
    );
    receiver.hold(`/${service}/first`);
    const first = await startWorker({ ...e, REARGUARD_METRICS_PORT: '0' });
    workers.push(first);
    assert.equal((await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'deploy drill', '--as', 'dave'], e)).code, 0);
    await waitFor(() => receiver.requests.some((r) => r.path === `/${service}/first`), 'first step in progress');
    first.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1_000));
    receiver.release(`/${service}/first`);
    assert.equal(await first.exited, 0, first.output());
    workers.push(await startWorker({ ...e, REARGUARD_METRICS_PORT: '0' }));
    const done = await rearguard(['rollback', 'status', '--env', 'dev', '--service', service, '--wait'], e);
    assert.equal(done.code, 0, done.stderr);
    const calls = receiver.requests.filter((r) => r.path.startsWith(`/${service}/`)).map((r) => r.path);
    assert.deepEqual(calls, [`/${service}/first`, `/${service}/second`], 'the in-flight step completed once, not retried');
  });
});
