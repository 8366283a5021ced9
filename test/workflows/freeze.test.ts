// The freezeWindow workflow on the time-skipping test server: real durations (3 days) are skipped.
// Guardrails, calendar edits and continue-as-new: freeze-guardrails.test.ts. Fixture: test/helpers/freeze-window.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { evaluateGate } from '../../runbook/freeze.js';
import {
  approveExceptionUpdate,
  extendFreezeUpdate,
  freezeStateQuery,
  liftFreezeUpdate,
  rejectExceptionUpdate,
  requestExceptionUpdate,
} from '../../api/messages.js';
import { DAY, result, withFreeze } from '../helpers/freeze-window.js';
import { testEnv, useTemporalEnv } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

useTemporalEnv();

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
      // An Update that arrives with the start is refused until the trust settings are loaded: wait for the admission.
      await waitFor(async () => (await h.query(freezeStateQuery)).admitted || undefined, 'the start to be admitted');
      await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-bo', reason: 'incident resolved' }] });
      const s = await result(h);
      assert.equal(s.phase, 'lifted');
      assert.equal(audit.find((e) => e.action === 'freeze.lifted')?.actor, 'rm-bo');
      await assert.rejects(h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-bo', reason: 'again' }] }));
    });
  });

  it('a window scheduled for later is not active until its start', async () => {
    const now = await testEnv().currentTimeMs();
    await withFreeze({ start: new Date(now + DAY).toISOString(), end: new Date(now + 2 * DAY).toISOString() }, async (h, { audit }) => {
      assert.equal((await h.query(freezeStateQuery)).phase, 'scheduled');
      await result(h);
      assert.deepEqual(
        audit.map((e) => e.action),
        ['freeze.started', 'freeze.ended'],
      );
    });
  });

  it('a window without exception approvers refuses an exception request at once, saying why', async () => {
    await withFreeze({ exceptions: { approvers: [], quorum: 1 } }, async (h) => {
      await assert.rejects(
        h.executeUpdate(requestExceptionUpdate, { args: [{ actor: 'dave', reason: 'hotfix', changeId: 'PR-1', validFor: 3_600_000 }] }),
        (err: Error & { cause?: Error }) => /has no exception approvers, so no exception can be approved/.test(err.cause?.message ?? err.message),
      );
      assert.deepEqual((await h.query(freezeStateQuery)).exceptions, [], 'nothing is left pending');
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

  it('exception reject: approvers or the requester turn a request down or revoke an approval; the gate blocks again; it may be asked again', async () => {
    await withFreeze({ exceptions: { approvers: ['rm-bo', 'rm-cy'], quorum: 1 } }, async (h, { audit }) => {
      const gate = async (change: string) => {
        const s = await h.query(freezeStateQuery);
        return evaluateGate([s], { environment: 'prod', service: 'payments', change }, Date.parse(s.start) + 60_000);
      };
      const ask = (changeId: string) => h.executeUpdate(requestExceptionUpdate, { args: [{ actor: 'dave', reason: 'hotfix', changeId, validFor: 3_600_000 }] });
      const reject = (actor: string, changeId: string) => h.executeUpdate(rejectExceptionUpdate, { args: [{ actor, changeId, reason: 'not now' }] });
      const refused = (p: Promise<unknown>, re: RegExp) =>
        assert.rejects(p, (err: unknown) => err instanceof WorkflowUpdateFailedError && re.test((err.cause as Error).message));

      await ask('PR-1');
      await refused(reject('eve', 'PR-1'), /eve cannot reject this exception: only its requester \(dave\) or an exception approver \(rm-bo, rm-cy\)/);
      await refused(reject('rm-bo', 'PR-9'), /no exception was requested for change PR-9/);
      const rejected = await reject('rm-bo', 'PR-1');
      assert.equal(rejected.status, 'rejected');
      assert.deepEqual({ actor: rejected.rejection?.actor, reason: rejected.rejection?.reason }, { actor: 'rm-bo', reason: 'not now' });
      await refused(
        h.executeUpdate(approveExceptionUpdate, { args: [{ actor: 'rm-cy', changeId: 'PR-1' }] }),
        /was rejected by rm-bo; it can be requested again/,
      );
      await refused(reject('rm-cy', 'PR-1'), /already rejected by rm-bo/);
      const blocked = await gate('PR-1');
      assert.equal(blocked.allowed, false);
      assert.equal(blocked.blockedBy[0].exception?.status, 'rejected');
      assert.equal(blocked.blockedBy[0].exception?.rejection?.actor, 'rm-bo');

      // Asked again after the rejection: a fresh request, approved this time, then revoked by the requester.
      assert.equal((await ask('PR-1')).status, 'pending');
      await h.executeUpdate(approveExceptionUpdate, { args: [{ actor: 'rm-cy', changeId: 'PR-1' }] });
      assert.equal((await gate('PR-1')).allowed, true);
      await refused(ask('PR-1'), /already requested \(approved, by dave\)/);
      await reject('dave', 'PR-1');
      assert.equal((await gate('PR-1')).allowed, false, 'a revoked exception blocks again at once');
      assert.equal((await h.query(freezeStateQuery)).exceptions.length, 1, 'one entry per change');
      await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'done' }] });
      await result(h);
      assert.deepEqual(
        audit.filter((e) => e.action.startsWith('freeze.exception')).map((e) => `${e.action} ${e.actor}`),
        [
          'freeze.exception-requested dave',
          'freeze.exception-rejected rm-bo',
          'freeze.exception-requested dave',
          'freeze.exception-approved rm-cy',
          'freeze.exception-revoked dave',
        ],
      );
    });
  });

  it('an approved exception that has expired may be requested again', async () => {
    await withFreeze({ exceptions: { approvers: ['rm-bo'], quorum: 1 } }, async (h) => {
      await h.executeUpdate(requestExceptionUpdate, { args: [{ actor: 'dave', reason: 'hotfix', changeId: 'PR-8', validFor: 3_600_000 }] });
      await h.executeUpdate(approveExceptionUpdate, { args: [{ actor: 'rm-bo', changeId: 'PR-8' }] });
      await assert.rejects(
        h.executeUpdate(requestExceptionUpdate, { args: [{ actor: 'dave', reason: 'again', changeId: 'PR-8', validFor: 3_600_000 }] }),
        (err: unknown) => err instanceof WorkflowUpdateFailedError && /already requested \(approved, by dave\)/.test((err.cause as Error).message),
      );
      await testEnv().sleep('2h');
      const again = await h.executeUpdate(requestExceptionUpdate, { args: [{ actor: 'dave', reason: 'second fix', changeId: 'PR-8', validFor: 3_600_000 }] });
      assert.equal(again.status, 'pending');
      assert.equal((await h.query(freezeStateQuery)).exceptions.length, 1);
      await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'done' }] });
    });
  });
});
