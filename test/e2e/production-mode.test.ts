// Production mode end to end: a worker process whose runbooks, Policy and allowed_signers come from a git
// catalog (a real repository, read by branch), two people with SSH keys generated here (dana triggers, eli
// approves), `rearguard serve` authenticating eli by OIDC (a local issuer) and signing as a delegate, a
// Temporal dev server, webhook steps against a local receiver carrying planted secrets. Covered:
// - `rollback start --runbook NAME` of a catalog runbook, signed by dana; the workflow records the digest;
// - `rollback approve --as eli` signed with dana's key is refused; dana cannot approve her own rollback;
// - eli approves through serve with an OIDC token: the rollback succeeds, the audit names eli and the delegate;
// - a local runbook file for prod is refused (the policy accepts local runbooks only in dev);
// - `catalog list --refresh` picks up a new commit of the catalog;
// - `audit verify --allowed-signers` (the catalog's file) passes;
// - the planted secrets reached the receiver, and appear in no workflow history, audit event or log line.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../client/serve.js';
import type { RollbackStatus } from '../../runbook/types.js';
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc.js';
import { rearguard, startWorker, type WorkerProcess } from '../helpers/processes.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createDevServerEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';

const AUDIENCE = 'rearguard';
const DELEGATE = 'delegate:rearguard-serve';
const URL_SECRET = `urlsecret-${randomUUID()}`;
const HEADER_SECRET = `hdrsecret-${randomUUID()}`;

let env: TestWorkflowEnvironment;
let receiver: Receiver;
let worker: WorkerProcess;
let dir = '';
let repo = '';
let auditFile = '';
let taskQueue = '';
let provider: OidcIssuer;
let issuer = '';
let app: FastifyInstance;
let serveUrl = '';
const serveLog: string[] = [];
const service = `prodmode-${randomUUID().slice(0, 8)}`;

const git = (...args: string[]) => execa('git', ['-C', repo, '-c', 'user.name=reviewer', '-c', 'user.email=reviewer@example.com', ...args]);

const runbookYaml = (name: string, environment: string, svc = service) => `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: ${name} }
spec:
  service: ${svc}
  environment: ${environment}
  sla: 5m
  steps:
    - { name: switch-traffic, type: webhook, urlEnv: PLANTED_URL, headersFromEnv: { X-Token: PLANTED_TOKEN } }
`;

/** The CLI's environment: each person's key by flag only (HOME and git config isolated). */
const cli = () => ({
  TEMPORAL_ADDRESS: env.address,
  REARGUARD_TASK_QUEUE: taskQueue,
  REARGUARD_AUDIT_FILE: auditFile,
  REARGUARD_SIGNING_KEY: '',
  HOME: dir,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
});
const as = (who: string, key = who) => ['--as', who, '--signing-key', join(dir, key)];

