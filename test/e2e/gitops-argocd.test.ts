// The gitops step and the freeze guardrail against Argo CD itself: the real application controller and repo server
// (test/helpers/argocd.ts) read the repository over smart HTTP (test/helpers/git-http.ts), from the same bare
// repository the worker pushes to, and apply it to the testbed. Nothing plays the controller.
// - A bad commit deployed by Argo CD is reverted by a rollback; Argo CD runs the sync operation Rearguard requested,
//   to exactly the revert commit; the Deployment is back on the previous image; status and audit name the commit.
// - A freeze whose guardrail puts a deny sync window on the project: an auto-synced Application does not apply a
//   commit pushed meanwhile while the freeze holds; lifting it lets Argo CD apply it.
// - A rollback while such a freeze holds: Argo CD holds the sync, and the step fails at once saying so (naming the
//   freeze); the held operation runs when the freeze is lifted.
// - A worker SIGKILLed right after the push: the rollback completes with one revert commit and one sync operation.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RollbackStatus } from '../../runbook/types.js';
import { startArgoCd, type ArgoCd } from '../helpers/argocd.js';
import { appFiles as app, revertRunbook, startGitopsWorld, type GitopsWorld } from '../helpers/gitops-world.js';
import { rearguard } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

let w: GitopsWorld;
let argo: ArgoCd | undefined;

before(async () => {
  w = await startGitopsWorld('argocd');
  argo = await startArgoCd(w.bed);
});
after(async () => {
  await argo?.stop();
  await w?.close();
});

const application = (name: string) => w.get(['application.argoproj.io', name, '-n', 'argocd']);
const runbook = (service: string, revert: string) => revertRunbook(service, revert, `argocd: { application: ${service}, namespace: argocd }`);
const logs = () => argo!.logs().slice(-4000);

/** A person's `argocd app sync --revision`: an operation on the Application, as the API server would write it. */
const syncTo = (name: string, revision: string) =>
  w.bed.kubectl([
    'patch',
    'application.argoproj.io',
    name,
    '-n',
    'argocd',
    '--type',
    'merge',
    '-p',
    JSON.stringify({ operation: { initiatedBy: { username: 'dev' }, sync: { revision } } }),
  ]);

/**
 * A service's config repository at its first commit, served over HTTP, its own AppProject, and an Application of
 * `./<ns>` on main, auto-synced or synced by hand to the first commit; resolves once that is deployed.
 */
async function deployed(service: string, image: string, automated: boolean) {
  const { repo, first, url } = await w.configRepo(service, app(service, image));
  await w.bed.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: { name: ${service}, namespace: argocd }
spec:
  sourceRepos: ["*"]
  destinations: [{ server: "*", namespace: "*" }]
  clusterResourceWhitelist: [{ group: "*", kind: "*" }]
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: { name: ${service}, namespace: argocd }
spec:
  project: ${service}
  source: { repoURL: "${url}", targetRevision: main, path: ${service} }
  destination: { server: "https://kubernetes.default.svc", namespace: ${service} }
${automated ? '  syncPolicy: { automated: {} }\n' : ''}`,
  );
  if (!automated) await syncTo(service, first);
  await waitFor(async () => (await w.imageOf(service)) === image, `Argo CD deploys ${service}'s first commit`, { timeout: 120_000, detail: logs });
  return { repo, first };
}

