// A calendar freeze with guardrails, end to end: `freeze calendar apply` starts the window, the worker
// holds Argo CD (deny sync window), Flux (suspend) and flagd flags (tagged ones pinned off); the worker
// is SIGKILLed mid-freeze and replaced; `freeze lift` puts everything back exactly, once, and the
// release channel heard every step.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlagdCore, MemoryStorage } from '@openfeature/flagd-core';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import { KubeClient, type KubeObject } from '../../activities/kubernetes/client.js';
import type { FreezeState } from '../../runbook/freeze.js';
import type { AuditEvent } from '../../runbook/types.js';
import { freezeStateQuery } from '../../api/messages.js';
import { guardedObjectsYaml } from '../helpers/fixtures.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let env: TestWorkflowEnvironment;
let bed: Testbed;
let dir: string;
let receiver: Receiver;
let worker: WorkerProcess | undefined;
let e: Record<string, string>;
let workerEnv: Record<string, string>;

before(async () => {
  [env, bed, dir, receiver] = await Promise.all([createDevServerEnv(), startTestbed(), mkdtemp(join(tmpdir(), 'rearguard-guardrails-e2e-')), startReceiver()]);
  await bed.installGitopsCrds();
  const targets = join(dir, 'targets.yaml');
  await writeFile(targets, `clusters:\n  testbed: { kubeconfig: ${bed.kubeconfig} }\n`);
  e = { TEMPORAL_ADDRESS: env.address, REARGUARD_TASK_QUEUE: `guardrails-${randomUUID()}`, REARGUARD_AUDIT_FILE: join(dir, 'audit.jsonl') };
  workerEnv = { ...e, REARGUARD_TARGETS: targets, REARGUARD_METRICS_PORT: '0', REARGUARD_RUNTIME_METRICS_PORT: '0' };
  worker = await startWorker(workerEnv);
});
after(async () => {
  await worker?.stop('SIGKILL');
  await Promise.all([env?.teardown(), bed?.stop(), receiver?.close()]);
});

const FLAGS = {
  $schema: 'https://flagd.dev/schema/v0/flags.json',
  flags: {
    'new-checkout': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { if: [{ '==': [{ var: 'plan' }, 'beta'] }, 'on', 'off'] },
      metadata: { tags: 'feature,checkout' },
    },
    'fix-rounding': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on', metadata: { tags: 'bugfix' } },
  },
};

/** Evaluates the file with flagd's own evaluation library, strictly validated, for a beta user. */
async function evaluate(file: string): Promise<Record<string, boolean>> {
  const logger = { error() {}, warn() {}, info() {}, debug() {} };
  const storage = new MemoryStorage(logger);
  storage.setConfigurations(await readFile(file, 'utf8'), true);
  const core = new FlagdCore(storage, logger);
  const ctx = { targetingKey: 'u1', plan: 'beta' };
  return {
    'new-checkout': core.resolveBooleanEvaluation('new-checkout', false, ctx, logger).value,
    'fix-rounding': core.resolveBooleanEvaluation('fix-rounding', false, ctx, logger).value,
  };
}

