// The freeze gate's registry and serve's copy of it (api/gate-view.ts, workflows/gate-registry.ts) on a real
// dev server, with the freeze windows publishing through the real activity: read-your-writes (once a command
// that changed a freeze returns, every current copy answers with the change), a copy that cannot keep up
// answers `unknown` and makes writers wait no longer than its lease, and the registry keeps working across
// continue-as-new. The speed of the gate is measured by `npm run bench`, not here.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { approveFreezeException, checkGate, extendFreeze, liftFreeze, requestFreezeException, startFreeze } from '../../api/freezes.js';
import { GateView, readGateRecords } from '../../api/gate-view.js';
import { gateRegistryId } from '../../api/ids.js';
import { gateRecordsQuery, publishGateSignal } from '../../api/messages.js';
import type { FreezeWindowInput } from '../../runbook/freeze.js';
import { gateAnswer, type GateResult } from '../../runbook/gate.js';
import { GATE_SHARDS, gateShardOf } from '../../runbook/gate-view.js';
import { testEnv, useTemporalEnv, withWorker } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { publishingFreezeActivities } from '../helpers/freeze-window.js';

useTemporalEnv('dev');

const HOUR = 3_600_000;
const activities = publishingFreezeActivities;

const window = (name: string, o: Partial<FreezeWindowInput> = {}): FreezeWindowInput => ({
  name,
  scope: { environments: ['prod'], services: ['*'] },
  reason: 'release freeze',
  actor: 'rm-ann',
  start: new Date(Date.now()).toISOString(),
  end: new Date(Date.now() + 2 * HOUR).toISOString(),
  exceptions: { approvers: ['rm-bo'], quorum: 1 },
  ...o,
});

/** What a copy answers right now for prod/checkout (and a change). */
const answer = (view: GateView, change?: string): GateResult => {
  const s = view.snapshot();
  return gateAnswer(
    { states: s.entries, unreadable: s.unreadable },
    { environment: 'prod', service: 'checkout', ...(change ? { change } : {}) },
    Date.now(),
    false,
  ).result;
};

async function current(view: GateView): Promise<GateView> {
  await waitFor(() => view.snapshot().unreadable.length === 0 || undefined, 'the copy to be current', 20_000);
  return view;
}

