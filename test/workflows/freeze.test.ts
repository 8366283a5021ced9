// The freezeWindow workflow on the time-skipping test server: real durations (3 days) are skipped.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Activities } from '../../activities/index.js';
import { evaluateGate, type FreezeState, type FreezeWindowInput, type Guardrails } from '../../runbook/freeze.js';
import type { NotifyTarget } from '../../runbook/schema.js';
import type { AuditEvent } from '../../runbook/types.js';
import { RearguardMetrics } from '../../worker/metrics.js';
import { createRearguardWorker } from '../../worker/worker.js';
import {
  approveExceptionUpdate,
  extendFreezeUpdate,
  freezeStateQuery,
  liftFreezeUpdate,
  redefineFreezeUpdate,
  requestExceptionUpdate,
} from '../../api/messages.js';
import { createDevServerEnv, createTimeSkippingEnv, workflowBundle } from '../helpers/temporal.js';

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
before(async () => {
  env = await createTimeSkippingEnv();
  bundle = await workflowBundle();
});
after(async () => {
  await env?.teardown();
});

const DAY = 86_400_000;

async function withFreeze(
  input: Partial<FreezeWindowInput> | ((startedAt: number) => Partial<FreezeWindowInput>),
  body: (h: WorkflowHandle, ctx: { audit: AuditEvent[]; metrics: RearguardMetrics; startedAt: number }) => Promise<void>,
  stubs: Partial<Record<keyof Activities, (...args: any[]) => Promise<unknown>>> = {}, // eslint-disable-line @typescript-eslint/no-explicit-any
  on: TestWorkflowEnvironment = env,
) {
  const taskQueue = `freeze-${randomUUID()}`;
  const audit: AuditEvent[] = [];
  const activities = { appendAudit: async (e: AuditEvent) => void audit.push(e), ...stubs } as unknown as Activities;
  const metrics = new RearguardMetrics({ defaultMetrics: false });
  const worker = await createRearguardWorker({
    connection: on.nativeConnection,
    namespace: 'default',
    taskQueue,
    auditFile: '/dev/null',
    metrics,
    activities,
    workflowBundle: bundle,
  });
  const startedAt = await on.currentTimeMs();
  const name = `w-${randomUUID().slice(0, 8)}`;
  const full: FreezeWindowInput = {
    name,
    scope: { environments: ['prod'], services: ['*'] },
    reason: 'Black Friday',
    actor: 'rm-ann',
    start: new Date(startedAt).toISOString(),
    end: new Date(startedAt + 3 * DAY).toISOString(),
    exceptions: { approvers: ['rm-bo', 'rm-cy'], quorum: 1 },
    ...(typeof input === 'function' ? input(startedAt) : input),
  };
  await worker.runUntil(async () => {
    const h = await on.client.workflow.start('freezeWindow', { workflowId: `freeze:${name}`, taskQueue, args: [full] });
    await body(h, { audit, metrics, startedAt });
    // Finish it while the worker runs: a workflow task left pending would stop the server skipping time in later tests.
    await h.result().catch(() => undefined);
  });
}

const result = async (h: WorkflowHandle) => (await h.result()) as FreezeState;

