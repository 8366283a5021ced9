// Freeze guardrails against the real thing, Argo CD: the AppProject and Application CRDs on the testbed's
// kube-apiserver (no controllers: what we check is what they would read), driven as the rearguard-worker
// user bound to the shipped role. Shared setup: test/helpers/guardrails.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { KubeObject } from '../../activities/kubernetes/client.js';
import type { Guardrails } from '../../runbook/freeze.js';
import { A, actions, admin, apply, B, bed, namespace, paths, restore, snapshot, useGuardrailsTestbed, version } from '../helpers/guardrails.js';

useGuardrailsTestbed();

/** The sync-window rules Argo CD's API server applies to a project (AppProject.ValidateProject, v3.5.7). */
function assertArgoAccepts(project: KubeObject): void {
  const seen = new Set<string>();
  for (const w of (project.spec.syncWindows ?? []) as KubeObject[]) {
    const identity = JSON.stringify([w.kind, w.schedule, w.duration, w.applications, w.namespaces, w.clusters, w.timeZone, w.andOperator]);
    assert.ok(!seen.has(identity), `duplicate sync window ${identity}`);
    seen.add(identity);
    assert.ok(w.kind === 'allow' || w.kind === 'deny');
    assert.match(w.duration, /^(\d+h)?(\d+m)?$/);
    assert.ok((w.description ?? '').length <= 255);
    assert.ok(w.applications?.length || w.namespaces?.length || w.clusters?.length);
  }
}

describe('argocd syncWindow', () => {
  it('adds one always-active deny window per freeze, removes only its own, and restores each project exactly', async () => {
    const ns = 'gr-window';
    await namespace(ns);
    await bed.kubectl(
      ['create', '-f', '-'],
      `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: { name: payments, namespace: ${ns}, annotations: { owner: team-payments } }
spec:
  sourceRepos: ['*']
  destinations: [{ server: https://kubernetes.default.svc, namespace: payments }]
  syncWindows:
    - { kind: deny, schedule: '0 22 * * *', duration: 8h, applications: ['*'], manualSync: true, description: nightly batch }
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: { name: web, namespace: ${ns} }
spec:
  sourceRepos: ['*']
`,
    );
    const before = { payments: await snapshot(paths.project(ns, 'payments')), web: await snapshot(paths.project(ns, 'web')) };
    const g: Guardrails = { argocd: { cluster: 'testbed', namespace: ns, projects: ['payments', 'web'], mode: 'syncWindow' } };
    const windows = async (p: string) => ((await admin.get(paths.project(ns, p))).spec.syncWindows ?? []) as KubeObject[];

    const first = await apply(A, g);
    assert.match(actions(first)[`appproject ${ns}/payments`], /^deny sync window added/);
    assert.match(actions(first)[`appproject ${ns}/web`], /^deny sync window added/);
    const again = await apply(A, g);
    assert.deepEqual(Object.values(actions(again)), ['deny sync window already present', 'deny sync window already present']);
    assert.equal((await windows('payments')).length, 2, 'the human window and one of ours');
    assert.equal((await windows('web')).length, 1);
    const ours = (await windows('web'))[0];
    assert.deepEqual(
      { ...ours, description: undefined },
      { kind: 'deny', schedule: '* * * * *', duration: '1h', applications: ['*'], manualSync: false, description: undefined },
    );
    assert.equal(ours.description, `rearguard freeze=${A} list=created: Peak business event`);
    assert.match((await windows('payments'))[1].description, new RegExp(`^rearguard freeze=${A} list=existing: `));

    await apply(B, g);
    assert.equal((await windows('payments')).length, 3);
    const web = await windows('web');
    assert.deepEqual(
      web.map((w) => [w.duration, w.description.replace(/: .*$/, '')]),
      [
        ['1h', `rearguard freeze=freeze:black-friday list=created`],
        ['1h1m', `rearguard freeze=freeze:weekends list=created`],
      ],
      "B's window has its own identity and inherits list=created",
    );
    assertArgoAccepts(await admin.get(paths.project(ns, 'payments')));
    assertArgoAccepts(await admin.get(paths.project(ns, 'web')));

    const r1 = await restore(A, g);
    assert.deepEqual(Object.values(actions(r1)), ['deny sync window removed', 'deny sync window removed']);
    assert.deepEqual(
      (await windows('payments')).map((w) => w.description.replace(/: .*$/, '')),
      ['nightly batch', `rearguard freeze=${B} list=existing`],
    );
    assert.equal((await windows('web')).length, 1);
    const versions = [await version(paths.project(ns, 'payments')), await version(paths.project(ns, 'web'))];
    const r1again = await restore(A, g);
    assert.deepEqual(Object.values(actions(r1again)), [
      'no deny sync window of this freeze (nothing to remove)',
      'no deny sync window of this freeze (nothing to remove)',
    ]);
    assert.deepEqual([await version(paths.project(ns, 'payments')), await version(paths.project(ns, 'web'))], versions, 'a no-op writes nothing');

    const r2 = await restore(B, g);
    assert.equal(actions(r2)[`appproject ${ns}/web`], 'deny sync window removed (and spec.syncWindows, absent before the freeze)');
    assert.deepEqual(await snapshot(paths.project(ns, 'payments')), before.payments);
    assert.deepEqual(await snapshot(paths.project(ns, 'web')), before.web);
    assert.equal('syncWindows' in (await admin.get(paths.project(ns, 'web'))).spec, false);
  });

  it('keeps an explicitly empty syncWindows list, and names a missing project as a configuration error', async () => {
    const ns = 'gr-window-edge';
    await namespace(ns);
    await bed.kubectl(
      ['create', '-f', '-'],
      `apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: { name: empty, namespace: ${ns} }\nspec:\n  sourceRepos: ['*']\n  syncWindows: []\n`,
    );
    const original = await snapshot(paths.project(ns, 'empty'));
    const g: Guardrails = { argocd: { cluster: 'testbed', namespace: ns, projects: ['empty', 'nope'], mode: 'syncWindow' } };
    await assert.rejects(apply(A, g), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure);
      assert.equal(e.type, 'ConfigurationError');
      assert.equal(e.nonRetryable, true);
      assert.match(e.message, /do not exist: appproject gr-window-edge\/nope/);
      return true;
    });
    assert.equal((await admin.get(paths.project(ns, 'empty'))).spec.syncWindows.length, 1, 'the existing project is guarded all the same');
    await restore(A, g);
    assert.deepEqual(await snapshot(paths.project(ns, 'empty')), original);
  });
});

