// The sloGuard workflow on the time-skipping test server with stubbed activities: a violation held for its
// `for` starts the rollback once, the cooldown is respected, pause/resume, and a guard that cannot reach
// Prometheus alerts instead of rolling back. Continue-as-new on the dev server (the time-skipping server
// stops skipping after a continue-as-new), with a 1 s interval and a small history limit.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Runbook } from '../../runbook/schema.js';
import type { AuditEvent, Trigger } from '../../runbook/types.js';
import { RearguardMetrics } from '../../worker/metrics.js';
import { guardStatusQuery, pauseGuardUpdate, resumeGuardUpdate } from '../../api/messages.js';
import { testEnv, useTemporalEnv, withDevServer, withWorker } from '../helpers/harness.js';
import { makeRunbook } from '../helpers/runbooks.js';
import { waitFor } from '../helpers/wait.js';
import { type SloEvaluation, type SloGuardInput, type SloGuardStatus, violations } from '../../runbook/slo-guard.js';

useTemporalEnv();

const MIN = 60_000;
const guardRunbook = (slo: Record<string, unknown> = {}): Runbook =>
  makeRunbook({
    slo: {
      interval: '30s',
      cooldown: '15m',
      conditions: [{ name: 'error-ratio', query: 'sum(rate(errors[1m])) / sum(rate(requests[1m]))', above: 0.05, for: '2m' }],
      ...slo,
    },
  });

/** A world the stubs read: the error ratio Prometheus would answer, or that it cannot be reached. */
interface World {
  ratio: number;
  prometheusDown: boolean;
}

function evaluation(w: World): SloEvaluation {
  const time = new Date().toISOString();
  if (w.prometheusDown)
    return { time, prometheusError: 'Prometheus at http://127.0.0.1:9 cannot be reached: ECONNREFUSED', conditions: [], burnRate: [], health: {} };
  return { time, conditions: [{ name: 'error-ratio', value: w.ratio, breached: w.ratio > 0.05 }], burnRate: [], health: {} };
}

interface Ctx {
  world: World;
  triggers: Trigger[];
  notified: { event: string; text: string }[];
  audit: AuditEvent[];
  metrics: RearguardMetrics;
}

async function withGuard(
  input: Partial<SloGuardInput>,
  body: (h: WorkflowHandle, c: Ctx) => Promise<void>,
  on: TestWorkflowEnvironment = testEnv(),
): Promise<void> {
  const c: Ctx = {
    world: { ratio: 0.01, prometheusDown: false },
    triggers: [],
    notified: [],
    audit: [],
    metrics: new RearguardMetrics({ defaultMetrics: false }),
  };
  const activities = {
    appendAudit: async (e: AuditEvent) => void c.audit.push(e),
    // The development default (no allowed_signers, no policy): unsigned pauses count; slo-guard-signed.test.ts signs them.
    trustSettings: async () => ({ requireSignatures: false, allowedSigners: [] }),
    evaluateSlo: async () => evaluation(c.world),
    triggerRollback: async ({ runbook, trigger }: { runbook: Runbook; trigger: Trigger }) => {
      c.triggers.push(trigger);
      return { workflowId: `rollback:${runbook.spec.environment}:${runbook.spec.service}`, runId: 'r1', joined: c.triggers.length > 1, startedBy: 'slo-guard' };
    },
    notify: async (req: { event: string; text: string }) => (c.notified.push({ event: req.event, text: req.text }), { sent: ['oncall'] }),
  };
  const runbook = input.runbook ?? guardRunbook();
  await withWorker({ activities, taskQueue: 'guard', env: on, metrics: c.metrics }, async ({ taskQueue }) => {
    const h = await on.client.workflow.start('sloGuard', {
      workflowId: `guard:${runbook.spec.environment}:${runbook.spec.service}-${randomUUID().slice(0, 6)}`,
      taskQueue,
      args: [{ runbook, actor: 'dave', reason: 'protect payments', ...input } satisfies SloGuardInput],
    });
    try {
      await body(h, c);
    } finally {
      // Finish it while the worker runs: a workflow left running would stop the server skipping time in later tests.
      await h.cancel().catch(() => undefined);
      await h.result().catch(() => undefined);
    }
  });
}

