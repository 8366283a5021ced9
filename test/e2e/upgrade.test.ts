// An upgrade of Rearguard with Worker Versioning, end to end on the dev server: version A of the workers runs a
// freeze with guardrails, an SLO guard, a rollback waiting for approval and a gradual unfreeze in the middle of a
// soak. Version B differs by a real change behind patched(): progress-memo (workflows/kit/progress.ts), which A
// lacks (A is today's workflows bundled with that module as it was before the patch, a no-op). `rearguard
// upgrade B` makes B current and drains A: the waiting rollback is moved to B, the others move at their next task.
// A is stopped. Every workflow then finishes on B, the ones that report progress do so from B on (the patch's new
// path in a run that started without it), and the audit trail is one unbroken chain with no gap in any run.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowBundleOptions } from '../../worker/bundle-options.js';
import { workflowsPath } from '../../worker/worker.js';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import type { UnfreezeStatus } from '../../runbook/unfreeze.js';
import { freePort, rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startMetricsTarget, startPrometheus, type MetricsTarget, type Prometheus } from '../helpers/prometheus.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

const A = '1.0.0';
const B = '1.1.0';

let env: TestWorkflowEnvironment;
let dir: string;
let receiver: Receiver;
let gateTarget: MetricsTarget;
let guardTarget: MetricsTarget;
let prom: Prometheus;
const workers: WorkerProcess[] = [];
let e: Record<string, string>;