describe('argocd disableAutoSync', () => {
  it('removes automated from the projects Applications, saves it, and puts it back exactly when the last freeze ends', async () => {
    const ns = 'gr-autosync';
    await namespace(ns);
    const app = (name: string, project: string, syncPolicy?: string, annotations?: string) =>
      `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: { name: ${name}, namespace: ${ns}${annotations ? `, annotations: ${annotations}` : ''} }
spec:
  project: ${project}
  source: { repoURL: https://git.example.com/config.git, path: apps/${name}, targetRevision: main }
  destination: { server: https://kubernetes.default.svc, namespace: ${name} }
${syncPolicy ? `  syncPolicy: ${syncPolicy}\n` : ''}`;
    await bed.kubectl(
      ['create', '-f', '-'],
      [
        app('checkout', 'payments', '{ automated: { prune: true, selfHeal: true }, syncOptions: [CreateNamespace=true] }', '{ team: payments }'),
        app('ledger', 'payments', '{ automated: {} }'),
        app('reports', 'payments'),
        app('batch', 'payments', '{ automated: { enabled: false, prune: true } }'),
        app('blog', 'marketing', '{ automated: { selfHeal: true } }'),
      ].join('---\n'),
    );
    const names = ['checkout', 'ledger', 'reports', 'batch', 'blog'];
    const before = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await snapshot(paths.app(ns, n))] as const)));
    const g: Guardrails = { argocd: { cluster: 'testbed', namespace: ns, projects: ['payments'], mode: 'disableAutoSync' } };

    const applied = await apply(A, g);
    assert.deepEqual(actions(applied), {
      [`application ${ns}/batch`]: 'skipped: automated.enabled is false, nothing to disable',
      [`application ${ns}/checkout`]: 'auto-sync disabled (automated {"prune":true,"selfHeal":true} removed, saved in rearguard.io/saved-automated)',
      [`application ${ns}/ledger`]: 'auto-sync disabled (automated {} removed, saved in rearguard.io/saved-automated)',
      [`application ${ns}/reports`]: 'skipped: no automated sync policy, nothing to disable',
    });
    const checkout = await admin.get(paths.app(ns, 'checkout'));
    assert.deepEqual(checkout.spec.syncPolicy, { syncOptions: ['CreateNamespace=true'] });
    assert.deepEqual(checkout.metadata.annotations, {
      team: 'payments',
      'rearguard.io/frozen-by': A,
      'rearguard.io/saved-automated': '{"prune":true,"selfHeal":true}',
    });
    assert.deepEqual((await admin.get(paths.app(ns, 'ledger'))).spec.syncPolicy, {});
    assert.deepEqual(await snapshot(paths.app(ns, 'blog')), before.blog, 'another project: untouched');
    assert.deepEqual(await snapshot(paths.app(ns, 'reports')), before.reports);

    const again = await apply(A, g);
    assert.equal(actions(again)[`application ${ns}/checkout`], 'auto-sync already disabled by this freeze');
    await apply(B, g);
    assert.equal((await admin.get(paths.app(ns, 'checkout'))).metadata.annotations['rearguard.io/frozen-by'], `${A},${B}`);

    const r1 = await restore(A, g);
    assert.equal(actions(r1)[`application ${ns}/checkout`], `auto-sync still disabled: held by ${B}`);
    const otherProject = await restore(B, { argocd: { ...g.argocd!, projects: ['marketing'] } });
    assert.deepEqual(otherProject.changes, [], 'a restore for another project (a calendar edit dropping it) releases none of these');
    assert.equal((await admin.get(paths.app(ns, 'checkout'))).spec.syncPolicy.automated, undefined);
    const r2 = await restore(B, g);
    assert.deepEqual(actions(r2), {
      [`application ${ns}/checkout`]: 'auto-sync restored (automated {"prune":true,"selfHeal":true})',
      [`application ${ns}/ledger`]: 'auto-sync restored (automated {})',
    });
    for (const n of names) assert.deepEqual(await snapshot(paths.app(ns, n)), before[n], n);
    assert.deepEqual((await restore(B, g)).changes, [], 'nothing held any more');
  });
});
