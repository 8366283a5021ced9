// Freeze guardrails against the real thing: the Argo CD and Flux CRDs on the testbed's kube-apiserver
// (no controllers: what we check is what they would read), driven as the rearguard-worker user bound
// to the shipped role (deploy/rbac/rearguard-worker.yaml), and flag files evaluated by flagd's own
// evaluation library (@openfeature/flagd-core, strict schema validation).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlagdCore, MemoryStorage } from '@openfeature/flagd-core';
import { ApplicationFailure } from '@temporalio/common';
import { applyGuardrails, restoreGuardrails } from '../../activities/guardrails/index.js';
import { KubeClient, type KubeObject } from '../../activities/kubernetes/client.js';
import { Clusters } from '../../activities/targets.js';
import type { Guardrails } from '../../runbook/freeze.js';
import { ROOT } from '../helpers/tools.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let bed: Testbed;
let admin: KubeClient;
let clusters: Clusters;
let work: string;
let helmReleases = false;

const A = 'freeze:black-friday';
const B = 'freeze:weekends';

before(async () => {
  bed = await startTestbed();
  await bed.installGitopsCrds();
  const helmCrd = `${process.env.REARGUARD_CRDS_DIR ?? `${ROOT}.tools/crds`}/flux-helmrelease.yaml`;
  if (existsSync(helmCrd)) {
    await bed.kubectl(['apply', '--server-side', '-f', helmCrd]);
    await bed.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/helmreleases.helm.toolkit.fluxcd.io']);
    helmReleases = true;
  } else if (process.env.CI) {
    throw new Error(`${helmCrd} missing: run \`bash scripts/provision-gitops.sh crds\``);
  }
  const manifest = await readFile(`${ROOT}deploy/rbac/rearguard-worker.yaml`, 'utf8');
  await bed.kubectl(['apply', '-f', '-'], manifest.split('\n---\n')[0]);
  admin = KubeClient.fromConfig('testbed', { kubeconfig: bed.kubeconfig });
  clusters = new Clusters({ testbed: { kubeconfig: await bed.kubeconfigFor('rearguard-worker') } });
  work = await mkdtemp(join(tmpdir(), 'rearguard-guardrails-'));
});
after(async () => {
  await bed?.stop();
});

/** A namespace where the worker has the shipped role, and nothing more. */
async function namespace(ns: string): Promise<void> {
  await bed.kubectl(['create', 'namespace', ns]);
  await bed.kubectl(['create', 'rolebinding', 'rearguard-worker', '-n', ns, '--clusterrole=rearguard-worker', '--user=rearguard-worker']);
}

const apply = (freezeId: string, guardrails: Guardrails) => applyGuardrails({ clusters }, { freezeId, reason: 'Peak business event', guardrails });
const restore = (freezeId: string, guardrails: Guardrails) => restoreGuardrails({ clusters }, { freezeId, guardrails });

const paths = {
  project: (ns: string, n: string) => `/apis/argoproj.io/v1alpha1/namespaces/${ns}/appprojects/${n}`,
  app: (ns: string, n: string) => `/apis/argoproj.io/v1alpha1/namespaces/${ns}/applications/${n}`,
  ks: (ns: string, n: string) => `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${ns}/kustomizations/${n}`,
  hr: (ns: string, n: string) => `/apis/helm.toolkit.fluxcd.io/v2/namespaces/${ns}/helmreleases/${n}`,
};

/** The object as a human would compare it: everything but the server's bookkeeping. */
async function snapshot(path: string): Promise<KubeObject> {
  const o = await admin.get(path);
  const metadata = { ...(o.metadata as KubeObject) };
  for (const k of ['resourceVersion', 'generation', 'managedFields']) delete metadata[k];
  return { metadata, spec: o.spec };
}
const version = async (path: string): Promise<string> => (await admin.get(path)).metadata.resourceVersion as string;
const actions = (r: { changes: { target: string; action: string }[] }) => Object.fromEntries(r.changes.map((c) => [c.target, c.action]));

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

