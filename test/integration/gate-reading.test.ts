// How the gate reads freezes from a real Temporal server when it cannot read them all: a listing that
// fails (the namespace does not exist) and a freeze whose Query nobody answers (no worker polls its task
// queue) both make the answer "unknown", within the Query bound; a readable freeze is still reported.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { checkGate, readFreezes } from '../../api/freezes.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await createDevServerEnv();
});
after(async () => {
  await env?.teardown();
});

const q = { environment: 'prod', service: 'checkout' };

describe('the gate reading freezes from a real server', () => {
  it('a listing that fails answers unknown (and allowed only when failing open)', async () => {
    const client = new Client({ connection: env.client.connection, namespace: `no-such-namespace-${randomUUID().slice(0, 8)}` });
    const a = await checkGate(client, 'gate-reading', q, { timeoutMs: 2_000 });
    assert.equal(a.result, 'unknown');
    assert.deepEqual(
      a.unreadable.map((u) => [u.id, u.kind]),
      [['*', 'list']],
    );
    assert.match(a.unreadable[0].error, /cannot read the running freezes: .*namespace/i);
    assert.equal((await checkGate(client, 'gate-reading', q, { timeoutMs: 2_000, failOpen: true })).result, 'allowed');
  });

  it('a freeze whose Query no worker answers is unreadable within the bound, and the answer is unknown', async () => {
    // A freeze window run on a task queue that no worker polls: exactly what a stopped worker looks like.
    const id = `freeze:gate-reading-${randomUUID().slice(0, 8)}`;
    const taskQueue = `nobody-${randomUUID()}`;
    const handle = await env.client.workflow.start('freezeWindow', { workflowId: id, taskQueue, args: [{}] });
    try {
      await waitFor(
        async () => (await readFreezes(env.client, taskQueue, { timeoutMs: 500 }).catch(() => undefined))?.unreadable.some((u) => u.id === id) || undefined,
        'the run to be listed',
        15_000,
      );
      const t0 = Date.now();
      const a = await checkGate(env.client, taskQueue, q, { timeoutMs: 1_000 });
      const took = Date.now() - t0;
      assert.equal(a.result, 'unknown');
      const mine = a.unreadable.find((u) => u.id === id);
      assert.ok(mine && ['timeout', 'failed'].includes(mine.kind), JSON.stringify(a.unreadable));
      // The Query's bound, the describe that looks for a wedged task (same bound), and some slack.
      assert.ok(took < 5_000, `answered after ${took} ms`);
    } finally {
      await handle.terminate('test over');
    }
  });
});
