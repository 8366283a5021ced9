// The rollback workflow on the time-skipping test server, activities stubbed per test: steps under a real
// 5m SLA, a failed step, preflight, cancellation, and the freeze after a rollback (freezeAfter). Real
// durations are skipped by the server, not shortened. Fixture: test/helpers/rollback.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { cancelRequestSignal, freezeStateQuery, liftFreezeUpdate, statusQuery } from '../../api/messages.js';
import { testEnv, useTemporalEnv } from '../helpers/harness.js';
import { actions, outcomeOf, poll, rollbackHarness } from '../helpers/rollback.js';
import { makeRunbook } from '../helpers/runbooks.js';

useTemporalEnv();
const { histories, withRollback } = rollbackHarness();

describe('rollback workflow', () => {
  it('escalates at 50% and records a breach at 100% of a real 5m SLA while a step keeps failing, then completes', async () => {
    let attempts = 0;
    const runbook = makeRunbook({
      approval: { required: false },
      steps: [{ name: 'flaky-api', type: 'webhook', url: 'http://127.0.0.1:9/x', attempts: 20 }],
    });
    await withRollback(
      {
        runbook,
        overrides: {
          // Transient failures: retry back-off (1s, 2s, 4s ... capped at 30s) is server time, so the
          // 5m SLA passes while the step is still being retried.
          runStep: async () => {
            attempts++;
            if (Context.current().info.attempt < 18) throw ApplicationFailure.retryable('502 from API', 'HttpStatus');
            return { status: 200 };
          },
        },
      },
      async (h, { calls, metrics }) => {
        const s = await outcomeOf(h);
        assert.equal(s.outcome, 'succeeded');
        assert.equal(attempts, 18);
        assert.equal(s.sla.breached, true);
        const at = (action: string) => {
          const e = calls.audit.find((x) => x.action === action);
          assert.ok(e, `${action} audited`);
          return Date.parse(e.time) - Date.parse(s.startedAt);
        };
        const escalated = calls.audit.filter((e) => e.action === 'rollback.escalated');
        assert.equal(escalated.length, 2);
        assert.ok(Math.abs(at('rollback.escalated') - 150_000) < 2_000, `50% escalation at ${at('rollback.escalated')} ms`);
        assert.ok(Math.abs(at('rollback.sla-breached') - 300_000) < 2_000, `breach at ${at('rollback.sla-breached')} ms`);
        assert.deepEqual(
          calls.notify.filter((n) => n.event === 'escalation').map((n) => n.targets.map((t) => t.name)),
          [['oncall'], ['oncall', 'incident']],
        );
        assert.equal(
          s.sla.escalations.every((e) => e.firedAt),
          true,
        );
        assert.match(await metrics.registry.metrics(), /rearguard_rollback_sla_breaches_total\{environment="prod",service="svc-[0-9a-f]+"\} 1/);
      },
    );
  });

  it('stops at a failed step with the step and its error in the status', async () => {
    await withRollback(
      {
        runbook: makeRunbook({ approval: { required: false } }),
        overrides: {
          runStep: async (req) => {
            if (req.step.name === 'restore-config') throw ApplicationFailure.nonRetryable('POST http://127.0.0.1:9/restore answered 404', 'ConfigurationError');
            return { status: 200 };
          },
        },
      },
      async (h, { calls }) => {
        await assert.rejects(h.result(), (err: unknown) => err instanceof WorkflowFailedError && /answered 404/.test(String((err.cause as Error).message)));
        const s = await h.query(statusQuery);
        assert.equal(s.outcome, 'failed');
        assert.deepEqual(s.failure, { phase: 'running-steps', item: 'restore-config', error: 'POST http://127.0.0.1:9/restore answered 404' });
        assert.deepEqual(
          s.steps.map((x) => x.state),
          ['succeeded', 'failed', 'skipped'],
        );
        assert.ok(actions(calls.audit).includes('rollback.step-failed'));
        assert.equal(actions(calls.audit).at(-1), 'rollback.failed');
      },
    );
  });

  it('fails at preflight, before approval and before any change, when a mechanism is missing', async () => {
    await withRollback({ overrides: { preflight: async () => ['spec.steps[0] (helm): the helm mechanism is not available yet'] } }, async (h, { calls }) => {
      await assert.rejects(h.result(), WorkflowFailedError);
      const s = await h.query(statusQuery);
      assert.equal(s.failure?.phase, 'preflight');
      assert.equal(calls.steps.length, 0);
      assert.equal(s.approval.votes.length, 0);
    });
  });

  it('cancels cleanly: the running step is cancelled, later steps never start, the cancel is audited', async () => {
    await withRollback(
      {
        runbook: makeRunbook({ approval: { required: false } }),
        overrides: {
          runStep: async () => {
            const ctx = Context.current();
            const beat = setInterval(() => ctx.heartbeat(), 200);
            try {
              await ctx.cancelled;
            } finally {
              clearInterval(beat);
            }
            return {};
          },
        },
      },
      async (h, { calls }) => {
        await poll(async () => ((await h.query(statusQuery)).steps[0].state === 'running' ? true : undefined), 'step running');
        await h.signal(cancelRequestSignal, { actor: 'erin', reason: 'wrong service' });
        await h.cancel();
        await assert.rejects(h.result(), (err: unknown) => err instanceof WorkflowFailedError && (err.cause as Error).name === 'CancelledFailure');
        const s = await h.query(statusQuery);
        assert.equal(s.outcome, 'cancelled');
        assert.deepEqual(
          s.steps.map((x) => x.state),
          ['skipped', 'pending', 'pending'],
        );
        const cancelled = calls.audit.find((e) => e.action === 'rollback.cancelled');
        assert.equal(cancelled?.actor, 'erin');
        assert.equal(cancelled?.reason, 'wrong service');
        assert.equal(actions(calls.audit).at(-1), 'rollback.cancelled');
      },
    );
  });

  it('freezes the service after a successful rollback whose runbook has freezeAfter, until lifted or it ends', async () => {
    await withRollback({ runbook: makeRunbook({ approval: { required: false }, freezeAfter: '24h' }) }, async (h, { calls }) => {
      const s = await outcomeOf(h);
      assert.equal(s.outcome, 'succeeded');
      const freezeId = `freeze:rca-prod-${s.target.service}`;
      const freeze = testEnv().client.workflow.getHandle(freezeId);
      const state = await freeze.query(freezeStateQuery);
      assert.equal(state.phase, 'active');
      assert.deepEqual(state.scope, { environments: ['prod'], services: [s.target.service] });
      assert.match(state.reason, /^RCA after rollback rollback:prod:svc-/);
      const hours = (Date.parse(state.end) - Date.parse(s.endedAt!)) / 3_600_000;
      assert.ok(hours > 23.9 && hours <= 24.1, `frozen for ${hours} h`);
      assert.equal(calls.audit.find((e) => e.action === 'rollback.freeze-started')?.details.freeze, freezeId);
      await freeze.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'RCA done' }] });
      assert.equal(((await freeze.result()) as { phase: string }).phase, 'lifted');
    });
  });

  it('replays every history recorded above without nondeterminism', async () => {
    assert.ok(histories.length >= 5, `recorded ${histories.length} histories`);
    for (const r of await histories.replay()) {
      assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
    }
  });
});
