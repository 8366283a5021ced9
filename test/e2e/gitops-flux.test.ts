// The gitops step and the freeze guardrails against Flux itself: the real source-controller, kustomize-controller and
// helm-controller (test/helpers/flux.ts) pull the repository over smart HTTP (test/helpers/git-http.ts) from the same bare repository
// the worker pushes to, and apply it to the testbed. Nothing plays the controller: what the Deployment runs is what
// Flux applied.
// - A bad commit deployed by Flux is reverted by a rollback; Flux reconciles the revert at Rearguard's request and the
//   Deployment is back on the previous image; the step's result and audit name the commit and the applied revision.
// - A freeze whose guardrail suspends the Kustomization: a commit pushed meanwhile is fetched by the source but not
//   applied while the freeze holds; lifting it lets Flux apply it; a Kustomization a person had suspended stays so.
// - A worker SIGKILLed once the revert is pushed: the rollback completes with one revert commit and one reconcile.
// - A HelmRelease of a chart kept in Git: a bad values commit is reverted and helm-controller releases the revert's
//   chart at Rearguard's request; a freeze suspends the HelmRelease, so a chart change waits until the lift.
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { RollbackStatus } from '../../runbook/types.js';
import { startFlux, type Flux } from '../helpers/flux.js';
import { appFiles as app, revertRunbook, startGitopsWorld, type GitopsWorld } from '../helpers/gitops-world.js';
import { rearguard } from '../helpers/processes.js';
import { ROOT } from '../helpers/tools.js';
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

