// Signed freeze decisions end to end, as people type them: a worker process started with
// REARGUARD_ALLOWED_SIGNERS (so signatures are required), the `rearguard` CLI signing with --signing-key (real
// ssh-keygen ed25519 keys), a Temporal dev server. An unsigned `freeze start` is refused with a non-zero exit and
// never blocks the gate; a signed start freezes; a lift signed with another person's key is refused (the freeze
// holds); the lifter's own key lifts; `audit verify --allowed-signers` verifies both signed events.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import type { ChainReport } from '../../api/audit-chain.js';
import type { AuditEvent } from '../../runbook/types.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { createDevServerEnv } from '../helpers/temporal.js';

let env: TestWorkflowEnvironment;
let dir = '';
let allowedSigners = '';
const workers: WorkerProcess[] = [];

before(async () => {
  [env, dir] = await Promise.all([createDevServerEnv(), mkdtemp(join(tmpdir(), 'rearguard-e2e-freeze-signed-'))]);
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

describe('signed freeze decisions from the CLI', () => {
  it('freeze start and lift signed with their makers keys; an unsigned start and a lift signed with another key are refused', async () => {
    const taskQueue = `e2e-freeze-signed-${randomUUID()}`;
    const e = cliEnv(taskQueue);
    workers.push(await startWorker({ ...e, REARGUARD_ALLOWED_SIGNERS: allowedSigners }));
    const environment = `e2e${randomUUID().slice(0, 8)}`;
    const name = `launch-${randomUUID().slice(0, 8)}`;
    const check = ['freeze', 'check', '--env', environment, '--service', 'web'];
    const start = ['freeze', 'start', '--name', name, '--env', environment, '--duration', '1d', '--reason', 'launch week'];

    const unsigned = await rearguard([...start, '--as', 'dana'], e);
    assert.equal(unsigned.code, 1, unsigned.stdout);
    assert.match(unsigned.stderr, new RegExp(`freeze ${name} was not started: signed decision required: .*run with a signing key`));
    assert.doesNotMatch(unsigned.stdout, /started/i);
    assert.equal((await rearguard(check, e)).code, 0, 'a refused freeze never blocks the gate');

    const signed = await rearguard(['--signing-key', join(dir, 'dana'), ...start, '--as', 'dana'], e);
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stdout, new RegExp(`^Freeze started: ${name} .*: launch week \\(signed with key SHA256:\\S+\\)$`, 'm'));
    assert.equal((await rearguard(check, e)).code, 3, 'frozen');

    const lift = ['freeze', 'lift', '--name', name, '--as', 'eli', '--reason', 'launch done'];
    const wrongKey = await rearguard(['--signing-key', join(dir, 'dana'), ...lift], e);
    assert.equal(wrongKey.code, 1, wrongKey.stdout);
    assert.match(wrongKey.stderr, /lift refused: signed decision refused: signed by a key allowed for dana, not for eli \(key SHA256:/);
    assert.equal((await rearguard(check, e)).code, 3, 'the refused lift changed nothing');

    const lifted = await rearguard(['--signing-key', join(dir, 'eli'), ...lift], e);
    assert.equal(lifted.code, 0, lifted.stderr);
    assert.match(lifted.stdout, new RegExp(`^Freeze ${name} lifted by eli \\(signed with key SHA256:\\S+\\)\\.$`, 'm'));
    assert.equal((await rearguard(check, e)).code, 0, 'lifted');

    const verified = await rearguard(['audit', 'verify', e.REARGUARD_AUDIT_FILE, '--allowed-signers', allowedSigners, '--json'], e);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.deepEqual((JSON.parse(verified.stdout) as ChainReport).signatures, { signed: 2, verified: 2, unverified: 0, failed: [] });
    const events = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    assert.deepEqual(
      events.filter((x) => x.signature).map((x) => `${x.action} ${x.actor} ${x.signature?.principal}`),
      ['freeze.started dana dana', 'freeze.lifted eli eli'],
    );
    assert.ok(
      events.some((x) => x.action === 'freeze.refused' && x.actor === 'dana'),
      'the refused start is audited',
    );
  });
});
