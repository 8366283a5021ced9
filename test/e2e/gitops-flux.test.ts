// The gitops step and the freeze guardrails against Flux itself: the real source-controller and kustomize-controller
// (test/helpers/flux.ts) pull the repository over smart HTTP (test/helpers/git-http.ts) from the same bare repository
// the worker pushes to, and apply it to the testbed. Nothing plays the controller: what the Deployment runs is what
// Flux applied.
// - A bad commit deployed by Flux is reverted by a rollback; Flux reconciles the revert at Rearguard's request and the
//   Deployment is back on the previous image; the step's result and audit name the commit and the applied revision.
// - A freeze whose guardrail suspends the Kustomization: a commit pushed meanwhile is fetched by the source but not
//   applied while the freeze holds; lifting it lets Flux apply it; a Kustomization a person had suspended stays so.
// - A worker SIGKILLed once the revert is pushed: the rollback completes with one revert commit and one reconcile.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { RollbackStatus } from '../../runbook/types.js';
import { startFlux, type Flux } from '../helpers/flux.js';
import { appFiles as app, revertRunbook, startGitopsWorld, type GitopsWorld } from '../helpers/gitops-world.js';
import { rearguard } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

let w: GitopsWorld;
let flux: Flux | undefined;

before(async () => {
  w = await startGitopsWorld('flux');
  flux = await startFlux(w.bed);
});
after(async () => {
  await flux?.stop();
  await w?.close();
});

const kustomization = (name: string) => w.get(['kustomization.kustomize.toolkit.fluxcd.io', name, '-n', 'flux-system']);
const applied = async (name: string) => String((await kustomization(name)).status?.lastAppliedRevision ?? '');
const fetched = async (name: string) =>
  String((await w.get(['gitrepository.source.toolkit.fluxcd.io', name, '-n', 'flux-system'])).status?.artifact?.revision ?? '');
const runbook = (service: string, revert: string) => revertRunbook(service, revert, `flux: { kind: Kustomization, namespace: flux-system, name: ${service} }`);

/**
 * A service's config repository at its first commit, served over HTTP to Flux, a GitRepository polling it every 5 s
 * and a Kustomization applying \`./<ns>\` every 5 s: a pushed commit reaches the cluster unasked within seconds (the
 * freeze must stop that).
 */
async function flowing(service: string, ns: string, image: string) {
  const { repo, first, url } = await w.configRepo(service, app(ns, image));
  await w.bed.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: { name: ${service}-config, namespace: flux-system }
spec: { interval: 5s, url: "${url}", ref: { branch: main } }
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: { name: ${service}, namespace: flux-system }
spec: { interval: 5s, path: ./${ns}, prune: true, sourceRef: { kind: GitRepository, name: ${service}-config } }
`,
  );
  await waitFor(async () => (await applied(service)).endsWith(first) && (await w.imageOf(ns)) === image, `Flux applies ${service}'s first commit`, {
    timeout: 90_000,
    detail: () => flux!.logs().slice(-3000),
  });
  return { repo, first };
}