describe('freeze guardrails end to end', () => {
  it('applies the guardrails, survives a worker SIGKILL mid-freeze, and restores everything exactly once on lift', async () => {
    const ns = 'e2e-freeze';
    await bed.kubectl(['create', 'namespace', ns]);
    await bed.kubectl(['create', '-f', '-'], guardedObjectsYaml(ns, 'payments'));
    const admin = KubeClient.fromConfig('testbed', { kubeconfig: bed.kubeconfig });
    const paths = {
      project: `/apis/argoproj.io/v1alpha1/namespaces/${ns}/appprojects/payments`,
      apps: `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${ns}/kustomizations/apps`,
      legacy: `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${ns}/kustomizations/legacy`,
    };
    const snapshot = async (path: string) => {
      const o: KubeObject = await admin.get(path);
      return { annotations: o.metadata.annotations, labels: o.metadata.labels, spec: o.spec };
    };
    const before = { project: await snapshot(paths.project), apps: await snapshot(paths.apps), legacy: await snapshot(paths.legacy) };
    const flags = join(dir, 'flags.json');
    const flagsText = `${JSON.stringify(FLAGS, null, 2)}\n`;
    await writeFile(flags, flagsText);
    assert.deepEqual(await evaluate(flags), { 'new-checkout': true, 'fix-rounding': true });

    const tz = 'Europe/Paris';
    const local = (t: DateTime) => t.setZone(tz).toFormat("yyyy-LL-dd'T'HH:mm");
    const calendar = join(dir, 'calendar.yaml');
    await writeFile(
      calendar,
      `apiVersion: rearguard/v1
kind: FreezeCalendar
metadata: { name: incident-freezes }
spec:
  timezone: ${tz}
  cluster: testbed
  windows:
    - { name: rca-freeze, start: ${local(DateTime.now().minus({ minutes: 1 }))}, duration: 2h, scope: { environments: [prod] }, reason: RCA after outage }
  notify:
    - { name: release-channel, type: webhook, url: ${receiver.url}/release }
  guardrails:
    argocd: { namespace: ${ns}, projects: [payments] }
    flux: { kustomizations: [${ns}/apps, ${ns}/legacy] }
    flags: { file: ${flags}, freezeTag: feature }
    notify: [release-channel]
`,
    );
    const applied = await rearguard(['freeze', 'calendar', 'apply', calendar, '--as', 'rm-ann'], e);
    assert.equal(applied.code, 0, applied.stderr);
    const handle = env.client.workflow.getHandle('freeze:rca-freeze');
    await waitFor(async () => ((await handle.query(freezeStateQuery)) as FreezeState).guardrails?.applied, 'guardrails applied', 60_000);

    // Frozen: a deny window on the project, apps suspended, the feature flag pinned off, the bug fix untouched.
    const frozenProject = await admin.get(paths.project);
    assert.equal(frozenProject.spec.syncWindows.length, 2);
    assert.equal(frozenProject.spec.syncWindows[1].kind, 'deny');
    assert.equal((await admin.get(paths.apps)).spec.suspend, true);
    assert.deepEqual(await evaluate(flags), { 'new-checkout': false, 'fix-rounding': true });

    // The worker dies mid-freeze; a new one takes over from the history.
    await worker!.stop('SIGKILL');
    worker = await startWorker(workerEnv);

    const lift = await rearguard(['freeze', 'lift', '--name', 'rca-freeze', '--reason', 'RCA done', '--as', 'rm-ann'], e);
    assert.equal(lift.code, 0, lift.stderr);
    const done = (await handle.result()) as FreezeState;
    assert.equal(done.phase, 'lifted');
    assert.equal(done.guardrails?.restored, true);

    assert.deepEqual(await snapshot(paths.project), before.project, 'AppProject exactly as before');
    assert.deepEqual(await snapshot(paths.apps), before.apps, 'Kustomization apps resumed, no leftovers');
    assert.deepEqual(await snapshot(paths.legacy), before.legacy, 'the one a human suspended stays suspended');
    assert.equal(await readFile(flags, 'utf8'), flagsText, 'flags file byte for byte');
    assert.deepEqual(await evaluate(flags), { 'new-checkout': true, 'fix-rounding': true });

    const audit = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((a) => a.workflowId === 'freeze:rca-freeze');
    const count = (action: string) => audit.filter((a) => a.action === action).length;
    assert.equal(count('freeze.guardrails-applied'), 1);
    assert.equal(count('freeze.guardrails-restored'), 1);
    assert.equal(count('freeze.lifted'), 1);
    const events = receiver.requests.map((r) => (JSON.parse(r.body) as { event: string }).event);
    assert.deepEqual(events, ['freeze-started', 'freeze-lifted']);
  });
});
