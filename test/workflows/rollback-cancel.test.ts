// Cancelling a rollback as a decision (time-skipping server, activities stubbed; trust settings and policy
// through the trustSettings activity as on a real worker), through api/rollbacks.ts cancelRollback as the CLI
// calls it: the `cancel` Update's validator refuses someone the policy's `cancel` does not allow (the rollback
// goes on and succeeds), a cancel signed with another person's key, unsigned, or for another run; a signed
// cancel is admitted, audited with its signature, and only then is the run cancelled. A run whose code has no
// `cancel` Update (an older worker) is cancelled the old way. The recorded histories replay.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TrustSettings } from '../../activities/trust.js';
import { decisionSignatureVerifier } from '../../api/audit-chain.js';
import { OperationError } from '../../api/errors.js';
import { ROLLBACK_DECISIONS, approveUpdate, guardStatusQuery, statusQuery, type SignedEnvelope, type VoteRequest } from '../../api/messages.js';
import { cancelRollback } from '../../api/rollbacks.js';
import type { SignedDecision } from '../../runbook/decision.js';
import { permissionRules } from '../../runbook/permissions.js';
import { parsePolicy } from '../../runbook/policy.js';
import type { SloGuardStatus } from '../../runbook/slo-guard.js';
import { testEnv, useTemporalEnv, withWorker } from '../helpers/harness.js';
import { useSigners } from '../helpers/signers.js';
import { actions, outcomeOf, phase, rollbackHarness, stubActivities } from '../helpers/rollback.js';
import { makeRunbook } from '../helpers/runbooks.js';
import { waitFor } from '../helpers/wait.js';

useTemporalEnv();
const { histories, withRollback } = rollbackHarness();

const keys = useSigners('cancel', ['dana', 'eli']);

const policy = parsePolicy(`
apiVersion: rearguard/v1
kind: Policy
metadata: { name: production }
spec:
  groups: { sre: [alice, bob, carol] }
  environments:
    - match: "*"
      trigger: [group:sre, dave]
    - match: prod
      cancel: [eli]
`);
assert.ok(policy.ok);
const permissions = permissionRules(policy.value);
const trusting = (t: TrustSettings) => ({ trustSettings: async () => t });

/** A cancellation as `rollback cancel` signs it: bound to the run, dated at the server's (workflow) time. */
async function decision(workflowId: string, over: Partial<SignedDecision> = {}): Promise<SignedDecision> {
  const run = (await testEnv().client.workflow.getHandle(workflowId).describe()).runId;
  const { extra, ...rest } = over;
  return {
    action: ROLLBACK_DECISIONS.cancel,
    workflowId,
    actor: 'eli',
    reason: 'wrong service: the alert was for checkout',
    at: new Date(await testEnv().currentTimeMs()).toISOString(),
    nonce: randomUUID(),
    ...rest,
    extra: { run, ...extra },
  };
}

const request = (d: SignedDecision, signed?: SignedEnvelope): VoteRequest => ({ actor: d.actor, reason: d.reason, ...(signed ? { signed } : {}) });

/** cancelRollback refuses with the validator's reason (an OperationError, exit 1 in the CLI), and the run goes on. */
async function refused(h: WorkflowHandle, req: VoteRequest, pattern: RegExp): Promise<void> {
  await assert.rejects(cancelRollback(testEnv().client, h.workflowId, req), (err: unknown) => {
    assert.ok(err instanceof OperationError, String(err));
    assert.equal(err.kind, 'refused');
    assert.match(err.message, pattern);
    return true;
  });
  assert.equal((await h.describe()).status.name, 'RUNNING', 'a refused cancel does not cancel the run');
}

