// Guard pause/resume and rollback cancel as signed decisions, end to end as people type them: a worker process
// with REARGUARD_ALLOWED_SIGNERS (signatures required), the `rearguard` CLI signing with --signing-key (real
// ssh-keygen keys), a Temporal dev server, webhook steps against a local receiver. Unsigned and wrongly signed
// decisions exit 1 naming the reason and change nothing (the guard stays unpaused, the rollback keeps running);
// the signer's own key is admitted, and `audit verify --allowed-signers` verifies both signed events.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import type { ChainReport } from '../../api/audit-chain.js';
import type { SloGuardStatus } from '../../runbook/slo-guard.js';
import type { RollbackStatus } from '../../runbook/types.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

let env: TestWorkflowEnvironment;
let receiver: Receiver;
let dir = '';
let allowedSigners = '';
let worker: WorkerProcess | undefined;

before(async () => {
  [env, receiver, dir] = await Promise.all([createDevServerEnv(), startReceiver(), mkdtemp(join(tmpdir(), 'rearguard-e2e-decisions-'))]);
  const lines: string[] = [];
  for (const name of ['dana', 'eli']) {
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
    lines.push(`${name} ${(await readFile(join(dir, `${name}.pub`), 'utf8')).trim()}`);
  }
  allowedSigners = join(dir, 'allowed_signers');
  await writeFile(allowedSigners, `${lines.join('\n')}\n`);
});
after(async () => {
  await worker?.stop('SIGKILL');
  await receiver?.close();
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The CLI's environment: no signing key from the environment or from git (HOME and git config isolated). */
function cliEnv(taskQueue: string) {
  return {
    TEMPORAL_ADDRESS: env.address,
    REARGUARD_TASK_QUEUE: taskQueue,
    REARGUARD_AUDIT_FILE: join(dir, `${taskQueue}.jsonl`),
    REARGUARD_RUNTIME_METRICS_PORT: '0',
    REARGUARD_METRICS_PORT: '0',
    REARGUARD_SIGNING_KEY: '',
    HOME: dir,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
  };
}

describe('signed guard pause and rollback cancel from the CLI', () => {
  it('refuses unsigned and wrongly signed decisions (exit 1, nothing changes), admits the signer key; audit verify checks both', async () => {
    const taskQueue = `e2e-decisions-${randomUUID()}`;
    const e = cliEnv(taskQueue);
    worker = await startWorker({ ...e, REARGUARD_ALLOWED_SIGNERS: allowedSigners });
    const service = `dec-${randomUUID().slice(0, 8)}`;
    const file = join(dir, `${service}.yaml`);
    // No Prometheus configured: the guard alerts that it cannot evaluate, and takes pause and resume all the same.
    await writeFile(
      file,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${service}-dev }
spec:
  service: ${service}
  environment: dev
  sla: 5m
  approval: { required: true, approvers: [dana, eli], quorum: 1, timeout: 10m }
  steps:
    - { name: switch-traffic, type: webhook, url: "${receiver.url}/${service}/switch" }
  slo:
    interval: 1m
    conditions: [{ name: error-ratio, query: "vector(0)", above: 0.05 }]
`,
    );
    const id = ['--env', 'dev', '--service', service];
    const as = (key: string | undefined, ...args: string[]) => rearguard([...(key ? ['--signing-key', join(dir, key)] : []), ...args, '--as', 'eli'], e);

    assert.equal((await rearguard(['guard', 'start', '--runbook', file, '--as', 'dana'], e)).code, 0);
    const unsignedPause = await as(undefined, 'guard', 'pause', ...id, '--reason', 'migration');
    assert.equal(unsignedPause.code, 1, unsignedPause.stdout);
    assert.match(unsignedPause.stderr, /cannot pause guard:dev:\S+: signed decision required: .*--signing-key/);
    const danaPause = await as('dana', 'guard', 'pause', ...id, '--reason', 'migration');
    assert.equal(danaPause.code, 1, danaPause.stdout);
    assert.match(danaPause.stderr, /signed by a key allowed for dana, not for eli/);
    assert.equal((JSON.parse((await rearguard(['guard', 'status', ...id, '--json'], e)).stdout) as SloGuardStatus).paused, undefined);
    const pause = await as('eli', 'guard', 'pause', ...id, '--reason', 'migration');
    assert.equal(pause.code, 0, pause.stderr);
    assert.match(pause.stdout, new RegExp(`Paused guard:dev:${service} as eli \\(signed with key SHA256:\\S+\\): no automatic rollback`));
    assert.match((await rearguard(['guard', 'status', ...id], e)).stdout, /paused by eli \(signed with key SHA256:\S+\) .*: migration/);

    assert.equal((await rearguard(['rollback', 'start', '--runbook', file, '--reason', '5xx spike', '--as', 'dana'], e)).code, 0);
    const status = async () => JSON.parse((await rearguard(['rollback', 'status', ...id, '--json'], e)).stdout) as RollbackStatus;
    await waitFor(async () => (await status()).phase === 'awaiting-approval', 'awaiting approval');
    const unsignedCancel = await as(undefined, 'rollback', 'cancel', ...id, '--reason', 'false alarm');
    assert.equal(unsignedCancel.code, 1, unsignedCancel.stdout);
    assert.match(unsignedCancel.stderr, /cancel refused: signed decision required: /);
    const danaCancel = await as('dana', 'rollback', 'cancel', ...id, '--reason', 'false alarm');
    assert.equal(danaCancel.code, 1, danaCancel.stdout);
    assert.match(danaCancel.stderr, /cancel refused: signed decision refused: signed by a key allowed for dana, not for eli/);
    assert.equal((await env.client.workflow.getHandle(`rollback:dev:${service}`).describe()).status.name, 'RUNNING', 'a refused cancel changes nothing');
    const cancel = await as('eli', 'rollback', 'cancel', ...id, '--reason', 'false alarm', '--wait');
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, new RegExp(`Cancellation of rollback:dev:${service} requested by eli \\(signed with key SHA256:\\S+\\)\\.`));
    assert.equal((await status()).outcome, 'cancelled');
    assert.equal(receiver.requests.filter((r) => r.path.startsWith(`/${service}/`)).length, 0);

    const verified = await rearguard(['audit', 'verify', e.REARGUARD_AUDIT_FILE, '--allowed-signers', allowedSigners, '--json'], e);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.deepEqual((JSON.parse(verified.stdout) as ChainReport).signatures, { signed: 2, verified: 2, unverified: 0, failed: [] });
  });
});
