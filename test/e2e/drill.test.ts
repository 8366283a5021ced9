// End to end: a rollback drill as a user types it, against the testbed cluster. The drill deploys a
// marked bad revision of a staging Deployment, runs the runbook's rollback, and reports the restore time
// against the SLA; the Deployment ends on its good template, the drill is audited and measured.
// Also: a prod runbook is refused without --force, and `drill schedule` makes an idempotent Schedule.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { DrillReport } from '../../runbook/drill.js';
import type { AuditEvent } from '../../runbook/types.js';
import { freePort, rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { deploymentYaml, namespaceYaml, rearguardEnv, rolloutStatus } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { ROOT } from '../helpers/tools.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let env: TestWorkflowEnvironment;
let bed: Testbed;
let dir: string;
let worker: WorkerProcess | undefined;
let e: Record<string, string>;
let metricsPort: number;

const runbookYaml = (name: string, environment: string) => `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${name} }
spec:
  service: api
  environment: ${environment}
  cluster: testbed
  sla: 5m
  steps:
    - { name: undo-api, type: kubernetes, namespace: drills, deployment: api }
  verify:
    - { type: kubernetesAvailable, namespace: drills, deployment: api }
`;

const workloads = [namespaceYaml('drills'), deploymentYaml({ namespace: 'drills', name: 'api', image: 'registry.local:5000/api:1.0' })].join('---\n');

interface DeploymentJson {
  metadata: { annotations: Record<string, string> };
  spec: { template: { metadata: { annotations?: Record<string, string> }; spec: { containers: { image: string }[] } } };
  status: { readyReplicas?: number; updatedReplicas?: number };
}
const deployment = async () => JSON.parse(await bed.kubectl(['get', 'deployment', 'api', '-n', 'drills', '-o', 'json'])) as DeploymentJson;

before(async () => {
  [env, bed, dir] = await Promise.all([createDevServerEnv(), startTestbed(), mkdtemp(join(tmpdir(), 'rearguard-drill-e2e-'))]);
  await bed.kubectl(['apply', '-f', '-'], workloads);
  await rolloutStatus(bed, 'drills', 'api');
  // The worker runs with the shipped role only: drills need nothing more than rollbacks do.
  const rbac = await readFile(`${ROOT}deploy/rbac/rearguard-worker.yaml`, 'utf8');
  await bed.kubectl(['apply', '-f', '-'], rbac.split('\n---\n')[0]);
  await bed.kubectl(['create', 'rolebinding', 'rearguard-worker', '-n', 'drills', '--clusterrole=rearguard-worker', '--user=rearguard-worker']);
  const clusters = join(dir, 'clusters.yaml');
  await writeFile(clusters, `clusters:\n  testbed: { kubeconfig: ${await bed.kubeconfigFor('rearguard-worker')} }\n`);
  metricsPort = await freePort();
  e = rearguardEnv(env, dir, 'drill');
  worker = await startWorker({ ...e, REARGUARD_TARGETS: clusters, REARGUARD_METRICS_PORT: String(metricsPort), REARGUARD_METRICS_HOST: '127.0.0.1' });
  await writeFile(join(dir, 'api-staging.yaml'), runbookYaml('api-staging', 'staging'));
  await writeFile(join(dir, 'api-prod.yaml'), runbookYaml('api-prod', 'prod'));
});
after(async () => {
  await worker?.stop('SIGKILL');
  await Promise.all([env?.teardown(), bed?.stop()]);
});

describe('rollback drills from the CLI', () => {
  it('drill run: bad revision deployed, rolled back, restore time vs SLA reported, audited and measured', async () => {
    const started = Date.now();
    const run = await rearguard(['drill', 'run', '--runbook', join(dir, 'api-staging.yaml'), '--as', 'dave', '--wait'], e);
    const took = Date.now() - started;
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /SLA MET/);
    assert.match(
      run.stdout,
      /bad revision: deployment drills\/api revision 1 \(api=registry\.local:5000\/api:1\.0\) -> 2 \(api=registry\.local:5000\/api:rearguard-drill-bad\)/,
    );
    assert.match(run.stdout, /rollback: +rollback:staging:api succeeded/);
    assert.match(run.stdout, /restore time: \d+\.\ds \(trigger to verified\), SLA 5m \(300s\): met/);
    assert.match(run.stdout, /deployment: +revision 3 \(api=registry\.local:5000\/api:1\.0\), drill marker gone/);
    const workflowId = /Started drill (drill:api-staging:\S+) /.exec(run.stdout)![1];

    // The Deployment is back on its good template: image, no marker, every replica updated and ready.
    const dep = await deployment();
    assert.equal(dep.spec.template.spec.containers[0].image, 'registry.local:5000/api:1.0');
    assert.equal(dep.spec.template.metadata.annotations?.['rearguard.io/drill'], undefined);
    assert.equal(dep.metadata.annotations['deployment.kubernetes.io/revision'], '3');
    assert.equal(dep.status.readyReplicas, 2);
    assert.equal(dep.status.updatedReplicas, 2);

    const status = await rearguard(['drill', 'status', '--id', workflowId, '--json'], e);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as DrillReport;
    assert.equal(report.verdict, 'met');
    assert.equal(report.slaMet, true);
    assert.equal(report.restored, true);
    assert.equal(report.rollback?.outcome, 'succeeded');
    assert.deepEqual({ good: report.revision?.goodRevision, bad: report.revision?.badRevision, now: report.after?.revision }, { good: 1, bad: 2, now: 3 });
    assert.ok(report.restoreSeconds! > 0 && report.restoreSeconds! * 1000 < took, `restore ${report.restoreSeconds}s within the CLI's ${took} ms`);
    console.log(`drill restore time: ${report.restoreSeconds}s (whole drill run: ${took} ms)`);

    const events = (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    const drillEvents = events.filter((x) => x.workflowId === workflowId).map((x) => x.action);
    assert.deepEqual(drillEvents, ['drill.started', 'drill.bad-revision-deployed', 'drill.met']);
    const triggered = events.find((x) => x.workflowId === 'rollback:staging:api' && x.action === 'rollback.triggered')!;
    assert.deepEqual(
      { actor: triggered.actor, source: triggered.details.source, reason: triggered.reason },
      { actor: 'dave', source: 'drill', reason: `rollback drill ${workflowId}` },
    );
    assert.equal(events.find((x) => x.action === 'drill.met')!.details.restoreSeconds, report.restoreSeconds);

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const gauge = /rearguard_drill_restore_seconds\{runbook="api-staging",environment="staging",service="api"\} ([\d.]+)/.exec(metrics);
    assert.ok(
      gauge,
      metrics
        .split('\n')
        .filter((l) => l.includes('drill'))
        .join('\n'),
    );
    assert.equal(Number(gauge[1]), report.restoreSeconds);
    assert.match(metrics, /rearguard_drills_total\{runbook="api-staging",verdict="met"\} 1/);
  });

  it('refuses a prod runbook without --force (exit 2), changing nothing', async () => {
    const before = (await deployment()).metadata.annotations['deployment.kubernetes.io/revision'];
    const run = await rearguard(['drill', 'run', '--runbook', join(dir, 'api-prod.yaml'), '--wait'], e);
    assert.equal(run.code, 2, run.stdout);
    assert.match(run.stderr, /drill refused: runbook api-prod targets environment prod: drills run in staging only \(use --force/);
    assert.equal((await deployment()).metadata.annotations['deployment.kubernetes.io/revision'], before);
  });

  it('drill schedule: a Schedule with the cron and time zone, idempotent, deletable; bad flags are named', async () => {
    const file = join(dir, 'api-staging.yaml');
    const args = ['drill', 'schedule', '--runbook', file, '--cron', '0 10 * * TUE', '--timezone', 'Europe/Paris'];
    const first = await rearguard(args, e);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Created drill-schedule:api-staging: drill of runbook api-staging at "0 10 \* \* TUE" \(Europe\/Paris\)/);
    const again = await rearguard(args, e);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Updated drill-schedule:api-staging/);

    const d = await env.client.schedule.getHandle('drill-schedule:api-staging').describe();
    assert.equal(d.spec.timezone, 'Europe/Paris');
    const cal = d.spec.calendars?.[0] as Record<string, unknown> | undefined;
    assert.ok(cal, JSON.stringify(d.spec));
    assert.deepEqual(
      { hour: cal.hour, minute: cal.minute, dayOfWeek: cal.dayOfWeek },
      { hour: [{ start: 10, end: 10, step: 1 }], minute: [{ start: 0, end: 0, step: 1 }], dayOfWeek: [{ start: 'TUESDAY', end: 'TUESDAY', step: 1 }] },
    );
    assert.match(d.state.note ?? '', /cron "0 10 \* \* TUE" \(Europe\/Paris\)/);
    assert.equal(d.action.type === 'startWorkflow' && d.action.workflowType, 'drill');
    assert.equal(d.action.type === 'startWorkflow' && d.action.workflowId, 'drill:api-staging');
    const input = (d.action.type === 'startWorkflow' ? d.action.args?.[0] : undefined) as { actor: string; forced: boolean } | undefined;
    assert.deepEqual({ actor: input?.actor, forced: input?.forced }, { actor: 'schedule:drill-schedule:api-staging', forced: false });
    const ids: string[] = [];
    for await (const s of env.client.schedule.list()) ids.push(s.scheduleId);
    assert.deepEqual(
      ids.filter((id) => id.startsWith('drill-schedule:')),
      ['drill-schedule:api-staging'],
    );

    const badCron = await rearguard(['drill', 'schedule', '--runbook', file, '--cron', 'every tuesday'], e);
    assert.equal(badCron.code, 2);
    assert.match(badCron.stderr, /^--cron: expected a five-field cron expression/m);
    const badZone = await rearguard(['drill', 'schedule', '--runbook', file, '--cron', '0 10 * * TUE', '--timezone', 'Mars/Olympus'], e);
    assert.equal(badZone.code, 2);
    assert.match(badZone.stderr, /^--timezone: expected an IANA time zone/m);
    const prod = await rearguard(['drill', 'schedule', '--runbook', join(dir, 'api-prod.yaml'), '--cron', '0 10 * * TUE'], e);
    assert.equal(prod.code, 2);
    assert.match(prod.stderr, /drill schedule refused: .*staging only/);

    const del = await rearguard(['drill', 'schedule', '--runbook', file, '--delete'], e);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /Deleted drill-schedule:api-staging/);
    const delAgain = await rearguard(['drill', 'schedule', '--runbook', file, '--delete'], e);
    assert.equal(delAgain.code, 0);
    assert.match(delAgain.stdout, /nothing to delete/);
  });
});
