// `rearguard serve` when Temporal goes away under it: /healthz stays 200 (the process is alive), /readyz
// turns 503 and the change is logged once, and the gate answers 503 `unknown` (fails closed) instead of
// hanging for the client's retries. A real dev server, stopped for real.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../client/serve.js';
import { createDevServerEnv } from '../helpers/temporal.js';

let env: TestWorkflowEnvironment;
let app: FastifyInstance;
let url: string;

before(async () => {
  env = await createDevServerEnv();
  ({ app } = buildServer({ client: env.client, token: 'readiness-token', taskQueue: 'serve-readiness' }));
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await app?.close();
});

/** Runs `body` with the server's log lines (stderr) collected. */
async function withLog<T>(body: () => Promise<T>): Promise<{ value: T; log: Record<string, unknown>[] }> {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    lines.push(String(chunk));
    return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    const value = await body();
    const log = lines
      .flatMap((l) => l.split('\n'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    return { value, log };
  } finally {
    process.stderr.write = write;
  }
}

describe('rearguard serve readiness', () => {
  it('is ready while Temporal answers; when it stops: not ready (logged once), gate 503 unknown, still alive', async () => {
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true, temporal: 'reachable' });

    await env.teardown();
    // Readiness is asked of Temporal at most once a second: the next answer is about the server that is gone.
    await delay(1_100);

    const { value, log } = await withLog(async () => {
      const first = await fetch(`${url}/readyz`);
      const second = await fetch(`${url}/readyz`);
      const gate = await fetch(`${url}/v1/gate?env=prod&service=api`);
      const alive = await fetch(`${url}/healthz`);
      return { first, second, gate, alive, firstBody: await first.json(), gateBody: (await gate.json()) as { result: string; allowed: boolean } };
    });
    assert.equal(value.first.status, 503);
    assert.deepEqual(value.firstBody, { ready: false, temporal: 'unreachable' });
    assert.equal(value.second.status, 503);
    const changes = log.filter((l) => l.msg === 'Temporal is not reachable');
    assert.equal(changes.length, 1, `one log line for the change: ${JSON.stringify(log)}`);
    assert.equal(typeof changes[0].error, 'string');
    assert.equal(value.gate.status, 503, 'the gate fails closed');
    assert.equal(value.gateBody.result, 'unknown');
    assert.equal(value.gateBody.allowed, false);
    assert.equal(value.alive.status, 200, 'liveness does not depend on Temporal');
  });
});
