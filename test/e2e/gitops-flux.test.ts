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
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import type { KubeObject } from '../../activities/kubernetes/client.js';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import { deploymentYaml, namespaceYaml } from '../helpers/fixtures.js';
import { startFlux, type Flux } from '../helpers/flux.js';
import { startGitHttpServer, type GitHttpServer } from '../helpers/git-http.js';
import { createRepo, type TestRepo } from '../helpers/git-repos.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let env: TestWorkflowEnvironment;
let bed: Testbed;
let dir: string;
let flux: Flux | undefined;
const servers: GitHttpServer[] = [];
let worker: WorkerProcess | undefined;
let e: Record<string, string>;
let workerEnv: Record<string, string>;
const repos: TestRepo[] = [];

before(async () => {
  [env, bed, dir] = await Promise.all([createDevServerEnv(), startTestbed(), mkdtemp(join(tmpdir(), 'rearguard-flux-e2e-'))]);
  flux = await startFlux(bed);
  e = { TEMPORAL_ADDRESS: env.address, REARGUARD_TASK_QUEUE: `flux-${randomUUID()}`, REARGUARD_AUDIT_FILE: join(dir, 'audit.jsonl') };
});
after(async () => {
  await worker?.stop('SIGKILL');
  await flux?.stop();
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all([env?.teardown(), bed?.stop()]);
});

const get = async (args: string[]): Promise<KubeObject> => JSON.parse(await bed.kubectl(['get', ...args, '-o', 'json'])) as KubeObject;
const imageOf = async (ns: string) => {
  const d = await get(['deployment', 'api', '-n', ns]).catch(() => undefined);
  return (d?.spec?.template?.spec?.containers as { image: string }[] | undefined)?.[0]?.image;
};
const kustomization = (name: string) => get(['kustomization.kustomize.toolkit.fluxcd.io', name, '-n', 'flux-system']);
const applied = async (name: string) => String((await kustomization(name)).status?.lastAppliedRevision ?? '');
const fetched = async (name: string) =>
  String((await get(['gitrepository.source.toolkit.fluxcd.io', name, '-n', 'flux-system'])).status?.artifact?.revision ?? '');
const app = (ns: string, image: string) => ({
  [`${ns}/namespace.yaml`]: namespaceYaml(ns),
  [`${ns}/api.yaml`]: deploymentYaml({ namespace: ns, name: 'api', image }),
});

/**
 * A service's config repository at its first commit, served over HTTP to Flux, a GitRepository polling it every 5 s
 * and a Kustomization applying `./<ns>` every 5 s: a pushed commit reaches the cluster unasked within seconds (the
 * freeze must stop that). The worker gets the repository by its path: the bare repository Flux pulls from.
 */
async function flowing(service: string, ns: string, image: string): Promise<{ repo: TestRepo; first: string }> {
  const repo = await createRepo(`${service}-config`);
  repos.push(repo);
  const first = await repo.commit(app(ns, image), `${service} ${image}`);
  const server = await startGitHttpServer(dirname(repo.remote));
  servers.push(server);
  await bed.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: { name: ${service}-config, namespace: flux-system }
spec: { interval: 5s, url: "${server.url}/${basename(repo.remote)}", ref: { branch: main } }
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: { name: ${service}, namespace: flux-system }
spec: { interval: 5s, path: ./${ns}, prune: true, sourceRef: { kind: GitRepository, name: ${service}-config } }
`,
  );
  await waitFor(async () => (await applied(service)).endsWith(first) && (await imageOf(ns)) === image, `Flux applies ${service}'s first commit`, {
    timeout: 90_000,
    detail: () => flux!.logs().slice(-3000),
  });
  return { repo, first };
}

async function restartWorker(): Promise<void> {
  // A graceful stop hands the old worker's sticky workflows back at once: the next command's Queries (the gate
  // registry's, read by `freeze calendar apply`) are not left waiting for a dead worker.
  await worker?.stop('SIGTERM');
  const targets = join(dir, 'targets.yaml');
  await writeFile(
    targets,
    `clusters:\n  testbed: { kubeconfig: ${bed.kubeconfig} }\nrepos:\n${repos.map((r) => `  ${basename(r.remote, '.git')}: { url: "${r.url}", branch: main }\n`).join('')}`,
  );
  workerEnv = { ...e, REARGUARD_TARGETS: targets, REARGUARD_METRICS_PORT: '0', REARGUARD_RUNTIME_METRICS_PORT: '0' };
  worker = await startWorker(workerEnv, { group: true });
}

const runbook = (service: string, revert: string) => `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${service}-prod }
spec:
  service: ${service}
  environment: prod
  cluster: testbed
  sla: 5m
  steps:
    - { name: revert, type: gitops, repo: ${service}-config, revert: { commit: ${revert} }, flux: { kind: Kustomization, namespace: flux-system, name: ${service} } }
`;

