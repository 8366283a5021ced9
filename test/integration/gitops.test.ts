// The `gitops` step with real git (a bare remote in a temp dir) and the Argo CD and Flux CRDs on the testbed. Flux is
// the real source-controller and kustomize-controller (test/helpers/flux.ts), Argo CD the real application controller
// and repo server (test/helpers/argocd.ts); both read the repository over smart HTTP (test/helpers/git-http.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Git } from '../../activities/git.js';
import { Gitops, fluxRequest, reconcileFlux, syncArgo, type GitopsPlan } from '../../activities/gitops.js';
import { KubeClient, type KubeObject } from '../../activities/kubernetes/client.js';
import type { RunResult } from '../../activities/process.js';
import type { RepoConfig } from '../../activities/targets.js';
import { startArgoCd, type ArgoCd } from '../helpers/argocd.js';
import { deploymentYaml, namespaceYaml } from '../helpers/fixtures.js';
import { startFlux } from '../helpers/flux.js';
import { startGitHttpServer } from '../helpers/git-http.js';
import { waitFor } from '../helpers/wait.js';
import { createRepo, type TestRepo } from '../helpers/git-repos.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

let bed: Testbed;
let argo: ArgoCd | undefined;
let kube: KubeClient;
let work: string;
const stops: (() => void)[] = [];

before(async () => {
  bed = await startTestbed();
  argo = await startArgoCd(bed);
  await bed.kubectl(['create', 'namespace', 'payments']);
  kube = KubeClient.fromConfig('testbed', { kubeconfig: bed.kubeconfig });
  work = await mkdtemp(join(tmpdir(), 'rearguard-gitops-'));
});
after(async () => {
  stops.forEach((s) => s());
  await argo?.stop();
  await bed?.stop();
});

const repoConfig = (repo: TestRepo): RepoConfig => ({
  url: repo.url,
  branch: 'main',
  author: { name: 'Rearguard', email: 'rearguard@localhost' },
  terraformBackendConfig: {},
});
const activity = <T>(fn: () => Promise<T>): Promise<T> => new MockActivityEnvironment({ startToCloseTimeoutMs: 120_000 }).run(fn) as Promise<T>;
const deployment = (image: string) => deploymentYaml({ namespace: 'payments', name: 'api', image });

/** A config repo: v1 good, v2 bad (the one to revert). */
async function configRepo(): Promise<{ repo: TestRepo; good: string; bad: string }> {
  const repo = await createRepo('payments-config');
  const good = await repo.commit({ 'apps/api/deployment.yaml': deployment('api:1.0') }, 'api 1.0');
  const bad = await repo.commit({ 'apps/api/deployment.yaml': deployment('api:2.0-bad') }, 'api 2.0');
  return { repo, good, bad };
}

/** An Application of `path` in `repo` (served over HTTP to Argo CD's repo server), synced only when asked. */
async function application(repo: TestRepo, name: string, path: string): Promise<void> {
  const server = await startGitHttpServer(dirname(repo.remote));
  stops.push(() => void server.close());
  await bed.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: ${name}, namespace: argocd }\nspec:\n  project: default\n  source: { repoURL: "${server.url}/${basename(repo.remote)}", path: ${path}, targetRevision: main }\n  destination: { server: https://kubernetes.default.svc, namespace: payments }\n`,
  );
}

const message = { title: 'Rollback payments in prod: revert', actor: 'dave', reason: 'api 5xx after 2.0', workflowId: 'rollback:prod:payments' };

