// The rollback workflow on the time-skipping test server, activities stubbed per test. Real
// durations (a 10m approval timeout, a 5m SLA) are skipped by the server, not shortened.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Activities } from '../../activities/index.js';
import type { Runbook } from '../../runbook/schema.js';
import type { AuditEvent, NotifyRequest, RestoreRecord, RollbackStatus, StepRequest, Trigger } from '../../runbook/types.js';
import { RearguardMetrics } from '../../worker/metrics.js';
import { createRearguardWorker } from '../../worker/worker.js';
import {
  approvePlanUpdate,
  approveUpdate,
  freezeStateQuery,
  liftFreezeUpdate,
  cancelRequestSignal,
  rejectUpdate,
  statusQuery,
  triggerSignal,
} from '../../api/messages.js';
import { makeRunbook } from '../helpers/runbooks.js';
import { createTimeSkippingEnv, workflowBundle } from '../helpers/temporal.js';
import { rollbackWorkflowId } from '../../api/ids.js';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
const histories: { workflowId: string; history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>> }[] = [];

before(async () => {
  env = await createTimeSkippingEnv();
  bundle = await workflowBundle();
});
after(async () => {
  await env?.teardown();
});

function stubActivities(overrides: Partial<Activities> = {}) {
  const calls = { audit: [] as AuditEvent[], steps: [] as StepRequest[], notify: [] as NotifyRequest[] };
  // Only what a rollback calls; other workflows' activities (freeze, unfreeze, guard, drill) are not stubbed here.
  const activities = {
    appendAudit: async (e) => void calls.audit.push(e),
    preflight: async () => [],
    applyGuardrails: async () => ({ changes: [] }),
    restoreGuardrails: async () => ({ changes: [] }),
    planStep: async () => {
      throw new Error('no planned steps in these tests');
    },
    findRestored: async () => null,
    runStep: async (req) => {
      calls.steps.push(req);
      return { ok: true };
    },
    runCheck: async () => ({ ok: true }),
    notify: async (req) => {
      calls.notify.push(req);
      return { sent: req.targets.map((t) => t.name) };
    },
    ...overrides,
  } as Activities;
  return { activities, calls };
}

interface Case {
  runbook?: Runbook;
  actor?: string;
  overrides?: Partial<Activities>;
  /** Fields of the first trigger (e.g. an explicit target). */
  trigger?: Partial<Trigger>;
}

/** Runs `body` with a fresh worker on its own task queue and a rollback for a unique service. */
async function withRollback(
  c: Case,
  body: (
    h: WorkflowHandle,
    ctx: { calls: ReturnType<typeof stubActivities>['calls']; metrics: RearguardMetrics; trigger: Trigger; start: (t: Trigger) => Promise<WorkflowHandle> },
  ) => Promise<void>,
) {
  const taskQueue = `test-${randomUUID()}`;
  const service = `svc-${randomUUID().slice(0, 8)}`;
  const base = c.runbook ?? makeRunbook();
  const runbook = { ...base, spec: { ...base.spec, service } };
  const { activities, calls } = stubActivities(c.overrides);
  const metrics = new RearguardMetrics({ defaultMetrics: false });
  const worker = await createRearguardWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    auditFile: '/dev/null',
    metrics,
    activities,
    workflowBundle: bundle,
  });
  const workflowId = rollbackWorkflowId(runbook.spec.environment, service);
  const trigger: Trigger = { source: 'manual', actor: c.actor ?? 'dave', reason: 'error rate 12%', requestId: randomUUID(), ...c.trigger };
  const start = (t: Trigger) =>
    env.client.workflow.signalWithStart('rollback', { workflowId, taskQueue, args: [{ runbook, trigger: t }], signal: triggerSignal, signalArgs: [t] });
  await worker.runUntil(async () => {
    const handle = await start(trigger);
    await body(handle, { calls, metrics, trigger, start });
    histories.push({ workflowId, history: await handle.fetchHistory() });
  });
}

const outcomeOf = async (h: WorkflowHandle): Promise<RollbackStatus> => (await h.result()) as RollbackStatus;
const actions = (events: AuditEvent[]): string[] => events.map((e) => e.action);
async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const phase = (h: WorkflowHandle, p: RollbackStatus['phase']) =>
  waitFor(async () => ((await h.query(statusQuery)).phase === p ? true : undefined), `phase ${p}`);

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
        await waitFor(async () => ((await h.query(statusQuery)).steps[0].state === 'running' ? true : undefined), 'step running');
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

  it('lets a second trigger join the running rollback, audited, without starting another', async () => {
    await withRollback({}, async (h, { calls, start }) => {
      await phase(h, 'awaiting-approval');
      const second = await start({ source: 'alert', actor: 'alertmanager', reason: 'PaymentsErrorBudgetBurn', requestId: randomUUID() });
      assert.equal(second.workflowId, h.workflowId);
      const joined = await waitFor(async () => {
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
        await waitFor(async () => ((await h.query(statusQuery)).steps[0].planApproval ? true : undefined), 'plan approval requested');
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
        await waitFor(async () => ((await h.query(statusQuery)).steps[0].planApproval ? true : undefined), 'plan approval requested');
        await h.executeUpdate(rejectUpdate, { args: [{ actor: 'alice', reason: 'destroys 9 resources' }] });
        const s = await outcomeOf(h);
        assert.equal(s.outcome, 'rejected');
        assert.equal(applied, 0);
      },
    );
  });

  it('freezes the service after a successful rollback whose runbook has freezeAfter, until lifted or it ends', async () => {
    await withRollback({ runbook: makeRunbook({ approval: { required: false }, freezeAfter: '24h' }) }, async (h, { calls }) => {
      const s = await outcomeOf(h);
      assert.equal(s.outcome, 'succeeded');
      const freezeId = `freeze:rca-prod-${s.target.service}`;
      const freeze = env.client.workflow.getHandle(freezeId);
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
    assert.ok(histories.length >= 8, `recorded ${histories.length} histories`);
    for await (const r of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
    }
  });
});
