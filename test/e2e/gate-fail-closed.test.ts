// The freeze gate fails closed. With a freeze holding prod/checkout and the worker stopped, the gate's
// registry cannot be read: `freeze check` exits 1 naming the unreadable freeze (and its registry shard),
// promptly (each Query is bounded); `GET /v1/gate` answers 503 "unknown" once serve's copy of the registry
// is past its lease; `--fail-open` / `?failOpen=true` answer allowed, and say so in the log.
// The git pre-receive hook URL-encodes the push option (a hostile `change=x&env=staging` stays one change
// ID) and treats a 4xx answer as a rejection, even when told to fail open.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort, rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';
import { repoWithGateHook, startServe, type HookedRepo, type ServeProcess } from '../helpers/gate.js';

let env: TestWorkflowEnvironment;
let worker: WorkerProcess | undefined;
let serve: ServeProcess | undefined;
let repo: HookedRepo;
let e: Record<string, string>;

before(async () => {
  let dir: string;
  [env, dir] = await Promise.all([createDevServerEnv(), mkdtemp(join(tmpdir(), 'rearguard-gate-'))]);
  e = rearguardEnv(env, dir, 'gate', {
    REARGUARD_METRICS_PORT: '0',
    TZ: 'America/New_York',
  });
  [worker, serve, repo] = await Promise.all([startWorker(e), startServe(e), repoWithGateHook('checkout')]);
});
after(async () => {
  await serve?.stop();
  await worker?.stop('SIGKILL');
  await env?.teardown();
});

const check = (...args: string[]) => rearguard(['freeze', 'check', '--env', 'prod', '--service', 'checkout', ...args], e);
const gate = (query = '') => fetch(`${serve!.url}/v1/gate?env=prod&service=checkout${query}`);

