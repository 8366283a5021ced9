// Freeze guardrails against the real thing, Flux: the Kustomization and HelmRelease CRDs on the testbed's
// kube-apiserver (no controllers: what we check is what they would read), driven as the rearguard-worker
// user bound to the shipped role. Shared setup: test/helpers/guardrails.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Guardrails } from '../../runbook/freeze.js';
import {
  A,
  actions,
  admin,
  apply,
  B,
  bed,
  clusters,
  helmReleases,
  namespace,
  paths,
  restore,
  snapshot,
  useGuardrailsTestbed,
  version,
} from '../helpers/guardrails.js';

useGuardrailsTestbed({ helmReleaseCrd: true });

describe('flux suspend', () => {
  it('suspends with reference-counted holders, and resumes exactly what it suspended when the last overlapping freeze ends', async () => {
    const ns = 'gr-flux';
    await namespace(ns);
    const ks = (name: string, extra = '', annotations = '') =>
      `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: { name: ${name}, namespace: ${ns}${annotations} }
spec:
  interval: 10m
  path: ./apps/${name}
  prune: true
  sourceRef: { kind: GitRepository, name: config }
${extra}`;
    const objects = [
      ks('apps', '', ', annotations: { team: platform }'),
      ks('infra', '  suspend: false\n'),
      ks('legacy', '  suspend: true\n', ', annotations: { reason: "migration in progress" }'),
    ];
    if (helmReleases) {
      objects.push(`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: { name: web, namespace: ${ns} }
spec:
  interval: 5m
  chart: { spec: { chart: web, version: 1.x, sourceRef: { kind: HelmRepository, name: charts } } }
  values: { replicas: 2 }
`);
    }
    await bed.kubectl(['create', '-f', '-'], objects.join('---\n'));
    const targets = [paths.ks(ns, 'apps'), paths.ks(ns, 'infra'), paths.ks(ns, 'legacy'), ...(helmReleases ? [paths.hr(ns, 'web')] : [])];
    const before = await Promise.all(targets.map(snapshot));
    const g: Guardrails = {
      flux: { cluster: 'testbed', kustomizations: [`${ns}/apps`, `${ns}/infra`, `${ns}/legacy`], helmReleases: helmReleases ? [`${ns}/web`] : [] },
    };
    const suspend = async (path: string) => (await admin.get(path)).spec.suspend as boolean | undefined;

    const a = await apply(A, g);
    assert.deepEqual(actions(a), {
      [`kustomization ${ns}/apps`]: 'suspended',
      [`kustomization ${ns}/infra`]: 'suspended',
      [`kustomization ${ns}/legacy`]: 'left suspended: already suspended before the freeze (not by Rearguard), stays suspended after it',
      ...(helmReleases ? { [`helmrelease ${ns}/web`]: 'suspended' } : {}),
    });
    assert.deepEqual((await admin.get(paths.ks(ns, 'apps'))).metadata.annotations, {
      team: 'platform',
      'rearguard.io/frozen-by': A,
      'rearguard.io/suspended-before': 'absent',
    });
    assert.equal((await admin.get(paths.ks(ns, 'infra'))).metadata.annotations['rearguard.io/suspended-before'], 'false');
    assert.equal((await admin.get(paths.ks(ns, 'legacy'))).metadata.annotations['rearguard.io/suspended-before'], 'true');
    for (const t of targets) assert.equal(await suspend(t), true, t);
    assert.deepEqual(new Set(Object.values(actions(await apply(A, g)))), new Set(['already suspended by this freeze']));

    const b = await apply(B, g);
    assert.equal(actions(b)[`kustomization ${ns}/apps`], `already suspended by ${A}; this freeze holds it too`);
    const r1 = await restore(A, g);
    assert.equal(actions(r1)[`kustomization ${ns}/apps`], `still suspended: held by ${B}`);
    for (const t of targets) assert.equal(await suspend(t), true, `${t} still suspended: B holds it`);

    const r2 = await restore(B, g);
    assert.deepEqual(actions(r2), {
      [`kustomization ${ns}/apps`]: 'resumed (suspend removed, absent before)',
      [`kustomization ${ns}/infra`]: 'resumed (suspend: false, as before)',
      [`kustomization ${ns}/legacy`]: 'left suspended: it was suspended before the freeze',
      ...(helmReleases ? { [`helmrelease ${ns}/web`]: 'resumed (suspend removed, absent before)' } : {}),
    });
    assert.deepEqual(await Promise.all(targets.map(snapshot)), before, 'exactly as before: no leftover annotations or keys');
    assert.equal(await suspend(paths.ks(ns, 'legacy')), true, 'the human suspension outlives the freeze');
    assert.equal((await admin.get(paths.ks(ns, 'infra'))).metadata.annotations, undefined, 'no empty annotations map left behind');

    const versions = await Promise.all(targets.map(version));
    assert.deepEqual(new Set(Object.values(actions(await restore(B, g)))), new Set(['not held by this freeze (nothing to restore)']));
    assert.deepEqual(await Promise.all(targets.map(version)), versions, 'a second restore writes nothing');
  });

  it('re-reads and decides again when the object changes between read and patch', async () => {
    const ns = 'gr-flux-race';
    await namespace(ns);
    await bed.kubectl(
      ['create', '-f', '-'],
      `apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: { name: apps, namespace: ${ns} }\nspec: { interval: 10m, prune: true, sourceRef: { kind: GitRepository, name: config } }\n`,
    );
    // A teammate annotates the object right after our read, once: the resourceVersion test fails, we re-read.
    const worker = clusters.client('testbed');
    const realGet = worker.get.bind(worker);
    let raced = false;
    worker.get = async (path: string) => {
      const obj = await realGet(path);
      if (!raced && path === paths.ks(ns, 'apps')) {
        raced = true;
        await bed.kubectl(['annotate', '-n', ns, 'kustomization/apps', 'note=hands off']);
      }
      return obj;
    };
    try {
      const g: Guardrails = { flux: { cluster: 'testbed', kustomizations: [`${ns}/apps`], helmReleases: [] } };
      await apply(A, g);
      const k = await admin.get(paths.ks(ns, 'apps'));
      assert.equal(raced, true);
      assert.equal(k.spec.suspend, true);
      assert.deepEqual(k.metadata.annotations, { note: 'hands off', 'rearguard.io/frozen-by': A, 'rearguard.io/suspended-before': 'absent' });
      await restore(A, g);
      assert.deepEqual((await admin.get(paths.ks(ns, 'apps'))).metadata.annotations, { note: 'hands off' });
    } finally {
      worker.get = realGet;
    }
  });
});