describe('gitops against the real Flux controllers', () => {
  it('a bad commit deployed by Flux is reverted; Flux applies the revert it was asked to reconcile; the image is back', async () => {
    const { repo } = await flowing('orders', 'orders', 'orders:1.0');
    const bad = await repo.commit(app('orders', 'orders:2.0-bad'), 'orders 2.0');
    await waitFor(async () => (await w.imageOf('orders')) === 'orders:2.0-bad', 'Flux deploys the bad commit', 60_000);
    await w.restartWorker();
    const file = join(w.dir, 'orders.yaml');
    await writeFile(file, runbook('orders', bad));
    const start = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'orders 2.0 is failing', '--as', 'dave'], w.e);
    assert.equal(start.code, 0, start.stderr);
    const done = await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'orders', '--wait', '--json'], w.e);
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}\n${flux!.logs().slice(-3000)}`);

    await repo.git('pull', '--quiet', 'origin', 'main');
    const revert = await repo.git('rev-parse', 'HEAD');
    assert.match(await repo.git('log', '-1', '--format=%B'), new RegExp(`Rearguard-Reverts: ${bad}`));
    assert.equal(await w.imageOf('orders'), 'orders:1.0', 'Flux applied the revert: the previous image');
    const ks = await kustomization('orders');
    assert.equal(ks.status?.lastAppliedRevision, `main@sha1:${revert}`);
    // The request Rearguard wrote (its revision and step) is the one Flux handled.
    assert.match(String(ks.status?.lastHandledReconcileAt), new RegExp(`^rearguard-${revert.slice(0, 12)}-[0-9a-f]{12}$`));
    assert.equal(ks.status?.lastHandledReconcileAt, ks.metadata.annotations?.['reconcile.fluxcd.io/requestedAt']);

    const status = JSON.parse(done.stdout.trim().split('\n').at(-1)!) as RollbackStatus;
    const step = status.steps.find((s) => s.name === 'revert')!;
    assert.equal(step.result?.commit, revert);
    assert.deepEqual(step.result?.flux, { Kustomization: 'flux-system/orders', revision: `main@sha1:${revert}`, ready: true });
    const events = await w.auditOf(status.workflowId);
    const succeeded = events.find((a) => a.action === 'rollback.step-succeeded')!;
    assert.match(JSON.stringify(succeeded.details), new RegExp(`main@sha1:${revert}`));
  });

  it('a freeze suspends the Kustomization: a pushed commit waits until the lift; one a person suspended stays suspended', async () => {
    const { repo } = await flowing('billing', 'billing', 'billing:1.0');
    // A second Kustomization of the same source, which a person suspended before the freeze.
    await w.bed.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: { name: billing-legacy, namespace: flux-system }
spec: { interval: 5s, suspend: true, path: ./billing, prune: false, sourceRef: { kind: GitRepository, name: billing-config } }
`,
    );
    await w.restartWorker();
    await w.freezeNow('flux-freezes', 'billing-freeze', 'quarter close', 'flux: { kustomizations: [flux-system/billing, flux-system/billing-legacy] }');
    await waitFor(async () => (await kustomization('billing')).spec?.suspend === true, 'the guardrail suspends billing', 60_000);
    const before = await applied('billing');

    const next = await repo.commit(app('billing', 'billing:2.0'), 'billing 2.0');
    // The source still fetches it (the freeze holds deploys, not fetches) ...
    await waitFor(async () => (await fetched('billing-config')).endsWith(next), 'the source fetches the new commit', 60_000);
    // ... and for several intervals of the Kustomization, nothing is applied.
    await new Promise((r) => setTimeout(r, 15_000));
    assert.equal(await applied('billing'), before);
    assert.equal(await w.imageOf('billing'), 'billing:1.0', 'not applied while the freeze holds');

    const lift = await rearguard(['freeze', 'lift', '--name', 'billing-freeze', '--reason', 'close done', '--as', 'rm-ann'], w.e);
    assert.equal(lift.code, 0, lift.stderr);
    await waitFor(async () => (await w.imageOf('billing')) === 'billing:2.0', 'Flux applies the commit once the freeze is lifted', {
      timeout: 60_000,
      detail: () => flux!.logs().slice(-3000),
    });
    assert.equal(await applied('billing'), `main@sha1:${next}`);
    const legacy = await kustomization('billing-legacy');
    assert.equal(legacy.spec?.suspend, true, "the person's suspension is kept");
    assert.equal(legacy.metadata.annotations?.['rearguard.io/frozen-by'], undefined, 'no freeze holds it any more');
  });

  it('a worker SIGKILLed right after the push: one revert commit, one reconcile', async () => {
    const { repo } = await flowing('search', 'search', 'search:1.0');
    const bad = await repo.commit(app('search', 'search:2.0-bad'), 'search 2.0');
    await waitFor(async () => (await w.imageOf('search')) === 'search:2.0-bad', 'Flux deploys the bad commit', 60_000);
    await w.restartWorker();
    // Every reconcile request Flux sees: the distinct values of the annotation over the run.
    const requests = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const v = (await kustomization('search').catch(() => undefined))?.metadata.annotations?.['reconcile.fluxcd.io/requestedAt'];
        if (v) requests.add(String(v));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const head = () => repo.git('ls-remote', repo.remote, 'refs/heads/main').then((l) => l.split('\t')[0]);
    const file = join(w.dir, 'search.yaml');
    await writeFile(file, runbook('search', bad));
    assert.equal((await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'search 2.0', '--as', 'dave'], w.e)).code, 0);
    // The push is the last thing before the reconcile request: kill the worker (and its git) the moment it lands.
    await waitFor(async () => (await head()) !== bad, 'the revert pushed', { timeout: 60_000, interval: 20 });
    await w.killWorker();
    const done = await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'search', '--wait', '--json'], w.e);
    watching = false;
    await watch;
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
    await repo.git('pull', '--quiet', 'origin', 'main');
    assert.deepEqual((await repo.git('log', '--format=%s', `${bad}..HEAD`)).split('\n').length, 1, 'one revert commit');
    const revert = await head();
    // The attempt after the kill writes the same request as the one before it: one request, handled.
    assert.equal(requests.size, 1, [...requests].join(', '));
    const [request] = requests;
    assert.match(request, new RegExp(`^rearguard-${revert.slice(0, 12)}-[0-9a-f]{12}$`));
    assert.equal((await kustomization('search')).status?.lastHandledReconcileAt, request);
    assert.equal(await w.imageOf('search'), 'search:1.0');
  });
});
