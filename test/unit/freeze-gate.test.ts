import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateGate, type FreezeState } from '../../runbook/freeze.js';

const NOW = Date.parse('2026-11-27T12:00:00Z');
const window = (name: string, over: Partial<FreezeState> = {}): FreezeState => ({
  id: `freeze:${name}`,
  name,
  scope: { environments: ['prod'], services: ['*'] },
  reason: `${name} reason`,
  actor: 'rm-ann',
  start: '2026-11-26T05:00:00Z',
  end: '2026-12-01T13:00:00Z',
  phase: 'active',
  exceptions: [],
  approvers: ['rm-bo'],
  quorum: 1,
  history: [],
  ...over,
});
const q = (environment: string, service: string, change?: string) => ({ environment, service, change });

describe('freeze gate', () => {
  it('blocks what an active window covers, and only that', () => {
    const w = [window('black-friday')];
    assert.equal(evaluateGate(w, q('prod', 'payments'), NOW).allowed, false);
    assert.equal(evaluateGate(w, q('staging', 'payments'), NOW).allowed, true);
    assert.deepEqual(
      evaluateGate(w, q('prod', 'payments'), NOW).blockedBy.map((b) => b.name),
      ['black-friday'],
    );
  });

  it('ignores windows that are scheduled, over, or lifted', () => {
    assert.equal(evaluateGate([window('later', { phase: 'scheduled', start: '2026-12-20T00:00:00Z' })], q('prod', 'x'), NOW).allowed, true);
    assert.equal(evaluateGate([window('past', { end: '2026-11-27T11:59:59Z' })], q('prod', 'x'), NOW).allowed, true);
    assert.equal(evaluateGate([window('lifted', { phase: 'lifted' })], q('prod', 'x'), NOW).allowed, true);
  });

  it('is frozen while any overlapping window covers the target', () => {
    const w = [window('rca', { scope: { environments: ['prod', 'staging'], services: ['payments'] } }), window('black-friday')];
    assert.deepEqual(
      evaluateGate(w, q('prod', 'payments'), NOW).blockedBy.map((b) => b.name),
      ['rca', 'black-friday'],
    );
    assert.deepEqual(
      evaluateGate(w, q('staging', 'payments'), NOW).blockedBy.map((b) => b.name),
      ['rca'],
    );
    assert.equal(evaluateGate(w, q('staging', 'search'), NOW).allowed, true);
  });

  it('lets an approved, unexpired exception through that window only', () => {
    const exception = {
      changeId: 'PR-1',
      requestedBy: 'dave',
      reason: 'fix',
      requestedAt: '2026-11-27T10:00:00Z',
      validUntil: '2026-11-27T14:00:00Z',
      approvals: [{ actor: 'rm-bo', time: '2026-11-27T10:05:00Z' }],
      status: 'approved' as const,
    };
    const approved = window('black-friday', { exceptions: [exception] });
    assert.equal(evaluateGate([approved], q('prod', 'payments', 'PR-1'), NOW).allowed, true);
    assert.equal(evaluateGate([approved], q('prod', 'payments', 'PR-2'), NOW).allowed, false, 'another change');
    assert.equal(evaluateGate([approved], q('prod', 'payments'), NOW).allowed, false, 'no change given');
    assert.equal(evaluateGate([approved], q('prod', 'payments', 'PR-1'), Date.parse('2026-11-27T14:00:00Z')).allowed, false, 'expired');
    assert.equal(
      evaluateGate([window('bf', { exceptions: [{ ...exception, status: 'pending', approvals: [] }] })], q('prod', 'payments', 'PR-1'), NOW).allowed,
      false,
      'pending',
    );
    assert.equal(evaluateGate([approved, window('rca')], q('prod', 'payments', 'PR-1'), NOW).allowed, false, 'another window still blocks');
  });
});

describe('freeze check while an exception is pending', () => {
  const pending = {
    changeId: 'PR-7',
    requestedBy: 'dave',
    reason: 'hotfix',
    requestedAt: '2026-11-27T11:00:00Z',
    validUntil: '2026-11-27T15:00:00Z',
    approvals: [],
    status: 'pending' as const,
  };
  it('names the pending exception and who can approve it, instead of suggesting another request', async () => {
    const { describeDecision } = await import('../../client/render/freeze.js');
    const w = [window('black-friday', { exceptions: [pending], approvers: ['rm-bo', 'dave'], quorum: 1 })];
    const d = evaluateGate(w, q('prod', 'payments', 'PR-7'), NOW);
    assert.deepEqual(d.blockedBy[0].exception, { status: 'pending', approvals: 0, quorum: 1, approvers: ['rm-bo'] });
    const text = describeDecision({ ...d, result: 'frozen', unreadable: [] }).join('\n');
    assert.match(text, /The exception for PR-7 is pending \(0\/1 approval\(s\)\); an approver \(rm-bo\) runs:/);
    assert.match(text, /rearguard freeze exception approve --name black-friday --change PR-7 --reason/);
    assert.doesNotMatch(text, /exception request/);
  });
  it('another change still gets the hint to ask for one', async () => {
    const { describeDecision } = await import('../../client/render/freeze.js');
    const d = evaluateGate([window('black-friday', { exceptions: [pending] })], q('prod', 'payments', 'PR-8'), NOW);
    assert.equal(d.blockedBy[0].exception, undefined);
    assert.match(describeDecision({ ...d, result: 'frozen', unreadable: [] }).join('\n'), /exception request --name black-friday --change PR-8/);
  });
});
