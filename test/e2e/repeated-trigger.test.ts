// A repeated trigger must not roll forward to the bad version (issue 10, part 2). On the testbed, from the
// CLI through the dev server and a worker: history ... -> 1.25 -> 1.27 (bad); `rollback start` restores 1.25;
// the same command again must change nothing and end `already-restored` (audited, escalated), for a
// kubernetes, a helm and a gitops step. A new deploy re-arms; `--to-revision N` is a person's explicit choice.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import {
  configRepoWithHistory,
  configState,
  deployImage,
  deploymentState,
  deploymentWithHistory,
  ensureNamespace,
  helmHistory,
  helmReleaseWithHistory,
  helmTag,
} from '../helpers/histories.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { rearguardEnv } from '../helpers/fixtures.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { ROOT, toolPath } from '../helpers/tools.js';
import type { TestRepo } from '../helpers/git-repos.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let env: TestWorkflowEnvironment;
let bed: Testbed;
let dir: string;
let receiver: Receiver;
let worker: WorkerProcess | undefined;
let e: Record<string, string>;
let config: { repo: TestRepo; commits: Record<string, string> };

before(async () => {
  [env, bed, dir, receiver] = await Promise.all([createDevServerEnv(), startTestbed(), mkdtemp(join(tmpdir(), 'rearguard-repeat-e2e-')), startReceiver()]);
  // The kubernetes step runs with exactly the shipped role: recording the restore needs nothing more.
  await ensureNamespace(bed, 'repeat');
  const rbac = await readFile(`${ROOT}deploy/rbac/rearguard-worker.yaml`, 'utf8');
  await bed.kubectl(['apply', '-f', '-'], rbac.split('\n---\n')[0]);
  await bed.kubectl(['create', 'rolebinding', 'rearguard-worker', '-n', 'repeat', '--clusterrole=rearguard-worker', '--user=rearguard-worker']);
  config = await configRepoWithHistory('repeat-config');
  const targets = join(dir, 'targets.yaml');
  await writeFile(
    targets,
    `clusters:\n  testbed: { kubeconfig: ${bed.kubeconfig} }\n  testbed-worker: { kubeconfig: ${await bed.kubeconfigFor('rearguard-worker')} }\nrepos:\n  config: { url: "${config.repo.url}", branch: main }\n`,
  );
  e = rearguardEnv(env, dir, 'repeat');
  worker = await startWorker({
    ...e,
    REARGUARD_TARGETS: targets,
    REARGUARD_METRICS_PORT: '0',
    REARGUARD_HELM_BIN: toolPath('helm'),
    REARGUARD_WORKDIR: join(dir, 'work'),
  });
});
after(async () => {
  await worker?.stop('SIGKILL');
  await receiver?.close();
  await Promise.all([env?.teardown(), bed?.stop()]);
});

async function runbook(service: string, step: string): Promise<string> {
  const file = join(dir, `${service}.yaml`);
  await writeFile(
    file,
    `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${service}-prod }
spec:
  service: ${service}
  environment: prod
  cluster: testbed
  sla: 5m
  escalation: [{ at: 50%, notify: [oncall] }]
  steps:
    - ${step}
  notify:
    - { name: oncall, type: webhook, url: "${receiver.url}/${service}/oncall" }
    - { name: team, type: webhook, url: "${receiver.url}/${service}/team" }
`,
  );
  return file;
}

const start = (file: string, actor: string, ...flags: string[]) =>
  rearguard(['rollback', 'start', '--runbook', file, '--reason', 'error ratio 30% after 1.27', '--as', actor, '--wait', ...flags], e);
const status = async (service: string): Promise<RollbackStatus> =>
  JSON.parse((await rearguard(['rollback', 'status', '--env', 'prod', '--service', service, '--json'], e)).stdout) as RollbackStatus;
