// The rollback workflow on the time-skipping test server, activities stubbed per test: a repeated trigger
// after a rollback restored the target (the repeat rule), and explicit targets. Fixture: test/helpers/rollback.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import type { StepRequest } from '../../runbook/types.js';
import { rollbackWorkflowId } from '../../api/ids.js';
import { useTemporalEnv } from '../helpers/harness.js';
import { actions, outcomeOf, rollbackHarness } from '../helpers/rollback.js';
import { makeRunbook } from '../helpers/runbooks.js';
import { type RestoreRecord } from '../../runbook/plan.js';

useTemporalEnv();
const { histories, withRollback } = rollbackHarness();

describe('rollback workflow', () => {
  describe('a repeated trigger after a rollback restored the target (the repeat rule)', () => {
    const record = (by: string): RestoreRecord => ({
      revision: 4,
      restoredTo: 'revision 4',
      by,
      runId: 'run-1',
      at: '2026-11-29T10:00:00.000Z',
      detail: 'deployment shop/api at revision 4, the template of revision 2 (api=api:1.25)',
    });
    const kubeRunbook = (extra: Record<string, unknown> = {}) =>
      makeRunbook({
        steps: [
          { name: 'drain', type: 'webhook', url: 'http://127.0.0.1:9/drain' },
          { name: 'undo-api', type: 'kubernetes', namespace: 'shop', deployment: 'api', toRevision: 'previous' },
          { name: 'announce', type: 'webhook', url: 'http://127.0.0.1:9/announce' },
        ],
        verify: [{ type: 'http', url: 'http://127.0.0.1:9/healthz' }],
        ...extra,
      });
    const plan = (alreadyRestored?: RestoreRecord) => ({
      kind: 'kubernetes' as const,
      cluster: 'prod-eu',
      namespace: 'shop',
      deployment: 'api',
      fromRevision: alreadyRestored ? 4 : 3,
      toRevision: alreadyRestored ? 4 : 2,
      fromImages: ['api=api:1.27'],
      toImages: ['api=api:1.25'],
      replicaSet: 'api-2',
      alreadyAtTarget: alreadyRestored !== undefined,
      ...(alreadyRestored ? { alreadyRestored } : {}),
    });

    it('ends already-restored before approval and before any step: audited, escalated, nothing run, not an error', async () => {
      const checked: unknown[] = [];
      await withRollback(
        {
          runbook: kubeRunbook(),
          overrides: {
            findRestored: async (req) => {
              checked.push(req.steps.map((x) => x.name));
              return { step: 'undo-api', record: record(rollbackWorkflowId('prod', 'elsewhere')) };
            },
            planStep: async () => {
              throw new Error('a repeated trigger plans nothing');
            },
          },
        },
        async (h, { calls, metrics }) => {
          const s = await outcomeOf(h);
          assert.equal(s.outcome, 'already-restored');
          assert.deepEqual(checked, [['undo-api']], 'only the relative step is checked');
          assert.equal(calls.steps.length, 0, 'no step ran');
          assert.equal(s.approval.votes.length, 0, 'nobody was asked to approve a no-op');
          assert.deepEqual(
            s.steps.map((x) => x.state),
            ['skipped', 'skipped', 'skipped'],
          );
          assert.deepEqual(
            s.verify.map((x) => x.state),
            ['skipped'],
          );
          const message = 'already rolled back to revision 4 by rollback:prod:elsewhere at 2026-11-29T10:00:00.000Z; the condition persists';
          assert.equal(s.alreadyRestored?.message, message);
          assert.equal(s.alreadyRestored?.step, 'undo-api');
          assert.match(String(s.steps[1].result?.status), /^already restored: deployment shop\/api at revision 4/);
          const event = calls.audit.find((e) => e.action === 'rollback.already-restored');
          assert.equal(event?.reason, message);
          assert.deepEqual(
            { by: event?.details.by, at: event?.details.at, revision: event?.details.revision, runId: event?.details.runId },
            { by: 'rollback:prod:elsewhere', at: '2026-11-29T10:00:00.000Z', revision: 4, runId: 'run-1' },
          );
          assert.ok(!actions(calls.audit).includes('rollback.succeeded') && !actions(calls.audit).includes('rollback.failed'));
          // The escalation targets (oncall, incident) hear it, once; no closing "rollback.<outcome>" notice on top.
          assert.deepEqual(
            calls.notify.map((n) => [n.event, n.targets.map((t) => t.name)]),
            [['already-restored', ['oncall', 'incident']]],
          );
          assert.ok(calls.notify[0].text.includes(message), calls.notify[0].text);
          assert.match(
            await metrics.registry.metrics(),
            /rearguard_rollbacks_total\{environment="prod",service="svc-[0-9a-f]+",outcome="already-restored"\} 1/,
          );
          const d = await h.describe();
          assert.equal(d.status.name, 'COMPLETED', 'the run does not fail');
          assert.equal((d.memo as { outcome?: string }).outcome, 'already-restored', 'visible in rollback list');
        },
      );
    });

    it('stops at a step whose own plan finds the target restored: earlier steps ran, that step and later ones are skipped', async () => {
      await withRollback(
        {
          runbook: kubeRunbook({ approval: { required: false }, escalation: [] }),
          overrides: {
            // The check before the steps could not run (e.g. the cluster was briefly unreachable).
            findRestored: async () => {
              throw ApplicationFailure.nonRetryable('cluster prod-eu: no answer', 'KubernetesUnavailable');
            },
            planStep: async () => plan(record('rollback:prod:before')),
          },
        },
        async (h, { calls }) => {
          const s = await outcomeOf(h);
          assert.equal(s.outcome, 'already-restored');
          assert.deepEqual(
            calls.steps.map((r) => r.step.name),
            ['drain'],
            'the kubernetes step never ran',
          );
          assert.deepEqual(
            s.steps.map((x) => x.state),
            ['succeeded', 'skipped', 'skipped'],
          );
          const acts = actions(calls.audit);
          assert.ok(acts.includes('rollback.repeat-check-failed'));
          assert.deepEqual(
            acts.filter((a) => /step-(planned|skipped)|already-restored/.test(a)),
            ['rollback.step-planned', 'rollback.step-skipped', 'rollback.already-restored'],
          );
          assert.match(calls.audit.find((e) => e.action === 'rollback.step-planned')!.reason, /already restored by rollback:prod:before/);
          // No escalation list: every notify target hears it.
          assert.deepEqual(
            calls.notify.map((n) => [n.event, n.targets.map((t) => t.name)]),
            [['already-restored', ['oncall', 'incident']]],
          );
        },
      );
    });

    it('an explicit target (--to-revision) bypasses the rule, reaches the step and is audited', async () => {
      const planned: StepRequest[] = [];
      let checked = 0;
      await withRollback(
        {
          runbook: kubeRunbook({ approval: { required: false } }),
          trigger: { explicitTarget: { step: 'undo-api', toRevision: 1 } },
          overrides: {
            findRestored: async () => {
              checked++;
              return { step: 'undo-api', record: record('rollback:prod:before') };
            },
            planStep: async (req) => {
              planned.push(req);
              return plan();
            },
          },
        },
        async (h, { calls }) => {
          const s = await outcomeOf(h);
          assert.equal(s.outcome, 'succeeded');
          assert.equal(checked, 0, 'an explicit target is not a repeat: nothing to check');
          assert.equal(planned.length, 1);
          assert.equal((planned[0].step as { toRevision?: unknown }).toRevision, 1);
          assert.equal((calls.steps.find((r) => r.step.name === 'undo-api')!.step as { toRevision?: unknown }).toRevision, 1);
          assert.deepEqual(calls.audit.find((e) => e.action === 'rollback.triggered')?.details.explicitTarget, { step: 'undo-api', toRevision: 1 });
        },
      );
    });

    it('refuses an explicit target for a step that takes no revision, before anything runs', async () => {
      await withRollback(
        { runbook: kubeRunbook({ approval: { required: false } }), trigger: { explicitTarget: { step: 'drain', toRevision: 2 } } },
        async (h, { calls }) => {
          await assert.rejects(h.result(), (err: unknown) => {
            assert.ok(err instanceof WorkflowFailedError);
            assert.match(
              String((err.cause as Error).message),
              /explicit target \(--to-revision\): step drain is a webhook step; only kubernetes and helm steps take a revision \(undo-api\)/,
            );
            return true;
          });
          assert.equal(calls.steps.length, 0);
        },
      );
    });
  });

  it('replays every history recorded above without nondeterminism', async () => {
    assert.ok(histories.length >= 4, `recorded ${histories.length} histories`);
    for (const r of await histories.replay()) {
      assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
    }
  });
});