const FLAGS = {
  $schema: 'https://flagd.dev/schema/v0/flags.json',
  metadata: { flagSetId: 'shop' },
  flags: {
    'new-checkout': {
      state: 'ENABLED',
      variants: { on: 'v2', off: 'v1' },
      defaultVariant: 'on',
      targeting: { if: [{ ends_with: [{ var: 'email' }, '@example.com'] }, 'on', 'off'] },
      metadata: { tags: 'feature,checkout', owner: 'payments' },
    },
    'fix-rounding': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { if: [{ ends_with: [{ var: 'email' }, '@example.com'] }, 'on', null] },
      metadata: { tags: 'bugfix' },
    },
    'dark-mode': {
      variants: { enabled: true, disabled: false },
      defaultVariant: 'disabled',
      state: 'ENABLED',
      targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'enabled'] },
      metadata: { tags: 'ui, feature' },
    },
    'hero-banner': {
      state: 'ENABLED',
      variants: { spring: 'flowers', autumn: 'leaves' },
      defaultVariant: 'spring',
      metadata: { tags: 'feature' },
    },
    'promo-slot': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'on',
      metadata: { tags: 'featured,marketing' },
    },
  },
};
const FLAGS_TEXT = `${JSON.stringify(FLAGS, null, 2)}\n`;
const ann = { email: 'ann@example.com', plan: 'pro', targetingKey: 'ann' };
const bob = { email: 'bob@elsewhere.org', plan: 'free', targetingKey: 'bob' };

/** Every flag for both users, as an application using flagd would see them (strict schema validation). */
function evaluate(text: string): Record<string, unknown> {
  const warnings: string[] = [];
  const logger = { error: (m: string) => warnings.push(m), warn: (m: string) => warnings.push(m), info: () => {}, debug: () => {} };
  const storage = new MemoryStorage(logger);
  storage.setConfigurations(text, true); // throws on anything the flagd schema refuses (e.g. non-scalar metadata)
  const core = new FlagdCore(storage, logger);
  const out: Record<string, unknown> = {};
  for (const [who, ctx] of Object.entries({ ann, bob })) {
    out[`new-checkout/${who}`] = core.resolveStringEvaluation('new-checkout', 'fallback', ctx).value;
    out[`fix-rounding/${who}`] = core.resolveBooleanEvaluation('fix-rounding', false, ctx).value;
    out[`dark-mode/${who}`] = core.resolveBooleanEvaluation('dark-mode', false, ctx).value;
    out[`hero-banner/${who}`] = core.resolveStringEvaluation('hero-banner', 'fallback', ctx).value;
    out[`promo-slot/${who}`] = core.resolveBooleanEvaluation('promo-slot', false, ctx).value;
  }
  assert.deepEqual(warnings, []);
  return out;
}

async function flagFile(name: string, text = FLAGS_TEXT): Promise<string> {
  const file = join(work, name, 'flags.json');
  await mkdir(join(work, name), { recursive: true });
  await writeFile(file, text, { mode: 0o640 });
  return file;
}