describe('cancelling a rollback as a decision', () => {
  it('someone the policy does not allow to cancel is refused; the rollback goes on and succeeds', async () => {
    await withRollback({ overrides: trusting({ requireSignatures: false, allowedSigners: [], permissions }) }, async (h, { calls }) => {
      await phase(h, 'awaiting-approval');
      await refused(
        h,
        { actor: 'mallory', reason: 'not needed' },
        /^cancel refused: refused by the worker's policy: mallory may not cancel rollbacks in prod \(policy production, rule prod: eli\)$/,
      );
      await refused(h, { actor: 'dave', reason: 'I started it' }, /dave may not cancel rollbacks in prod/);
      assert.equal((await h.query(statusQuery)).cancel, undefined);
      await h.executeUpdate(approveUpdate, { args: [{ actor: 'alice', reason: 'go' }] });
      assert.equal((await outcomeOf(h)).outcome, 'succeeded');
      assert.equal(calls.steps.length, 3);
      assert.deepEqual(
        actions(calls.audit).filter((a) => a.includes('cancel')),
        [],
      );
    });
  });

  it('signatures: another person key, unsigned and another run refused; a signed cancel is admitted, audited with its signature, then the run is cancelled', async () => {
    await withRollback({ overrides: trusting({ ...keys.required, permissions }) }, async (h, { calls, trigger, start }) => {
      await phase(h, 'awaiting-approval');
      const id = h.workflowId;
      const asEli = await decision(id);
      await refused(
        h,
        request(asEli, await keys.sign('dana', asEli)),
        /^cancel refused: signed decision refused: signed by a key allowed for dana, not for eli \(key SHA256:/,
      );
      await refused(h, request(asEli), /^cancel refused: signed decision required: /);
      const otherRun = await decision(id, { extra: { run: randomUUID() } });
      await refused(
        h,
        request(otherRun, await keys.sign('eli', otherRun)),
        /^cancel refused: signed decision refused: the decision is signed for run "[^"]+", not "[^"]+"$/,
      );
      const approval = await decision(id, { action: ROLLBACK_DECISIONS.approve });
      await refused(h, request(approval, await keys.sign('eli', approval)), /signed for action "rollback\.approve", not "rollback\.cancel"/);

      const cancel = await decision(id);
      const r = await cancelRollback(testEnv().client, id, request(cancel, await keys.sign('eli', cancel)));
      assert.deepEqual(r, { terminated: false });
      await assert.rejects(h.result(), (err: unknown) => err instanceof WorkflowFailedError && (err.cause as Error).name === 'CancelledFailure');
      const s = await h.query(statusQuery);
      assert.equal(s.outcome, 'cancelled');
      assert.deepEqual(s.cancel, { actor: 'eli', reason: cancel.reason });
      assert.equal(calls.steps.length, 0);

      const requested = calls.audit.find((e) => e.action === 'rollback.cancel-requested')!;
      assert.deepEqual(
        { actor: requested.actor, reason: requested.reason, phase: requested.details.phase },
        { actor: 'eli', reason: cancel.reason, phase: 'awaiting-approval' },
      );
      assert.deepEqual(requested.details.decision, cancel);
      assert.equal(requested.signature?.principal, 'eli');
      assert.deepEqual(await decisionSignatureVerifier(keys.required.allowedSigners)(requested), { ok: true }, 'audit verify --allowed-signers checks it');
      const cancelled = calls.audit.find((e) => e.action === 'rollback.cancelled')!;
      assert.deepEqual({ actor: cancelled.actor, reason: cancelled.reason }, { actor: 'eli', reason: cancel.reason });
      assert.deepEqual(actions(calls.audit).slice(-2), ['rollback.cancel-requested', 'rollback.cancelled']);

      // The same signed cancellation on the next rollback of the service (a new run): refused.
      const next = await start({ ...trigger, requestId: randomUUID() });
      await phase(next, 'awaiting-approval');
      await refused(next, request(cancel, await keys.sign('eli', cancel)), /signed for run "[^"]+", not "[^"]+"/);
      await next.cancel();
      await next.result().catch(() => undefined);
    });
  });

  it('a run whose code has no cancel Update (an older worker) is cancelled the old way: signal, then cancel', async () => {
    // The SLO guard has no `cancel` Update: it answers as a rollback on a worker from before it would.
    const { activities } = stubActivities({
      evaluateSlo: async () => ({ time: new Date().toISOString(), conditions: [], burnRate: [], health: {} }),
    } as never);
    const runbook = makeRunbook({ slo: { interval: '1m', conditions: [{ name: 'error-ratio', query: 'x', above: 0.05 }] } });
    await withWorker({ activities, taskQueue: 'cancel-old' }, async ({ client, taskQueue }) => {
      const h = await client.workflow.start('sloGuard', {
        workflowId: `guard:prod:old-${randomUUID().slice(0, 8)}`,
        taskQueue,
        args: [{ runbook, actor: 'dave' }],
      });
      await waitFor(async () => ((await h.query(guardStatusQuery)) as SloGuardStatus).evaluations > 0, 'first evaluation');
      assert.deepEqual(await cancelRollback(client, h.workflowId, { actor: 'erin', reason: 'old worker' }), { terminated: false });
      await h.result();
      // The guard ends a cancellation as completed (guard.stopped); what it received is in its history.
      const events = (await h.fetchHistory()).events ?? [];
      const signal = events.find((e) => e.workflowExecutionSignaledEventAttributes)?.workflowExecutionSignaledEventAttributes;
      assert.equal(signal?.signalName, 'cancelRequest');
      assert.ok(events.some((e) => e.workflowExecutionCancelRequestedEventAttributes));
    });
  });

  it('replays every history recorded above without nondeterminism', async () => {
    assert.equal(histories.length, 2);
    for (const r of await histories.replay()) assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
  });
});
