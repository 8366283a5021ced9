// One runbook with every mechanism (blueGreen, kubernetes, helm, gitops with Argo CD, terraform), run
// from the CLI through the dev server and a worker: it ends succeeded with every system back at its
// previous version.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { KubeClient } from '../../activities/kubernetes/client.js';
import { run } from '../../activities/process.js';
import type { RollbackStatus } from '../../runbook/types.js';
import { fakeArgo } from '../helpers/controllers.js';
import { createRepo } from '../helpers/git-repos.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { ROOT, toolPath } from '../helpers/tools.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';
import { blueGreenWorkloads } from '../helpers/workloads.js';

let env: TestWorkflowEnvironment;
let bed: Testbed;
let dir: string;
let worker: WorkerProcess | undefined;
let stopArgo: (() => void) | undefined;

before(async () => {
  [env, bed, dir] = await Promise.all([createDevServerEnv(), startTestbed(), mkdtemp(join(tmpdir(), 'rearguard-composite-'))]);
  await bed.installGitopsCrds();
});
after(async () => {
  stopArgo?.();
  await worker?.stop('SIGKILL');
  await Promise.all([env?.teardown(), bed?.stop()]);
});

const k8s = `${blueGreenWorkloads('store', { webReplicas: 1, apiReplicas: 2 })}---\napiVersion: v1\nkind: Namespace\nmetadata: { name: argocd }\n`;
const tfConfig = (v: string) =>
  `terraform {\n  backend "local" {}\n}\nresource "terraform_data" "store" {\n  input = "${v}"\n}\noutput "version" {\n  value = terraform_data.store.output\n}\n`;

