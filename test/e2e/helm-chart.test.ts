// The Helm chart (deploy/helm/rearguard), checked by helm itself and installed on the testbed: `helm lint --strict`,
// `helm template` (what each Deployment runs with: replicas, PodDisruptionBudget, probes, the termination grace that
// matches the worker's shutdown grace, a read-only root filesystem as non-root, secrets only by reference), `helm
// install`, and the worker's ServiceAccount asked with `kubectl auth can-i` for everything it needs in the namespaces
// it is bound in, and for what it must not do (other verbs, other resources, other namespaces).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../activities/kubernetes/client.js';
import { ROOT } from '../helpers/tools.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

const run = promisify(execFile);
const CHART = `${ROOT}deploy/helm/rearguard`;
const helmBin = `${ROOT}.tools/bin/helm`;
let bed: Testbed;

before(async () => {
  bed = await startTestbed();
});
after(async () => {
  await bed?.stop();
});

const helm = (args: string[]) =>
  run(helmBin, args, {
    env: { ...process.env, KUBECONFIG: bed.kubeconfig, HELM_CACHE_HOME: `${bed.dir}/helm-cache`, HELM_CONFIG_HOME: `${bed.dir}/helm-config` },
  });
const render = async (set: string[]): Promise<KubeObject[]> =>
  parseAllDocuments((await helm(['template', 'r', CHART, ...set.flatMap((s) => ['--set', s])])).stdout)
    .map((d) => d.toJSON() as KubeObject)
    .filter(Boolean);
