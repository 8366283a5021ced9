// The worker's Policy in the rollback workflow (time-skipping server, activities stubbed; the policy reaches the
// workflow through the trustSettings activity as on a real worker): who may trigger in an environment, and an
// approval the runbook cannot drop or weaken. Pure rules: test/unit/permissions.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { approveUpdate } from '../../api/messages.js';
import { permissionRules } from '../../runbook/permissions.js';
import { parsePolicy } from '../../runbook/policy.js';
import { useTemporalEnv } from '../helpers/harness.js';
import { actions, outcomeOf, phase, rollbackHarness } from '../helpers/rollback.js';
import { makeRunbook } from '../helpers/runbooks.js';

useTemporalEnv();
const { histories, withRollback } = rollbackHarness();

const parsed = parsePolicy(`
apiVersion: rearguard/v1
kind: Policy
metadata: { name: production }
spec:
  groups: { sre: [alice, bob, carol] }
  environments:
    - match: "*"
      trigger: [group:sre, dave]
    - match: prod
      approve: { by: [group:sre], quorum: 2 }
`);
assert.ok(parsed.ok);
const trust = { trustSettings: async () => ({ requireSignatures: false, allowedSigners: [], permissions: permissionRules(parsed.value) }) };

describe('rollback workflow under a policy', () => {
  it('someone the policy does not allow to trigger in prod: refused before anything runs', async () => {
    await withRollback({ actor: 'mallory', overrides: trust }, async (h, { calls }) => {
      const s = await outcomeOf(h).catch((err: Error) => err);
      assert.ok(s instanceof Error, 'the rollback fails');
      assert.equal(calls.steps.length, 0);
      const failed = calls.audit.find((e) => e.action === 'rollback.failed');
      assert.match(
        failed?.reason ?? '',
        /refused by the worker's policy: mallory may not start rollbacks in prod \(policy production, rule \*: group:sre, dave\)/,
      );
    });
  });

  it('a runbook without approval still needs the policy quorum; a made-up approver cannot vote', async () => {
    await withRollback({ overrides: trust, runbook: makeRunbook({ approval: undefined }) }, async (h, { calls }) => {
      await phase(h, 'awaiting-approval');
      await assert.rejects(
        h.executeUpdate(approveUpdate, { args: [{ actor: 'mallory', reason: 'me too' }] }),
        (err: unknown) => err instanceof WorkflowUpdateFailedError && /mallory/.test((err.cause as Error).message),
      );
      await h.executeUpdate(approveUpdate, { args: [{ actor: 'alice', reason: 'ok' }] });
      assert.equal(calls.steps.length, 0, 'one approval is not the policy quorum of 2');
      await h.executeUpdate(approveUpdate, { args: [{ actor: 'bob', reason: 'ok' }] });
      const s = await outcomeOf(h);
      assert.equal(s.outcome, 'succeeded');
      assert.deepEqual(
        { approvers: s.approval.approvers, quorum: s.approval.quorum, required: s.approval.required },
        {
          approvers: ['alice', 'bob', 'carol'],
          quorum: 2,
          required: true,
        },
      );
      assert.ok(actions(calls.audit).includes('rollback.succeeded'));
    });
  });

  it('a runbook listing a made-up approver: only the approvers both allow count, and too few is refused at once', async () => {
    const runbook = makeRunbook({ approval: { required: true, approvers: ['alice', 'mallory'], quorum: 1, timeout: '10m' } });
    await withRollback({ overrides: trust, runbook }, async (h, { calls }) => {
      await assert.rejects(outcomeOf(h));
      assert.equal(calls.steps.length, 0);
      assert.match(
        calls.audit.find((e) => e.action === 'rollback.failed')?.reason ?? '',
        /approval in prod needs 2 approver\(s\), but only 1 are allowed by both the runbook and policy production \(alice\)/,
      );
    });
  });

  it('replays every history recorded above without nondeterminism', async () => {
    assert.equal(histories.length, 3);
    for (const r of await histories.replay()) assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
  });
});