/** Version A's or B's workflow bundle, written to a file as a release would ship it. */
async function bundleFile(name: string, before: boolean): Promise<string> {
  const progress = join(import.meta.dirname, '../../workflows/kit/progress.ts');
  const replacement = join(import.meta.dirname, '../fixtures/upgrade/progress-before.ts');
  const { code } = await bundleWorkflowCode({
    ...workflowBundleOptions(workflowsPath),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
    // Version A: the progress module as it was before the patch, swapped in as webpack resolves it.
    ...(before
      ? {
          webpackConfigHook: (config) => {
            config.plugins = [
              ...(config.plugins ?? []),
              {
                apply(compiler) {
                  compiler.hooks.normalModuleFactory.tap('version-a', (factory) =>
                    factory.hooks.afterResolve.tap('version-a', (data) => {
                      if (data.createData.resource === progress) data.createData.resource = replacement;
                    }),
                  );
                },
              },
            ];
            return config;
          },
        }
      : {}),
  });
  if (before) assert.ok(!code.includes("patched('progress-memo')") && !code.includes('patched("progress-memo")'), 'version A has no progress-memo');
  else assert.ok(/patched\)?\(['"]progress-memo['"]\)/.test(code), 'version B has progress-memo');
  const file = join(dir, `${name}.js`);
  await writeFile(file, code);
  return file;
}

const version = async (bundle: string, buildId: string) => {
  const w = await startWorker(
    {
      ...e,
      REARGUARD_BUILD_ID: buildId,
      REARGUARD_WORKFLOW_BUNDLE: bundle,
      REARGUARD_METRICS_PORT: String(await freePort()),
      REARGUARD_METRICS_HOST: '127.0.0.1',
    },
    { group: true },
  );
  workers.push(w);
  assert.match(w.output(), new RegExp(`version ${buildId.replace(/\./g, '\\.')} of deployment rearguard`));
  return w;
};

const ok = async (args: string[]) => {
  const r = await rearguard(args, e);
  assert.equal(r.code, 0, `rearguard ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
};
const json = async <T>(args: string[]): Promise<T> => JSON.parse(await ok([...args, '--json'])) as T;
const describeRun = (id: string) => env.client.workflow.getHandle(id).describe();
/** The version a run's last workflow task ran on, and its behaviour (1 pinned, 2 auto-upgrade). */
const versionOf = async (id: string) => {
  const v = (await describeRun(id)).raw.workflowExecutionInfo?.versioningInfo;
  return { buildId: v?.deploymentVersion?.buildId, behavior: v?.behavior, override: v?.versioningOverride?.pinned?.version?.buildId };
};
const ended = (id: string, ms = 120_000) =>
  waitFor(async () => ((await describeRun(id)).status.name !== 'RUNNING' ? true : undefined), `${id} ended`, { timeout: ms, interval: 500 });
/** The patches a run's history has markers of (the new paths it took). */
const patches = async (id: string): Promise<string[]> =>
  (await env.client.workflow.getHandle(id).fetchHistory()).events!.flatMap((ev) => {
    const m = ev.markerRecordedEventAttributes;
    const data = m?.markerName === 'core_patch' ? m.details?.['patch-data']?.payloads?.[0]?.data : undefined;
    return data ? [(JSON.parse(Buffer.from(data).toString()) as { id: string }).id] : [];
  });

const FLAGS = `${JSON.stringify({ flags: { 'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on', metadata: { tags: 'feature' } } } }, null, 2)}\n`;
const ratio = (instance: string) =>
  `sum(rate(http_requests_total{instance="${instance}",code=~"5.."}[5s])) / sum(rate(http_requests_total{instance="${instance}"}[5s]))`;

before(async () => {
  [env, dir, receiver, gateTarget, guardTarget] = await Promise.all([
    createDevServerEnv(),
    mkdtemp(join(tmpdir(), 'rearguard-upgrade-')),
    startReceiver(),
    startMetricsTarget({ rps: 20, errorRatio: 0 }),
    startMetricsTarget({ rps: 20, errorRatio: 0 }),
  ]);
  prom = await startPrometheus({ scrapeTargets: [gateTarget.hostPort, guardTarget.hostPort] });
  e = rearguardEnv(env, dir, 'upgrade', { REARGUARD_PROMETHEUS_URL: prom.url });
});
after(async () => {
  for (const w of workers) await w.stop('SIGKILL');
  await prom?.stop();
  await Promise.all([gateTarget?.stop(), guardTarget?.stop(), receiver?.close()]);
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('upgrading Rearguard with Worker Versioning', () => {
  it('version B takes over a guarded freeze, a guard, a rollback awaiting approval and an unfreeze mid-soak from A; A drains and stops; all finish on B', async () => {
    const [bundleA, bundleB] = [await bundleFile('version-a', true), await bundleFile('version-b', false)];
    const workerA = await version(bundleA, A);
    const first = await ok(['upgrade', A, '--drain-timeout', '30s']);
    assert.match(first, new RegExp(`${A} is now the current version of rearguard`));
    await waitFor(async () => ((await prom.query(ratio(gateTarget.hostPort))).length === 1 ? true : undefined), 'first scrapes', 30_000);

    // --- on A: a freeze whose guardrail pins the feature flags -------------------------------------------------
    const flags = join(dir, 'flags.json');
    await writeFile(flags, FLAGS);
    const calendar = join(dir, 'calendar.yaml');
    await writeFile(
      calendar,
      `apiVersion: rearguard/v1
kind: FreezeCalendar
metadata: { name: release }
spec:
  timezone: UTC
  windows:
    - { name: launch-week, start: ${new Date(Date.now() - 60_000).toISOString().slice(0, 16)}, duration: 6h, scope: { environments: [prod], services: [shop] }, reason: launch week }
  guardrails:
    flags: { file: ${flags}, freezeTag: feature }
`,
    );
    await ok(['freeze', 'calendar', 'apply', calendar, '--as', 'rm-ann']);
    await waitFor(async () => ((await readFile(flags, 'utf8')) !== FLAGS ? true : undefined), 'the flags pinned by the guardrail', 30_000);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'shop'], e)).code, 3, 'frozen');

    // --- on A: an SLO guard ------------------------------------------------------------------------------------
    const guardBook = join(dir, 'guarded.yaml');
    await writeFile(
      guardBook,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: guarded-dev }
spec:
  service: guarded
  environment: dev
  sla: 5m
  steps:
    - { name: undo, type: webhook, url: "${receiver.url}/guarded/undo" }
  slo:
    interval: 1s
    cooldown: 10m
    conditions:
      - { name: error-ratio, query: '${ratio(guardTarget.hostPort)}', above: 0.2, for: 2s }
`,
    );
    await ok(['guard', 'start', '--runbook', guardBook, '--as', 'dave']);
    await waitFor(
      async () => ((await json<{ evaluations: number }>(['guard', 'status', '--env', 'dev', '--service', 'guarded'])).evaluations >= 2 ? true : undefined),
      'the guard evaluating',
      30_000,
    );

    // --- on A: a rollback waiting for approval -----------------------------------------------------------------
    const approvalBook = join(dir, 'payments.yaml');
    await writeFile(
      approvalBook,
      `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: payments-prod }
spec:
  service: payments
  environment: prod
  sla: 1h
  approval: { required: true, approvers: [carol], timeout: 1h }
  steps:
    - { name: switch-back, type: webhook, url: "${receiver.url}/payments/switch-back" }
`,
    );
    await ok(['rollback', 'start', '--runbook', approvalBook, '--reason', 'checkout errors after 4.2', '--as', 'alice']);
    const rollbackId = 'rollback:prod:payments';
    await waitFor(
      async () =>
        (await json<RollbackStatus>(['rollback', 'status', '--env', 'prod', '--service', 'payments'])).phase === 'awaiting-approval' ? true : undefined,
      'the rollback awaiting approval',
      30_000,
    );

    // --- on A: a gradual unfreeze, dev soaking -----------------------------------------------------------------
    await ok(['freeze', 'start', '--name', 'black-friday', '--env', 'dev,staging,prod', '--duration', '3d', '--reason', 'Black Friday', '--as', 'rm-ann']);
    await ok([
      'unfreeze',
      'start',
      '--freeze',
      'black-friday',
      '--ladder',
      'dev,staging,prod',
      '--soak',
      '25s',
      '--interval',
      '2s',
      '--gate',
      `${ratio(gateTarget.hostPort)} < 0.05`,
      '--reason',
      'sales are over',
      '--as',
      'rm-ann',
    ]);
    const unfreezeStatus = () => json<UnfreezeStatus>(['unfreeze', 'status', '--freeze', 'black-friday']);
    await waitFor(async () => ((await unfreezeStatus()).environments[0].state === 'soaking' ? true : undefined), 'dev soaking', 30_000);
    let unfreezeId = '';
    for await (const w of env.client.workflow.list({ query: "WorkflowType = 'gradualUnfreeze'" })) unfreezeId = w.workflowId;
    assert.ok(unfreezeId, 'the unfreeze is listed');

    // Everything so far ran on A, without the patch: no progress in any memo, no marker.
    for (const id of [rollbackId, unfreezeId]) {
      assert.equal((await versionOf(id)).buildId, A, `${id} on A`);
      assert.equal((await describeRun(id)).memo?.phase, undefined, `${id}: A reports no progress`);
      const taken = await patches(id);
      assert.ok(taken.includes('signed-decisions') && !taken.includes('progress-memo'), `${id}: patches ${taken.join(', ')}`);
    }
    assert.equal((await versionOf(rollbackId)).behavior, 1, 'the rollback is pinned');
    assert.equal((await versionOf(unfreezeId)).behavior, 2, 'the unfreeze auto-upgrades');

    // --- version B, made current; A drains ---------------------------------------------------------------------
    const upgradeAt = Date.now();
    const workerB = await version(bundleB, B);
    const upgrade = await ok(['upgrade', B, '--drain-timeout', '2m']);
    assert.match(upgrade, new RegExp(`${B.replace(/\./g, '\\.')} is now the current version of rearguard \\(was ${A.replace(/\./g, '\\.')}\\)`));
    assert.match(upgrade, new RegExp(`moved ${rollbackId} to ${B.replace(/\./g, '\\.')}: it was awaiting approval`));
    assert.match(upgrade, /drained: no run is left on 1\.0\.0/);
    assert.equal((await versionOf(rollbackId)).override, B, 'the waiting rollback is pinned to B now');
    assert.equal(await workerA.stop('SIGTERM'), 0, `A stops cleanly:\n${workerA.output()}`);

    // --- everything finishes on B -----------------------------------------------------------------------------
    // The rollback: approved, its step runs on B, which reports its progress from then on (a marker, a memo).
    await ok(['rollback', 'approve', '--env', 'prod', '--service', 'payments', '--reason', 'confirmed', '--as', 'carol']);
    await ended(rollbackId);
    const rb = await json<RollbackStatus>(['rollback', 'status', '--env', 'prod', '--service', 'payments']);
    assert.equal(rb.outcome, 'succeeded');
    assert.equal(receiver.requests.filter((r) => r.path === '/payments/switch-back').length, 1);
    assert.equal((await versionOf(rollbackId)).buildId, B);
    assert.equal((await describeRun(rollbackId)).memo?.phase, 'verifying', "B's new path in a run A started");
    assert.ok((await patches(rollbackId)).includes('progress-memo'));

    // The unfreeze: staging and prod open on B, then the freeze is lifted.
    await ended(unfreezeId, 180_000);
    const u = await unfreezeStatus();
    assert.equal(u.phase, 'completed', JSON.stringify(u));
    assert.equal((await versionOf(unfreezeId)).buildId, B);
    assert.equal((await describeRun(unfreezeId)).memo?.environment, 'prod', 'progress reported from B on');
    assert.ok((await patches(unfreezeId)).includes('progress-memo'));
    assert.equal((await rearguard(['freeze', 'check', '--env', 'staging', '--service', 'web'], e)).code, 0, 'black-friday lifted');

    // The guard: errors rise, it starts a rollback, which runs on B from its first task.
    guardTarget.set({ errorRatio: 0.5 });
    const guardRollback = 'rollback:dev:guarded';
    await waitFor(async () => ((await describeRun(guardRollback).catch(() => undefined)) ? true : undefined), 'the guard triggered', 60_000);
    await ended(guardRollback);
    assert.equal((await describeRun(guardRollback)).status.name, 'COMPLETED');
    assert.equal((await versionOf(guardRollback)).buildId, B);
    assert.equal((await versionOf('guard:dev:guarded')).buildId, B, 'the guard moved to B');
    assert.equal((await describeRun(guardRollback)).memo?.outcome, 'succeeded');

    // The guarded freeze: lifted on B, the flags are back as they were, byte for byte.
    await ok(['freeze', 'lift', '--name', 'launch-week', '--reason', 'launch done', '--as', 'rm-ann']);
    await waitFor(async () => ((await readFile(flags, 'utf8')) === FLAGS ? true : undefined), 'the flags restored', 30_000);
    assert.equal((await versionOf('freeze:launch-week')).buildId, B);
    assert.equal((await rearguard(['freeze', 'check', '--env', 'prod', '--service', 'shop'], e)).code, 0);

    // --- the audit trail: one chain, and every run's events numbered without a gap across the upgrade ----------
    await ok(['audit', 'verify']);
    const audit = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    const runs = new Map<string, number[]>();
    for (const ev of audit) {
      const [workflowId, runId, seq] = [ev.id.slice(0, ev.id.lastIndexOf('/', ev.id.lastIndexOf('/') - 1)), ...ev.id.split('/').slice(-2)];
      const key = `${workflowId}/${runId}`;
      runs.set(key, [...(runs.get(key) ?? []), Number(seq)]);
    }
    for (const [run, seqs] of runs) {
      const sorted = [...seqs].sort((a, b) => a - b);
      assert.deepEqual(
        sorted,
        Array.from({ length: sorted.length }, (_, i) => sorted[0] + i),
        `${run}: no gap, no duplicate`,
      );
    }
    const spans = (id: string) => audit.filter((ev) => ev.workflowId === id).map((ev) => Date.parse(ev.time));
    for (const id of [rollbackId, unfreezeId, 'freeze:launch-week', 'guard:dev:guarded']) {
      const times = spans(id);
      assert.ok(times.some((t) => t < upgradeAt) && times.some((t) => t > upgradeAt), `${id}: audited before and after the upgrade`);
    }
    assert.doesNotMatch(workerB.output(), /[Nn]ondeterminism|TMPRL1100/, 'B replayed every history');
  });
});