describe('gitops step', () => {
  it('reverts the bad commit as a new commit, pushes it, and syncs the Argo CD Application to it', async () => {
    const { repo, good, bad } = await configRepo();
    await application(repo, 'payments', 'apps/api');
    const gitops = new Gitops(new Git('git', 'payments-config', repoConfig(repo), {}), work);
    const plan: GitopsPlan = await activity(() => gitops.plan({ commit: 'HEAD' }, 'k-argo'));
    assert.deepEqual(plan.commits, [bad], 'HEAD resolved once, at plan time');
    assert.deepEqual(plan.subjects, ['api 2.0']);
    const made = await activity(() => gitops.commit(plan, 'k-argo', message));
    assert.equal(made.created, true);
    await repo.git('pull', '--quiet', 'origin', 'main');
    assert.equal(await repo.git('rev-parse', 'HEAD'), made.commit);
    assert.equal(await repo.git('rev-parse', 'HEAD^{tree}'), await repo.git('rev-parse', `${good}^{tree}`), 'tree back at the good commit');
    const body = await repo.git('log', '-1', '--format=%B');
    assert.match(body, /Reverts [0-9a-f]{40} "api 2\.0"/);
    assert.match(body, /Reason: api 5xx after 2\.0\nRequested-by: dave\nWorkflow: rollback:prod:payments\nRearguard-Rollback: k-argo/);
    assert.equal(await repo.git('log', '-1', '--format=%an'), 'Rearguard');

    const synced = await activity(() => syncArgo(kube, { application: 'payments' }, made.commit, message.reason, Date.now() + 90_000));
    assert.deepEqual(synced, { application: 'payments', revision: made.commit, sync: 'Synced', health: 'Healthy' });
    const deployed = JSON.parse(await bed.kubectl(['get', 'deployment', 'api', '-n', 'payments', '-o', 'json'])) as KubeObject;
    assert.equal(deployed.spec.template.spec.containers[0].image, 'api:1.0', 'Argo CD applied the revert');
    const app = JSON.parse(await bed.kubectl(['get', 'application.argoproj.io', 'payments', '-n', 'argocd', '-o', 'json'])) as KubeObject;
    assert.deepEqual(app.status.operationState.operation.info, [{ name: 'reason', value: message.reason }], 'the reason travels with the operation');

    const again = await activity(() => gitops.commit(plan, 'k-argo', message));
    assert.deepEqual([again.created, again.commit], [false, made.commit], 'a retry finds its own commit and pushes nothing');
    assert.equal(await repo.git('ls-remote', repo.remote, 'refs/heads/main').then((l) => l.split('\t')[0]), made.commit);
  });

  it('fails clearly when Argo CD reports the sync failed', async () => {
    // A Deployment the API server refuses (no selector): Argo CD's sync of it fails.
    const repo = await createRepo('broken-config');
    const head = await repo.commit(
      {
        'apps/broken/deployment.yaml':
          'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: broken, namespace: payments }\nspec:\n  template:\n    spec:\n      containers: [{ name: x, image: x }]\n',
      },
      'broken',
    );
    await application(repo, 'broken', 'apps/broken');
    await assert.rejects(
      activity(() => syncArgo(kube, { application: 'broken' }, head, 'x', Date.now() + 90_000)),
      (e: unknown) =>
        e instanceof ApplicationFailure && e.type === 'SyncFailed' && /could not sync broken .*one or more objects failed to apply/.test(e.message),
    );
  });

  it('retries on the new head when the push is rejected because the branch moved', async () => {
    const { repo, bad } = await configRepo();
    // A teammate pushes an unrelated change between our clone and our push (once).
    class RacingGit extends Git {
      raced = false;
      override async run(cwd: string | undefined, args: string[], timeoutMs?: number): Promise<RunResult> {
        if (args[0] === 'push' && !this.raced) {
          this.raced = true;
          await repo.git('pull', '--quiet', 'origin', 'main');
          await repo.commit({ 'apps/web/README.md': 'web team notes\n' }, 'web: notes');
        }
        return super.run(cwd, args, timeoutMs);
      }
    }
    const git = new RacingGit('git', 'payments-config', repoConfig(repo), {});
    const gitops = new Gitops(git, work);
    const plan = await activity(() => gitops.plan({ commit: bad }, 'k-race'));
    const made = await activity(() => gitops.commit(plan, 'k-race', message));
    assert.equal(made.pushAttempts, 2);
    await repo.git('pull', '--quiet', 'origin', 'main');
    assert.deepEqual((await repo.git('log', '--format=%s', '-3')).split('\n'), ['Rollback payments in prod: revert', 'web: notes', 'api 2.0']);
    assert.match(await repo.git('show', 'HEAD:apps/api/deployment.yaml'), /api:1\.0/);
  });

  it('names the conflicting files when the revert conflicts with later changes', async () => {
    const { repo, bad } = await configRepo();
    await repo.commit({ 'apps/api/deployment.yaml': deployment('api:2.1-hotfix') }, 'api 2.1 hotfix');
    const gitops = new Gitops(new Git('git', 'payments-config', repoConfig(repo), {}), work);
    const plan = await activity(() => gitops.plan({ commit: bad }, 'k-conflict'));
    await assert.rejects(
      activity(() => gitops.commit(plan, 'k-conflict', message)),
      (e: unknown) =>
        e instanceof ApplicationFailure &&
        e.type === 'RevertConflict' &&
        e.nonRetryable &&
        /conflicts with later changes in apps\/api\/deployment\.yaml/.test(e.message),
    );
  });

  it('passes an HTTPS token to git through its environment, never its arguments, and redacts it from output', async () => {
    const { repo } = await configRepo();
    const token = 'tok-0123456789abcdef';
    const git = new Git('git', 'payments-config', { ...repoConfig(repo), tokenEnv: 'CONFIG_TOKEN' }, { CONFIG_TOKEN: token });
    const r = await git.run(repo.work, ['config', '--get-all', 'http.extraHeader']);
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, '***', 'the header reaches git, and is redacted from what comes back');
    assert.ok(!r.command.includes(token) && !r.command.includes(Buffer.from(`x-access-token:${token}`).toString('base64')));
    assert.throws(
      () => new Git('git', 'payments-config', { ...repoConfig(repo), tokenEnv: 'MISSING_TOKEN' }, {}),
      /environment variable MISSING_TOKEN is not set on the worker/,
    );
  });

  it('restores the tree of a known-good ref; the real Flux reconciles it with its source at Rearguard’s request, Ready at the new revision', async () => {
    const flux = await startFlux(bed);
    try {
      const repo = await createRepo('shop-config');
      const api = (image: string) => deploymentYaml({ namespace: 'shop', name: 'api', image });
      const good = await repo.commit({ 'apps/namespace.yaml': namespaceYaml('shop'), 'apps/api.yaml': api('api:1.0') }, 'api 1.0');
      await repo.commit(
        { 'apps/api.yaml': api('api:2.0-bad'), 'apps/extra.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: extra, namespace: shop }\n' },
        'api 2.0 and extra config',
      );
      const server = await startGitHttpServer(dirname(repo.remote));
      stops.push(() => void server.close());
      // Hour-long intervals: after its first apply, Flux acts only when asked.
      await bed.kubectl(
        ['apply', '-f', '-'],
        `apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: { name: shop-config, namespace: flux-system }\nspec: { interval: 1h, url: "${server.url}/${basename(repo.remote)}", ref: { branch: main } }\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: { name: apps, namespace: flux-system }\nspec: { interval: 1h, path: ./apps, prune: true, sourceRef: { kind: GitRepository, name: shop-config } }\n`,
      );
      const image = async () =>
        (JSON.parse(await bed.kubectl(['get', 'deployment', 'api', '-n', 'shop', '-o', 'json'])) as KubeObject).spec.template.spec.containers[0]
          .image as string;
      await waitFor(async () => (await image()) === 'api:2.0-bad', 'Flux applies the bad head', {
        timeout: 90_000,
        ignoreErrors: true,
        detail: () => flux.logs().slice(-3000),
      });

      const gitops = new Gitops(new Git('git', 'shop-config', repoConfig(repo), {}), work);
      const plan = await activity(() => gitops.plan({ toRef: good }, 'k-flux'));
      assert.equal(plan.mode, 'restore');
      const made = await activity(() => gitops.commit(plan, 'k-flux', message));
      await repo.git('pull', '--quiet', 'origin', 'main');
      assert.equal(await repo.git('rev-parse', 'HEAD^{tree}'), await repo.git('rev-parse', `${good}^{tree}`), 'extra.yaml removed, deployment restored');
      const result = await activity(() =>
        reconcileFlux(kube, { kind: 'Kustomization', namespace: 'flux-system', name: 'apps' }, made.commit, Date.now() + 60_000, 'k-flux'),
      );
      assert.deepEqual(result, { Kustomization: 'flux-system/apps', revision: `main@sha1:${made.commit}`, ready: true });
      assert.equal(await image(), 'api:1.0');
      await assert.rejects(bed.kubectl(['get', 'configmap', 'extra', '-n', 'shop']), /not found/, 'pruned by Flux');
      const source = JSON.parse(await bed.kubectl(['get', 'gitrepository', 'shop-config', '-n', 'flux-system', '-o', 'json'])) as KubeObject;
      assert.equal(source.status.lastHandledReconcileAt, fluxRequest(made.commit, 'k-flux'), 'the source was asked to reconcile too (--with-source)');
      // Another run's request at the same revision is a new value: Flux is asked again (a retried rollback).
      assert.notEqual(fluxRequest(made.commit, 'k-flux-2'), fluxRequest(made.commit, 'k-flux'));
      assert.equal(source.status.artifact.revision, `main@sha1:${made.commit}`);
    } finally {
      await flux.stop();
    }
  });

  it('a suspended Kustomization fails the reconcile at once, naming the freeze that suspended it', async () => {
    await bed.kubectl(['create', 'namespace', 'flux-system']).catch(() => undefined);
    await bed.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: { name: held, namespace: flux-system, annotations: { rearguard.io/frozen-by: "freeze:peak" } }\nspec: { interval: 1h, suspend: true, path: ./apps, prune: true, sourceRef: { kind: GitRepository, name: shop-config } }\n`,
    );
    const started = Date.now();
    await assert.rejects(
      activity(() => reconcileFlux(kube, { kind: 'Kustomization', namespace: 'flux-system', name: 'held' }, 'a'.repeat(40), Date.now() + 60_000, 'k-held')),
      (e: unknown) =>
        e instanceof ApplicationFailure &&
        e.type === 'SyncBlocked' &&
        /Flux Kustomization flux-system\/held is suspended \(by freeze freeze:peak\): .* aaaaaaaaaaaa is pushed but not applied/.test(e.message),
    );
    assert.ok(Date.now() - started < 10_000, 'at once, not at the deadline');
    const k = JSON.parse(await bed.kubectl(['get', 'kustomization', 'held', '-n', 'flux-system', '-o', 'json'])) as KubeObject;
    assert.equal(k.metadata.annotations['reconcile.fluxcd.io/requestedAt'], undefined, 'nothing requested of a suspended object');

    // Suspended by a person before the freeze (the guardrail keeps that): resuming is a person's job, not the lift's.
    await bed.kubectl(['annotate', 'kustomization', 'held', '-n', 'flux-system', 'rearguard.io/suspended-before=true']);
    await assert.rejects(
      activity(() => reconcileFlux(kube, { kind: 'Kustomization', namespace: 'flux-system', name: 'held' }, 'a'.repeat(40), Date.now() + 60_000, 'k-held')),
      (e: unknown) =>
        e instanceof ApplicationFailure && /is suspended \(by a person, and held by freeze freeze:peak\): .* resumed \(flux resume, by hand\)$/.test(e.message),
    );
  });
});