describe('freezeWindow workflow', () => {
  it('a 3-day window is active, then ends on time', async () => {
    await withFreeze({}, async (h, { audit, metrics, startedAt }) => {
      const s = await h.query(freezeStateQuery);
      assert.equal(s.phase, 'active');
      assert.match(await metrics.registry.metrics(), /rearguard_freeze_active\{environment="prod"\} 1/);
      const done = await result(h);
      assert.equal(done.phase, 'ended');
      const ended = audit.find((e) => e.action === 'freeze.ended')!;
      assert.ok(Math.abs(Date.parse(ended.time) - (startedAt + 3 * DAY)) < 2_000, `ended at ${ended.time}`);
      assert.deepEqual(
        audit.map((e) => e.action),
        ['freeze.started', 'freeze.ended'],
      );
      assert.equal(audit[0].actor, 'rm-ann');
      assert.match(ended.actor, /^schedule:/);
      assert.doesNotMatch(await metrics.registry.metrics(), /rearguard_freeze_active\{environment="prod"\} 1/);
    });
  });

  it('extend moves the end; an earlier end is refused', async () => {
    await withFreeze({}, async (h, { audit, startedAt }) => {
      await h.query(freezeStateQuery);
      await assert.rejects(
        h.executeUpdate(extendFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'x', end: new Date(startedAt + DAY).toISOString() }] }),
        WorkflowUpdateFailedError,
      );
      const newEnd = new Date(startedAt + 4 * DAY).toISOString();
      const s = await h.executeUpdate(extendFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'RCA not done', end: newEnd }] });
      assert.equal(s.end, newEnd);
      await result(h);
      const ended = audit.find((e) => e.action === 'freeze.ended')!;
      assert.ok(Math.abs(Date.parse(ended.time) - (startedAt + 4 * DAY)) < 2_000);
      assert.equal(audit.find((e) => e.action === 'freeze.extended')?.reason, 'RCA not done');
    });
  });

  it('lift ends it at once; lifting a finished window is refused', async () => {
    await withFreeze({}, async (h, { audit }) => {
      await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-bo', reason: 'incident resolved' }] });
      const s = await result(h);
      assert.equal(s.phase, 'lifted');
      assert.equal(audit.find((e) => e.action === 'freeze.lifted')?.actor, 'rm-bo');
      await assert.rejects(h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-bo', reason: 'again' }] }));
    });
  });

  it('a window scheduled for later is not active until its start', async () => {
    const now = await env.currentTimeMs();
    await withFreeze({ start: new Date(now + DAY).toISOString(), end: new Date(now + 2 * DAY).toISOString() }, async (h, { audit }) => {
      assert.equal((await h.query(freezeStateQuery)).phase, 'scheduled');
      await result(h);
      assert.deepEqual(
        audit.map((e) => e.action),
        ['freeze.started', 'freeze.ended'],
      );
    });
  });

  it('exceptions: no self-approval, approvers only, one vote each; approved ones expire', async () => {
    await withFreeze({ exceptions: { approvers: ['rm-bo', 'rm-cy', 'rm-di'], quorum: 2 } }, async (h) => {
      const e = await h.executeUpdate(requestExceptionUpdate, {
        args: [{ actor: 'rm-bo', reason: 'checkout bug fix', changeId: 'PR-42', validFor: 4 * 3_600_000 }],
      });
      assert.equal(e.status, 'pending');
      const refused = (actor: string, re: RegExp) =>
        assert.rejects(
          h.executeUpdate(approveExceptionUpdate, { args: [{ actor, changeId: 'PR-42' }] }),
          (err: unknown) => err instanceof WorkflowUpdateFailedError && re.test((err.cause as Error).message),
        );
      await refused('rm-bo', /requested this exception and cannot also approve it/);
      await refused('dave', /dave cannot approve freeze exceptions/);
      await h.executeUpdate(approveExceptionUpdate, { args: [{ actor: 'rm-cy', changeId: 'PR-42' }] });
      await refused('rm-cy', /already approved the exception/);
      const pending = await h.query(freezeStateQuery);
      assert.equal(pending.exceptions[0].status, 'pending', 'quorum 2 needs a second approver');
      assert.equal(
        evaluateGate([pending], { environment: 'prod', service: 'payments', change: 'PR-42' }, Date.parse(pending.exceptions[0].requestedAt) + 60_000).allowed,
        false,
      );
      const approved = await h.executeUpdate(approveExceptionUpdate, { args: [{ actor: 'rm-di', changeId: 'PR-42' }] });
      assert.equal(approved.status, 'approved');
      await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'done' }] });
    });
    await withFreeze({}, async (h) => {
      await h.executeUpdate(requestExceptionUpdate, { args: [{ actor: 'dave', reason: 'hotfix', changeId: 'PR-7', validFor: 2 * 3_600_000 }] });
      const e = await h.executeUpdate(approveExceptionUpdate, { args: [{ actor: 'rm-bo', changeId: 'PR-7' }] });
      assert.equal(e.status, 'approved');
      const s = await h.query(freezeStateQuery);
      const at = Date.parse(e.approvals[0].time);
      assert.equal(evaluateGate([s], { environment: 'prod', service: 'payments', change: 'PR-7' }, at + 60_000).allowed, true);
      assert.equal(evaluateGate([s], { environment: 'prod', service: 'payments', change: 'PR-7' }, at + 3 * 3_600_000).allowed, false, 'expired after 2h');
      await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'done' }] });
    });
  });

  const guardrails: Guardrails = {
    argocd: { cluster: 'prod-eu', namespace: 'argocd', projects: ['default', 'payments'], mode: 'syncWindow' },
    flags: { file: '/etc/flags/flags.json', freezeTag: 'feature' },
  };
  const notifyTarget: NotifyTarget = { name: 'release-channel', type: 'webhook', url: 'https://hooks.example.com/x', urlEnv: undefined };
  /** Stubbed guardrail and notify activities that record their calls. */
  function recorder() {
    const calls: { name: string; req: any }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    const change = (action: string) => [{ guardrail: 'argocd' as const, target: 'appproject argocd/default', action }];
    return {
      calls,
      of: (name: string) => calls.filter((c) => c.name === name),
      stubs: {
        applyGuardrails: async (req: unknown) => (calls.push({ name: 'apply', req }), { changes: change('deny sync window added') }),
        restoreGuardrails: async (req: unknown) => (calls.push({ name: 'restore', req }), { changes: change('deny sync window removed') }),
        notify: async (req: { event: string }) => (calls.push({ name: 'notify', req }), { sent: ['release-channel'] }),
      },
    };
  }

  it('guardrails are applied when the window starts and restored once when it ends; every step is announced', async () => {
    const r = recorder();
    await withFreeze(
      { guardrails, notify: [notifyTarget] },
      async (h, { audit, startedAt }) => {
        await h.executeUpdate(extendFreezeUpdate, {
          args: [{ actor: 'rm-ann', reason: 'sales run longer', end: new Date(startedAt + 4 * DAY).toISOString() }],
        });
        await h.executeUpdate(requestExceptionUpdate, { args: [{ actor: 'dave', reason: 'hotfix', changeId: 'PR-9', validFor: 2 * 3_600_000 }] });
        await h.executeUpdate(approveExceptionUpdate, { args: [{ actor: 'rm-bo', changeId: 'PR-9' }] });
        const done = await result(h);
        assert.equal(done.phase, 'ended');
        assert.deepEqual(done.guardrails, {
          applied: true,
          restored: true,
          changes: [{ guardrail: 'argocd', target: 'appproject argocd/default', action: 'deny sync window added' }],
        });
        assert.equal(r.of('apply').length, 1);
        assert.equal(r.of('restore').length, 1);
        assert.deepEqual(r.of('restore')[0].req, { freezeId: h.workflowId, guardrails });
        assert.deepEqual(
          r.of('notify').map((c) => c.req.event),
          ['freeze-started', 'freeze-extended', 'freeze-exception-requested', 'freeze-exception-approved', 'freeze-ended'],
        );
        assert.deepEqual(
          r.of('notify')[0].req.targets.map((t: NotifyTarget) => t.url),
          [notifyTarget.url],
        );
        const actions = audit.map((e) => e.action);
        assert.ok(actions.indexOf('freeze.guardrails-applied') < actions.indexOf('freeze.guardrails-restored'));
        assert.ok(actions.indexOf('freeze.guardrails-restored') < actions.indexOf('freeze.ended'));
      },
      r.stubs,
    );
  });

  it('a window lifted before it starts never touches the guardrails; a lifted active one restores them', async () => {
    const r = recorder();
    await withFreeze(
      (t) => ({ guardrails, notify: [notifyTarget], start: new Date(t + 2 * DAY).toISOString(), end: new Date(t + 3 * DAY).toISOString() }),
      async (h) => {
        assert.equal((await h.query(freezeStateQuery)).phase, 'scheduled');
        await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'sale cancelled' }] });
        const done = await result(h);
        assert.equal(done.phase, 'lifted');
        assert.equal(done.guardrails, undefined);
      },
      r.stubs,
    );
    assert.equal(r.calls.filter((c) => c.name !== 'notify').length, 0);
    const r2 = recorder();
    await withFreeze(
      { guardrails },
      async (h) => {
        // A lift that arrives with the first workflow task wins before the window is active; wait for the guardrails.
        while (!(await h.query(freezeStateQuery)).guardrails?.applied) await new Promise((res) => setTimeout(res, 50));
        await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'incident over' }] });
        assert.equal((await result(h)).guardrails?.restored, true);
      },
      r2.stubs,
    );
    assert.deepEqual(
      r2.calls.map((c) => c.name),
      ['apply', 'restore'],
    );
  });

  it('restores what it applied even when the workflow is cancelled', async () => {
    const r = recorder();
    await withFreeze(
      { guardrails },
      async (h) => {
        await h.cancel();
        const done = await result(h);
        assert.equal(done.phase, 'lifted');
        assert.equal(done.history.at(-1)?.reason, 'workflow cancelled');
      },
      r.stubs,
    );
    assert.deepEqual(
      r.calls.map((c) => c.name),
      ['apply', 'restore'],
    );
  });

  it('a calendar edit redefines a running window: new end and scope, a dropped guardrail is released', async () => {
    const r = recorder();
    const calendar = { name: 'company-freezes', digest: 'aaaa' };
    await withFreeze(
      { guardrails, calendar },
      async (h, { startedAt }) => {
        await assert.rejects(
          h.executeUpdate(redefineFreezeUpdate, {
            args: [
              {
                actor: 'x',
                scope: { environments: ['prod'], services: ['*'] },
                reason: 'r',
                exceptions: { approvers: [], quorum: 1 },
                calendar: { name: 'other', digest: 'b' },
              },
            ],
          }),
          (err: unknown) => err instanceof WorkflowUpdateFailedError && /belongs to calendar company-freezes/.test((err.cause as Error).message),
        );
        const narrower: Guardrails = { argocd: { ...guardrails.argocd!, projects: ['default'] } };
        const end = new Date(startedAt + 5 * DAY).toISOString();
        const s = await h.executeUpdate(redefineFreezeUpdate, {
          args: [
            {
              actor: 'rm-ann',
              scope: { environments: ['prod', 'staging'], services: ['*'] },
              reason: 'longer sale',
              end,
              exceptions: { approvers: ['rm-bo'], quorum: 1 },
              guardrails: narrower,
              calendar: { name: 'company-freezes', digest: 'bbbb' },
            },
          ],
        });
        assert.deepEqual(s.scope.environments, ['prod', 'staging']);
        assert.equal(s.calendar?.digest, 'bbbb');
        const done = await result(h);
        assert.equal(done.end, end);
        // The dropped project's window is released at once (apply the new set first, then restore what is no longer guarded).
        const names = r.calls.map((c) => c.name);
        assert.deepEqual(names, ['apply', 'apply', 'restore', 'restore']);
        assert.deepEqual(r.calls[2].req.guardrails, { argocd: { ...guardrails.argocd!, projects: ['payments'] }, flags: guardrails.flags });
        assert.deepEqual(r.calls[3].req.guardrails, narrower);
      },
      r.stubs,
    );
    await withFreeze({}, async (h) => {
      await assert.rejects(
        h.executeUpdate(redefineFreezeUpdate, {
          args: [{ actor: 'x', scope: { environments: ['prod'], services: ['*'] }, reason: 'r', exceptions: { approvers: [], quorum: 1 }, calendar }],
        }),
        (err: unknown) => err instanceof WorkflowUpdateFailedError && /was not started by a calendar/.test((err.cause as Error).message),
      );
      await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'done' }] });
    });
  });

  it('a long window continues as new and keeps its state, exceptions, guardrails and audit sequence', async () => {
    // On the dev server in real time: the time-skipping server stops skipping after a continue-as-new.
    const dev = await createDevServerEnv();
    const r = recorder();
    try {
      await withFreeze(
        (t) => ({ guardrails, historyLimit: 40, end: new Date(t + 5_000).toISOString() }),
        async (h, { audit }) => {
          const firstRun = (await h.describe()).runId;
          await h.executeUpdate(requestExceptionUpdate, { args: [{ actor: 'dave', reason: 'hotfix', changeId: 'PR-1', validFor: 2 * 3_600_000 }] });
          let end = Date.parse((await h.query(freezeStateQuery)).end);
          for (let i = 0; i < 12; i++) {
            end += 500;
            await h.executeUpdate(extendFreezeUpdate, { args: [{ actor: 'rm-ann', reason: `extend ${i}`, end: new Date(end).toISOString() }] });
          }
          const done = await result(h);
          assert.notEqual((await h.describe()).runId, firstRun, 'continued as new');
          assert.equal(done.phase, 'ended');
          assert.equal(done.end, new Date(end).toISOString());
          assert.equal(done.history.filter((x) => x.action === 'extend').length, 12);
          assert.equal(done.exceptions[0].changeId, 'PR-1');
          assert.equal(r.of('apply').length, 1, 'not re-applied after continue-as-new');
          assert.equal(r.of('restore').length, 1);
          const seqs = audit.map((e) => Number(e.id.split('/').at(-1)));
          assert.deepEqual(
            seqs,
            [...seqs].sort((a, b) => a - b),
            'audit sequence continues across runs',
          );
          assert.equal(new Set(audit.map((e) => e.id)).size, audit.length, 'no audit ID reused');
          assert.equal(new Set(audit.map((e) => e.id.split('/')[1])).size > 1, true, 'events from several runs');
        },
        r.stubs,
        dev,
      );
    } finally {
      await dev.teardown();
    }
  });
});
