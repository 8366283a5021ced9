// Freeze guardrails against the real thing, all mechanisms together (Argo CD, Flux and flag files): crash
// safety of apply (cut short, retried; a worker process SIGKILLed at any point), one failing guardrail not
// keeping the others from being applied and restored, and freeze ids that cannot be markers. Shared setup:
// test/helpers/guardrails.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { Guardrails } from '../../runbook/freeze.js';
import {
  A,
  actions,
  admin,
  apply,
  bed,
  flagFile,
  FLAGS_TEXT,
  namespace,
  paths,
  restore,
  snapshot,
  useGuardrailsTestbed,
  version,
  work,
} from '../helpers/guardrails.js';
import { ROOT } from '../helpers/tools.js';

useGuardrailsTestbed();

describe('crash safety', () => {
  it('apply cut short after the Argo CD part, retried twice, then one restore: as it was; a second restore is a no-op', async () => {
    const ns = 'gr-crash';
    await namespace(ns);
    await bed.kubectl(
      ['create', '-f', '-'],
      `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: { name: default, namespace: ${ns} }
spec: { sourceRepos: ['*'] }
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: { name: apps, namespace: ${ns} }
spec: { interval: 10m, prune: true, sourceRef: { kind: GitRepository, name: config } }
`,
    );
    const file = await flagFile('crash');
    const g: Guardrails = {
      argocd: { cluster: 'testbed', namespace: ns, projects: ['default'], mode: 'syncWindow' },
      flux: { cluster: 'testbed', kustomizations: [`${ns}/apps`], helmReleases: [] },
      flags: { file, freezeTag: 'feature' },
    };
    const objects = [paths.project(ns, 'default'), paths.ks(ns, 'apps')];
    const before = await Promise.all(objects.map(snapshot));

    // The first attempt was killed after the Argo CD change landed, before Flux and the flags.
    await apply(A, { argocd: g.argocd });
    const retried = await apply(A, g);
    assert.deepEqual(actions(retried), {
      [`appproject ${ns}/default`]: 'deny sync window already present',
      [`kustomization ${ns}/apps`]: 'suspended',
      'flag new-checkout': 'pinned to off (variant off; was default "on", with targeting)',
      'flag dark-mode': 'pinned to off (variant disabled; was default "disabled", with targeting)',
      'flag hero-banner': 'skipped: tagged feature but has no off variant (named "off" or valued false)',
    });
    // And the retry itself was killed after finishing: Temporal runs it once more.
    const third = await apply(A, g);
    assert.ok(
      Object.values(actions(third)).every((a) => /already|skipped/.test(a)),
      JSON.stringify(third),
    );
    assert.equal((await admin.get(paths.project(ns, 'default'))).spec.syncWindows.length, 1);

    const restored = await restore(A, g);
    assert.equal(restored.changes.length, 4);
    assert.deepEqual(await Promise.all(objects.map(snapshot)), before);
    assert.equal(await readFile(file, 'utf8'), FLAGS_TEXT);

    const versions = await Promise.all(objects.map(version));
    const mtime = (await stat(file)).mtimeMs;
    const second = await restore(A, g);
    assert.deepEqual(actions(second), {
      [`appproject ${ns}/default`]: 'no deny sync window of this freeze (nothing to remove)',
      [`kustomization ${ns}/apps`]: 'not held by this freeze (nothing to restore)',
    });
    assert.deepEqual(await Promise.all(objects.map(version)), versions);
    assert.equal((await stat(file)).mtimeMs, mtime);
  });

  it('a worker process SIGKILLed at any point of apply: the retry and one restore leave everything as it was', async () => {
    const ns = 'gr-kill';
    await namespace(ns);
    await bed.kubectl(
      ['create', '-f', '-'],
      `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: { name: default, namespace: ${ns} }
spec:
  sourceRepos: ['*']
  syncWindows: [{ kind: allow, schedule: '0 9 * * 1-5', duration: 8h, applications: ['*'] }]
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: { name: apps, namespace: ${ns}, annotations: { team: platform } }
spec: { interval: 10m, prune: true, suspend: false, sourceRef: { kind: GitRepository, name: config } }
`,
    );
    const file = await flagFile('kill');
    const g: Guardrails = {
      argocd: { cluster: 'testbed', namespace: ns, projects: ['default'], mode: 'syncWindow' },
      flux: { cluster: 'testbed', kustomizations: [`${ns}/apps`], helmReleases: [] },
      flags: { file, freezeTag: 'feature' },
    };
    const objects = [paths.project(ns, 'default'), paths.ks(ns, 'apps')];
    const before = await Promise.all(objects.map(snapshot));
    const workerKubeconfig = await bed.kubeconfigFor('rearguard-worker');
    // A worker that dies (SIGKILL, no cleanup) right after its Nth change landed on the API server,
    // before reporting it; 99: after the whole activity finished but before Temporal heard of it.
    const script = `
      const { applyGuardrails } = await import(${JSON.stringify(`${ROOT}activities/guardrails/index.ts`)});
      const { Clusters } = await import(${JSON.stringify(`${ROOT}activities/targets.ts`)});
      const { KubeClient } = await import(${JSON.stringify(`${ROOT}activities/kubernetes/client.ts`)});
      const killAfter = Number(process.env.KILL_AFTER);
      let patches = 0;
      const hang = (what) => { process.stdout.write('kill me ' + what); return new Promise(() => {}); };
      const patch = KubeClient.prototype.patch;
      KubeClient.prototype.patch = async function (...args) {
        const res = await patch.apply(this, args);
        if (++patches === killAfter) await hang('after patch ' + patches);
        return res;
      };
      const clusters = new Clusters({ testbed: { kubeconfig: process.env.KC } });
      if (killAfter === 0) await hang('before anything');
      await applyGuardrails({ clusters }, { freezeId: ${JSON.stringify(A)}, reason: 'killed', guardrails: JSON.parse(process.env.G) });
      await hang('when done');`;
    const state = async () => [
      (await admin.get(paths.project(ns, 'default'))).spec.syncWindows.length,
      (await admin.get(paths.ks(ns, 'apps'))).spec.suspend,
      (await readFile(file, 'utf8')) !== FLAGS_TEXT,
    ];
    const killedAt: unknown[] = [];
    for (const killAfter of [0, 1, 2, 99]) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: ROOT,
        env: { ...process.env, KC: workerKubeconfig, G: JSON.stringify(g), KILL_AFTER: String(killAfter) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((r) => child.once('exit', r));
      let out = '';
      await Promise.race([
        new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => (out += c.toString()).includes('kill me') && resolve())),
        exited,
      ]);
      assert.equal(child.kill('SIGKILL'), true, `the child was still running (${out})`);
      await exited;
      killedAt.push([out, ...(await state())]);
      // Temporal runs the activity again (here, in this process), then the freeze ends.
      await apply(A, g);
      assert.deepEqual(await state(), [2, true, true], out);
      await restore(A, g);
      assert.deepEqual(await Promise.all(objects.map(snapshot)), before, out);
      assert.equal(await readFile(file, 'utf8'), FLAGS_TEXT, out);
      assert.equal(existsSync(join(work, 'kill', '.flags.json.rearguard.tmp')), false);
    }
    assert.deepEqual(killedAt, [
      ['kill me before anything', 1, false, false],
      ['kill me after patch 1', 2, false, false], // the sync window landed
      ['kill me after patch 2', 2, true, false], // and the suspend, not the flags
      ['kill me when done', 2, true, true],
    ]);
  });

  it('one failing guardrail does not keep the others from being applied and restored', async () => {
    const ns = 'gr-norbac'; // no RoleBinding for the worker here
    await bed.kubectl(['create', 'namespace', ns]);
    await bed.kubectl(
      ['create', '-f', '-'],
      `apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: { name: apps, namespace: ${ns} }\nspec: { interval: 10m, prune: true, sourceRef: { kind: GitRepository, name: config } }\n`,
    );
    const file = await flagFile('partial-failure');
    const g: Guardrails = { flux: { cluster: 'testbed', kustomizations: [`${ns}/apps`], helmReleases: [] }, flags: { file, freezeTag: 'feature' } };
    const denied = (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure);
      assert.deepEqual([e.type, e.nonRetryable], ['PermissionDenied', true]);
      assert.match(e.message, /^flux: .*forbidden: .*rearguard-worker.* cannot get resource "kustomizations"/);
      return true;
    };
    await assert.rejects(apply(A, g), (e: unknown) => {
      denied(e);
      const { changes } = (e as ApplicationFailure).details![0] as { changes: { target: string }[] };
      assert.deepEqual(
        changes.map((c) => c.target),
        ['flag new-checkout', 'flag dark-mode', 'flag hero-banner'],
      );
      return true;
    });
    assert.notEqual(await readFile(file, 'utf8'), FLAGS_TEXT, 'the flags are pinned all the same');
    await assert.rejects(restore(A, g), denied);
    assert.equal(await readFile(file, 'utf8'), FLAGS_TEXT, 'and unpinned all the same');
  });

  it('refuses a freeze id that cannot be a marker', async () => {
    await assert.rejects(
      apply('freeze:a,b', { flags: { file: '/nonexistent', freezeTag: 'feature' } }),
      (e: unknown) => e instanceof ApplicationFailure && e.type === 'ConfigurationError' && /no commas or spaces/.test(e.message),
    );
  });
});
