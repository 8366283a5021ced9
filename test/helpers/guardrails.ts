// Shared setup of the freeze guardrail tests (test/integration/guardrails-*.test.ts): the testbed's
// kube-apiserver with the Argo CD and Flux CRDs (no controllers: what we check is what they would read),
// namespaces where the rearguard-worker user has the shipped role (deploy/rbac/rearguard-worker.yaml) and
// nothing more, and flag files in a scratch directory.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { applyGuardrails, restoreGuardrails } from '../../activities/guardrails/index.js';
import { KubeClient, type KubeObject } from '../../activities/kubernetes/client.js';
import { Clusters } from '../../activities/targets.js';
import type { Guardrails } from '../../runbook/freeze.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';
import { ROOT } from './tools.js';

// Live bindings: set by the hooks `useGuardrailsTestbed` registers, read by the tests.
export let bed: Testbed;
export let admin: KubeClient;
export let clusters: Clusters;
export let work: string;
export let helmReleases = false;

export const A = 'freeze:black-friday';
export const B = 'freeze:weekends';

/**
 * Registers the file's hooks. `cluster: false` (flag files only) starts no testbed: the flags guardrail reads
 * and writes files and never asks a cluster. `helmReleaseCrd` also installs Flux's HelmRelease CRD when it
 * is provisioned (required on CI).
 */
export function useGuardrailsTestbed(o: { cluster?: boolean; helmReleaseCrd?: boolean } = {}): void {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'rearguard-guardrails-'));
    if (o.cluster === false) {
      clusters = new Clusters({});
      return;
    }
    bed = await startTestbed();
    await bed.installGitopsCrds();
    if (o.helmReleaseCrd) {
      const helmCrd = `${process.env.REARGUARD_CRDS_DIR ?? `${ROOT}.tools/crds`}/flux-helmrelease.yaml`;
      if (existsSync(helmCrd)) {
        await bed.kubectl(['apply', '--server-side', '-f', helmCrd]);
        await bed.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/helmreleases.helm.toolkit.fluxcd.io']);
        helmReleases = true;
      } else if (process.env.CI) {
        throw new Error(`${helmCrd} missing: run \`bash scripts/provision-gitops.sh crds\``);
      }
    }
    const manifest = await readFile(`${ROOT}deploy/rbac/rearguard-worker.yaml`, 'utf8');
    await bed.kubectl(['apply', '-f', '-'], manifest.split('\n---\n')[0]);
    admin = KubeClient.fromConfig('testbed', { kubeconfig: bed.kubeconfig });
    clusters = new Clusters({ testbed: { kubeconfig: await bed.kubeconfigFor('rearguard-worker') } });
  });
  after(async () => {
    await bed?.stop();
  });
}

/** A namespace where the worker has the shipped role, and nothing more. */
export async function namespace(ns: string): Promise<void> {
  await bed.kubectl(['create', 'namespace', ns]);
  await bed.kubectl(['create', 'rolebinding', 'rearguard-worker', '-n', ns, '--clusterrole=rearguard-worker', '--user=rearguard-worker']);
}

export const apply = (freezeId: string, guardrails: Guardrails) => applyGuardrails({ clusters }, { freezeId, reason: 'Peak business event', guardrails });
export const restore = (freezeId: string, guardrails: Guardrails) => restoreGuardrails({ clusters }, { freezeId, guardrails });

export const paths = {
  project: (ns: string, n: string) => `/apis/argoproj.io/v1alpha1/namespaces/${ns}/appprojects/${n}`,
  app: (ns: string, n: string) => `/apis/argoproj.io/v1alpha1/namespaces/${ns}/applications/${n}`,
  ks: (ns: string, n: string) => `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${ns}/kustomizations/${n}`,
  hr: (ns: string, n: string) => `/apis/helm.toolkit.fluxcd.io/v2/namespaces/${ns}/helmreleases/${n}`,
};

/** The object as a human would compare it: everything but the server's bookkeeping. */
export async function snapshot(path: string): Promise<KubeObject> {
  const o = await admin.get(path);
  const metadata = { ...(o.metadata as KubeObject) };
  for (const k of ['resourceVersion', 'generation', 'managedFields']) delete metadata[k];
  return { metadata, spec: o.spec };
}
export const version = async (path: string): Promise<string> => (await admin.get(path)).metadata.resourceVersion as string;
export const actions = (r: { changes: { target: string; action: string }[] }) => Object.fromEntries(r.changes.map((c) => [c.target, c.action]));

export const FLAGS = {
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
export const FLAGS_TEXT = `${JSON.stringify(FLAGS, null, 2)}\n`;

export async function flagFile(name: string, text = FLAGS_TEXT): Promise<string> {
  const file = join(work, name, 'flags.json');
  await mkdir(join(work, name), { recursive: true });
  await writeFile(file, text, { mode: 0o640 });
  return file;
}