before(async () => {
  [env, receiver, dir] = await Promise.all([createDevServerEnv(), startReceiver(), mkdtemp(join(tmpdir(), 'rearguard-prod-mode-'))]);
  taskQueue = `prod-mode-${randomUUID()}`;
  auditFile = join(dir, 'audit.jsonl');
  const keyLine = async (principal: string, file: string) => `${principal} namespaces="rearguard" ${(await readFile(join(dir, `${file}.pub`), 'utf8')).trim()}`;
  for (const name of ['dana', 'eli', 'serve']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);

  // The catalog: a git repository, as reviewed on its main branch.
  repo = join(dir, 'catalog');
  await execa('git', ['init', '--quiet', '--initial-branch=main', repo]);
  await mkdir(join(repo, 'runbooks'));
  await writeFile(
    join(repo, 'policy.yaml'),
    `apiVersion: rearguard/v1
kind: Policy
metadata: { name: prod-mode }
spec:
  localRunbooks: [dev]
  environments:
    - match: "*"
      trigger: [dana]
    - match: prod
      approve: { by: [eli, fay], quorum: 1 }
  egress:
    secrets:
      - { env: PLANTED_URL, hosts: [127.0.0.1] }
      - { env: PLANTED_TOKEN, hosts: [127.0.0.1] }
    hosts: [127.0.0.1]
`,
  );
  await writeFile(join(repo, 'allowed_signers'), `${await keyLine('dana', 'dana')}\n${await keyLine('eli', 'eli')}\n${await keyLine(DELEGATE, 'serve')}\n`);
  await writeFile(join(repo, 'runbooks', 'pay.yaml'), runbookYaml(`${service}-prod`, 'prod'));
  await git('add', '.');
  await git('commit', '--quiet', '-m', 'catalog: policy, signers, first runbook');

  const targets = join(dir, 'targets.yaml');
  // With a catalog every target names the environments whose runbooks may use it: none for the catalog's repository.
  await writeFile(targets, `repos:\n  catalog: { url: "file://${repo}", branch: main, environments: [] }\n`);
  worker = await startWorker({
    TEMPORAL_ADDRESS: env.address,
    REARGUARD_TASK_QUEUE: taskQueue,
    REARGUARD_AUDIT_FILE: auditFile,
    REARGUARD_CATALOG: 'git:catalog@main',
    REARGUARD_CATALOG_REFRESH: '0',
    REARGUARD_TARGETS: targets,
    REARGUARD_WORKDIR: join(dir, 'work'),
    REARGUARD_RUNTIME_METRICS_PORT: '0',
    REARGUARD_METRICS_PORT: '0',
    REARGUARD_LOG_LEVEL: 'DEBUG',
    PLANTED_URL: `${receiver.url}/hook/${URL_SECRET}`,
    PLANTED_TOKEN: HEADER_SECRET,
  });

  // The OIDC provider, and serve trusting it.
  provider = await startOidcIssuer(AUDIENCE);
  issuer = provider.issuer;
  ({ app } = buildServer({
    client: env.client,
    taskQueue,
    oidc: { issuer, audience: AUDIENCE, actorClaim: 'preferred_username' },
    delegate: { principal: DELEGATE, key: join(dir, 'serve'), keySource: 'REARGUARD_SERVE_SIGNING_KEY' },
    auditFile,
  }));
  app.addHook('onResponse', async (req, reply) => void serveLog.push(`${req.method} ${req.url} ${reply.statusCode}`));
  serveUrl = await app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await app?.close();
  await worker?.stop('SIGKILL');
  await provider?.close();
  await receiver?.close();
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const oidcToken = (user: string) => provider.token(user, { sub: `oidc-${user}` });

const statusOf = async (id: string): Promise<RollbackStatus> => {
  const r = await rearguard(['rollback', 'status', '--id', id, '--json'], cli());
  return JSON.parse(r.stdout) as RollbackStatus;
};

describe('production mode: git catalog, signed decisions, OIDC through serve', () => {
  const workflowId = `rollback:prod:${service}`;

  it('dana starts a catalog runbook by name (signed); eli signed with dana key and dana herself are refused; eli approves through serve', async () => {
    const start = await rearguard(
      ['rollback', 'start', '--runbook', `${service}-prod`, '--reason', 'error rate 12% after deploy', ...as('dana'), '--json'],
      cli(),
    );
    assert.equal(start.code, 0, start.stderr + worker.output().slice(-2000));
    const started = JSON.parse(start.stdout) as { workflowId: string; digest: string; catalog: string };
    assert.equal(started.workflowId, workflowId);
    assert.match(started.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(started.catalog, 'git:catalog@main');
    await waitFor(async () => ((await statusOf(workflowId)).phase === 'awaiting-approval' ? true : undefined), 'awaiting approval', {
      detail: () => worker.output().slice(-2000),
    });
    const s = await statusOf(workflowId);
    assert.deepEqual(s.origin, { catalog: 'git:catalog@main', revision: (await git('rev-parse', 'HEAD')).stdout.trim(), digest: started.digest });

    const forged = await rearguard(['rollback', 'approve', '--id', workflowId, '--reason', 'lgtm', ...as('eli', 'dana')], cli());
    assert.equal(forged.code, 1, forged.stdout);
    assert.match(forged.stderr, /signed by a key allowed for dana, not for eli/);
    const self = await rearguard(['rollback', 'approve', '--id', workflowId, '--reason', 'lgtm', ...as('dana')], cli());
    assert.equal(self.code, 1);
    assert.match(self.stderr, /dana is not an approver|dana requested this rollback/);

    const res = await fetch(`${serveUrl}/v1/rollbacks/${workflowId}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await oidcToken('eli')}` },
      body: JSON.stringify({ reason: 'checked the dashboard' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const final = await waitFor(async () => {
      const st = await statusOf(workflowId);
      return st.outcome ? st : undefined;
    }, 'the rollback to end');
    assert.equal(final.outcome, 'succeeded', JSON.stringify(final.failure));
    assert.deepEqual(
      final.approval.votes.map((v) => v.actor),
      ['eli'],
    );
    assert.ok(
      receiver.requests.some((r) => r.path === `/hook/${URL_SECRET}`),
      'the webhook reached the receiver with the secret URL',
    );
  });

  it('a local runbook file for prod is refused; the same file in dev is not the problem', async () => {
    const file = join(dir, 'local.yaml');
    await writeFile(file, runbookYaml(`${service}-local`, 'prod', `${service}-local`));
    const r = await rearguard(['rollback', 'start', '--runbook', file, '--reason', 'from my laptop', ...as('dana'), '--wait'], cli());
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /was sent as a local file, and the worker's policy prod-mode accepts local runbooks only in dev, not prod/);
  });

  it('the git catalog picks up a new commit on refresh', async () => {
    await writeFile(join(repo, 'runbooks', 'web.yaml'), runbookYaml(`${service}-web`, 'prod', `${service}-web`));
    await git('add', '.');
    await git('commit', '--quiet', '-m', 'review: web runbook');
    const r = await rearguard(['catalog', 'list', '--refresh', '--json'], cli());
    assert.equal(r.code, 0, r.stderr);
    const index = JSON.parse(r.stdout) as { revision: string; runbooks: { name: string }[] };
    assert.equal(index.revision, (await git('rev-parse', 'HEAD')).stdout.trim());
    assert.ok(index.runbooks.some((x) => x.name === `${service}-web`));
  });

  it('audit verify passes with the catalog allowed_signers; no planted secret is in history, audit or logs', async () => {
    await writeFile(join(dir, 'allowed_signers'), await readFile(join(repo, 'allowed_signers')));
    const v = await rearguard(['audit', 'verify', auditFile, '--allowed-signers', join(dir, 'allowed_signers'), '--json'], cli());
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const report = JSON.parse(v.stdout) as { ok: boolean; signatures: { verified: number } };
    assert.equal(report.ok, true);
    assert.ok(report.signatures.verified >= 2, 'the signed trigger and the delegate-signed approval');

    const places: [string, string][] = [
      ['history', JSON.stringify(await env.client.workflow.getHandle(workflowId).fetchHistory())],
      ['audit file', await readFile(auditFile, 'utf8')],
      ['worker log', worker.output()],
      ['serve log', serveLog.join('\n')],
    ];
    for (const [where, text] of places) {
      assert.ok(text.length > 0, `${where} is not empty`);
      for (const secret of [URL_SECRET, HEADER_SECRET]) assert.ok(!text.includes(secret), `a planted secret is in the ${where}`);
    }
  });
});
