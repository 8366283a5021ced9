// The rollback workflow on the time-skipping test server, activities stubbed per test: approvals (quorum,
// validator refusals, reject, the real 10m approval timeout), a second trigger joining, and terraform plan
// approval. Real durations are skipped by the server, not shortened. Fixture: test/helpers/rollback.ts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { approvePlanUpdate, approveUpdate, rejectUpdate, statusQuery } from '../../api/messages.js';
import { useTemporalEnv } from '../helpers/harness.js';
import { actions, outcomeOf, phase, poll, rollbackHarness } from '../helpers/rollback.js';
import { makeRunbook } from '../helpers/runbooks.js';
import { slaLine } from '../../client/render/rollback.js';

useTemporalEnv();
const { histories, withRollback } = rollbackHarness();

describe('rollback workflow', () => {
  it('waits for a quorum of 2, then runs every step in order and succeeds', async () => {
    await withRollback(
      { runbook: makeRunbook({ approval: { required: true, approvers: ['alice', 'bob', 'carol'], quorum: 2, timeout: '10m' } }) },
      async (h, { calls, metrics }) => {
        await phase(h, 'awaiting-approval');
        const first = await h.executeUpdate(approveUpdate, { args: [{ actor: 'alice', reason: 'confirmed on dashboard' }] });
        assert.deepEqual(first, { accepted: true, approvals: 1, quorum: 2, decided: false });
        assert.equal(calls.steps.length, 0, 'no step may run before the quorum');
        const second = await h.executeUpdate(approveUpdate, { args: [{ actor: 'bob', reason: 'agree' }] });
        assert.equal(second.decided, true);
        const s = await outcomeOf(h);
        assert.equal(s.outcome, 'succeeded');
        assert.deepEqual(
          calls.steps.map((r) => r.step.name),
          ['switch-traffic', 'restore-config', 'announce'],
        );
        assert.deepEqual(
          s.steps.map((x) => x.state),
          ['succeeded', 'succeeded', 'succeeded'],
        );
        assert.deepEqual(
          s.approval.votes.map((v) => v.actor),
          ['alice', 'bob'],
        );
        assert.equal(new Set(calls.steps.map((r) => r.idempotencyKey)).size, 3);
        const acts = actions(calls.audit);
        assert.deepEqual(acts.filter((a) => a === 'rollback.approved').length, 2);
        assert.ok(acts.indexOf('rollback.approved') < acts.indexOf('rollback.step-started'));
        assert.equal(acts.at(-1), 'rollback.succeeded');
        assert.ok(calls.audit.every((e) => e.actor.length > 0));
        assert.match(await metrics.registry.metrics(), /rearguard_rollbacks_total\{environment="prod",service="svc-[0-9a-f]+",outcome="succeeded"\} 1/);
      },
    );
  });

  it('shows its phase in its memo while it runs (progress-memo; rollback list reads it without a Query)', async () => {
    await withRollback({ runbook: makeRunbook({ approval: { required: true, approvers: ['carol'], timeout: '10m' } }) }, async (h) => {
      await phase(h, 'awaiting-approval');
      await poll(async () => ((await h.describe()).memo?.phase === 'awaiting-approval' ? true : undefined), 'the phase in the memo');
      const since = (await h.describe()).memo?.since as string;
      assert.ok(!Number.isNaN(Date.parse(since)), `since ${since}: when it began to wait`);
      await h.executeUpdate(approveUpdate, { args: [{ actor: 'carol', reason: 'ok' }] });
      assert.equal((await outcomeOf(h)).outcome, 'succeeded');
      const { memo } = await h.describe();
      assert.equal(memo?.phase, 'verifying', 'the last phase it reached');
      assert.ok(Date.parse(memo?.since as string) >= Date.parse(since), 'since: when it reached it');
      assert.equal(memo?.outcome, 'succeeded');
    });
  });

  it('refuses self-approval, unlisted approvers and double votes in the validator', async () => {
    await withRollback(
      { actor: 'alice', runbook: makeRunbook({ approval: { required: true, approvers: ['alice', 'bob', 'carol'], quorum: 2, timeout: '10m' } }) },
      async (h, { calls }) => {
        await phase(h, 'awaiting-approval');
        const refused = async (actor: string, pattern: RegExp) => {
          await assert.rejects(h.executeUpdate(approveUpdate, { args: [{ actor, reason: 'x' }] }), (err: unknown) => {
            assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
            assert.match(String((err.cause as Error).message), pattern);
            return true;
          });
        };
        await refused('alice', /requested this rollback and cannot/);
        await refused('mallory', /mallory is not an approver/);
        await h.executeUpdate(approveUpdate, { args: [{ actor: 'bob', reason: 'ok' }] });
        await refused('bob', /bob has already voted \(approve\)/);
        const s = await h.query(statusQuery);
        assert.equal(s.approval.votes.length, 1, 'refused votes leave no trace in state');
        assert.equal(s.phase, 'awaiting-approval');
        assert.equal(calls.audit.filter((e) => e.action === 'rollback.approved').length, 1);
        await h.executeUpdate(approveUpdate, { args: [{ actor: 'carol', reason: 'ok' }] });
        assert.equal((await outcomeOf(h)).outcome, 'succeeded');
      },
    );
  });

  it('ends as rejected on any reject, changing nothing', async () => {
    await withRollback({}, async (h, { calls }) => {
      await phase(h, 'awaiting-approval');
      await h.executeUpdate(rejectUpdate, { args: [{ actor: 'carol', reason: 'error spike is from a client, not our deploy' }] });
      const s = await outcomeOf(h);
      assert.equal(s.outcome, 'rejected');
      assert.equal(calls.steps.length, 0);
      assert.ok(actions(calls.audit).includes('rollback.rejected'));
      assert.equal(calls.audit.find((e) => e.action === 'rollback.rejected')?.actor, 'carol');
      assert.deepEqual(
        [...s.steps, ...s.verify].map((i) => i.state),
        [...s.steps, ...s.verify].map(() => 'skipped'),
        'steps and checks that never ran read as skipped, not pending',
      );
      assert.match(slaLine(s), /^SLA \S+: not applicable \(rejected: nothing was restored\)$/);
    });
  });

  it('escalates and ends as approval-timeout after the real 10m approval timeout', async () => {
    await withRollback({ runbook: makeRunbook({ sla: '1h', escalation: [{ at: '50%', notify: ['oncall'] }] }) }, async (h, { calls }) => {
      const s = await outcomeOf(h);
      assert.equal(s.outcome, 'approval-timeout');
      assert.equal(calls.steps.length, 0);
      const waited = Date.parse(s.endedAt!) - Date.parse(s.startedAt);
      assert.ok(waited >= 600_000 && waited < 610_000, `waited ${waited} ms of workflow time`);
      const timeout = calls.notify.find((n) => n.event === 'approval-timeout');
      assert.deepEqual(
        timeout?.targets.map((t) => t.name),
        ['oncall'],
      );
      assert.equal(calls.audit.find((e) => e.action === 'rollback.approval-timeout')?.actor, 'approval-timer');
    });
  });

  it('lets a second trigger join the running rollback, audited, without starting another', async () => {
    await withRollback({}, async (h, { calls, start }) => {
      await phase(h, 'awaiting-approval');
      const second = await start({ source: 'alert', actor: 'alertmanager', reason: 'PaymentsErrorBudgetBurn', requestId: randomUUID() });
      assert.equal(second.workflowId, h.workflowId);
      const joined = await poll(async () => {
        const s = await h.query(statusQuery);
        return s.joins.length ? s : undefined;
      }, 'join');
      assert.equal(joined.joins[0].actor, 'alertmanager');
      assert.equal((await second.describe()).runId, (await h.describe()).runId, 'same run');
      // The alert is now a requester too: it cannot approve its own trigger, but a person can.
      await h.executeUpdate(approveUpdate, { args: [{ actor: 'bob', reason: 'ok' }] });
      const s = await outcomeOf(h);
      assert.equal(s.outcome, 'succeeded');
      assert.equal(calls.audit.filter((e) => e.action === 'rollback.triggered').length, 1);
      assert.equal(calls.audit.find((e) => e.action === 'rollback.joined')?.actor, 'alertmanager');
    });
  });

  it('holds a terraform step until its plan is approved, then applies exactly the recorded plan', async () => {
    const plan = {
      kind: 'terraform' as const,
      repo: 'infra',
      toRef: 'v1',
      commit: 'abc123',
      workingDir: 'infra/app',
      add: 0,
      change: 1,
      destroy: 1,
      changes: ['delete terraform_data.cache'],
      workspace: '/tmp/x',
      planSha256: 'f00',
    };
    const applied: unknown[] = [];
    await withRollback(
      {
        runbook: makeRunbook({
          approval: { required: false, approvers: ['alice', 'bob'] },
          steps: [{ name: 'infra', type: 'terraform', repo: 'infra', workingDir: 'infra/app', toRef: 'v1', approvePlan: true }],
        }),
        overrides: {
          planStep: async () => plan,
          runStep: async (req) => {
            applied.push(req.plan);
            return { applied: true };
          },
        },
      },
      async (h, { calls }) => {
        await poll(async () => ((await h.query(statusQuery)).steps[0].planApproval ? true : undefined), 'plan approval requested');
        assert.equal(applied.length, 0, 'nothing applied before approval');
        await assert.rejects(h.executeUpdate(approvePlanUpdate, { args: [{ actor: 'dave', reason: 'mine' }] }), WorkflowUpdateFailedError);
        await assert.rejects(
          h.executeUpdate(approvePlanUpdate, { args: [{ actor: 'bob', reason: 'ok', step: 'other' }] }),
          (e: unknown) => e instanceof WorkflowUpdateFailedError && /step other is not waiting/.test((e.cause as Error).message),
        );
        await h.executeUpdate(approvePlanUpdate, { args: [{ actor: 'bob', reason: '1 change, 1 destroy as expected' }] });
        const s = await outcomeOf(h);
        assert.equal(s.outcome, 'succeeded');
        assert.deepEqual(applied, [plan]);
        assert.equal(s.steps[0].planApproval?.approvedBy, 'bob');
        assert.deepEqual(
          actions(calls.audit).filter((a) => a.startsWith('rollback.plan')),
          ['rollback.plan-approval-requested', 'rollback.plan-approved'],
        );
        assert.match(calls.audit.find((e) => e.action === 'rollback.step-planned')!.reason, /0 to add, 1 to change, 1 to destroy/);
      },
    );
  });

  it('ends as rejected when a waiting plan is rejected, without applying it', async () => {
    let applied = 0;
    await withRollback(
      {
        runbook: makeRunbook({
          approval: { required: false, approvers: ['alice', 'bob'] },
          steps: [{ name: 'infra', type: 'terraform', repo: 'infra', workingDir: 'infra/app', toRef: 'v1', approvePlan: true }],
        }),
        overrides: {
          planStep: async () => ({
            kind: 'terraform',
            repo: 'infra',
            toRef: 'v1',
            commit: 'c',
            workingDir: 'infra/app',
            add: 5,
            change: 0,
            destroy: 9,
            changes: [],
            workspace: '/tmp/y',
            planSha256: 'x',
          }),
          runStep: async () => ({ applied: ++applied }),
        },
      },
      async (h) => {
        await poll(async () => ((await h.query(statusQuery)).steps[0].planApproval ? true : undefined), 'plan approval requested');
        await h.executeUpdate(rejectUpdate, { args: [{ actor: 'alice', reason: 'destroys 9 resources' }] });
        const s = await outcomeOf(h);
        assert.equal(s.outcome, 'rejected');
        assert.equal(applied, 0);
      },
    );
  });

  it('replays every history recorded above without nondeterminism', async () => {
    assert.ok(histories.length >= 7, `recorded ${histories.length} histories`);
    for (const r of await histories.replay()) {
      assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
    }
  });
});
