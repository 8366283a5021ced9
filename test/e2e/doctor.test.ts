// `rearguard doctor` against the real chain: the dev server, a worker whose targets file names the testbed cluster
// with the rearguard-worker user (bound to the shipped ClusterRole in one namespace only), real helm, git and
// terraform, a real Prometheus. Each finding is checked against what is actually wrong: no worker yet, a namespace
// the worker may not act in (fixed by the RoleBinding the fix names), a Temporal address where nothing listens.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Finding } from '../../runbook/doctor.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startPrometheus, type Prometheus } from '../helpers/prometheus.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { ROOT } from '../helpers/tools.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let env: TestWorkflowEnvironment;
let bed: Testbed;
let dir: string;
let prom: Prometheus | undefined;
let worker: WorkerProcess | undefined;
let e: Record<string, string>;

const runbook = (service: string, namespace: string) => `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${service}-prod }
spec:
  service: ${service}
  environment: prod
  cluster: testbed
  sla: 5m
  steps:
    - { name: undo, type: kubernetes, namespace: ${namespace}, deployment: ${service}, toRevision: previous }
  verify:
    - { type: kubernetesAvailable, namespace: ${namespace}, deployment: ${service} }
`;

before(async () => {
  [env, bed, dir] = await Promise.all([createDevServerEnv(), startTestbed(), mkdtemp(join(tmpdir(), 'rearguard-doctor-'))]);
  prom = await startPrometheus({ scrapeTargets: [] });
  for (const ns of ['shop', 'billing']) await bed.kubectl(['create', 'namespace', ns]);
  const manifest = await readFile(`${ROOT}deploy/rbac/rearguard-worker.yaml`, 'utf8');
  await bed.kubectl(['apply', '-f', '-'], manifest.split('\n---\n')[0]);
  await bed.kubectl(['create', 'rolebinding', 'rearguard-worker', '-n', 'shop', '--clusterrole=rearguard-worker', '--user=rearguard-worker']);
  const targets = join(dir, 'targets.yaml');
  await writeFile(targets, `clusters:\n  testbed: { kubeconfig: ${await bed.kubeconfigFor('rearguard-worker')} }\n`);
  await writeFile(join(dir, 'shop.yaml'), runbook('shop', 'shop'));
  await writeFile(join(dir, 'billing.yaml'), runbook('billing', 'billing'));
  e = rearguardEnv(env, dir, 'doctor', {
    REARGUARD_TARGETS: targets,
    REARGUARD_PROMETHEUS_URL: prom.url,
    REARGUARD_HELM_BIN: `${ROOT}.tools/bin/helm`,
    REARGUARD_TERRAFORM_BIN: `${ROOT}.tools/bin/terraform`,
    REARGUARD_METRICS_PORT: '0',
  });
});
after(async () => {
  await worker?.stop('SIGKILL');
  await prom?.stop();
  await Promise.all([env?.teardown(), bed?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const doctor = async (args: string[] = [], extra: Record<string, string> = {}) => {
  const r = await rearguard(['doctor', ...args, '--json'], { ...e, ...extra });
  const findings = r.stdout ? (JSON.parse(r.stdout) as Finding[]) : [];
  const of = (check: string) => findings.filter((f) => f.check === check);
  return { ...r, findings, of };
};

describe('rearguard doctor', () => {
  it('names what is missing and how to fix it: no worker, a namespace without the RoleBinding; then all ok', async () => {
    // Nothing polls yet: the Temporal side is checked, the worker's is not.
    const none = await doctor();
    assert.equal(none.code, 1, none.stderr);
    assert.equal(none.of('temporal')[0].verdict, 'ok');
    assert.match(none.of('temporal')[0].detail, new RegExp(env.address));
    assert.equal(none.of('namespace')[0].verdict, 'ok');
    assert.equal(none.of('workers')[0].verdict, 'fail');
    assert.match(none.of('workers')[0].fix!, /start a worker on task queue doctor-/);
    assert.match(none.of('worker')[0].detail, /not checked: no worker/);

    worker = await startWorker(e);
    const r = await doctor(['--runbook', join(dir, 'shop.yaml'), '--runbook', join(dir, 'billing.yaml')]);
    assert.equal(r.code, 1, 'billing is not allowed');
    assert.match(r.of('workers')[0].detail, /^1 polling task queue doctor-/);
    for (const tool of ['helm', 'git', 'terraform']) assert.equal(r.of(tool)[0]?.verdict, 'ok', JSON.stringify(r.of(tool)));
    assert.match(r.of('helm')[0].detail, /v3\.\d+/);
    assert.match(r.of('terraform')[0].detail, /Terraform v\d+/);
    const cluster = r.of('cluster testbed');
    assert.match(cluster[0].detail, /^reachable, Kubernetes v1\.\d+/);
    const shop = cluster.find((f) => f.detail.startsWith('namespace shop'))!;
    assert.equal(shop.verdict, 'ok');
    assert.match(shop.detail, /allowed get deployments\.apps, patch deployments\.apps, list replicasets\.apps/);
    const billing = cluster.find((f) => f.detail.startsWith('namespace billing'))!;
    assert.equal(billing.verdict, 'fail');
    assert.match(billing.detail, /not allowed to get deployments\.apps \(billing-prod step undo\), patch deployments\.apps/);
    assert.equal(
      billing.fix,
      "bind the ClusterRole of deploy/rbac/rearguard-worker.yaml to the worker's identity in namespace billing: kubectl create rolebinding rearguard-worker -n billing --clusterrole=rearguard-worker --user=rearguard-worker",
    );
    assert.equal(r.of('prometheus')[0].verdict, 'ok');
    assert.equal(r.of('catalog')[0].verdict, 'warn', 'development mode');
    assert.equal(r.of('audit file')[0].verdict, 'ok');

    // The human form: one line per check, the fix under a failing one, exit 1.
    const human = await rearguard(['doctor', '--runbook', join(dir, 'billing.yaml')], e);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^FAIL {2}cluster testbed +namespace billing: not allowed to/m);
    assert.match(human.stdout, /^ +fix: bind the ClusterRole of deploy\/rbac\/rearguard-worker\.yaml/m);
    assert.match(human.stdout, /^OK {4}helm +/m);
    assert.match(human.stderr, /1 check failed/);

    // The fix the doctor named, applied as it is written: everything passes.
    await bed.kubectl(billing.fix!.split(': kubectl ')[1].split(' '));
    const fixed = await doctor(['--runbook', join(dir, 'shop.yaml'), '--runbook', join(dir, 'billing.yaml')]);
    assert.equal(fixed.code, 0, JSON.stringify(fixed.findings.filter((f) => f.verdict === 'fail')));
    assert.ok(fixed.findings.every((f) => f.verdict !== 'fail'));
  });

  it("helm, gitops and the calendars' guardrails: each access checked where it is used, with the binding that fixes it", async () => {
    worker ??= await startWorker(e);
    for (const ns of ['argocd', 'flux-system', 'web']) await bed.kubectl(['create', 'namespace', ns]);
    await bed.kubectl(['create', 'rolebinding', 'rearguard-worker', '-n', 'argocd', '--clusterrole=rearguard-worker', '--user=rearguard-worker']);
    const runbookFile = join(dir, 'web.yaml');
    await writeFile(
      runbookFile,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: web-prod }
spec:
  service: web
  environment: prod
  cluster: testbed
  sla: 5m
  steps:
    - { name: chart, type: helm, namespace: web, release: web }
    - { name: revert, type: gitops, repo: deploy, revert: { commit: abc123 }, argocd: { application: web }, flux: { kind: Kustomization, namespace: flux-system, name: web } }
`,
    );
    const flags = join(dir, 'flags.json');
    await writeFile(flags, '{"flags":{}}\n');
    const calendarFile = join(dir, 'calendar.yaml');
    const calendar = (flagsFile: string) => `apiVersion: rearguard/v1
kind: FreezeCalendar
metadata: { name: peak }
spec:
  timezone: Europe/Paris
  cluster: testbed
  guardrails:
    argocd: { projects: ["*"] }
    flux: { kustomizations: [flux-system/apps], helmReleases: [flux-system/web] }
    flags: { file: ${flagsFile}, freezeTag: frozen }
`;
    await writeFile(calendarFile, calendar(join(dir, 'no-such-dir', 'flags.json')));
    const r = await doctor(['--runbook', runbookFile, '--calendar', calendarFile]);
    assert.equal(r.code, 1);
    const byNamespace = (ns: string) => r.of('cluster testbed').find((f) => f.detail.startsWith(`namespace ${ns}:`))!;
    // Argo CD: the gitops step's sync and the guardrail's deny window, allowed by the binding in argocd.
    assert.equal(byNamespace('argocd').verdict, 'ok', byNamespace('argocd').detail);
    assert.match(
      byNamespace('argocd').detail,
      /get applications\.argoproj\.io, patch applications\.argoproj\.io, get appprojects\.argoproj\.io, list appprojects\.argoproj\.io, patch appprojects\.argoproj\.io/,
    );
    // Flux: no binding in flux-system, so the reconcile and the suspensions are refused, each named with its user.
    const flux = byNamespace('flux-system');
    assert.equal(flux.verdict, 'fail');
    assert.match(flux.detail, /get kustomizations\.kustomize\.toolkit\.fluxcd\.io \(web-prod step revert\)/);
    assert.match(flux.detail, /patch gitrepositories\.source\.toolkit\.fluxcd\.io \(web-prod step revert\)/, 'the source is asked to reconcile too');
    assert.match(flux.detail, /get helmreleases\.helm\.toolkit\.fluxcd\.io \(calendar peak guardrails\.flux HelmRelease flux-system\/web\)/);
    assert.match(flux.fix!, /--clusterrole=rearguard-worker --user=rearguard-worker$/);
    // helm: the release Secrets, which the shipped role does not grant: the fix names a role for the chart.
    const web = byNamespace('web');
    assert.equal(web.verdict, 'fail');
    assert.match(
      web.detail,
      /not allowed to get secrets \(web-prod step chart\), list secrets .*create secrets .*update secrets .*patch secrets .*delete secrets/,
    );
    assert.match(
      web.fix!,
      /^for helm, bind a role covering the chart's resources and Secrets \(often the built-in edit\): kubectl create rolebinding rearguard-helm -n web --clusterrole=edit --user=rearguard-worker$/,
    );
    const [flagFinding] = r.of('flags file');
    assert.equal(flagFinding.verdict, 'fail');
    assert.match(flagFinding.detail, /no-such-dir\/flags\.json \(calendar peak\): ENOENT/);

    // Each fix as written, and a flags file that exists: everything passes.
    for (const fix of [flux.fix!, web.fix!]) await bed.kubectl(fix.split(': kubectl ')[1].split(' '));
    await writeFile(calendarFile, calendar(flags));
    const fixed = await doctor(['--runbook', runbookFile, '--calendar', calendarFile]);
    assert.equal(fixed.code, 0, JSON.stringify(fixed.findings.filter((f) => f.verdict === 'fail')));
    assert.equal(fixed.of('flags file')[0].verdict, 'ok');

    // A calendar that is not one is refused before anything is asked.
    const bad = await doctor(['--calendar', runbookFile]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /web\.yaml: invalid freeze calendar/);
  });

  it('a Temporal address where nothing listens is the first and only finding, with the fix', async () => {
    const r = await doctor([], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(r.code, 1);
    assert.deepEqual(
      r.findings.map((f) => [f.check, f.verdict]),
      [['temporal', 'fail']],
    );
    assert.match(r.findings[0].detail, /cannot reach Temporal at 127\.0\.0\.1:1/);
    assert.match(r.findings[0].fix!, /TEMPORAL_ADDRESS/);
  });
});
