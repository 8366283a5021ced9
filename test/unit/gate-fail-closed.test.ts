// checkGate's answer when it cannot see everything (the end-to-end test stops a real worker; the failures
// that are hard to cause on a real server, a failing listing and a Query that never answers, are
// played here by a stand-in client).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { checkGate, describeDecision } from '../../client/gate.js';
import type { FreezeState } from '../../runbook/freeze.js';

const frozen = (name: string, services = ['*']): FreezeState => ({
  id: `freeze:${name}`,
  name,
  scope: { environments: ['prod'], services },
  reason: 'r',
  actor: 'rm-ann',
  start: new Date(Date.now() - 60_000).toISOString(),
  end: new Date(Date.now() + 3_600_000).toISOString(),
  phase: 'active',
  exceptions: [],
  approvers: [],
  quorum: 1,
  history: [],
});

/** A client whose listing yields `ids` (or fails), and whose Queries answer from `states`, fail, or never answer. */
function fakeClient(ids: string[] | Error, answers: Record<string, FreezeState | Error | 'hang'>): Client {
  const client = {
    options: { namespace: 'default' },
    // Like the real one, a deadline cuts off a call that does not answer in time.
    withDeadline: async <R>(deadline: number, fn: () => Promise<R>): Promise<R> =>
      Promise.race([fn(), new Promise<R>((_, reject) => setTimeout(() => reject(new Error('Call cancelled')), Math.max(0, deadline - Date.now())))]),
    workflow: {
      list: () => ({
        async *[Symbol.asyncIterator]() {
          if (ids instanceof Error) throw ids;
          for (const workflowId of ids) yield { workflowId };
        },
      }),
      getHandle: (id: string) => ({
        query: async () => {
          const a = answers[id];
          if (a === 'hang') return new Promise(() => undefined);
          if (a instanceof Error) throw a;
          return a;
        },
        describe: async () => {
          throw new Error('not available');
        },
      }),
    },
  };
  return client as unknown as Client;
}

const q = { environment: 'prod', service: 'checkout' };

describe('the gate when it cannot see every freeze', () => {
  it('answers unknown when the running freezes cannot be listed, allowed only when failing open', async () => {
    const c = fakeClient(new Error('visibility store unavailable'), {});
    const a = await checkGate(c, q);
    assert.equal(a.result, 'unknown');
    assert.equal(a.allowed, false);
    assert.deepEqual(a.unreadable, [{ id: '*', kind: 'list', error: 'cannot list the running freezes: visibility store unavailable' }]);
    assert.match(describeDecision(a)[0], /^UNKNOWN: cannot tell whether prod\/checkout is frozen/);
    const open = await checkGate(c, q, { failOpen: true });
    assert.equal(open.result, 'allowed');
    assert.equal(open.failedOpen, true);
  });

  it('answers unknown, within the bound, when a Query never answers; frozen when a readable freeze blocks anyway', async () => {
    const t0 = Date.now();
    const a = await checkGate(fakeClient(['freeze:a', 'freeze:b'], { 'freeze:a': frozen('a', ['payments']), 'freeze:b': 'hang' }), q, { timeoutMs: 200 });
    assert.ok(Date.now() - t0 < 2_000, 'bounded');
    assert.equal(a.result, 'unknown');
    assert.deepEqual(
      a.unreadable.map((u) => [u.id, u.kind]),
      [['freeze:b', 'timeout']],
    );
    const f = await checkGate(fakeClient(['freeze:a', 'freeze:b'], { 'freeze:a': frozen('a'), 'freeze:b': new Error('boom') }), q, { timeoutMs: 200 });
    assert.equal(f.result, 'frozen', 'a freeze that can be read and blocks is a certain answer');
    assert.deepEqual(
      f.unreadable.map((u) => [u.id, u.kind]),
      [['freeze:b', 'failed']],
    );
    const ok = await checkGate(fakeClient(['freeze:a'], { 'freeze:a': frozen('a', ['payments']) }), q);
    assert.equal(ok.result, 'allowed');
    assert.equal(ok.failedOpen, undefined);
  });
});
