// `rearguard serve` under hostile or careless clients, against a real Temporal dev server: a cap on
// alerts per request and on body size, per-route rate limits, slow clients cut off, and 5xx answers
// that carry a reference instead of the internal error.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { buildServer, type ServeLimits } from '../../client/serve.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { ROOT } from '../helpers/tools.js';

let env: TestWorkflowEnvironment;
let runbooksDir: string;
const apps: FastifyInstance[] = [];
const token = 'serve-limits-token';

before(async () => {
  env = await createDevServerEnv();
  runbooksDir = await mkdtemp(join(tmpdir(), 'serve-runbooks-'));
  await copyFile(join(ROOT, 'runbooks/demo-local.yaml'), join(runbooksDir, 'demo-local.yaml'));
});
after(async () => {
  for (const app of apps) await app.close();
  await env?.teardown();
});

async function serve(limits: Partial<ServeLimits>, client: Client = env.client): Promise<string> {
  const { app } = buildServer({ client, token, runbooksDir, taskQueue: 'serve-limits', limits });
  apps.push(app);
  return app.listen({ host: '127.0.0.1', port: 0 });
}

const firing = (n: number) => ({
  version: '4',
  alerts: Array.from({ length: n }, (_, i) => ({ status: 'firing', labels: { alertname: `A${i}`, service: 'demo', environment: 'dev' } })),
});
const post = (url: string, body: unknown, auth = token) =>
  fetch(`${url}/v1/alerts`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` }, body: JSON.stringify(body) });

describe('rearguard serve limits', () => {
  it('refuses more alerts per request than the cap, and bodies over the size limit', async () => {
    const url = await serve({ bodyLimitBytes: 64 * 1024 });
    const many = await post(url, firing(101));
    assert.equal(many.status, 400);
    const body = (await many.json()) as { problems: string[] };
    assert.ok(
      body.problems.some((p) => /^alerts: expected at most 100 alerts per request/.test(p)),
      body.problems.join('\n'),
    );
    const huge = await post(url, { version: '4', alerts: [], padding: 'x'.repeat(100 * 1024) });
    assert.equal(huge.status, 413);
  });

  it('rate-limits the alert intake per client, not /healthz', async () => {
    const url = await serve({ alertsPerMinute: 3 });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await post(url, firing(0), 'wrong-token')).status);
    assert.deepEqual(codes, [401, 401, 401, 429], 'token guessing is rate-limited too');
    for (let i = 0; i < 20; i++) assert.equal((await fetch(`${url}/healthz`)).status, 200);
  });

  it('cuts off a client that never finishes its headers', async () => {
    const url = new URL(await serve({ headersTimeoutMs: 500 }));
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: '));
      socket.on('data', () => undefined);
      socket.on('close', () => resolve(Date.now() - started));
      socket.on('error', reject);
      setTimeout(() => {
        socket.destroy();
        reject(new Error('the server kept a slow client for 10 s'));
      }, 10_000).unref();
    });
    assert.ok(closedAfter < 5_000, `closed after ${closedAfter} ms`);
  });

  it('answers a failure inside with a reference, not the internal error', async () => {
    // A real failure: the namespace does not exist, so Temporal refuses the start.
    const client = new Client({ connection: env.client.connection, namespace: 'no-such-namespace-rg' });
    const url = await serve({}, client);
    const res = await post(url, firing(1));
    assert.equal(res.status, 503);
    const text = await res.text();
    assert.match(text, /internal error \(reference [0-9a-f]{12}; the details are in the rearguard serve log\)/);
    assert.doesNotMatch(text, /namespace|no-such|grpc|at .*\.ts/i);
  });
});
