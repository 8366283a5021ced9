// `rearguard serve` for people: OIDC bearer tokens from a local issuer (keys made with jose, a JWKS and a
// discovery document served by a small HTTP server here, tokens minted with SignJWT), serve signing as a
// delegate with a real ssh-keygen key listed under `delegate:rearguard-serve` in the worker's allowed_signers,
// a worker process that requires signatures, a Temporal dev server. A valid token approves a rollback (the
// workflow records the OIDC subject as the actor and the delegate's signature, which audit verify checks); an
// expired, wrong-audience, wrong-issuer or foreign-key token is refused with 401 and WWW-Authenticate; a
// person the runbook does not allow is refused by the workflow; without OIDC the endpoints answer 501; the
// audit trail is read through serve by GET /v1/audit and by `rearguard audit` with REARGUARD_SERVE_URL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import type { FastifyInstance } from 'fastify';
import { generateKeyPair, type CryptoKey } from 'jose';
import { decisionSignatureVerifier, verifyAuditChain } from '../../api/audit-chain.js';
import { readEvents } from '../../api/audit-file.js';
import { rollbackStatus, startRollback } from '../../api/rollbacks.js';
import { buildServer } from '../../client/serve.js';
import type { AuditAnswer } from '../../client/serve-audit.js';
import { parseAllowedSigners } from '../../runbook/sshsig.js';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import { startOidcIssuer, type OidcIssuer, type TokenOptions } from '../helpers/oidc.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { makeRunbook } from '../helpers/runbooks.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

const AUDIENCE = 'rearguard-serve';
const DELEGATE = 'delegate:rearguard-serve';

let env: TestWorkflowEnvironment;
let receiver: Receiver;
let worker: WorkerProcess;
let dir = '';
let allowedSigners = '';
let auditFile = '';
let taskQueue = '';
let provider: OidcIssuer;
let issuer = '';
let foreignKey: CryptoKey;
let app: FastifyInstance;
let url = '';

/** A token as the provider would issue it; `o` overrides the claims, the key or the times. */
const token = ({ user, ...o }: { user: string } & TokenOptions): Promise<string> => provider.token(user, o);

const post = (path: string, body: unknown, bearer?: string) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
  });