describe('gitops against the real Argo CD', () => {
  it('a bad commit deployed by Argo CD is reverted; Argo CD syncs to exactly the revert commit Rearguard asked for', async () => {
    const { repo } = await deployed('orders', 'orders:1.0', false);
    const bad = await repo.commit(app('orders', 'orders:2.0-bad'), 'orders 2.0');
    await syncTo('orders', bad);
    await waitFor(async () => (await w.imageOf('orders')) === 'orders:2.0-bad', 'Argo CD deploys the bad commit', { timeout: 60_000, detail: logs });
    await w.restartWorker();
    const file = join(w.dir, 'orders.yaml');
    await writeFile(file, runbook('orders', bad));
    assert.equal((await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'orders 2.0 is failing', '--as', 'dave'], w.e)).code, 0);
    const done = await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'orders', '--wait', '--json'], w.e);
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}\n${logs()}`);

    const revert = (await repo.git('ls-remote', repo.remote, 'refs/heads/main')).split('\t')[0];
    assert.notEqual(revert, bad);
    assert.equal(await w.imageOf('orders'), 'orders:1.0', 'Argo CD applied the revert: the previous image');
    const a = await application('orders');
    assert.equal(a.status.sync.revision, revert);
    assert.equal(a.status.operationState.syncResult.revision, revert, 'the operation synced exactly the revert commit');
    assert.equal(a.status.operationState.operation.initiatedBy.username, 'rearguard', 'the operation Rearguard requested');
    assert.equal(a.status.operationState.phase, 'Succeeded');

    const status = JSON.parse(done.stdout.trim().split('\n').at(-1)!) as RollbackStatus;
    const step = status.steps.find((s) => s.name === 'revert')!;
    assert.equal(step.result?.commit, revert);
    assert.deepEqual(step.result?.argocd, { application: 'orders', revision: revert, sync: 'Synced', health: 'Healthy' });
    const succeeded = (await w.auditOf(status.workflowId)).find((x) => x.action === 'rollback.step-succeeded')!;
    assert.match(JSON.stringify(succeeded.details), new RegExp(revert));
  });

  it('a freeze puts a deny sync window on the project: a pushed commit is not applied until the lift', async () => {
    const { repo } = await deployed('billing', 'billing:1.0', true);
    await w.restartWorker();
    await w.freezeNow('argo-freezes', 'billing-freeze', 'quarter close', 'argocd: { namespace: argocd, projects: [billing] }');
    await waitFor(
      async () =>
        ((await w.get(['appproject.argoproj.io', 'billing', '-n', 'argocd'])).spec.syncWindows ?? []).some((w: { kind: string }) => w.kind === 'deny'),
      'the deny window on the project',
      60_000,
    );
    const next = await repo.commit(app('billing', 'billing:2.0'), 'billing 2.0');
    // Argo CD sees the new commit (the Application goes OutOfSync at it) but does not sync while the window denies.
    await waitFor(async () => (await application('billing')).status?.sync?.status === 'OutOfSync', 'Argo CD notices the new commit', {
      timeout: 60_000,
      detail: logs,
    });
    await new Promise((r) => setTimeout(r, 20_000));
    assert.equal(await w.imageOf('billing'), 'billing:1.0', 'not applied while the freeze holds');

    const lift = await rearguard(['freeze', 'lift', '--name', 'billing-freeze', '--reason', 'close done', '--as', 'rm-ann'], w.e);
    assert.equal(lift.code, 0, lift.stderr);
    await waitFor(async () => (await w.imageOf('billing')) === 'billing:2.0', 'Argo CD applies the commit once the freeze is lifted', {
      timeout: 90_000,
      detail: logs,
    });
    assert.equal((await application('billing')).status.sync.revision, next);
  });

  it("a rollback during a freeze that denies the project's syncs fails at once, saying why; the lift applies the revert", async () => {
    const { repo } = await deployed('cart', 'cart:1.0', false);
    const bad = await repo.commit(app('cart', 'cart:2.0-bad'), 'cart 2.0');
    await syncTo('cart', bad);
    await waitFor(async () => (await w.imageOf('cart')) === 'cart:2.0-bad', 'Argo CD deploys the bad commit', { timeout: 60_000, detail: logs });
    await w.restartWorker();
    await w.freezeNow('cart-freezes', 'cart-freeze', 'peak sales', 'argocd: { namespace: argocd, projects: [cart] }');
    await waitFor(
      async () => ((await w.get(['appproject.argoproj.io', 'cart', '-n', 'argocd'])).spec.syncWindows ?? []).some((w: { kind: string }) => w.kind === 'deny'),
      'the deny window on the project',
      60_000,
    );
    const file = join(w.dir, 'cart.yaml');
    await writeFile(file, runbook('cart', bad));
    const started = Date.now();
    assert.equal((await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'cart 2.0 is failing', '--as', 'dave'], w.e)).code, 0);
    const done = await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'cart', '--wait', '--json'], w.e);
    assert.equal(done.code, 1, done.stdout);
    assert.ok(Date.now() - started < 120_000, 'told at once, not at the SLA');
    const step = (JSON.parse(done.stdout.trim().split('\n').at(-1)!) as RollbackStatus).steps.find((s) => s.name === 'revert')!;
    assert.match(
      step.error!,
      /Argo CD holds the sync Rearguard requested of cart: the sync windows of project cart do not allow it now \(deny: rearguard freeze=freeze:cart-freeze .*peak sales\)\. [0-9a-f]{12} is pushed/,
    );
    assert.equal(await w.imageOf('cart'), 'cart:2.0-bad');

    const lift = await rearguard(['freeze', 'lift', '--name', 'cart-freeze', '--reason', 'incident', '--as', 'rm-ann'], w.e);
    assert.equal(lift.code, 0, lift.stderr);
    await waitFor(async () => (await w.imageOf('cart')) === 'cart:1.0', 'the held operation runs once the window is gone', { timeout: 90_000, detail: logs });
  });

  it('a worker SIGKILLed right after the push: one revert commit, one sync operation', async () => {
    const { repo, first } = await deployed('search', 'search:1.0', false);
    const bad = await repo.commit(app('search', 'search:2.0-bad'), 'search 2.0');
    await syncTo('search', bad);
    await waitFor(async () => (await w.imageOf('search')) === 'search:2.0-bad', 'Argo CD deploys the bad commit', { timeout: 60_000, detail: logs });
    await w.restartWorker();
    const head = async () => (await repo.git('ls-remote', repo.remote, 'refs/heads/main')).split('\t')[0];
    const file = join(w.dir, 'search.yaml');
    await writeFile(file, runbook('search', bad));
    assert.equal((await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'search 2.0', '--as', 'dave'], w.e)).code, 0);
    await waitFor(async () => (await head()) !== bad, 'the revert pushed', { timeout: 60_000, interval: 20 });
    await w.killWorker();
    const done = await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'search', '--wait', '--json'], w.e);
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
    const revert = await head();
    await repo.git('pull', '--quiet', 'origin', 'main');
    assert.equal((await repo.git('log', '--format=%H', `${bad}..${revert}`)).split('\n').length, 1, 'one revert commit');
    // Every sync Argo CD performed, from its own history: a person's two (first and bad commit), then one to the revert.
    const history = ((await application('search')).status.history ?? []) as { revision: string }[];
    assert.deepEqual(
      history.map((h) => h.revision),
      [first, bad, revert],
      'one sync operation to the revert',
    );
    assert.equal(await w.imageOf('search'), 'search:1.0');
  });
});
