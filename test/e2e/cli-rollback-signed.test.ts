// Signed approvals end to end, as people type them: a worker process started with REARGUARD_ALLOWED_SIGNERS
// (so signatures are required), the `rearguard` CLI signing with --signing-key (real ssh-keygen keys), a
// Temporal dev server, webhook steps against a local receiver. An unsigned approval is refused with what to
// configure, another person's key is refused, the approver's own key is admitted, and `audit verify
// --allowed-signers` verifies the signed event in the worker's audit file. A bad allowed_signers file stops
// the worker at start.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import type { ChainReport } from '../../api/audit-chain.js';
import type { RollbackStatus } from '../../runbook/types.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

let env: TestWorkflowEnvironment;
let receiver: Receiver;
let dir = '';
let allowedSigners = '';
const workers: WorkerProcess[] = [];

before(async () => {
  [env, receiver, dir] = await Promise.all([createDevServerEnv(), startReceiver(), mkdtemp(join(tmpdir(), 'rearguard-e2e-signed-'))]);
  const lines: string[] = [];
  for (const name of ['dana', 'eli']) {
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
    lines.push(`${name} ${(await readFile(join(dir, `${name}.pub`), 'utf8')).trim()}`);
  }
  allowedSigners = join(dir, 'allowed_signers');
  await writeFile(allowedSigners, `${lines.join('\n')}\n`);
});
after(async () => {
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
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

describe('signed rollback approvals from the CLI', () => {
  it('a worker with REARGUARD_ALLOWED_SIGNERS refuses unsigned and wrongly signed approvals and admits the approver key; audit verify checks it', async () => {
    const taskQueue = `e2e-signed-${randomUUID()}`;
    const e = cliEnv(taskQueue);
    workers.push(await startWorker({ ...e, REARGUARD_ALLOWED_SIGNERS: allowedSigners }));
    const service = `signed-${randomUUID().slice(0, 8)}`;
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
  approval: { required: true, approvers: [dana, eli], quorum: 1, timeout: 10m }
  steps:
    - { name: switch-traffic, type: webhook, url: "${receiver.url}/${service}/switch" }
`,
    );
    const id = ['--env', 'dev', '--service', service];
    const start = await rearguard(['rollback', 'start', '--runbook', file, '--reason', '5xx spike after deploy', '--as', 'dana'], e);
    assert.equal(start.code, 0, start.stderr);
    await waitFor(async () => {
      const r = await rearguard(['rollback', 'status', ...id, '--json'], e);
      return r.code === 0 && (JSON.parse(r.stdout) as RollbackStatus).phase === 'awaiting-approval';
    }, 'awaiting approval');

    const unsigned = await rearguard(['rollback', 'approve', ...id, '--as', 'eli', '--reason', 'confirmed'], e);
    assert.equal(unsigned.code, 1, unsigned.stdout);
    assert.match(unsigned.stderr, /signed decision required: .*run with a signing key \(--signing-key, REARGUARD_SIGNING_KEY or git config user\.signingkey\)/);
    const danaKey = await rearguard(['--signing-key', join(dir, 'dana'), 'rollback', 'approve', ...id, '--as', 'eli', '--reason', 'confirmed'], e);
    assert.equal(danaKey.code, 1, danaKey.stdout);
    assert.match(danaKey.stderr, /signed by a key allowed for dana, not for eli/);
    const missingKey = await rearguard(['--signing-key', join(dir, 'nobody'), 'rollback', 'approve', ...id, '--as', 'eli', '--reason', 'confirmed'], e);
    assert.equal(missingKey.code, 2, 'a key named on the command line must exist');
    assert.match(missingKey.stderr, /signing key .*nobody \(from --signing-key\) does not exist/);

    const approve = await rearguard(['--signing-key', join(dir, 'eli'), 'rollback', 'approve', ...id, '--as', 'eli', '--reason', 'confirmed'], e);
    assert.equal(approve.code, 0, approve.stderr);
    assert.match(approve.stdout, new RegExp(`Approved rollback:dev:${service} as eli \\(signed with key SHA256:\\S+\\) \\(1/1\\): quorum reached`));

    await waitFor(async () => {
      const r = await rearguard(['rollback', 'status', ...id, '--json'], e);
      return r.code === 0 && (JSON.parse(r.stdout) as RollbackStatus).outcome === 'succeeded';
    }, 'the rollback to succeed');
    assert.equal(receiver.requests.filter((r) => r.path === `/${service}/switch`).length, 1);

    const verified = await rearguard(['audit', 'verify', e.REARGUARD_AUDIT_FILE, '--allowed-signers', allowedSigners, '--json'], e);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.deepEqual((JSON.parse(verified.stdout) as ChainReport).signatures, { signed: 1, verified: 1, unverified: 0, failed: [] });
  });

  it('a bad allowed_signers file stops the worker at start, naming its problems', async () => {
    const bad = join(dir, 'bad_signers');
    await writeFile(bad, 'eli ssh-ed25519 not-base64!\n');
    await assert.rejects(startWorker({ ...cliEnv(`e2e-bad-${randomUUID()}`), REARGUARD_ALLOWED_SIGNERS: bad }), (err: Error) => {
      assert.match(err.message, /worker exited with 2 before it was ready/);
      assert.match(err.message, /REARGUARD_ALLOWED_SIGNERS\): .*bad_signers:1: /);
      return true;
    });
  });
});
