// The repeat rule's memory on real targets: after a rollback, `previous` (kubernetes, helm) and `HEAD`
// (gitops) must not resolve afresh to the bad version; an explicit target still works, and a new deploy
// re-arms. Real kube-apiserver and controllers (testbed), real helm, real git.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Git } from '../../activities/git.js';
import { Gitops, type GitopsPlan } from '../../activities/gitops.js';
import { Helm, type HelmPlan } from '../../activities/helm.js';
import { kubernetesMechanisms } from '../../activities/kubernetes/index.js';
import type { RolloutPlan } from '../../activities/kubernetes/rollout.js';
import { Clusters } from '../../activities/targets.js';
import { RESTORED_ANNOTATION } from '../../runbook/repeat.js';
import type { Step } from '../../runbook/schema.js';
import {
  commitConfig,
  configRepoWithHistory,
  configState,
  deployImage,
  deploymentState,
  deploymentWithHistory,
  helmDeploy,
  helmHistory,
  helmReleaseWithHistory,
  helmTag,
} from '../helpers/histories.js';
import { toolPath } from '../helpers/tools.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';

let bed: Testbed;
let work: string;

before(async () => {
  bed = await startTestbed();
  work = await mkdtemp(join(tmpdir(), 'rearguard-repeat-'));
});
after(async () => {
  await bed?.stop();
});

const activity = <T>(fn: () => Promise<T>): Promise<T> => new MockActivityEnvironment({ startToCloseTimeoutMs: 120_000 }).run(fn) as Promise<T>;
const first = { workflowId: 'rollback:prod:api', runId: 'run-1' };