const auditOf = async (workflowId: string) =>
  (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((a) => a.workflowId === workflowId);

describe('gitops against the real Flux controllers', () => {
  it('a bad commit deployed by Flux is reverted; Flux applies the revert it was asked to reconcile; the image is back', async () => {
    const { repo } = await flowing('orders', 'orders', 'orders:1.0');
    const bad = await repo.commit(app('orders', 'orders:2.0-bad'), 'orders 2.0');
    await waitFor(async () => (await imageOf('orders')) === 'orders:2.0-bad', 'Flux deploys the bad commit', 60_000);
    await restartWorker();
    const file = join(dir, 'orders.yaml');
    await writeFile(file, runbook('orders', bad));
    const start = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'orders 2.0 is failing', '--as', 'dave'], e);
    assert.equal(start.code, 0, start.stderr);
    const done = await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'orders', '--wait', '--json'], e);
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}\n${flux!.logs().slice(-3000)}`);

    await repo.git('pull', '--quiet', 'origin', 'main');
    const revert = await repo.git('rev-parse', 'HEAD');
    assert.match(await repo.git('log', '-1', '--format=%B'), new RegExp(`Rearguard-Reverts: ${bad}`));
    assert.equal(await imageOf('orders'), 'orders:1.0', 'Flux applied the revert: the previous image');
    const ks = await kustomization('orders');
    assert.equal(ks.status?.lastAppliedRevision, `main@sha1:${revert}`);
    assert.equal(ks.status?.lastHandledReconcileAt, `rearguard-${revert}`, 'the reconcile Rearguard requested is the one Flux handled');

    const status = JSON.parse(done.stdout.trim().split('\n').at(-1)!) as RollbackStatus;
    const step = status.steps.find((s) => s.name === 'revert')!;
    assert.equal(step.result?.commit, revert);
    assert.deepEqual(step.result?.flux, { Kustomization: 'flux-system/orders', revision: `main@sha1:${revert}`, ready: true });
    const events = await auditOf(status.workflowId);
    const succeeded = events.find((a) => a.action === 'rollback.step-succeeded')!;
    assert.match(JSON.stringify(succeeded.details), new RegExp(`main@sha1:${revert}`));
  });

  it('a freeze suspends the Kustomization: a pushed commit waits until the lift; one a person suspended stays suspended', async () => {
    const { repo } = await flowing('billing', 'billing', 'billing:1.0');
    // A second Kustomization of the same source, which a person suspended before the freeze.
    await bed.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: { name: billing-legacy, namespace: flux-system }
spec: { interval: 5s, suspend: true, path: ./billing, prune: false, sourceRef: { kind: GitRepository, name: billing-config } }
`,
    );
    await restartWorker();
    const tz = 'Europe/Paris';
    const calendar = join(dir, 'calendar.yaml');
    await writeFile(
      calendar,
      `apiVersion: rearguard/v1
kind: FreezeCalendar
metadata: { name: flux-freezes }
spec:
  timezone: ${tz}
  cluster: testbed
  windows:
    - { name: billing-freeze, start: ${DateTime.now().minus({ minutes: 1 }).setZone(tz).toFormat("yyyy-LL-dd'T'HH:mm")}, duration: 2h, scope: { environments: [prod] }, reason: quarter close }
  guardrails:
    flux: { kustomizations: [flux-system/billing, flux-system/billing-legacy] }
`,
    );
    const applied0 = await rearguard(['freeze', 'calendar', 'apply', calendar, '--as', 'rm-ann'], e);
    assert.equal(applied0.code, 0, applied0.stderr);
    await waitFor(async () => (await kustomization('billing')).spec?.suspend === true, 'the guardrail suspends billing', 60_000);
    const before = await applied('billing');

    const next = await repo.commit(app('billing', 'billing:2.0'), 'billing 2.0');
    // The source still fetches it (the freeze holds deploys, not fetches) ...
    await waitFor(async () => (await fetched('billing-config')).endsWith(next), 'the source fetches the new commit', 60_000);
    // ... and for several intervals of the Kustomization, nothing is applied.
    await new Promise((r) => setTimeout(r, 15_000));
    assert.equal(await applied('billing'), before);
    assert.equal(await imageOf('billing'), 'billing:1.0', 'not applied while the freeze holds');

    const lift = await rearguard(['freeze', 'lift', '--name', 'billing-freeze', '--reason', 'close done', '--as', 'rm-ann'], e);
    assert.equal(lift.code, 0, lift.stderr);
    await waitFor(async () => (await imageOf('billing')) === 'billing:2.0', 'Flux applies the commit once the freeze is lifted', {
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
    await waitFor(async () => (await imageOf('search')) === 'search:2.0-bad', 'Flux deploys the bad commit', 60_000);
    await restartWorker();
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
    const file = join(dir, 'search.yaml');
    await writeFile(file, runbook('search', bad));
    assert.equal((await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'search 2.0', '--as', 'dave'], e)).code, 0);
    // The push is the last thing before the reconcile request: kill the worker (and its git) the moment it lands.
    await waitFor(async () => (await head()) !== bad, 'the revert pushed', { timeout: 60_000, interval: 20 });
    await worker!.stop('SIGKILL');
    worker = await startWorker(workerEnv, { group: true });
    const done = await rearguard(['rollback', 'status', '--env', 'prod', '--service', 'search', '--wait', '--json'], e);
    watching = false;
    await watch;
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
    await repo.git('pull', '--quiet', 'origin', 'main');
    assert.deepEqual((await repo.git('log', '--format=%s', `${bad}..HEAD`)).split('\n').length, 1, 'one revert commit');
    const revert = await head();
    assert.deepEqual([...requests], [`rearguard-${revert}`], 'one reconcile request');
    assert.equal((await kustomization('search')).status?.lastHandledReconcileAt, `rearguard-${revert}`);
    assert.equal(await imageOf('search'), 'search:1.0');
  });
});
