// The gate's rule when it cannot see everything: a readable blocking freeze is a certain "frozen", any
// unreadable freeze (or a failed listing) otherwise makes the answer "unknown", and only an explicit
// fail-open turns that into "allowed". The reading itself is tested against a real server in
// test/integration/gate-reading.test.ts and end to end (a stopped worker) in test/e2e/gate-fail-closed.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeDecision } from '../../client/render/freeze.js';
import { gateAnswer, type UnreadableFreeze } from '../../runbook/gate.js';
import type { FreezeState } from '../../runbook/freeze.js';

const NOW = Date.parse('2026-11-27T12:00:00Z');
const frozen = (name: string, services = ['*']): FreezeState => ({
  id: `freeze:${name}`,
  name,
  scope: { environments: ['prod'], services },
  reason: 'r',
  actor: 'rm-ann',
  start: new Date(NOW - 60_000).toISOString(),
  end: new Date(NOW + 3_600_000).toISOString(),
  phase: 'active',
  exceptions: [],
  approvers: [],
  quorum: 1,
  history: [],
});
const q = { environment: 'prod', service: 'checkout' };
const listFailed: UnreadableFreeze = { id: '*', kind: 'list', error: 'cannot list the running freezes: visibility store unavailable' };
const timedOut: UnreadableFreeze = { id: 'freeze:b', kind: 'timeout', error: 'its state Query was not answered within 3000 ms' };

describe('the gate when it cannot see every freeze', () => {
  it('answers unknown when the running freezes cannot be listed, allowed only when failing open', () => {
    const a = gateAnswer({ states: [], unreadable: [listFailed] }, q, NOW, false);
    assert.equal(a.result, 'unknown');
    assert.equal(a.allowed, false);
    assert.match(describeDecision(a)[0], /^UNKNOWN: cannot tell whether prod\/checkout is frozen/);
    assert.ok(describeDecision(a).some((l) => l.includes('running freezes: cannot list')));
    const open = gateAnswer({ states: [], unreadable: [listFailed] }, q, NOW, true);
    assert.equal(open.result, 'allowed');
    assert.equal(open.allowed, true);
    assert.equal(open.failedOpen, true);
  });

  it('answers unknown when one freeze is unreadable and the readable ones allow; frozen when a readable one blocks', () => {
    const a = gateAnswer({ states: [frozen('a', ['payments'])], unreadable: [timedOut] }, q, NOW, false);
    assert.equal(a.result, 'unknown');
    assert.equal(a.allowed, false);
    const f = gateAnswer({ states: [frozen('a')], unreadable: [timedOut] }, q, NOW, false);
    assert.equal(f.result, 'frozen', 'a freeze that can be read and blocks is a certain answer');
    assert.equal(gateAnswer({ states: [frozen('a')], unreadable: [timedOut] }, q, NOW, true).result, 'frozen', 'fail-open never opens a real freeze');
    const ok = gateAnswer({ states: [frozen('a', ['payments'])], unreadable: [] }, q, NOW, false);
    assert.equal(ok.result, 'allowed');
    assert.equal(ok.failedOpen, undefined);
  });
});