describe('the repeat rule on real targets', () => {
  it('kubernetes: the restore is recorded on the Deployment; previous from there plans to stay, until a new deploy', async () => {
    const k = kubernetesMechanisms(new Clusters({ testbed: { kubeconfig: bed.kubeconfig } }));
    await deploymentWithHistory(bed, 'repeat-k8s', 'api');
    const step: Extract<Step, { type: 'kubernetes' }> = {
      type: 'kubernetes',
      name: 'undo',
      namespace: 'repeat-k8s',
      deployment: 'api',
      toRevision: 'previous',
    };

    const plan = (await k.plan(step, 'testbed')) as RolloutPlan;
    assert.deepEqual([plan.fromRevision, plan.toRevision, plan.alreadyRestored], [3, 2, undefined]);
    const result = await activity(() => k.apply(step, plan, first));
    const after1 = await deploymentState(bed, 'repeat-k8s', 'api');
    assert.deepEqual([after1.tag, after1.revision], ['1.25', 4]);
    const recorded = JSON.parse(after1.annotations[RESTORED_ANNOTATION]) as Record<string, unknown>;
    assert.deepEqual(
      { revision: recorded.revision, by: recorded.by, runId: recorded.runId, toRevision: recorded.toRevision },
      { revision: 4, by: 'rollback:prod:api', runId: 'run-1', toRevision: 2 },
    );
    assert.deepEqual((result.restoreRecord as { revision: number }).revision, 4);
    const rs = JSON.parse(await bed.kubectl(['get', 'replicasets', '-n', 'repeat-k8s', '-o', 'json'])) as { items: unknown[] };
    assert.equal(rs.items.length, 3, 'recording the restore started no rollout');

    // The same trigger again: `previous` would be 1.27. The plan stays at revision 4 instead.
    const again = (await k.plan(step, 'testbed')) as RolloutPlan;
    assert.equal(again.alreadyRestored?.by, 'rollback:prod:api');
    assert.equal(again.alreadyRestored?.revision, 4);
    assert.match(again.alreadyRestored!.detail, /deployment repeat-k8s\/api at revision 4, the template of revision 2 \(api=registry\.local\/api:1\.25\)/);
    assert.deepEqual([again.fromRevision, again.toRevision, again.toImages], [4, 4, ['api=registry.local/api:1.25']]);
    const noop = await activity(() => k.apply(step, again, { workflowId: 'rollback:prod:api', runId: 'run-2' }));
    assert.equal(noop.changed, false);
    assert.deepEqual((await deploymentState(bed, 'repeat-k8s', 'api')).revision, 4, 'nothing moved');

    // A person naming a revision is explicit: no memory consulted.
    const explicit = (await k.plan({ ...step, toRevision: 3 }, 'testbed')) as RolloutPlan;
    assert.deepEqual([explicit.toRevision, explicit.alreadyRestored], [3, undefined]);

    // A new deploy (1.28, revision 5) re-arms: previous is the restored 1.25 again, and the new restore is recorded.
    await deployImage(bed, 'repeat-k8s', 'api', '1.28');
    const rearmed = (await k.plan(step, 'testbed')) as RolloutPlan;
    assert.deepEqual([rearmed.fromRevision, rearmed.toRevision, rearmed.alreadyRestored, rearmed.toImages], [5, 4, undefined, ['api=registry.local/api:1.25']]);
    await activity(() => k.apply(step, rearmed, { workflowId: 'rollback:prod:api', runId: 'run-3' }));
    const after2 = await deploymentState(bed, 'repeat-k8s', 'api');
    assert.deepEqual([after2.tag, after2.revision], ['1.25', 6]);
    assert.equal(((await k.plan(step, 'testbed')) as RolloutPlan).alreadyRestored?.runId, 'run-3');
  });

  it('helm: the revision `helm rollback` made is marked on its release Secret; previous from there plans to stay, until an upgrade', async () => {
    const helm = new Helm(toolPath('helm'), 'testbed', { kubeconfig: bed.kubeconfig });
    await helmReleaseWithHistory(bed, 'repeat-helm', 'web');
    const plan: HelmPlan = await helm.plan('repeat-helm', 'web', 'previous');
    assert.deepEqual([plan.fromRevision, plan.toRevision], [3, 2]);
    const result = await activity(() => helm.apply(plan, 120_000, first));
    assert.equal(result.newRevision, 4);
    assert.equal(await helmTag(bed, 'repeat-helm', 'web'), '1.25');
    const secret = JSON.parse(await bed.kubectl(['get', 'secret', 'sh.helm.release.v1.web.v4', '-n', 'repeat-helm', '-o', 'json'])) as {
      metadata: { annotations: Record<string, string>; labels: Record<string, string> };
    };
    assert.equal((JSON.parse(secret.metadata.annotations[RESTORED_ANNOTATION]) as { by: string }).by, 'rollback:prod:api');
    assert.equal(secret.metadata.labels.status, 'deployed');

    const again = await helm.plan('repeat-helm', 'web', 'previous');
    assert.equal(again.alreadyRestored?.revision, 4);
    assert.match(again.alreadyRestored!.detail, /helm release repeat-helm\/web at revision 4, a rollback to revision 2/);
    const noop = await activity(() => helm.apply(again, 120_000, { workflowId: 'rollback:prod:api', runId: 'run-2' }));
    assert.equal(noop.changed, false);
    assert.equal((await helmHistory(bed, 'repeat-helm', 'web')).length, 4, 'no fifth revision');
    assert.equal(await helmTag(bed, 'repeat-helm', 'web'), '1.25');

    assert.deepEqual([(await helm.plan('repeat-helm', 'web', 1)).toRevision, (await helm.plan('repeat-helm', 'web', 1)).alreadyRestored], [1, undefined]);

    // helm keeps working with the marked Secret: an upgrade supersedes it, and previous is revision 4 again.
    await helmDeploy(bed, 'repeat-helm', 'web', '1.28');
    const rearmed = await helm.plan('repeat-helm', 'web', 'previous');
    assert.deepEqual([rearmed.fromRevision, rearmed.toRevision, rearmed.alreadyRestored], [5, 4, undefined]);
    assert.deepEqual(
      (await helmHistory(bed, 'repeat-helm', 'web')).map((h) => h[1]),
      ['superseded', 'superseded', 'superseded', 'superseded', 'deployed'],
    );
  });

  it("gitops: HEAD (or any relative ref) on top of Rearguard's own rollback commit is a repeat; commit ids are explicit; a new commit re-arms", async () => {
    const { repo, commits } = await configRepoWithHistory('repeat-config');
    const gitops = new Gitops(
      new Git('git', 'repeat-config', { url: repo.url, branch: 'main', author: { name: 'Rearguard', email: 'r@localhost' }, terraformBackendConfig: {} }, {}),
      work,
    );
    const message = { title: 'Rollback api in prod: revert', actor: 'alertmanager', reason: 'api 5xx', workflowId: 'rollback:prod:api' };
    const plan: GitopsPlan = await activity(() => gitops.plan({ commit: 'HEAD' }, 'rollback:prod:api/run-1/config'));
    assert.deepEqual([plan.commits, plan.alreadyRestored], [[commits['1.27']], undefined]);
    const made = await activity(() => gitops.commit(plan, 'rollback:prod:api/run-1/config', message));
    assert.equal(made.created, true);
    assert.deepEqual(await configState(repo), { tag: '1.25', head: made.commit });

    for (const revert of [{ commit: 'HEAD' }, { toRef: 'HEAD~1' }, { commits: ['HEAD', commits['1.25']] }]) {
      const again: GitopsPlan = await activity(() => gitops.plan(revert, 'rollback:prod:api/run-2/config'));
      assert.deepEqual(
        { revision: again.alreadyRestored?.revision, by: again.alreadyRestored?.by, runId: again.alreadyRestored?.runId },
        { revision: made.commit, by: 'rollback:prod:api', runId: 'run-1' },
        JSON.stringify(revert),
      );
      assert.match(again.alreadyRestored!.detail, new RegExp(`reverts ${commits['1.27'].slice(0, 12)}`));
      const noop = await activity(() => gitops.commit(again, 'rollback:prod:api/run-2/config', message));
      assert.deepEqual([noop.created, noop.commit], [false, made.commit]);
    }
    assert.deepEqual(await configState(repo), { tag: '1.25', head: made.commit }, 'HEAD was not reverted back to 1.27');

    const explicit: GitopsPlan = await activity(() => gitops.plan({ commit: commits['1.25'] }, 'rollback:prod:api/run-3/config'));
    assert.deepEqual([explicit.commits, explicit.alreadyRestored], [[commits['1.25']], undefined]);

    const deployed = await commitConfig(repo, '1.28');
    const rearmed: GitopsPlan = await activity(() => gitops.plan({ commit: 'HEAD' }, 'rollback:prod:api/run-4/config'));
    assert.deepEqual([rearmed.commits, rearmed.alreadyRestored], [[deployed], undefined]);
  });
});