const status = (h: WorkflowHandle) => h.query(guardStatusQuery) as Promise<SloGuardStatus>;

describe('sloGuard workflow', () => {
  it('a violation held for its `for` starts the rollback once, then the cooldown holds off a second trigger', async () => {
    await withGuard({}, async (h, c) => {
      await testEnv().sleep(3 * MIN);
      let s = await status(h);
      assert.equal(s.state, 'watching');
      assert.ok(s.evaluations >= 6, `evaluated every 30s (${s.evaluations})`);
      assert.equal(s.lastEvaluation?.conditions[0].value, 0.01);
      assert.equal(c.triggers.length, 0);
      // What it watches, for the console's guard page (computed by the Query from the runbook, never in history).
      assert.deepEqual(s.watches, {
        conditions: [{ name: 'error-ratio', query: 'sum(rate(errors[1m])) / sum(rate(requests[1m]))', op: 'above', threshold: 0.05, for: '2m' }],
        health: { deployment: false },
      });

      c.world.ratio = 0.2;
      await testEnv().sleep(MIN + 15_000);
      assert.equal(c.triggers.length, 0, 'crossed, but not yet for 2m');
      assert.ok((await status(h)).breachedSince['error-ratio']);

      await testEnv().sleep(MIN + 30_000);
      assert.equal(c.triggers.length, 1, 'held for 2m: triggered');
      const [t] = c.triggers;
      assert.equal(t.source, 'slo');
      assert.equal(t.actor, 'slo-guard');
      assert.match(t.reason, /^SLO violated: error-ratio: 0\.2 above 0\.05 for 2m/);
      s = await status(h);
      assert.equal(s.state, 'cooldown');
      assert.equal(s.triggers.length, 1);
      assert.equal(s.triggers[0].rollbackId, 'rollback:prod:payments');
      const cooldownEnd = Date.parse(s.cooldownUntil!);
      assert.ok(Math.abs(cooldownEnd - Date.parse(s.triggers[0].time) - 15 * MIN) < 1000);

      // Still violated for the whole cooldown: no second trigger.
      await testEnv().sleep(14 * MIN);
      assert.equal(c.triggers.length, 1, 'no trigger during the cooldown');
      assert.equal((await status(h)).state, 'cooldown');

      // The cooldown is over and the SLO is still violated: the guard triggers again (joining the running rollback).
      await testEnv().sleep(2 * MIN);
      assert.equal(c.triggers.length, 2);
      assert.notEqual(c.triggers[1].requestId, c.triggers[0].requestId);

      const triggered = c.audit.filter((e) => e.action === 'guard.triggered');
      assert.equal(triggered.length, 2);
      assert.equal(triggered[0].actor, 'slo-guard');
      assert.equal(triggered[0].details.rollback, 'rollback:prod:payments');
      assert.equal(triggered[1].details.joined, true);
      assert.equal(c.audit[0].action, 'guard.started');
      assert.equal(c.audit[0].actor, 'dave');
      assert.deepEqual(c.notified.filter((n) => n.event === 'guard-triggered').length, 2, 'notify targets told of each trigger');
      assert.match(await c.metrics.registry.metrics(), /rearguard_slo_guard_triggers_total\{environment="prod",service="payments"\} 2/);

      // Recovered: quiet again, the for-clock reset.
      c.world.ratio = 0.001;
      await testEnv().sleep(MIN);
      s = await status(h);
      assert.deepEqual(s.breachedSince, {});
      assert.deepEqual(s.lastEvaluation?.violations, []);
    });
  });

  it('pause stops triggers (validator refuses a second pause); resume evaluates at once and triggers', async () => {
    await withGuard({ runbook: guardRunbook({ conditions: [{ name: 'error-ratio', query: 'x', above: 0.05 }] }) }, async (h, c) => {
      await testEnv().sleep(MIN);
      const paused = await h.executeUpdate(pauseGuardUpdate, { args: [{ actor: 'alice', reason: 'planned migration' }] });
      assert.equal(paused.state, 'paused');
      await assert.rejects(
        h.executeUpdate(pauseGuardUpdate, { args: [{ actor: 'bob', reason: 'again' }] }),
        (err: unknown) => err instanceof WorkflowUpdateFailedError && /already paused \(by alice/.test(String((err.cause as Error)?.message)),
      );
      c.world.ratio = 0.5;
      const before = (await status(h)).evaluations;
      await testEnv().sleep(30 * MIN);
      let s = await status(h);
      assert.equal(c.triggers.length, 0, 'no trigger while paused');
      assert.equal(s.evaluations, before, 'no evaluation while paused');
      assert.equal(s.state, 'paused');
      assert.equal(s.paused?.actor, 'alice');

      await h.executeUpdate(resumeGuardUpdate, { args: [{ actor: 'alice', reason: 'migration done' }] });
      await assert.rejects(
        h.executeUpdate(resumeGuardUpdate, { args: [{ actor: 'alice', reason: 'x' }] }),
        (err: unknown) => err instanceof WorkflowUpdateFailedError && /not paused/.test(String((err.cause as Error)?.message)),
      );
      await testEnv().sleep(1_000);
      assert.equal(c.triggers.length, 1, 'resume evaluates at once');
      s = await status(h);
      assert.equal(s.paused, undefined);
      assert.equal(s.state, 'cooldown');
      assert.deepEqual(
        c.audit.filter((e) => e.action.startsWith('guard.')).map((e) => [e.action, e.actor]),
        [
          ['guard.started', 'dave'],
          ['guard.paused', 'alice'],
          ['guard.resumed', 'alice'],
          ['guard.triggered', 'slo-guard'],
        ],
      );
    });
  });

  it('a guard that cannot reach Prometheus alerts (once per outage) instead of rolling back, and keeps trying', async () => {
    await withGuard({}, async (h, c) => {
      c.world.ratio = 0.9; // whatever Prometheus would say, it cannot be asked
      c.world.prometheusDown = true;
      await testEnv().sleep(10 * MIN);
      let s = await status(h);
      assert.equal(c.triggers.length, 0, 'no rollback without data');
      assert.equal(s.state, 'prometheus-unreachable');
      assert.equal(s.prometheus.reachable, false);
      assert.match(s.prometheus.error!, /cannot be reached/);
      assert.ok(s.evaluations >= 19, 'kept trying every interval');
      const alerts = c.notified.filter((n) => n.event === 'guard-prometheus-unreachable');
      assert.equal(alerts.length, 1, 'one alert per outage');
      assert.match(alerts[0].text, /cannot evaluate prod\/payments \(no automatic rollback until it can\)/);
      assert.equal(c.audit.filter((e) => e.action === 'guard.prometheus-unreachable').length, 1);

      c.world.prometheusDown = false;
      c.world.ratio = 0.01;
      await testEnv().sleep(MIN);
      s = await status(h);
      assert.equal(s.state, 'watching');
      assert.equal(s.prometheus.reachable, true);
      assert.equal(c.audit.filter((e) => e.action === 'guard.prometheus-recovered').length, 1);
      assert.equal(c.notified.filter((n) => n.event === 'guard-prometheus-recovered').length, 1);
      assert.equal(c.triggers.length, 0);
    });
  });

  it('cancelling the guard stops it, audited', async () => {
    await withGuard({}, async (h, c) => {
      await testEnv().sleep(MIN);
      await h.cancel();
      const s = (await h.result()) as SloGuardStatus;
      assert.ok(s.evaluations >= 2);
      assert.equal(c.audit.at(-1)?.action, 'guard.stopped');
    });
  });

  it('continues as new with a small history limit, carrying its state and audit sequence (dev server, 1 s interval)', async () => {
    await withDevServer(async (dev) => {
      const runbook = guardRunbook({ interval: '1s', cooldown: '1h', conditions: [{ name: 'error-ratio', query: 'x', above: 0.05 }] });
      await withGuard(
        { runbook, historyLimit: 40 },
        async (h, c) => {
          const firstRun = (await h.describe()).runId;
          c.world.ratio = 0.3;
          let s = await status(h);
          // Polls for up to 40 s; the assertion below says how far it got.
          await waitFor(async () => (s = await status(h)).run >= 3, 'three runs', { timeout: 40_000, interval: 500 }).catch(() => undefined);
          assert.ok(s.run >= 3, `continued as new twice (run ${s.run})`);
          assert.notEqual((await h.describe()).runId, firstRun);
          assert.equal(c.triggers.length, 1, 'the cooldown carried over continue-as-new: one trigger');
          assert.equal(s.triggers.length, 1);
          assert.ok(s.evaluations >= s.run, `evaluations carried over (${s.evaluations} in ${s.run} runs)`);
          assert.ok(s.cooldownUntil);
          const seqs = c.audit.map((e) => Number(e.id.split('/').at(-1)));
          assert.deepEqual(
            seqs,
            [...seqs].sort((a, b) => a - b),
            'audit sequence continues across runs',
          );
          assert.equal(new Set(c.audit.map((e) => e.id)).size, c.audit.length);
          assert.equal(c.audit.filter((e) => e.action === 'guard.started').length, 1, 'started once, not per run');
        },
        dev,
      );
    });
  });
});

describe('violations (pure)', () => {
  const runbook = guardRunbook({
    objective: 99.9,
    conditions: [],
    burnRate: { errorRatio: 'sum(rate(e[$window])) / sum(rate(r[$window]))', windows: [{ long: '1h', short: '5m', factor: 14.4 }] },
    // `deployment: true` needs a kubernetes step (a validation error since issue 10); these runbooks have webhook steps.
    health: { deployment: { namespace: 'payments', deployment: 'api' }, http: { url: 'http://127.0.0.1:9/healthz', failures: 2 } },
  });
  const base = (over: Partial<SloEvaluation>): SloEvaluation => ({ time: '', conditions: [], burnRate: [], health: {}, ...over });

  it('multi-window burn rate: both windows must exceed the factor (the activity decides, the guard reports it)', () => {
    const st = { breachedSince: {}, httpFailures: 0 };
    const found = violations(runbook, base({ burnRate: [{ long: '1h', short: '5m', factor: 14.4, longBurn: 20, shortBurn: 30, breached: true }] }), st, 0);
    assert.deepEqual(found, ['burn rate 1h/5m: 20x and 30x > 14.4x']);
    assert.deepEqual(
      violations(runbook, base({ burnRate: [{ long: '1h', short: '5m', factor: 14.4, longBurn: 20, shortBurn: 2, breached: false }] }), st, 0),
      [],
    );
  });

  it('deployment health, and http health after `failures` in a row', () => {
    const st = { breachedSince: {}, httpFailures: 0 };
    const pde = { ok: false, message: 'deployment payments/api exceeded its progress deadline' };
    assert.deepEqual(violations(runbook, base({ health: { deployment: pde } }), st, 0), [pde.message]);
    const down = base({ health: { http: { ok: false, message: 'GET http://127.0.0.1:9/healthz: 500' } } });
    assert.deepEqual(violations(runbook, down, st, 0), []);
    assert.deepEqual(violations(runbook, down, st, 0), ['http health: GET http://127.0.0.1:9/healthz: 500 (2 in a row)']);
    violations(runbook, base({ health: { http: { ok: true, message: '200' } } }), st, 0);
    assert.equal(st.httpFailures, 0);
  });
});
