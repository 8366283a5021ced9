// The worker's and serve's logs: one JSON object per line (level, time, msg), the SDK's workflow and activity lines
// with the workflow ID, run ID and workflow or activity type, levels honoured; and no secret in any line. Secrets are
// planted where a runbook takes them (a webhook URL and an Authorization header from the worker's environment), the
// step's first attempt fails (the failure is logged), serve is sent a request it must refuse; then every line of both
// processes is searched for the planted values.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { rearguardEnv } from '../helpers/fixtures.js';
import { startServe, type ServeProcess } from '../helpers/gate.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

let env: TestWorkflowEnvironment;
let dir: string;
let receiver: Receiver;
let worker: WorkerProcess | undefined;
let serve: ServeProcess | undefined;
let e: Record<string, string>;
const urlSecret = `url-secret-${randomBytes(8).toString('hex')}`;
const headerSecret = `header-secret-${randomBytes(8).toString('hex')}`;
const apiToken = `api-token-${randomBytes(12).toString('hex')}`;

before(async () => {
  [env, dir, receiver] = await Promise.all([createDevServerEnv(), mkdtemp(join(tmpdir(), 'rearguard-logs-')), startReceiver()]);
  e = rearguardEnv(env, dir, 'logs', { REARGUARD_API_TOKEN: apiToken });
  worker = await startWorker({
    ...e,
    REARGUARD_LOG_LEVEL: 'DEBUG',
    REARGUARD_METRICS_PORT: '0',
    HOOK_URL: `${receiver.url}/logs/undo?token=${urlSecret}`,
    HOOK_AUTH: `Bearer ${headerSecret}`,
  });
  serve = await startServe(e);
});
after(async () => {
  await serve?.stop();
  await worker?.stop('SIGKILL');
  await receiver?.close();
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        assert.fail(`not a JSON line: ${l}`);
      }
    });

describe('structured logs', () => {
  it('worker and serve write JSON lines with the run on each workflow and activity line, and never a secret', async () => {
    receiver.respond(`/logs/undo?token=${urlSecret}`, 500);
    const file = join(dir, 'logs.yaml');
    await writeFile(
      file,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: logs-dev }
spec:
  service: logs
  environment: dev
  sla: 5m
  steps:
    - { name: undo, type: webhook, urlEnv: HOOK_URL, headersFromEnv: { Authorization: HOOK_AUTH } }
`,
    );
    const start = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'errors', '--as', 'alice'], e);
    assert.equal(start.code, 0, start.stderr);
    await waitFor(() => (receiver.requests.filter((r) => r.path.startsWith('/logs/undo')).length >= 1 ? true : undefined), 'a failed attempt', 30_000);
    receiver.respond(`/logs/undo?token=${urlSecret}`, 200);
    const done = await rearguard(['rollback', 'status', '--env', 'dev', '--service', 'logs', '--wait'], e);
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.equal(receiver.requests.find((r) => r.path.startsWith('/logs/undo'))?.headers.authorization, `Bearer ${headerSecret}`, 'the secret was used');
    // serve: a request it refuses (a wrong bearer token on the alert intake) and one it cannot parse.
    const refused = await fetch(`${serve!.url}/v1/alerts`, { method: 'POST', headers: { authorization: `Bearer wrong-${apiToken}` }, body: '{}' });
    assert.equal(refused.status, 401);
    await fetch(`${serve!.url}/v1/gate?env=dev&service=logs`);
    // Readiness logs each change of Temporal's reachability (the first answer is one).
    assert.equal((await fetch(`${serve!.url}/readyz`)).status, 200);

    const workerLines = jsonLines(worker!.output());
    for (const l of workerLines) {
      assert.ok(['trace', 'debug', 'info', 'warn', 'error'].includes(String(l.level)), JSON.stringify(l));
      assert.ok(!Number.isNaN(Date.parse(String(l.time))), JSON.stringify(l));
      assert.equal(typeof l.msg, 'string', JSON.stringify(l));
    }
    const activity = workerLines.filter((l) => typeof l.activityType === 'string' && l.workflowId === 'rollback:dev:logs');
    assert.ok(activity.length > 0, 'the SDK logs activities at DEBUG');
    assert.ok(
      workerLines.some((l) => l.workflowType === 'rollback' && l.msg === 'Workflow started' && l.runId),
      'workflow lines too',
    );
    assert.ok(!workerLines.some((l) => 'taskToken' in l), 'no task token');
    for (const l of activity) {
      assert.equal(l.workflowId, 'rollback:dev:logs', JSON.stringify(l));
      assert.match(String(l.runId), /^[0-9a-f-]{36}$/);
      assert.equal(typeof l.activityType, 'string');
    }
    const failed = activity.find((l) => l.activityType === 'runStep' && l.level === 'warn');
    assert.ok(failed, `the failed attempt is logged: ${JSON.stringify(activity.map((l) => [l.activityType, l.level, l.msg]))}`);
    assert.match(workerLines[workerLines.findIndex((l) => String(l.msg).startsWith('rearguard worker: task queue'))]?.level as string, /info/);

    const serveLines = jsonLines(serve!.log());
    assert.ok(
      serveLines.some((l) => l.msg === 'Temporal is reachable'),
      serve!.log(),
    );
    for (const l of serveLines) assert.ok(l.level && l.time && typeof l.msg === 'string', JSON.stringify(l));

    // No secret anywhere: not the URL's token, not the header, not the API token (right or wrong).
    for (const [name, text] of [
      ['worker', worker!.output()],
      ['serve', `${serve!.log()}${serve!.out()}`],
    ])
      for (const secret of [urlSecret, headerSecret, apiToken]) assert.ok(!text.includes(secret), `${name} logged a secret (${secret.slice(0, 10)}...)`);
  });
});