before(async () => {
  [env, receiver, dir] = await Promise.all([createDevServerEnv(), startReceiver(), mkdtemp(join(tmpdir(), 'rearguard-serve-oidc-'))]);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rearguard-serve', '-f', join(dir, 'serve')]);
  allowedSigners = join(dir, 'allowed_signers');
  await writeFile(allowedSigners, `${DELEGATE} ${(await readFile(join(dir, 'serve.pub'), 'utf8')).trim()}\n`);
  auditFile = join(dir, 'audit.jsonl');
  taskQueue = `serve-oidc-${randomUUID()}`;
  worker = await startWorker({
    TEMPORAL_ADDRESS: env.address,
    REARGUARD_TASK_QUEUE: taskQueue,
    REARGUARD_AUDIT_FILE: auditFile,
    REARGUARD_ALLOWED_SIGNERS: allowedSigners,
    REARGUARD_RUNTIME_METRICS_PORT: '0',
    REARGUARD_METRICS_PORT: '0',
  });
  provider = await startOidcIssuer(AUDIENCE);
  issuer = provider.issuer;
  foreignKey = (await generateKeyPair('ES256')).privateKey;
  ({ app } = buildServer({
    client: env.client,
    taskQueue,
    // No JWKS URL: found by discovery.
    oidc: { issuer, audience: AUDIENCE, actorClaim: 'preferred_username' },
    delegate: { principal: DELEGATE, key: join(dir, 'serve'), keySource: 'REARGUARD_SERVE_SIGNING_KEY' },
    auditFile,
  }));
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
after(async () => {
  await app?.close();
  await worker?.stop('SIGKILL');
  await provider?.close();
  await receiver?.close();
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Starts a rollback that needs one approval by eli or fay and waits until it asks for it. */
async function awaitingApproval(): Promise<string> {
  const service = `oidc-${randomUUID().slice(0, 8)}`;
  const runbook = makeRunbook({
    service,
    environment: 'dev',
    approval: { required: true, approvers: ['eli', 'fay'], quorum: 1, timeout: '10m' },
    escalation: [],
    notify: [],
    steps: [{ name: 'switch-traffic', type: 'webhook', url: `${receiver.url}/${service}/switch` }],
  });
  // Started by an alert, as through serve's alert intake (a person's trigger is a signed decision of its own).
  const { workflowId } = await startRollback(env.client, taskQueue, runbook, {
    source: 'alert',
    actor: 'alertmanager',
    reason: '5xx after deploy',
    requestId: randomUUID(),
  });
  await waitFor(async () => (await rollbackStatus(env.client, workflowId)).phase === 'awaiting-approval', 'awaiting approval', {
    detail: () => worker.output().slice(-2000),
  });
  return workflowId;
}

describe('rearguard serve with OIDC and delegate signatures', () => {
  it('a valid token approves a rollback: the workflow records the OIDC subject as the actor and the delegate signature', async () => {
    const workflowId = await awaitingApproval();
    const res = await post(`/v1/rollbacks/${workflowId}/approve`, { reason: 'confirmed on the dashboard' }, await token({ user: 'eli', sub: 'f3a1-eli' }));
    const body = (await res.json()) as { actor: string; signedBy: { principal: string }; result: { decided: boolean } };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.actor, 'eli');
    assert.equal(body.signedBy.principal, DELEGATE);
    assert.equal(body.result.decided, true);
    const final = await waitFor(async () => {
      const s = await rollbackStatus(env.client, workflowId);
      return s.outcome ? s : undefined;
    }, 'the rollback to end');
    assert.equal((final as RollbackStatus).outcome, 'succeeded');

    const approved = await waitFor(
      async () => (await readEvents(auditFile)).find((e) => e.workflowId === workflowId && e.action === 'rollback.approved'),
      'the approval in the audit file',
    );
    assert.equal(approved.actor, 'eli');
    assert.equal(approved.signature?.principal, DELEGATE);
    const extra = (approved.details.decision as { extra: Record<string, string> }).extra;
    assert.deepEqual({ sub: extra.oidcSubject, iss: extra.oidcIssuer, delegate: extra.delegate }, { sub: 'f3a1-eli', iss: issuer, delegate: DELEGATE });
    assert.ok(extra.run, 'bound to the run');
    const report = await verifyAuditChain(auditFile, decisionSignatureVerifier(parseAllowedSigners(await readFile(allowedSigners, 'utf8'))));
    assert.equal(report?.ok, true, JSON.stringify(report));
    assert.ok((report?.signatures.verified ?? 0) >= 1);
  });

  it('refuses expired, wrong-audience, wrong-issuer and foreign-key tokens with 401, saying what was wrong, never echoing the token', async () => {
    const workflowId = await awaitingApproval();
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string, RegExp][] = [
      ['expired', await token({ user: 'eli', issuedAt: now - 3600, expiresAt: now - 600 }), /invalid token: the token expired at /],
      ['audience', await token({ user: 'eli', aud: 'another-client' }), /invalid token: the token's audience is not rearguard-serve/],
      ['issuer', await token({ user: 'eli', iss: 'https://elsewhere.example.com' }), /invalid token: the token was not issued by http:\/\/127\.0\.0\.1:\d+/],
      ['signature', await token({ user: 'eli', key: foreignKey }), /invalid token: the token's signature does not verify/],
      ['garbage', 'not.a.jwt', /invalid token: the token is not a signed JWT/],
    ];
    for (const [what, t, message] of cases) {
      const res = await post(`/v1/rollbacks/${workflowId}/approve`, { reason: 'ok' }, t);
      const text = await res.text();
      assert.equal(res.status, 401, `${what}: ${text}`);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="rearguard", error="invalid_token", error_description=/, what);
      assert.match((JSON.parse(text) as { error: string }).error, message, what);
      assert.ok(!text.includes(t), `${what}: the token is not echoed`);
      assert.doesNotMatch(text, /\n\s+at /, `${what}: no stack trace`);
    }
    const none = await post(`/v1/rollbacks/${workflowId}/approve`, { reason: 'ok' });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="rearguard"');
    assert.match(((await none.json()) as { error: string }).error, /expected Authorization: Bearer <token>/);
    const s = await rollbackStatus(env.client, workflowId);
    assert.deepEqual(s.approval.votes, [], 'no refused token voted');
  });

  it('refuses, with the workflow reason, a person the runbook does not allow; and a claim that is not an actor name', async () => {
    const workflowId = await awaitingApproval();
    const mallory = await post(`/v1/rollbacks/${workflowId}/approve`, { reason: 'trust me' }, await token({ user: 'mallory' }));
    const body = (await mallory.json()) as { error: string; kind: string };
    assert.equal(mallory.status, 409, JSON.stringify(body));
    assert.match(body.error, /approve refused: .*mallory is not an approver of runbook/);
    const odd = await post(`/v1/rollbacks/${workflowId}/approve`, { reason: 'x' }, await token({ user: 'bad name!' }));
    assert.equal(odd.status, 403);
    assert.match(((await odd.json()) as { error: string }).error, /preferred_username claim "bad name!" is not a Rearguard actor name/);
    // The actor is the token's: a body naming one is refused.
    const forged = await post(`/v1/rollbacks/${workflowId}/approve`, { reason: 'x', actor: 'eli' }, await token({ user: 'fay' }));
    assert.equal(forged.status, 400);
    assert.match(JSON.stringify(await forged.json()), /actor/);
    // The other operations: a freeze that does not exist, a guard ID that is not one.
    const noFreeze = await post('/v1/freezes/no-such-freeze/lift', { reason: 'x' }, await token({ user: 'fay' }));
    assert.equal(noFreeze.status, 404);
    assert.match(((await noFreeze.json()) as { error: string }).error, /no freeze no-such-freeze was found/);
    const badGuard = await post('/v1/guards/nope/pause', { reason: 'x' }, await token({ user: 'fay' }));
    assert.equal(badGuard.status, 400);
    assert.match(JSON.stringify(await badGuard.json()), /expected a guard ID such as guard:prod:payments/);
    const rejected = await post(`/v1/rollbacks/${workflowId}/reject`, { reason: 'not this way' }, await token({ user: 'fay' }));
    assert.equal(rejected.status, 200, await rejected.text());
  });

  it('GET /v1/audit reads the workers’ audit file with a token, and `rearguard audit` reads through it', async () => {
    const t = await token({ user: 'auditor' });
    const denied = await fetch(`${url}/v1/audit`);
    assert.equal(denied.status, 401);
    const res = await fetch(`${url}/v1/audit?action=rollback.approved&limit=5`, { headers: { authorization: `Bearer ${t}` } });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as AuditAnswer;
    assert.ok(answer.events.length >= 1);
    assert.ok(answer.events.every((e: AuditEvent) => e.action === 'rollback.approved'));
    const bad = await fetch(`${url}/v1/audit?env=PROD`, { headers: { authorization: `Bearer ${t}` } });
    assert.equal(bad.status, 400);

    const cli = await rearguard(['audit', '--action', 'rollback.approved', '--json'], {
      REARGUARD_SERVE_URL: url,
      REARGUARD_SERVE_TOKEN: t,
      REARGUARD_AUDIT_FILE: join(dir, 'not-read.jsonl'),
    });
    assert.equal(cli.code, 0, cli.stderr);
    const events = cli.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    assert.ok(events.some((e) => e.actor === 'eli' && e.signature?.principal === DELEGATE));
    const noToken = await rearguard(['audit'], { REARGUARD_SERVE_URL: url, REARGUARD_SERVE_TOKEN: '' });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /REARGUARD_SERVE_URL is set, so the audit trail is read through rearguard serve: give an OIDC bearer token/);
    const expired = await rearguard(['audit'], { REARGUARD_SERVE_URL: url, REARGUARD_SERVE_TOKEN: await token({ user: 'a', issuedAt: 1, expiresAt: 2 }) });
    assert.equal(expired.code, 1);
    assert.match(expired.stderr, /refused the token \(REARGUARD_SERVE_TOKEN or --token\): invalid token: the token expired/);
  });

  it('without OIDC configured, decisions and the audit trail answer 501 saying what to configure', async () => {
    const { app: bare } = buildServer({ client: env.client, taskQueue, auditFile });
    try {
      for (const [method, path] of [
        ['POST', '/v1/rollbacks/rollback:dev:x/approve'],
        ['POST', '/v1/freezes/bf/lift'],
        ['POST', '/v1/guards/guard:dev:x/pause'],
        ['GET', '/v1/audit'],
      ] as const) {
        const r = await bare.inject({ method, url: path, ...(method === 'POST' ? { payload: { reason: 'x' } } : {}) });
        assert.equal(r.statusCode, 501, path);
        assert.match((r.json() as { error: string }).error, /set REARGUARD_OIDC_ISSUER and REARGUARD_OIDC_AUDIENCE/, path);
      }
    } finally {
      await bare.close();
    }
  });
});
