// The Policy's per-environment permissions (runbook/permissions.ts): fail closed, strictest rule wins, and a
// runbook can make approval stricter than the policy but never looser.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveApproval, mayAct, mayActInAll } from '../../runbook/permissions.js';
import { parsePolicy, type Policy } from '../../runbook/policy.js';

const POLICY = `
apiVersion: rearguard/v1
kind: Policy
metadata: { name: production }
spec:
  groups:
    sre: [alice, bob, carol]
    release-managers: [rm-ann, rm-bo]
  environments:
    - match: "*"
      trigger: [group:sre, ci-bot]
      cancel: [group:sre]
      freeze: [group:release-managers, group:sre]
    - match: [prod, prod-*]
      approve: { by: [group:sre], quorum: 2 }
      freeze: [group:release-managers]
      exceptions: [group:release-managers]
    - match: dev
      approve: { by: [alice, dave] }
`;

function policy(text = POLICY): Policy {
  const p = parsePolicy(text);
  assert.ok(p.ok, p.ok ? '' : p.problems.join('\n'));
  return p.value;
}

describe('policy permissions', () => {
  it('an environment no rule matches allows nothing; an action no matching rule names is allowed to nobody', () => {
    const p = policy(POLICY.replace('match: "*"', 'match: staging'));
    assert.deepEqual(mayAct(p, 'qa', 'trigger', 'alice'), {
      ok: false,
      reason: 'policy production has no rule for environment qa, so nothing is allowed there',
    });
    assert.deepEqual(mayAct(policy(), 'prod', 'guards', 'alice'), {
      ok: false,
      reason: 'policy production allows nobody to pause or resume SLO guards in prod',
    });
  });

  it('groups are expanded, and every matching rule that names the action must allow the actor (the strictest wins)', () => {
    const p = policy();
    assert.deepEqual(mayAct(p, 'prod-eu', 'trigger', 'bob'), { ok: true });
    assert.deepEqual(mayAct(p, 'prod-eu', 'trigger', 'ci-bot'), { ok: true });
    assert.deepEqual(mayAct(p, 'staging', 'freeze', 'alice'), { ok: true }, 'sre may freeze staging');
    const refused = mayAct(p, 'prod', 'freeze', 'alice');
    assert.deepEqual(refused, {
      ok: false,
      reason: 'alice may not start, extend or lift freezes in prod (policy production, rule prod,prod-*: group:release-managers)',
    });
    assert.deepEqual(mayAct(p, 'prod', 'freeze', 'rm-ann'), { ok: true });
    assert.equal(mayActInAll(p, ['staging', 'prod'], 'freeze', 'alice').ok, false, 'a freeze over several environments needs all of them');
    assert.equal(mayAct(p, 'prod', 'exceptions', 'mallory').ok, false);
  });

  it('approval: the policy makes it required, approvers are those both allow, the larger quorum wins', () => {
    const p = policy();
    assert.deepEqual(
      effectiveApproval(p, 'prod', undefined),
      { required: true, approvers: ['alice', 'bob', 'carol'], quorum: 2 },
      'a runbook that drops approval',
    );
    assert.deepEqual(
      effectiveApproval(p, 'prod', { required: true, approvers: ['alice', 'mallory', 'bob'], quorum: 1 }),
      { required: true, approvers: ['alice', 'bob'], quorum: 2 },
      'a made-up approver does not count; quorum 1 is raised to 2',
    );
    assert.deepEqual(effectiveApproval(p, 'prod', { required: true, approvers: ['alice', 'bob', 'carol'], quorum: 3 }).quorum, 3, 'a runbook may ask for more');
    const short = effectiveApproval(p, 'prod', { required: true, approvers: ['alice', 'mallory'], quorum: 1 });
    assert.equal(short.problem, 'approval in prod needs 2 approver(s), but only 1 are allowed by both the runbook and policy production (alice)');
    assert.equal(
      effectiveApproval(p, 'prod', { required: true, approvers: ['alice', 'bob'], quorum: 2 }, 'alice').problem,
      'approval in prod needs 2 approver(s), but only 1 are allowed by both the runbook and policy production (bob), not counting alice, who triggered it',
      'the person who triggered it cannot approve it',
    );
    assert.deepEqual(effectiveApproval(p, 'staging', { required: false, approvers: [], quorum: 1 }), { required: false, approvers: [], quorum: 1 });
    assert.deepEqual(effectiveApproval(p, 'staging', { required: true, approvers: ['bob'], quorum: 1 }), { required: true, approvers: ['bob'], quorum: 1 });
  });

  it('a rule naming an unknown group, or an unknown action, is a validation problem', () => {
    const bad = parsePolicy(
      POLICY.replace('[group:release-managers]\n      exceptions', '[group:release-manager]\n      exceptions').replace('cancel:', 'abort:'),
    );
    assert.equal(bad.ok, false);
    assert.ok(
      !bad.ok && bad.problems.some((l) => l === 'spec.environments[1].freeze[0]: no group release-manager in spec.groups'),
      !bad.ok ? bad.problems.join('\n') : '',
    );
    assert.ok(!bad.ok && bad.problems.some((l) => l.startsWith('spec.environments[0].abort: unknown key')), !bad.ok ? bad.problems.join('\n') : '');
  });
});
