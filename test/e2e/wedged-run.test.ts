// A wedged run: its workflow task fails on every attempt, so Temporal retries it for ever and the run stays
// Running. Made on purpose, as a bug would make it: the workflow is started directly (bypassing the CLI's
// validation) with an input its code cannot handle (a runbook whose steps are null; a freeze without its
// exception settings). Status commands must name the wedge (the task's error, from the history) and the
// remedy instead of a worker hint; a new trigger (CLI, alert intake, the SLO guard's path) must refuse to
// join it; the gate answers unknown; `rollback cancel` ends it, and the next trigger starts a new rollback.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { triggerRollback } from '../../api/rollbacks.js';
import { isWedgedRunError } from '../../api/wedged.js';
import { loadRunbook } from '../../runbook/load.js';
import type { Runbook } from '../../runbook/schema.js';
import type { Trigger } from '../../runbook/types.js';
import { startServe, type ServeProcess } from '../helpers/gate.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';

let env: TestWorkflowEnvironment;
let receiver: Receiver;
let worker: WorkerProcess | undefined;
let serve: ServeProcess | undefined;
let dir: string;
let e: Record<string, string>;
let file: string;
let runbook: Runbook;
const token = randomBytes(16).toString('hex');
const ID = 'rollback:dev:wedge';

before(async () => {
  [env, receiver, dir] = await Promise.all([createDevServerEnv(), startReceiver(), mkdtemp(join(tmpdir(), 'rearguard-wedged-'))]);
  e = rearguardEnv(env, dir, 'wedged', {
    REARGUARD_METRICS_PORT: '0',
  });
  await mkdir(join(dir, 'runbooks'));
  file = join(dir, 'runbooks', 'wedge-dev.yaml');
  await writeFile(
    file,
    `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: wedge-dev }
spec:
  service: wedge
  environment: dev
  sla: 5m
  steps:
    - { name: one, type: webhook, url: "${receiver.url}/wedge/one" }
`,
  );
  const loaded = await loadRunbook(file);
  assert.ok(loaded.ok, JSON.stringify(loaded));
  runbook = loaded.value;
  [worker, serve] = await Promise.all([startWorker(e), startServe({ ...e, REARGUARD_API_TOKEN: token }, ['--runbooks', join(dir, 'runbooks')])]);
});
after(async () => {
  await serve?.stop();
  await worker?.stop('SIGKILL');
  await receiver?.close();
  await env?.teardown();
});

/** Until the server has retried the failing workflow task at least once (read from describe, not from the code under test). */
const wedged = (workflowId: string) =>
  waitFor(
    async () => ((await env.client.workflow.getHandle(workflowId).describe()).raw.pendingWorkflowTask?.attempt ?? 0) >= 2 || undefined,
    `${workflowId} to fail its workflow task`,
  );

