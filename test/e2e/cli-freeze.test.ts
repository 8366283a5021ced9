// Release freezes end to end: the CLI starts a freeze, the gate enforces it the moment the CLI
// returns (CLI exit 3 and HTTP 423 from `rearguard serve`), an approved exception lets one change
// through, and lifting it opens the gate again.
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AuditEvent } from '../../runbook/types.js';
import { freePort, rearguard, startServe, startWorker, type ServeProcess, type WorkerProcess } from '../helpers/processes.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { ROOT } from '../helpers/tools.js';
import { run } from '../../activities/process.js';

let env: TestWorkflowEnvironment;
let dir: string;
let worker: WorkerProcess | undefined;
let server: ServeProcess | undefined;
let port: number;
let metricsPort: number;
let e: Record<string, string>;

before(async () => {
  [env, dir] = await Promise.all([createDevServerEnv(), mkdtemp(join(tmpdir(), 'rearguard-freeze-'))]);
  metricsPort = await freePort();
  e = rearguardEnv(env, dir, 'freeze', {
    TZ: 'America/New_York',
  });
  worker = await startWorker({ ...e, REARGUARD_METRICS_PORT: String(metricsPort), REARGUARD_METRICS_HOST: '127.0.0.1' });
  server = await startServe(e);
  port = server.port;
});
after(async () => {
  await server?.stop();
  await worker?.stop('SIGKILL');
  await env?.teardown();
});

describe('release freeze from the CLI', () => {
  it('blocks deploys as soon as it starts, lets an approved exception through, and opens again when lifted', async () => {
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
    assert.equal(again.code, 0, 'starting an existing window with the same settings is idempotent');
    assert.match(again.stdout, /Freeze black-friday is already running with the same settings/);

    assert.equal(
      (await rearguard(['freeze', 'exception', 'request', '--name', 'black-friday', '--change', 'PR-1234', '--reason', 'checkout bug fix', '--as', 'dave'], e))
        .code,
      0,
    );
    const self = await rearguard(['freeze', 'exception', 'approve', '--name', 'black-friday', '--change', 'PR-1234', '--as', 'dave', '--reason', 'mine'], e);
    assert.equal(self.code, 1);
    assert.match(self.stderr, /dave cannot approve freeze exceptions/);
    assert.equal(
      (
        await rearguard(
          ['freeze', 'exception', 'approve', '--name', 'black-friday', '--change', 'PR-1234', '--as', 'rm-bo', '--reason', 'payment fix, reviewed'],
          e,
        )
      ).code,
      0,
    );
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
    assert.equal(audit.find((x) => x.action === 'freeze.exception-approved')?.reason, 'payment fix, reviewed', "the approver's reason is kept");
  });

  it('the git pre-receive hook rejects pushes to protected branches while frozen, and lets an excepted change through', async () => {
    const remote = join(dir, 'checkout.git');
    const work = join(dir, 'checkout-work');
    const git = async (cwd: string, ...args: string[]) =>
      run('git', args, { cwd, env: { GIT_AUTHOR_NAME: 'Dev', GIT_AUTHOR_EMAIL: 'd@x', GIT_COMMITTER_NAME: 'Dev', GIT_COMMITTER_EMAIL: 'd@x' } });
    await git(dir, 'init', '--quiet', '--bare', '--initial-branch=main', remote);
    await git(remote, 'config', 'receive.advertisePushOptions', 'true');
    await copyFile(`${ROOT}scripts/hooks/pre-receive`, join(remote, 'hooks/pre-receive'));
    await chmod(join(remote, 'hooks/pre-receive'), 0o755);
    process.env.REARGUARD_GATE_URL = `http://127.0.0.1:${port}`;
    await git(dir, 'clone', '--quiet', remote, work);
    let n = 0;
    const push = async (branch: string, ...opts: string[]) => {
      await writeFile(join(work, 'file.txt'), `change ${++n}\n`);
      await git(work, 'add', 'file.txt');
      await git(work, 'commit', '--quiet', '-m', `change ${n}`);
      return git(work, 'push', ...opts, 'origin', `HEAD:refs/heads/${branch}`);
    };
    assert.equal((await push('main')).exitCode, 0, 'open: accepted');

    assert.equal(
      (
        await rearguard(
          [
            'freeze',
            'start',
            '--name',
            'checkout-rca',
            '--env',
            'prod',
            '--service',
            'checkout',
            '--duration',
            '1d',
            '--reason',
            'RCA of the checkout outage',
            '--approvers',
            'rm-bo',
            '--as',
            'rm-ann',
          ],
          e,
        )
      ).code,
      0,
    );
    const rejected = await push('main');
    assert.notEqual(rejected.exitCode, 0);
    assert.match(rejected.stderr, /rearguard: push to main rejected: prod\/checkout is frozen by a release freeze/);
    assert.match(rejected.stderr, /RCA of the checkout outage/);
    await git(work, 'reset', '--quiet', '--hard', 'HEAD~1');
    assert.equal((await push('feature/x')).exitCode, 0, 'unprotected branches are not gated');

    await rearguard(['freeze', 'exception', 'request', '--name', 'checkout-rca', '--change', 'PR-77', '--reason', 'the fix', '--as', 'dave'], e);
    await rearguard(['freeze', 'exception', 'approve', '--name', 'checkout-rca', '--change', 'PR-77', '--as', 'rm-bo', '--reason', 'the RCA fix'], e);
    const excepted = await push('main', '-o', 'change=PR-77');
    assert.equal(excepted.exitCode, 0, excepted.stderr);

    await rearguard(['freeze', 'lift', '--name', 'checkout-rca', '--reason', 'done', '--as', 'rm-ann'], e);
    assert.equal((await push('main')).exitCode, 0, 'open again');
  });
});