describe('flags', () => {
  it('pins tagged flags to off while frozen (real flagd evaluation), leaves bug-fix flags alone, and restores the file byte for byte', async () => {
    const file = await flagFile('pin');
    const g: Guardrails = { flags: { file, freezeTag: 'feature' } };
    const before = evaluate(FLAGS_TEXT);
    assert.deepEqual(before, {
      'new-checkout/ann': 'v2',
      'fix-rounding/ann': true,
      'dark-mode/ann': true,
      'hero-banner/ann': 'flowers',
      'promo-slot/ann': true,
      'new-checkout/bob': 'v1',
      'fix-rounding/bob': false,
      'dark-mode/bob': false,
      'hero-banner/bob': 'flowers',
      'promo-slot/bob': true,
    });

    const a = await apply(A, g);
    assert.deepEqual(actions(a), {
      'flag new-checkout': 'pinned to off (variant off; was default "on", with targeting)',
      'flag dark-mode': 'pinned to off (variant disabled; was default "disabled", with targeting)',
      'flag hero-banner': 'skipped: tagged feature but has no off variant (named "off" or valued false)',
    });
    const during = await readFile(file, 'utf8');
    assert.deepEqual(evaluate(during), {
      ...before,
      'new-checkout/ann': 'v1', // targeting would have sent ann to on
      'dark-mode/ann': false, // and ann (pro) to enabled
    });
    const doc = JSON.parse(during);
    assert.deepEqual(doc.flags['new-checkout'], {
      state: 'ENABLED',
      variants: { on: 'v2', off: 'v1' },
      defaultVariant: 'off',
      metadata: {
        tags: 'feature,checkout',
        owner: 'payments',
        'rearguard.io/frozen-by': A,
        'rearguard.io/saved': JSON.stringify({
          keys: ['state', 'variants', 'defaultVariant', 'targeting', 'metadata'],
          state: 'ENABLED',
          defaultVariant: 'on',
          targeting: FLAGS.flags['new-checkout'].targeting,
        }),
      },
    });
    for (const untouched of ['fix-rounding', 'hero-banner', 'promo-slot'] as const) assert.deepEqual(doc.flags[untouched], FLAGS.flags[untouched], untouched);
    assert.ok(during.endsWith('}\n') && during.includes('\n  "flags": {\n    "new-checkout": {'), '2-space JSON, trailing newline');
    assert.equal((await stat(file)).mode & 0o777, 0o640, 'file mode kept');

    const mtime = (await stat(file)).mtimeMs;
    const again = await apply(A, g);
    assert.equal(actions(again)['flag new-checkout'], 'already pinned to off by this freeze');
    assert.equal(await readFile(file, 'utf8'), during, 'apply twice = same file');
    assert.equal((await stat(file)).mtimeMs, mtime, 'and not even rewritten');

    await apply(B, g);
    assert.equal(JSON.parse(await readFile(file, 'utf8')).flags['dark-mode'].metadata['rearguard.io/frozen-by'], `${A},${B}`);
    const r1 = await restore(A, g);
    assert.deepEqual(actions(r1), { 'flag new-checkout': `still pinned to off: held by ${B}`, 'flag dark-mode': `still pinned to off: held by ${B}` });
    assert.deepEqual(evaluate(await readFile(file, 'utf8')), evaluate(during));
    const r2 = await restore(B, g);
    assert.deepEqual(actions(r2), {
      'flag new-checkout': 'unpinned (default "on", targeting restored)',
      'flag dark-mode': 'unpinned (default "disabled", targeting restored)',
    });
    const after = await readFile(file, 'utf8');
    assert.equal(after, FLAGS_TEXT, 'byte for byte, key order included');
    assert.deepEqual(evaluate(after), before);
    assert.deepEqual((await restore(B, g)).changes, [], 'a second restore is a no-op');
    assert.equal(await readFile(file, 'utf8'), FLAGS_TEXT);
  });

  it('keeps edits made during the freeze, and a retry after a partial apply or a crashed write is safe', async () => {
    const file = await flagFile('edits');
    const g: Guardrails = { flags: { file, freezeTag: 'feature' } };
    // Partial apply: only new-checkout got pinned (dark-mode was not tagged yet when it ran).
    const partial = structuredClone(FLAGS);
    partial.flags['dark-mode'].metadata.tags = 'ui';
    await writeFile(file, `${JSON.stringify(partial, null, 2)}\n`);
    await apply(A, g);
    const edited = JSON.parse(await readFile(file, 'utf8'));
    edited.flags['dark-mode'].metadata.tags = 'ui, feature';
    await writeFile(file, `${JSON.stringify(edited, null, 2)}\n`);
    // The worker died after creating its temp file, before the rename: a stale lock.
    const tmp = join(work, 'edits', '.flags.json.rearguard.tmp');
    await writeFile(tmp, '{"half": ');
    await utimes(tmp, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const retry = await apply(A, g);
    assert.deepEqual(actions(retry), {
      'flag new-checkout': 'already pinned to off by this freeze',
      'flag dark-mode': 'pinned to off (variant disabled; was default "disabled", with targeting)',
      'flag hero-banner': 'skipped: tagged feature but has no off variant (named "off" or valued false)',
    });
    assert.equal(existsSync(tmp), false, 'the stale temp file is gone');

    // During the freeze someone ships a hotfix flag and changes the bug-fix flag; a live writer holds the lock briefly.
    const doc = JSON.parse(await readFile(file, 'utf8'));
    doc.flags['hotfix-42'] = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' };
    doc.flags['fix-rounding'].defaultVariant = 'on';
    doc.flags['new-checkout'].metadata.owner = 'checkout-team';
    await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
    await writeFile(tmp, '');
    setTimeout(() => void unlink(tmp), 300);
    await restore(A, g);

    const expected = structuredClone(FLAGS) as typeof FLAGS & { flags: Record<string, unknown> };
    expected.flags['hotfix-42'] = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' };
    expected.flags['fix-rounding'].defaultVariant = 'on';
    expected.flags['new-checkout'].metadata.owner = 'checkout-team';
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), expected);
    assert.equal(evaluate(await readFile(file, 'utf8'))['new-checkout/ann'], 'v2', 'back on for example.com');
  });

  it('refuses a missing or invalid file with a clear, non-retryable error, changing nothing', async () => {
    const missing = join(work, 'nowhere', 'flags.json');
    await assert.rejects(apply(A, { flags: { file: missing, freezeTag: 'feature' } }), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure);
      assert.deepEqual([e.type, e.nonRetryable], ['ConfigurationError', true]);
      assert.match(e.message, /flag file .*nowhere\/flags\.json does not exist/);
      return true;
    });
    const broken = await flagFile('broken', '{ "flags": { "x": ');
    await assert.rejects(restore(A, { flags: { file: broken, freezeTag: 'feature' } }), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure);
      assert.deepEqual([e.type, e.nonRetryable], ['ConfigurationError', true]);
      assert.match(e.message, /broken\/flags\.json is not valid JSON/);
      return true;
    });
    assert.equal(await readFile(broken, 'utf8'), '{ "flags": { "x": ');
  });
});

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