describe('composite rollback', () => {
  it('rolls back blueGreen, kubernetes, helm, gitops and terraform in one run, every system back at its previous version', async () => {
    const kubectl = bed.kubectl;
    const helm = async (...args: string[]) => {
      const r = await run(toolPath('helm'), [...args, '--namespace', 'store', '--kubeconfig', bed.kubeconfig]);
      if (r.exitCode !== 0) throw new Error(r.stderr);
      return r.stdout;
    };
    // The bad release, everywhere at once.
    await kubectl(['apply', '-f', '-'], k8s);
    for (const d of ['web-blue', 'web-green', 'api']) await kubectl(['rollout', 'status', '-n', 'store', `deployment/${d}`, '--timeout=60s']);
    await kubectl(['set', 'image', '-n', 'store', 'deployment/api', 'api=api:2.0-bad']);
    await helm('install', 'cart', `${ROOT}test/fixtures/charts/web`, '--wait', '--timeout', '60s');
    await helm('upgrade', 'cart', `${ROOT}test/fixtures/charts/web`, '--set', 'tag=2.0-bad', '--wait', '--timeout', '60s');
    const config = await createRepo('store-config');
    const good = await config.commit({ 'store/values.yaml': 'image: store:1.0\n' }, 'store 1.0');
    await config.commit({ 'store/values.yaml': 'image: store:2.0-bad\n' }, 'store 2.0');
    await kubectl(
      ['apply', '-f', '-'],
      `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: store, namespace: argocd }\nspec:\n  project: default\n  source: { repoURL: "${config.url}", path: store, targetRevision: main }\n  destination: { server: https://kubernetes.default.svc, namespace: store }\n`,
    );
    stopArgo = fakeArgo(KubeClient.fromConfig('testbed', { kubeconfig: bed.kubeconfig }), 'argocd', 'store');
    const infra = await createRepo('store-infra');
    await infra.commit({ 'tf/main.tf': tfConfig('v1') }, 'infra v1', 'v1');
    await infra.commit({ 'tf/main.tf': tfConfig('v2') }, 'infra v2', 'v2');
    const state = join(dir, 'store.tfstate');
    const tf = async (cwd: string, ...args: string[]) => {
      const r = await run(toolPath('terraform'), [`-chdir=${cwd}`, ...args]);
      if (r.exitCode !== 0) throw new Error(r.stderr);
      return r.stdout;
    };
    await run('git', ['clone', '--quiet', infra.url, join(dir, 'deploy')]);
    await tf(join(dir, 'deploy/tf'), 'init', '-no-color', `-backend-config=path=${state}`);
    await tf(join(dir, 'deploy/tf'), 'apply', '-no-color', '-auto-approve');

    const targets = join(dir, 'targets.yaml');
    await writeFile(
      targets,
      `clusters:\n  testbed: { kubeconfig: ${bed.kubeconfig} }\nrepos:\n  store-config: { url: "${config.url}", branch: main }\n  store-infra: { url: "${infra.url}", branch: main, terraformBackendConfig: { path: "${state}" } }\n`,
    );
    const e = rearguardEnv(env, dir, 'composite');
    worker = await startWorker({
      ...e,
      REARGUARD_TARGETS: targets,
      REARGUARD_METRICS_PORT: '0',
      REARGUARD_HELM_BIN: toolPath('helm'),
      REARGUARD_TERRAFORM_BIN: toolPath('terraform'),
      REARGUARD_WORKDIR: join(dir, 'work'),
    });
    const runbook = join(dir, 'store.yaml');
    await writeFile(
      runbook,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: store-prod }
spec:
  service: store
  environment: prod
  cluster: testbed
  sla: 10m
  approval: { required: true, approvers: [alice, bob], quorum: 1, timeout: 10m }
  steps:
    - { name: traffic, type: blueGreen, namespace: store, service: web, selector: { track: blue } }
    - { name: api, type: kubernetes, namespace: store, deployment: api }
    - { name: cart, type: helm, namespace: store, release: cart }
    - { name: config, type: gitops, repo: store-config, revert: { commit: HEAD }, argocd: { application: store } }
    - { name: infra, type: terraform, repo: store-infra, workingDir: tf, toRef: v1 }
  verify:
    - { type: kubernetesAvailable, namespace: store, deployment: api }
`,
    );
    assert.equal((await rearguard(['runbook', 'validate', runbook], e)).code, 0);
    const plan = await rearguard(['rollback', 'plan', '--runbook', runbook], e);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /cart \[helm\] helm release store\/cart: revision 2 \(web-1\.0\.0\) -> revision 1 \(web-1\.0\.0\)/);
    assert.match(plan.stdout, /infra \[terraform\] terraform store-infra\/tf at v1 .*0 to add, 1 to change, 0 to destroy/);

    const started = rearguard(['rollback', 'start', '--runbook', runbook, '--reason', 'store 2.0 is failing checkout', '--as', 'dave', '--wait'], e);
    let approved;
    for (let i = 0; i < 100; i++) {
      approved = await rearguard(['rollback', 'approve', '--env', 'prod', '--service', 'store', '--as', 'alice', '--reason', 'go'], e);
      if (approved.code === 0) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(approved?.code, 0, approved?.stderr);
    const done = await started;
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);

    // Every system is back at its previous version.
    assert.equal(await kubectl(['get', 'service', 'web', '-n', 'store', '-o', 'jsonpath={.spec.selector.track}']), 'blue');
    assert.equal(await kubectl(['get', 'deployment', 'api', '-n', 'store', '-o', 'jsonpath={.spec.template.spec.containers[0].image}']), 'api:1.0');
    assert.match(await helm('get', 'manifest', 'cart'), /image: "registry\.local\/web:1\.0"/);
    assert.equal(JSON.parse(await helm('status', 'cart', '-o', 'json')).info.status, 'deployed');
    const head = (await run('git', ['ls-remote', config.remote, 'refs/heads/main'])).stdout.split('\t')[0];
    assert.equal(
      (await run('git', ['-C', config.remote, 'rev-parse', `${head}^{tree}`])).stdout,
      (await run('git', ['-C', config.remote, 'rev-parse', `${good}^{tree}`])).stdout,
    );
    assert.equal(await kubectl(['get', 'application', 'store', '-n', 'argocd', '-o', 'jsonpath={.status.sync.revision}']), head);
    assert.match(await tf(join(dir, 'deploy/tf'), 'output', '-no-color', '-raw', 'version'), /^v1$/);

    const status = JSON.parse((await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'store', '--json'], e)).stdout) as RollbackStatus;
    assert.equal(status.outcome, 'succeeded');
    assert.deepEqual(
      status.steps.map((s) => s.state),
      ['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded'],
    );
    const r = (i: number) => status.steps[i].result ?? {};
    assert.deepEqual([r(1).fromRevision, r(1).toRevision], [2, 1]);
    assert.deepEqual([r(2).fromRevision, r(2).toRevision, r(2).newRevision], [2, 1, 3]);
    assert.equal(r(3).commit, head);
    assert.equal((r(4) as { outputs?: Record<string, string> }).outputs?.version, '"v1"');
  });
});
