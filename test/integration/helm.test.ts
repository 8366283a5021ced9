// The `helm` step against the testbed with real Helm, differential against plain `helm rollback`:
// the same release history in two namespaces, rolled back by each, must give the same manifest and status.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { spawn } from 'node:child_process';
import { Helm } from '../../activities/helm.js';
import { KubeClient } from '../../activities/kubernetes/client.js';
import { RESTORED_ANNOTATION } from '../../runbook/repeat.js';
import { run } from '../../activities/process.js';
import { ROOT, toolPath } from '../helpers/tools.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let bed: Testbed;
let helm: Helm;
let n = 0;
const CHART = `${ROOT}test/fixtures/charts/web`;

before(async () => {
  bed = await startTestbed();
  helm = new Helm(toolPath('helm'), 'testbed', { kubeconfig: bed.kubeconfig });
});
after(async () => {
  await bed?.stop();
});

async function helmCli(ns: string, ...args: string[]): Promise<string> {
  const r = await run(toolPath('helm'), [...args, '--namespace', ns, '--kubeconfig', bed.kubeconfig]);
  if (r.exitCode !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Installs the chart, then upgrades it with each set of values: revision 1, 2, ... */
async function releaseWithHistory(upgrades: string[][]): Promise<string> {
  const ns = `helm-${++n}-${Date.now().toString(36)}`;
  await bed.kubectl(['create', 'namespace', ns]);
  await helmCli(ns, 'install', 'web', CHART, '--wait', '--timeout', '60s');
  for (const set of upgrades) await helmCli(ns, 'upgrade', 'web', CHART, '--wait', '--timeout', '60s', ...set.flatMap((s) => ['--set', s]));
  return ns;
}

async function outcome(ns: string) {
  const manifest = await helmCli(ns, 'get', 'manifest', 'web');
  const status = JSON.parse(await helmCli(ns, 'status', 'web', '-o', 'json')) as { version: number; info: { status: string; description: string } };
  const history = (JSON.parse(await helmCli(ns, 'history', 'web', '-o', 'json')) as { revision: number; status: string; description: string }[]).map((h) => [
    h.revision,
    h.status,
    h.description,
  ]);
  return { manifest, version: status.version, status: status.info.status, description: status.info.description, history };
}

const undo = (plan: Parameters<Helm['apply']>[0]): Promise<Record<string, unknown>> =>
  new MockActivityEnvironment({ startToCloseTimeoutMs: 120_000 }).run(() => helm.apply(plan, 120_000));

describe('helm rollback, differential against helm', () => {
  for (const [name, upgrades, to] of [
    ['image upgrade, back to previous', [['tag=2.0']], 'previous'],
    ['three revisions, to revision 1', [['tag=2.0'], ['greeting=hi', 'tag=3.0']], 1],
    ['config-only change, back to previous', [['greeting=bonjour']], 'previous'],
  ] as const) {
    it(name, async () => {
      const [viaHelm, viaRearguard] = await Promise.all([releaseWithHistory(upgrades.map((u) => [...u])), releaseWithHistory(upgrades.map((u) => [...u]))]);
      await helmCli(viaHelm, 'rollback', 'web', ...(to === 'previous' ? [] : [String(to)]), '--wait', '--timeout', '60s');
      const plan = await helm.plan(viaRearguard, 'web', to);
      const result = await undo(plan);
      assert.equal(result.changed, true);
      const [a, b] = [await outcome(viaHelm), await outcome(viaRearguard)];
      assert.equal(b.manifest, a.manifest, 'same manifest');
      assert.deepEqual({ ...b, manifest: '' }, { ...a, manifest: '' }, 'same status and history');
      assert.equal(result.newRevision, a.version);
    });
  }

  it('does not roll back twice when re-run after the rollback landed', async () => {
    const ns = await releaseWithHistory([['tag=2.0'], ['tag=3.0']]);
    const plan = await helm.plan(ns, 'web', 'previous');
    assert.deepEqual([plan.fromRevision, plan.toRevision], [3, 2]);
    assert.equal((await undo(plan)).changed, true);
    const again = await undo(plan);
    assert.equal(again.changed, false, 'the retry sees "Rollback to 2" after revision 3');
    assert.equal(again.newRevision, 4);
    const history = JSON.parse(await helmCli(ns, 'history', 'web', '-o', 'json')) as unknown[];
    assert.equal(history.length, 4, 'exactly one rollback revision');
    assert.match(await helmCli(ns, 'get', 'manifest', 'web'), /registry\.local\/web:2\.0/);
  });

  it('completes a rollback whose helm died midway (left pending-rollback) with one more rollback revision that names it', async () => {
    const admin = KubeClient.fromConfig('testbed', { kubeconfig: bed.kubeconfig });
    // helm is SIGKILLed as soon as it has stored its pending revision (while it applies and waits), as a worker's
    // helm dies with the worker's pod. If helm wins the race and finishes, the scenario is set up again.
    let ns = '';
    for (let attempt = 1; attempt <= 3 && !ns; attempt++) {
      const candidate = await releaseWithHistory([['tag=2.0']]);
      const child = spawn(toolPath('helm'), ['rollback', 'web', '1', '--wait', '--timeout', '60s', '--namespace', candidate, '--kubeconfig', bed.kubeconfig], {
        stdio: 'ignore',
      });
      const exited = new Promise((r) => child.once('exit', r));
      for (;;) {
        const stored = await admin.get(`/api/v1/namespaces/${candidate}/secrets/sh.helm.release.v1.web.v3`).catch(() => undefined);
        if (stored || child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill('SIGKILL');
      await exited;
      const latest = (JSON.parse(await helmCli(candidate, 'history', 'web', '-o', 'json')) as { revision: number; status: string }[]).at(-1);
      if (latest?.revision === 3 && latest.status === 'pending-rollback') ns = candidate;
    }
    assert.ok(ns, 'helm was killed with its rollback pending in one of three tries');
    // helm itself refuses to upgrade past it.
    await assert.rejects(helmCli(ns, 'upgrade', 'web', CHART, '--set', 'tag=4.0'), /another operation \(install\/upgrade\/rollback\) is in progress/);

    const plan = {
      kind: 'helm' as const,
      cluster: 'testbed',
      namespace: ns,
      release: 'web',
      fromRevision: 2,
      toRevision: 1,
      fromChart: 'web-1.0.0',
      toChart: 'web-1.0.0',
    };
    const result: Record<string, unknown> = await new MockActivityEnvironment({ startToCloseTimeoutMs: 120_000 }).run(() =>
      helm.apply(plan, 120_000, { workflowId: 'rollback:prod:web', runId: 'run-1' }),
    );
    assert.equal(result.changed, true);
    assert.equal(result.interruptedRevision, 3);
    assert.equal(result.newRevision, 4);
    const history = (JSON.parse(await helmCli(ns, 'history', 'web', '-o', 'json')) as { revision: number; status: string; description: string }[]).map((h) => [
      h.revision,
      h.status,
      h.description,
    ]);
    assert.deepEqual(history.slice(2), [
      // helm leaves the revision it never finished as it was; the release's state is its latest revision.
      [3, 'pending-rollback', 'Rollback to 1'],
      [4, 'deployed', 'Rollback to 1'],
    ]);
    assert.equal(await helmCli(ns, 'get', 'manifest', 'web'), await helmCli(ns, 'get', 'manifest', 'web', '--revision', '1'));
    const record = (await admin.get(`/api/v1/namespaces/${ns}/secrets/sh.helm.release.v1.web.v4`)).metadata.annotations?.[RESTORED_ANNOTATION];
    assert.equal((JSON.parse(record ?? '{}') as { completesInterrupted?: number }).completesInterrupted, 3);
    // Run again (a retry after this attempt): the rollback has landed, nothing more happens.
    const again: Record<string, unknown> = await new MockActivityEnvironment({ startToCloseTimeoutMs: 120_000 }).run(() => helm.apply(plan, 120_000));
    assert.equal(again.changed, false);
    assert.equal((JSON.parse(await helmCli(ns, 'history', 'web', '-o', 'json')) as unknown[]).length, 4);
    // The release is no longer stuck: the next deploy goes through.
    await helmCli(ns, 'upgrade', 'web', CHART, '--set', 'tag=4.0', '--wait', '--timeout', '60s');
  });

  it('reports a missing release, a missing revision and no previous revision clearly, without retries', async () => {
    const ns = await releaseWithHistory([]);
    const final = (pattern: RegExp) => (e: unknown) => e instanceof ApplicationFailure && e.nonRetryable === true && pattern.test(e.message);
    await assert.rejects(helm.plan(ns, 'nope', 'previous'), final(/helm release helm-\d+-\w+\/nope not found/));
    await assert.rejects(helm.plan(ns, 'web', 9), final(/has no revision 9 \(history: 1\)/));
    await assert.rejects(helm.plan(ns, 'web', 'previous'), final(/has no previous revision to roll back to \(current is 1\)/));
  });
});