/** The fixture chart test/fixtures/charts/web under `charts/web/`, with its values.yaml's tag set to `tag`. */
async function chartFiles(tag: string): Promise<Record<string, string>> {
  const dir = `${ROOT}test/fixtures/charts/web`;
  const files: Record<string, string> = {};
  for (const f of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (f.isFile()) files[`charts/web/${relative(dir, join(f.parentPath, f.name))}`] = await readFile(join(f.parentPath, f.name), 'utf8');
  files['charts/web/values.yaml'] = files['charts/web/values.yaml'].replace(/^tag: .*$/m, `tag: "${tag}"`);
  return files;
}

describe('gitops against the real Flux helm-controller', () => {
  const helmRelease = (name: string) => w.get(['helmrelease.helm.toolkit.fluxcd.io', name, '-n', 'flux-system']);
  const imageOf = async (ns: string, name: string) => {
    const d = await w.get(['deployment', name, '-n', ns]).catch(() => undefined);
    return (d?.spec?.template?.spec?.containers as { image: string }[] | undefined)?.[0]?.image;
  };
  /** Release history as helm-controller keeps it: newest first. */
  const history = async (name: string) => ((await helmRelease(name)).status?.history ?? []) as { chartVersion: string; status: string }[];

  /**
   * A service whose config repository holds the web chart at tag `tag`, and a HelmRelease `<service>` releasing it
   * into namespace `<service>` from that GitRepository, every 5 s, with a new chart version for every commit
   * (reconcileStrategy: Revision), as a team keeping its chart in Git would.
   */
  async function released(service: string, tag: string, strategy = 'Revision') {
    const { repo, first, url } = await w.configRepo(service, await chartFiles(tag));
    await w.bed.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: { name: ${service}-config, namespace: flux-system }
spec: { interval: 5s, url: "${url}", ref: { branch: main } }
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: { name: ${service}, namespace: flux-system }
spec:
  interval: 5s
  releaseName: ${service}
  targetNamespace: ${service}
  install: { createNamespace: true }
  chart:
    spec:
      chart: ./charts/web
      reconcileStrategy: ${strategy}
      interval: 5s
      sourceRef: { kind: GitRepository, name: ${service}-config }
`,
    );
    await waitFor(async () => (await imageOf(service, service)) === `registry.local/web:${tag}`, `helm-controller installs ${service}`, {
      timeout: 120_000,
      detail: () => flux!.logs().slice(-4000),
    });
    return { repo, first };
  }

  it("a bad values commit released by helm-controller is reverted; the revert's chart is released at Rearguard's request", async () => {
    const { repo } = await released('catalog', '1.0');
    const bad = await repo.commit(await chartFiles('2.0-bad'), 'catalog 2.0');
    await waitFor(async () => (await imageOf('catalog', 'catalog')) === 'registry.local/web:2.0-bad', 'helm-controller releases the bad commit', 90_000);
    await w.restartWorker();
    const file = join(w.dir, 'catalog.yaml');
    await writeFile(file, revertRunbook('catalog', bad, 'flux: { kind: HelmRelease, namespace: flux-system, name: catalog }'));
    const start = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'catalog 2.0 is failing', '--as', 'dave'], w.e);
    assert.equal(start.code, 0, start.stderr);
    const done = await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'catalog', '--wait', '--json'], w.e);
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}\n${flux!.logs().slice(-3000)}`);

    await repo.git('pull', '--quiet', 'origin', 'main');
    const revert = await repo.git('rev-parse', 'HEAD');
    // The step ended when the revert's chart was released, not before: the Deployment already runs the old tag.
    assert.equal(await imageOf('catalog', 'catalog'), 'registry.local/web:1.0');
    const chartVersion = `1.0.0+${revert.slice(0, 12)}`;
    const [latest] = await history('catalog');
    assert.equal(latest.chartVersion, chartVersion);
    assert.equal(latest.status, 'deployed');
    const hr = await helmRelease('catalog');
    assert.match(String(hr.status?.lastHandledReconcileAt), new RegExp(`^rearguard-${revert.slice(0, 12)}-[0-9a-f]{12}$`));

    const status = JSON.parse(done.stdout.trim().split('\n').at(-1)!) as RollbackStatus;
    const step = status.steps.find((s) => s.name === 'revert')!;
    assert.equal(step.result?.commit, revert);
    assert.deepEqual(step.result?.flux, { HelmRelease: 'flux-system/catalog', revision: `main@sha1:${revert}`, chart: chartVersion, ready: true });
    const succeeded = (await w.auditOf(status.workflowId)).find((a) => a.action === 'rollback.step-succeeded')!;
    assert.match(JSON.stringify(succeeded.details), new RegExp(chartVersion.replace('+', '\\+')));
  });

  it('a freeze suspends the HelmRelease: a chart change is packaged but not released until the lift', async () => {
    const { repo } = await released('ledger', '1.0');
    await w.restartWorker();
    await w.freezeNow('flux-helm-freezes', 'ledger-freeze', 'audit week', 'flux: { helmReleases: [flux-system/ledger] }');
    await waitFor(async () => (await helmRelease('ledger')).spec?.suspend === true, 'the guardrail suspends the HelmRelease', 60_000);
    const releases = (await history('ledger')).length;

    const next = await repo.commit(await chartFiles('2.0'), 'ledger 2.0');
    // source-controller still packages the new chart (the freeze holds releases, not fetches) ...
    const chart = () => w.get(['helmchart.source.toolkit.fluxcd.io', 'flux-system-ledger', '-n', 'flux-system']);
    await waitFor(async () => String((await chart()).status?.artifact?.revision) === `1.0.0+${next.slice(0, 12)}`, 'the new chart is packaged', 60_000);
    // ... and for several intervals of the HelmRelease, nothing is released.
    await new Promise((r) => setTimeout(r, 15_000));
    assert.equal((await history('ledger')).length, releases, 'no new release while the freeze holds');
    assert.equal(await imageOf('ledger', 'ledger'), 'registry.local/web:1.0');

    const lift = await rearguard(['freeze', 'lift', '--name', 'ledger-freeze', '--reason', 'audit done', '--as', 'rm-ann'], w.e);
    assert.equal(lift.code, 0, lift.stderr);
    // The Deployment changes while helm-controller still waits for it; the release's record comes after.
    await waitFor(
      async () => (await history('ledger'))[0]?.chartVersion === `1.0.0+${next.slice(0, 12)}` && (await history('ledger'))[0]?.status === 'deployed',
      'helm-controller releases the change once the freeze is lifted',
      { timeout: 90_000, detail: () => flux!.logs('helm-controller').slice(-3000) },
    );
    assert.equal(await imageOf('ledger', 'ledger'), 'registry.local/web:2.0');
    assert.equal((await helmRelease('ledger')).spec?.suspend, undefined, 'resumed: suspend removed, as it was absent before');
  });

  it('a chart whose versions do not name commits (reconcileStrategy ChartVersion) fails the step, saying what to set', async () => {
    const { repo } = await released('invoices', '1.0', 'ChartVersion');
    // The values change but the chart's version does not: source-controller packages no new chart version.
    const bad = await repo.commit(await chartFiles('2.0-bad'), 'invoices 2.0');
    await w.restartWorker();
    const file = join(w.dir, 'invoices.yaml');
    await writeFile(file, revertRunbook('invoices', bad, 'flux: { kind: HelmRelease, namespace: flux-system, name: invoices }'));
    assert.equal((await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'invoices 2.0', '--as', 'dave'], w.e)).code, 0);
    const done = await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'invoices', '--wait', '--json'], w.e);
    const status = JSON.parse(done.stdout.trim().split('\n').at(-1)!) as RollbackStatus;
    assert.equal(status.outcome, 'failed', done.stdout);
    const step = status.steps.find((x) => x.name === 'revert')!;
    assert.match(step.error ?? '', /does not name the commit: .*set spec\.chart\.spec\.reconcileStrategy: Revision/);
  });
});