describe('the freeze gate registry and serve copies', () => {
  it('read-your-writes: after start, exception approval, extend and lift return, both copies answer with the change at once', async () => {
    await withWorker({ activities: activities(), env: testEnv(), taskQueue: 'gate-view' }, async ({ client, taskQueue }) => {
      const a = await current(new GateView(client, { taskQueue, leaseMs: 5_000 }).start());
      const b = await current(new GateView(client, { taskQueue, leaseMs: 5_000 }).start());
      try {
        assert.equal(answer(a), 'allowed');
        const name = `ryw-${randomUUID().slice(0, 8)}`;
        const id = `freeze:${name}`;
        await startFreeze(client, taskQueue, window(name));
        // No wait: the command returned, so the copies have it.
        assert.deepEqual([answer(a), answer(b)], ['frozen', 'frozen']);

        await requestFreezeException(client, id, { actor: 'dev-dan', reason: 'hotfix', changeId: 'PR-7', validFor: HOUR });
        assert.equal(answer(a, 'PR-7'), 'frozen');
        await approveFreezeException(client, id, { actor: 'rm-bo', changeId: 'PR-7', reason: 'ok' });
        assert.deepEqual([answer(a, 'PR-7'), answer(b, 'PR-7'), answer(a, 'PR-8')], ['allowed', 'allowed', 'frozen']);

        const later = new Date(Date.now() + 5 * HOUR).toISOString();
        await extendFreeze(client, id, { actor: 'rm-ann', reason: 'longer' }, () => later);
        assert.equal(a.snapshot().entries.find((e) => e.id === id)?.end, later, 'the extended end is in the copy when extend returns');

        await liftFreeze(client, id, { actor: 'rm-ann', reason: 'done' });
        assert.deepEqual([answer(a), answer(b)], ['allowed', 'allowed']);
        // The run withdrew its entry: the registry holds nothing for it any more.
        const { records } = await readGateRecords(client, taskQueue, 3_000);
        assert.equal(
          records.find((r) => r.id === id),
          undefined,
        );
      } finally {
        a.stop();
        b.stop();
      }
    });
  });

  it('a freeze name used again is a new chain; a run that ended without withdrawing, a restarted shard and a malformed publication never open the gate', async () => {
    await withWorker({ activities: activities(), env: testEnv(), taskQueue: 'gate-view' }, async ({ client, taskQueue }) => {
      const view = await current(new GateView(client, { taskQueue, reconcileMs: 500 }).start());
      try {
        const name = `again-${randomUUID().slice(0, 8)}`;
        const id = `freeze:${name}`;
        await startFreeze(client, taskQueue, window(name));
        await liftFreeze(client, id, { actor: 'rm-ann', reason: 'done' });
        assert.equal(answer(view), 'allowed');
        // The same name again: its revisions count from 1, below the withdrawn run's, and still it is enforced.
        await startFreeze(client, taskQueue, window(name));
        assert.equal(answer(view), 'frozen', 'the second freeze of the name is enforced when start returns');
        assert.equal((await checkGate(client, taskQueue, { environment: 'prod', service: 'checkout' })).result, 'frozen');

        // A malformed publication (anyone who may signal the namespace could send one) is dropped; the shard works on.
        const registry = client.workflow.getHandle(gateRegistryId(taskQueue, gateShardOf(id)));
        await registry.signal(publishGateSignal, null as never);
        await registry.signal(publishGateSignal, { id, chain: 'x', revision: 1, entry: { id } } as never);
        await extendFreeze(client, id, { actor: 'rm-ann', reason: 'longer' }, () => new Date(Date.now() + 4 * HOUR).toISOString());
        assert.equal(answer(view), 'frozen');

        // The shard is terminated and starts afresh, empty: until serve has compared it with the running freezes, it
        // answers unknown, then frozen again (the freeze is read directly until it publishes anew), never allowed.
        await registry.terminate('test: a lost registry shard');
        await client.workflow.start('freezeGateRegistry', { workflowId: registry.workflowId, taskQueue, args: [{ shard: gateShardOf(id) }] });
        const seen = new Set<GateResult>();
        await waitFor(
          () => {
            seen.add(answer(view));
            return (seen.has('frozen') && answer(view) === 'frozen' && view.snapshot().unreadable.length === 0) || undefined;
          },
          'the copy to be current again after the shard restarted',
          { timeout: 20_000, interval: 5 },
        );
        assert.ok(!seen.has('allowed'), `answers seen while the shard restarted: ${[...seen].join(', ')}`);

        // Terminated, the run never withdraws its entry: serve and the CLI see it closed and stop counting it.
        await client.workflow.getHandle(id).terminate('test: ended by hand');
        await waitFor(() => answer(view) === 'allowed' || undefined, 'serve to drop the terminated freeze', 20_000);
        assert.equal((await checkGate(client, taskQueue, { environment: 'prod', service: 'checkout' })).result, 'allowed');
      } finally {
        view.stop();
      }
    });
  });

  it('a scheduled window blocks from its start time, read from the copy by the clock', async () => {
    await withWorker({ activities: activities(), env: testEnv(), taskQueue: 'gate-view' }, async ({ client, taskQueue }) => {
      const view = await current(new GateView(client, { taskQueue }).start());
      try {
        const name = `soon-${randomUUID().slice(0, 8)}`;
        const startsAt = Date.now() + 1_500;
        await startFreeze(client, taskQueue, window(name, { start: new Date(startsAt).toISOString() }));
        assert.equal(answer(view), 'allowed', 'not yet started');
        await new Promise((r) => setTimeout(r, startsAt - Date.now() + 10));
        assert.equal(answer(view), 'frozen', 'blocked from its start, whether or not the workflow has woken yet');
        await liftFreeze(client, `freeze:${name}`, { actor: 'rm-ann', reason: 'done' });
      } finally {
        view.stop();
      }
    });
  });

  it('a copy that stops hearing from the registry answers unknown after its lease, and a writer waits for it no longer than that', async () => {
    await withWorker({ activities: activities(), env: testEnv(), taskQueue: 'gate-view' }, async ({ client, taskQueue }) => {
      const leaseMs = 3_000;
      const live = await current(new GateView(client, { taskQueue, leaseMs }).start());
      const cut = await current(new GateView(client, { taskQueue, leaseMs }).start());
      try {
        // `cut` goes away without telling the registry (a serve partitioned from Temporal, or frozen).
        const cutAt = Date.now();
        cut.stop();
        const name = `cut-${randomUUID().slice(0, 8)}`;
        const t0 = Date.now();
        await startFreeze(client, taskQueue, window(name));
        const waited = Date.now() - t0;
        // The registry waited for `cut` until its lease ran out; by then `cut` answers unknown, never from its old copy.
        assert.ok(waited < leaseMs + 5_000, `freeze start waited ${waited} ms`);
        assert.equal(answer(live), 'frozen');
        assert.ok(Date.now() - cutAt >= leaseMs - 50, 'start returned only once the cut copy had expired');
        assert.equal(answer(cut), 'unknown');
        assert.ok(cut.snapshot().unreadable.some((u) => u.kind === 'stale' && u.id === `freeze-gate:${taskQueue}`));
        await liftFreeze(client, `freeze:${name}`, { actor: 'rm-ann', reason: 'done' });
        assert.equal(answer(live), 'allowed');
      } finally {
        live.stop();
      }
    });
  });

  it('the registry continues as new with its records, epoch and watchers; copies and writers carry on', async () => {
    await withWorker({ activities: activities(), env: testEnv(), taskQueue: 'gate-view' }, async ({ client, taskQueue }) => {
      const names = Array.from({ length: 6 }, (_, i) => `can-${i}-${randomUUID().slice(0, 8)}`);
      // Every shard with a short history limit, started before anything publishes to it.
      for (let shard = 0; shard < GATE_SHARDS; shard++)
        await client.workflow.start('freezeGateRegistry', { workflowId: gateRegistryId(taskQueue, shard), taskQueue, args: [{ shard, historyLimit: 60 }] });
      const view = await current(new GateView(client, { taskQueue, leaseMs: 3_000 }).start());
      try {
        for (const name of names) await startFreeze(client, taskQueue, window(name, { scope: { environments: ['prod'], services: [name] } }));
        const shard = gateShardOf(`freeze:${names[0]}`);
        const registry = client.workflow.getHandle(gateRegistryId(taskQueue, shard));
        // Watches every second: the shard passes 60 events and continues as new within seconds.
        const firstRun = (await registry.describe()).runId;
        await waitFor(async () => (await registry.describe()).runId !== firstRun || undefined, 'the registry shard to continue as new', 30_000);
        const { records } = await registry.query(gateRecordsQuery);
        assert.ok(
          records.some((r) => r.id === `freeze:${names[0]}`),
          'records carried across continue-as-new',
        );
        // A change after continue-as-new reaches the copy before the command returns.
        await liftFreeze(client, `freeze:${names[0]}`, { actor: 'rm-ann', reason: 'done' });
        assert.equal(
          view.snapshot().entries.some((e) => e.id === `freeze:${names[0]}`),
          false,
        );
        assert.deepEqual(view.snapshot().unreadable, []);
        for (const name of names.slice(1)) await liftFreeze(client, `freeze:${name}`, { actor: 'rm-ann', reason: 'done' });
      } finally {
        view.stop();
      }
    });
  });
});