describe('the freeze gate fails closed', () => {
  it('with a freeze held and the worker up: frozen; the hook keeps a hostile push option as one change ID and rejects any 4xx', async () => {
    const start = await rearguard(
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
        'RCA of the outage',
        '--as',
        'rm-ann',
      ],
      e,
    );
    assert.equal(start.code, 0, start.stderr);
    assert.equal((await check()).code, 3);
    // Through `rearguard serve` (REARGUARD_SERVE_URL: one HTTP request, no Temporal client): the same answer.
    const viaServe = await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'checkout', '--json'], { ...e, REARGUARD_SERVE_URL: serve!.url });
    assert.equal(viaServe.code, 3, viaServe.stderr);
    assert.deepEqual(
      (JSON.parse(viaServe.stdout) as { blockedBy: { id: string }[] }).blockedBy.map((b) => b.id),
      ['freeze:checkout-rca'],
    );

    const hook = { REARGUARD_GATE_URL: serve!.url, REARGUARD_GATE_FAIL_OPEN: '1' };
    // Before the fix the option became `...&change=x&env=staging`: a 400 (env given twice), which fail-open accepted.
    const hostile = await repo.push('main', { pushOptions: ['change=x&env=staging'], hookEnv: hook });
    // Now the whole option is one change ID, which the gate refuses as such (400): still a rejection, never fail-open.
    assert.notEqual(hostile.exitCode, 0, hostile.stderr);
    assert.match(hostile.stderr, /push to main rejected: the freeze gate refused the request \(400\)/);
    assert.match(hostile.stderr, /change: expected a change ID such as PR-1234, got \\"x&env=staging\\"/, 'the whole option is the change ID');

    // A 4xx (here: an environment name the gate refuses) is a rejection, never "fail open".
    const refused = await repo.push('main', { hookEnv: { ...hook, REARGUARD_ENV: 'Not_An_Env' } });
    assert.notEqual(refused.exitCode, 0, refused.stderr);
    assert.match(refused.stderr, /push to main rejected: the freeze gate refused the request \(400\)/);
    assert.equal((await repo.push('feature/x', { hookEnv: hook })).exitCode, 0, 'unprotected branches are not gated');
  });

  it('with the worker stopped: CLI exit 1 and HTTP 503 "unknown", promptly; --fail-open / failOpen=true allow and are logged; the hook rejects', async () => {
    assert.equal(await worker!.stop('SIGKILL'), -1);

    const t0 = Date.now();
    const unknown = await check();
    const took = Date.now() - t0;
    assert.equal(unknown.code, 1, unknown.stdout + unknown.stderr);
    assert.match(unknown.stderr, /UNKNOWN: cannot tell whether prod\/checkout is frozen: 2 running freeze\(s\) could not be read/);
    // Within the bound, the server either gives up on the Query or says that no worker polls the queue any more.
    assert.match(
      unknown.stderr,
      /freeze:checkout-rca: the gate registry could not be read: (its Query was not answered within 3000 ms|no worker polls its task queue).*is a Rearguard worker running\?/,
    );
    assert.match(unknown.stderr, /ask again with --fail-open/);
    assert.ok(took < 20_000, `the gate answers promptly (each Query is bounded): ${took} ms`);
    const json = await check('--json');
    assert.equal(json.code, 1);
    const answer = JSON.parse(json.stdout) as { result: string; allowed: boolean; unreadable: { id: string }[] };
    assert.equal(answer.result, 'unknown');
    assert.equal(answer.allowed, false);
    assert.deepEqual(
      answer.unreadable.map((u) => u.id),
      ['freeze:checkout-rca', `freeze-gate:${e.REARGUARD_TASK_QUEUE}`],
    );

    const viaServe = await waitFor(async () => {
      const r = await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'checkout'], { ...e, REARGUARD_SERVE_URL: serve!.url });
      // The shards' leases run out one after the other: wait for the freeze's own shard.
      return r.code === 1 && /freeze:checkout-rca: stale/.test(r.stderr) ? r : undefined;
    }, 'freeze check through serve to answer unknown once its copy is past its lease');
    assert.match(viaServe.stderr, /UNKNOWN: cannot tell whether prod\/checkout is frozen/);
    assert.match(viaServe.stderr, /freeze:checkout-rca: stale/);
    const open = await check('--fail-open', '--as', 'ci-bot');
    assert.equal(open.code, 0, open.stderr);
    assert.match(open.stdout, /allowed \(failing open, --fail-open\): prod\/checkout/);
    assert.match(open.stderr, /warning: the freeze gate failed open for prod\/checkout \(--fail-open, by ci-bot\): freeze:checkout-rca/);

    // serve answers from its copy until the copy's lease (10 s) has run out without a word from the registry.
    const http = await waitFor(async () => {
      const r = await gate();
      if (r.status !== 503) return void (await r.body?.cancel());
      const body = (await r.json()) as { unreadable: { id: string }[] };
      return body.unreadable[0]?.id === 'freeze:checkout-rca' ? { status: r.status, json: async () => body } : undefined;
    }, 'serve to answer 503 once its lease ran out');
    const body = (await http.json()) as { result: string; allowed: boolean; unreadable: { id: string; kind: string }[] };
    assert.equal(body.result, 'unknown');
    assert.equal(body.allowed, false);
    assert.equal(body.unreadable[0].id, 'freeze:checkout-rca');
    assert.equal(body.unreadable[0].kind, 'stale');
    assert.deepEqual(body.unreadable[1], { id: `freeze-gate:${e.REARGUARD_TASK_QUEUE}`, kind: 'stale' });
    const failOpen = await gate('&failOpen=true');
    assert.equal(failOpen.status, 200);
    assert.equal(((await failOpen.json()) as { failedOpen?: boolean }).failedOpen, true);
    // serve's stderr reaches the test a moment after the answer.
    await waitFor(
      () => /"msg":"gate failed open \(failOpen=true\)".*"environment":"prod","service":"checkout".*freeze:checkout-rca/.test(serve!.log()) || undefined,
      'the fail-open log line',
    );
    const metrics = await (await fetch(`${serve!.url}/metrics`)).text();
    assert.match(metrics, /rearguard_gate_checks_total\{result="unknown"\} [1-9]/);
    assert.match(metrics, /rearguard_gate_checks_total\{result="fail-open"\} 1/);

    const rejected = await repo.push('main', { hookEnv: { REARGUARD_GATE_URL: serve!.url } });
    assert.notEqual(rejected.exitCode, 0);
    assert.match(rejected.stderr, /push to main rejected: the freeze gate cannot tell whether prod\/checkout is frozen/);
    const accepted = await repo.push('main', { hookEnv: { REARGUARD_GATE_URL: serve!.url, REARGUARD_GATE_FAIL_OPEN: '1' } });
    assert.equal(accepted.exitCode, 0, accepted.stderr);
    assert.match(accepted.stderr, /warning: the freeze gate could not read every running freeze; accepted because REARGUARD_GATE_FAIL_OPEN=1/);

    const list = await rearguard(['freeze', 'list'], e);
    assert.equal(list.code, 1, 'an incomplete list is not a success');
    assert.match(list.stderr, /2 running freeze\(s\) could not be read:\n {2}freeze:checkout-rca: /);

    // Temporal itself unreachable: unknown too.
    const nowhere = { ...e, TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` };
    const down = await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'checkout'], nowhere);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /UNKNOWN: cannot check the freeze gate for prod\/checkout: cannot reach Temporal/);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'checkout', '--fail-open'], nowhere)).code, 0);

    // A worker again: the gate reads the freeze and answers frozen.
    worker = await startWorker(e);
    assert.equal((await check()).code, 3);
    await waitFor(async () => (await gate()).status === 423, 'serve to answer from a current copy again');
  });
});