const audit = async (workflowId: string): Promise<AuditEvent[]> =>
  (await readFile(e.REARGUARD_AUDIT_FILE, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((x) => x.workflowId === workflowId);
const notices = (path: string) => receiver.requests.filter((r) => r.path === path).map((r) => JSON.parse(r.body) as { event: string; text: string });

/** The second run: exit 1, nothing changed, outcome already-restored, naming the first run. */
async function assertRepeatRefused(service: string, file: string, revision: string): Promise<RollbackStatus> {
  const again = await start(file, 'erin');
  assert.equal(again.code, 1, `${again.stdout}\n${again.stderr}`);
  const message = new RegExp(`already rolled back to ${revision} by rollback:prod:${service} at \\d{4}-[^;]+; the condition persists`);
  assert.match(again.stdout, message);
  assert.match(again.stdout, new RegExp(`rollback:prod:${service}: already-restored\\.`));
  const s = await status(service);
  assert.equal(s.outcome, 'already-restored');
  assert.equal(s.trigger.actor, 'erin');
  assert.deepEqual(
    s.steps.map((x) => x.state),
    ['skipped'],
  );
  assert.match(s.alreadyRestored!.message, message);
  const human = await rearguard(['rollback', 'status', '--env', 'prod', '--service', service], e);
  assert.equal(human.code, 1);
  assert.match(human.stdout, /outcome ALREADY-RESTORED/);
  assert.match(human.stdout, /nothing was changed\. To go further back: rearguard rollback start --to-revision N/);
  // Audited with the earlier rollback's identity, and escalated to the escalation target only.
  const events = await audit(`rollback:prod:${service}`);
  const firstRun = events.find((x) => x.action === 'rollback.succeeded')!.id.split('/')[1];
  const refused = events.filter((x) => x.action === 'rollback.already-restored').at(-1)!;
  assert.equal(refused.details.by, `rollback:prod:${service}`);
  assert.equal(refused.details.runId, firstRun);
  assert.match(refused.reason, message);
  const secondRun = refused.id.split('/')[1];
  assert.notEqual(secondRun, firstRun);
  assert.ok(!events.some((x) => x.action === 'rollback.step-started' && x.id.split('/')[1] === secondRun), 'the second run started no step');
  assert.match(notices(`/${service}/oncall`).find((n) => n.event === 'already-restored')?.text ?? '', message);
  assert.ok(!notices(`/${service}/team`).some((n) => n.event === 'already-restored'), 'only the escalation targets are told');
  return s;
}

describe('a repeated trigger after a successful rollback changes nothing', () => {
  it('kubernetes: stays on 1.25; a new deploy re-arms; --to-revision is explicit and audited', async (t) => {
    const t0 = Date.now();
    await deploymentWithHistory(bed, 'repeat', 'api');
    const file = await runbook('api', '{ name: undo, type: kubernetes, cluster: testbed-worker, namespace: repeat, deployment: api, toRevision: previous }');

    const first = await start(file, 'dave');
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    assert.deepEqual(await deploymentState(bed, 'repeat', 'api').then((d) => [d.tag, d.revision]), ['1.25', 4]);

    await assertRepeatRefused('api', file, 'revision 4');
    assert.deepEqual(await deploymentState(bed, 'repeat', 'api').then((d) => [d.tag, d.revision]), ['1.25', 4], 'not rolled forward to 1.27');
    const plan = await rearguard(['rollback', 'plan', '--runbook', file], e);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /undo \[kubernetes\] deployment repeat\/api at revision 4, .*already restored by rollback:prod:api/);
    const outcomes = async () =>
      (JSON.parse((await rearguard(['rollback', 'list', '--all', '--json'], e)).stdout) as { workflowId: string; outcome?: string }[])
        .filter((r) => r.workflowId === 'rollback:prod:api')
        .map((r) => r.outcome)
        .join(',');
    await waitFor(async () => (await outcomes()) === 'already-restored,succeeded' || undefined, 'rollback list shows both outcomes', 10_000).catch(
      async (err: Error) => {
        throw new Error(`${err.message}: ${await outcomes()}`);
      },
    );

    // A new deploy (revision 5, 1.28) re-arms: the next trigger rolls back normally, to 1.25.
    await deployImage(bed, 'repeat', 'api', '1.28');
    const rearmed = await start(file, 'dave');
    assert.equal(rearmed.code, 0, `${rearmed.stdout}\n${rearmed.stderr}`);
    assert.deepEqual(await deploymentState(bed, 'repeat', 'api').then((d) => [d.tag, d.revision]), ['1.25', 6]);
    const s = await status('api');
    assert.deepEqual([s.steps[0].result?.fromRevision, s.steps[0].result?.toRevision], [5, 4]);

    // Bad flags are bad input, before anything starts.
    for (const [flags, pattern] of [
      [['--to-revision', '0'], /--to-revision: expected a positive revision number such as 3/],
      [['--to-revision', 'two'], /--to-revision: expected a positive revision number such as 3/],
      [['--to-revision', '2', '--step', 'nope'], /--step: the runbook has no step nope \(kubernetes and helm steps: undo\)/],
      [['--step', 'undo'], /--step: only with --to-revision/],
    ] as const) {
      const bad = await start(file, 'dave', ...flags);
      assert.equal(bad.code, 2, `${flags.join(' ')}: ${bad.stdout}${bad.stderr}`);
      assert.match(bad.stderr, pattern);
    }

    // A person asks for revision 1 (1.24) explicitly: it goes past the restored state, audited.
    const explicit = await start(file, 'alice', '--to-revision', '1');
    assert.equal(explicit.code, 0, `${explicit.stdout}\n${explicit.stderr}`);
    assert.match(explicit.stdout, /Step undo goes to revision 1, as you asked/);
    assert.deepEqual(await deploymentState(bed, 'repeat', 'api').then((d) => [d.tag, d.revision]), ['1.24', 7]);
    const triggered = (await audit('rollback:prod:api')).filter((x) => x.action === 'rollback.triggered').at(-1)!;
    assert.deepEqual([triggered.actor, triggered.details.explicitTarget], ['alice', { step: 'undo', toRevision: 1 }]);
    // ...and that restore is remembered too: the alert that fires again leaves 1.24 in place.
    const afterExplicit = await start(file, 'erin');
    assert.equal(afterExplicit.code, 1);
    assert.match(afterExplicit.stdout, /already rolled back to revision 7 by rollback:prod:api/);
    assert.equal((await deploymentState(bed, 'repeat', 'api')).tag, '1.24');
    t.diagnostic(`total ${Date.now() - t0} ms`);
  });

  it('helm: stays on 1.25, no new release revision', async (t) => {
    const t0 = Date.now();
    await helmReleaseWithHistory(bed, 'repeat-helm', 'web');
    const file = await runbook('web', '{ name: undo-web, type: helm, namespace: repeat-helm, release: web }');
    const first = await start(file, 'dave');
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    assert.equal(await helmTag(bed, 'repeat-helm', 'web'), '1.25');
    assert.deepEqual((await helmHistory(bed, 'repeat-helm', 'web')).at(-1), [4, 'deployed', 'Rollback to 2']);

    await assertRepeatRefused('web', file, 'revision 4');
    assert.equal(await helmTag(bed, 'repeat-helm', 'web'), '1.25', 'not rolled forward to 1.27');
    assert.equal((await helmHistory(bed, 'repeat-helm', 'web')).length, 4, 'no fifth revision');
    t.diagnostic(`total ${Date.now() - t0} ms`);
  });

  it('gitops: revert {commit: HEAD} does not revert the revert', async (t) => {
    const t0 = Date.now();
    const file = await runbook('config', '{ name: revert-config, type: gitops, repo: config, revert: { commit: HEAD } }');
    const first = await start(file, 'dave');
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    const restored = await configState(config.repo);
    assert.equal(restored.tag, '1.25');
    assert.equal((await status('config')).steps[0].result?.commit, restored.head);

    await assertRepeatRefused('config', file, `commit ${restored.head.slice(0, 12)}`);
    assert.deepEqual(await configState(config.repo), restored, 'HEAD is still the rollback commit: 1.27 was not deployed back');
    t.diagnostic(`total ${Date.now() - t0} ms`);
  });
});
