// The freezeWindow workflow on the time-skipping test server with stubbed guardrail and notify activities:
// guardrails applied at the start and restored once at the end (also when lifted or cancelled), a calendar
// edit redefining a running window, and continue-as-new (dev server). Fixture: test/helpers/freeze-window.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Guardrails } from '../../runbook/freeze.js';
import type { NotifyTarget } from '../../runbook/schema.js';
import {
  approveExceptionUpdate,
  extendFreezeUpdate,
  freezeStateQuery,
  liftFreezeUpdate,
  redefineFreezeUpdate,
  requestExceptionUpdate,
} from '../../api/messages.js';
import { DAY, result, withFreeze } from '../helpers/freeze-window.js';
import { useTemporalEnv, withDevServer } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

useTemporalEnv();

describe('freezeWindow workflow', () => {
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
        await waitFor(async () => (await h.query(freezeStateQuery)).guardrails?.applied, 'guardrails applied', { interval: 50 });
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
    const r = recorder();
    await withDevServer(async (dev) => {
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
    });
  });
});