const signalsOf = async (workflowId: string) =>
  ((await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? []).filter((x) => x.workflowExecutionSignaledEventAttributes).length;

describe('a wedged run', () => {
  it('rollback: status names the wedge and the remedy, a new trigger refuses to join it, cancel ends it', async () => {
    const trigger: Trigger = { source: 'manual', actor: 'dave', reason: 'a bug wedges this run', requestId: randomUUID() };
    // The bug: an input the workflow code cannot handle, sent past the CLI's validation.
    await env.client.workflow.start('rollback', {
      workflowId: ID,
      taskQueue: e.REARGUARD_TASK_QUEUE,
      args: [{ runbook: { ...runbook, spec: { ...runbook.spec, steps: null } }, trigger }],
      memo: { requestId: trigger.requestId, runbook: runbook.metadata.name, actor: trigger.actor, reason: trigger.reason },
    });
    await wedged(ID);

    const status = await rearguard(['rollback', 'status', '--env', 'dev', '--service', 'wedge'], e);
    assert.equal(status.code, 1, status.stdout);
    assert.match(
      status.stderr,
      /rollback:dev:wedge is wedged: its workflow task keeps failing \(attempt \d+, first failure 20\d\d-.*\): .*Cannot read properties of null/,
    );
    assert.match(status.stderr, /Remedy: deploy a worker with a fix .* rearguard rollback cancel --id rollback:dev:wedge --reason "\.\.\."/);
    assert.match(status.stderr, /temporal workflow terminate --workflow-id rollback:dev:wedge/);
    assert.doesNotMatch(status.stderr, /Is a Rearguard worker running/, 'not the misleading worker hint');

    const start = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'errors again', '--as', 'erin'], e);
    assert.equal(start.code, 1, start.stdout);
    assert.match(start.stderr, /refusing to join rollback:dev:wedge: the rollback running for this target is wedged/);
    assert.match(start.stderr, /Cannot read properties of null/);

    // The alert intake (and the SLO guard, through the same triggerRollback) refuse too, and say so.
    const alert = await fetch(`${serve!.url}/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        version: '4',
        alerts: [{ status: 'firing', labels: { alertname: 'WedgeErrors', service: 'wedge', environment: 'dev' }, startsAt: new Date().toISOString() }],
      }),
    });
    assert.equal(alert.status, 503, 'Alertmanager retries: once the run is ended, a retry starts a rollback');
    const [outcome] = ((await alert.json()) as { results: { action: string; workflowId?: string; message?: string }[] }).results;
    assert.equal(outcome.action, 'refused');
    assert.equal(outcome.workflowId, ID);
    assert.match(outcome.message ?? '', /rollback:dev:wedge is wedged .*the alert was not joined to it.*rearguard rollback cancel --id rollback:dev:wedge/);
    assert.match(serve!.log(), /the rollback is wedged, alert not joined.*Cannot read properties of null/);
    await assert.rejects(
      triggerRollback(env.client, e.REARGUARD_TASK_QUEUE, runbook, { source: 'slo', actor: 'slo-guard', reason: 'SLO violated', requestId: randomUUID() }),
      (err) => isWedgedRunError(err) && err.nonRetryable === true && /rollback:dev:wedge is wedged/.test(err.message),
    );
    assert.equal(await signalsOf(ID), 0, 'no trigger was delivered to the wedged run');

    const cancel = await rearguard(['rollback', 'cancel', '--id', ID, '--reason', 'wedged by a bug', '--as', 'erin'], e);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, /Terminated rollback:dev:wedge \(wedged: its workflow task kept failing: .*\) as erin/);
    assert.equal((await env.client.workflow.getHandle(ID).describe()).status.name, 'TERMINATED');

    const again = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'errors again', '--as', 'erin', '--wait'], e);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /Started rollback rollback:dev:wedge/);
    assert.match(again.stdout, /rollback:dev:wedge: succeeded/);
    assert.deepEqual(
      receiver.requests.filter((r) => r.path.startsWith('/wedge/')).map((r) => r.path),
      ['/wedge/one'],
    );
  });

  it('freeze: status and lift name the wedge, the gate answers unknown naming it', async () => {
    await env.client.workflow.start('freezeWindow', {
      workflowId: 'freeze:broken',
      taskQueue: e.REARGUARD_TASK_QUEUE,
      args: [
        {
          name: 'broken',
          scope: { environments: ['dev'], services: ['*'] },
          reason: 'a bug',
          actor: 'dave',
          start: new Date().toISOString(),
          end: new Date(Date.now() + 3_600_000).toISOString(),
          exceptions: null,
        },
      ],
    });
    await wedged('freeze:broken');

    const status = await rearguard(['freeze', 'status', '--name', 'broken'], e);
    assert.equal(status.code, 1, status.stdout);
    assert.match(
      status.stderr,
      /cannot show freeze broken:\nfreeze:broken is wedged: its workflow task keeps failing \(attempt \d+.*Cannot read properties of null/,
    );
    assert.match(status.stderr, /temporal workflow terminate --workflow-id freeze:broken --reason "\.\.\." \(guardrails the freeze holds are not put back/);
    const lift = await rearguard(['freeze', 'lift', '--name', 'broken', '--reason', 'try'], e);
    assert.equal(lift.code, 1);
    assert.match(lift.stderr, /cannot lift freeze broken:\nfreeze:broken is wedged/);

    const check = await rearguard(['freeze', 'check', '--env', 'dev', '--service', 'wedge'], e);
    assert.equal(check.code, 1, check.stdout);
    assert.match(check.stderr, /UNKNOWN: cannot tell whether dev\/wedge is frozen/);
    assert.match(check.stderr, /freeze:broken: wedged: its workflow task keeps failing \(attempt \d+\): .*Cannot read properties of null/);
    // It never published to the gate's registry (it wedged before): serve finds it when it next compares the
    // running freezes with the registry (REARGUARD_GATE_RECONCILE, 2 s here) and reads it directly.
    const http = await waitFor(async () => {
      const r = await fetch(`${serve!.url}/v1/gate?env=dev&service=wedge`);
      return r.status === 503 ? r : (await r.body?.cancel(), undefined);
    }, 'serve to find the unregistered freeze');
    assert.deepEqual(((await http.json()) as { unreadable: unknown[] }).unreadable, [{ id: 'freeze:broken', kind: 'wedged' }]);
    await env.client.workflow.getHandle('freeze:broken').terminate('test over');
  });
});