const find = (docs: KubeObject[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;
const envOf = (c: KubeObject) =>
  Object.fromEntries((c.env as { name: string; value?: string; valueFrom?: unknown }[]).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('Helm chart', () => {
  it('passes helm lint --strict; refuses to render without a catalog', async () => {
    const lint = await helm(['lint', CHART, '--strict', '--set', 'worker.catalog.configMap=rearguard-catalog']);
    assert.match(lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    await assert.rejects(helm(['template', 'r', CHART]), (err: Error & { stderr?: string }) =>
      /worker\.catalog: set worker\.catalog\.configMap/.test(err.stderr ?? ''),
    );
  });

  it('renders the worker and serve as production needs them', async () => {
    const docs = await render([
      'worker.catalog.configMap=catalog',
      'worker.shutdownGraceSeconds=40',
      'rbac.namespaces={payments}',
      'worker.secretEnv[0].name=ONCALL_SLACK_WEBHOOK',
      'worker.secretEnv[0].secret=runbook-secrets',
      'worker.secretEnv[0].key=slack',
      'temporal.apiKey.secret=temporal-key',
      'serve.apiTokenSecret=alert-token',
    ]);
    const worker = find(docs, 'Deployment', 'r-worker');
    const pod = worker.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(worker.spec.replicas, 2);
    assert.equal(pod.terminationGracePeriodSeconds, 55, 'the shutdown grace (40 s) plus 15 s');
    const env = envOf(c);
    assert.equal(env.REARGUARD_SHUTDOWN_GRACE, '40s');
    assert.equal(env.REARGUARD_CATALOG, '/etc/rearguard/catalog');
    assert.deepEqual(env.ONCALL_SLACK_WEBHOOK, { secretKeyRef: { name: 'runbook-secrets', key: 'slack' } });
    assert.deepEqual(env.TEMPORAL_API_KEY, { secretKeyRef: { name: 'temporal-key', key: 'api-key' } });
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/healthz');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    // A read-only root: everything written goes to volumes.
    assert.deepEqual(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath).sort(), ['/etc/rearguard/catalog', '/tmp', '/var/lib/rearguard']);
    assert.equal(env.HOME, '/tmp');
    const pdb = find(docs, 'PodDisruptionBudget', 'r-worker');
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, worker.spec.selector.matchLabels);

    const serve = find(docs, 'Deployment', 'r-serve');
    const sc = serve.spec.template.spec.containers[0];
    assert.equal(sc.readinessProbe.httpGet.path, '/readyz', 'ready while Temporal answers');
    assert.equal(serve.spec.template.spec.automountServiceAccountToken, false);
    assert.deepEqual(envOf(sc).REARGUARD_API_TOKEN, { secretKeyRef: { name: 'alert-token', key: 'token' } });
    assert.equal(find(docs, 'Service', 'r-serve').spec.ports[0].port, 8080);

    // No value of the chart is a secret: every secret comes from a Secret by reference.
    const values = await readFile(`${CHART}/values.yaml`, 'utf8');
    assert.doesNotMatch(values, /(token|password|apiKey|key):\s*['"]?[A-Za-z0-9+/]{16,}/i);
    assert.ok(!docs.some((d) => d.kind === 'Secret'), 'the chart creates no Secret');

    // The ClusterRole is the documented one (deploy/rbac/rearguard-worker.yaml), bound only where asked.
    const documented = parseAllDocuments(await readFile(`${ROOT}deploy/rbac/rearguard-worker.yaml`, 'utf8'))[0].toJSON() as KubeObject;
    assert.deepEqual(find(docs, 'ClusterRole', 'r-rearguard-worker').rules, documented.rules);
    assert.deepEqual(
      docs.filter((d) => d.kind === 'RoleBinding').map((d) => d.metadata.namespace),
      ['payments'],
    );
  });

  it('installs on the testbed; the ServiceAccount may do what the worker does where it is bound, and nothing else', async () => {
    // The Argo CD and Flux resources the worker patches exist (kubectl auth can-i knows only resources the server has).
    await bed.installGitopsCrds();
    for (const crd of ['flux-helmrelease.yaml', 'flux-helmchart.yaml']) await bed.kubectl(['apply', '--server-side', '-f', `${ROOT}.tools/crds/${crd}`]);
    await bed.kubectl(['wait', '--for', 'condition=established', '--timeout=60s', 'crd', '--all']);
    await bed.kubectl(['create', 'namespace', 'payments']);
    await bed.kubectl(['create', 'namespace', 'shop']);
    await helm([
      'install',
      'r',
      CHART,
      '-n',
      'rearguard',
      '--create-namespace',
      '--set',
      'worker.catalog.configMap=catalog',
      '--set',
      'rbac.namespaces={payments}',
    ]);
    assert.match((await helm(['status', 'r', '-n', 'rearguard'])).stdout, /STATUS: deployed/);
    assert.match(await bed.kubectl(['get', 'deployment', 'r-worker', '-n', 'rearguard', '-o', 'jsonpath={.spec.replicas}']), /^2$/);

    const sa = 'system:serviceaccount:rearguard:rearguard-worker';
    // kubectl auth can-i prints yes or no, and exits 1 for no.
    const can = async (verb: string, resource: string, ns: string) =>
      (
        await run('kubectl', [
          '--kubeconfig',
          bed.kubeconfig,
          '--cache-dir',
          `${bed.dir}/kubectl-cache`,
          'auth',
          'can-i',
          verb,
          resource,
          '-n',
          ns,
          `--as=${sa}`,
        ]).catch((err: Error & { stdout?: string }) => ({ stdout: err.stdout ?? err.message }))
      ).stdout.trim();
    const documented = parseAllDocuments(await readFile(`${ROOT}deploy/rbac/rearguard-worker.yaml`, 'utf8'))[0].toJSON() as KubeObject;
    const needed = (documented.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[]).flatMap((r) =>
      r.resources.flatMap((res) => r.verbs.map((v) => [v, r.apiGroups[0] ? `${res}.${r.apiGroups[0]}` : res] as const)),
    );
    for (const [verb, resource] of needed) {
      assert.equal(await can(verb, resource, 'payments'), 'yes', `${verb} ${resource} in payments`);
      assert.equal(await can(verb, resource, 'shop'), 'no', `${verb} ${resource} in shop (not bound there)`);
    }
    for (const [verb, resource] of [
      ['delete', 'deployments.apps'],
      ['create', 'deployments.apps'],
      ['update', 'services'],
      ['get', 'secrets'],
      ['list', 'pods'],
      ['create', 'pods/exec'],
      ['delete', 'applications.argoproj.io'],
    ] as const)
      assert.equal(await can(verb, resource, 'payments'), 'no', `${verb} ${resource} must not be allowed`);

    await helm(['uninstall', 'r', '-n', 'rearguard']);
    await assert.rejects(bed.kubectl(['get', 'deployment', 'r-worker', '-n', 'rearguard']));
  });
});
