// Signed decisions and policy permissions on freezes and gradual unfreezes (time-skipping server; continue-as-new on
// a dev server of its own). Real ed25519 keys (ssh-keygen), real signatures (client/signing.ts), the trust settings
// given by the trustSettings activity stub as a worker with REARGUARD_ALLOWED_SIGNERS and REARGUARD_POLICY would.
// The freeze refuses a lift by someone its policy does not allow, one signed with another person's key, one signed
// for another freeze, unsigned decisions when signatures are required, and a decision replayed after it continued
// as new; a refused start never takes effect. The audit events of admitted decisions verify with `audit verify`.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { loadTrustSettings, type TrustSettings } from '../../activities/trust.js';
import type { ChainReport } from '../../api/audit-chain.js';
import { AuditLog } from '../../api/audit-file.js';
import {
  FREEZE_DECISIONS,
  UNFREEZE_DECISIONS,
  abortUnfreezeUpdate,
  approveExceptionUpdate,
  extendFreezeUpdate,
  freezeStateQuery,
  liftFreezeUpdate,
  rejectExceptionUpdate,
  requestExceptionUpdate,
  unfreezeStatusQuery,
  type SignedEnvelope,
} from '../../api/messages.js';
import { signDecision } from '../../client/signing.js';
import type { SignedDecision } from '../../runbook/decision.js';
import { freezeStartExtra, type FreezeState, type FreezeWindowInput } from '../../runbook/freeze.js';
import { permissionRules } from '../../runbook/permissions.js';
import { parsePolicy } from '../../runbook/policy.js';
import type { AuditEvent } from '../../runbook/types.js';
import type { UnfreezeStatus } from '../../runbook/unfreeze.js';
import { endIfRunning, testEnv, useTemporalEnv, withDevServer, withWorker } from '../helpers/harness.js';
import { rearguard } from '../helpers/processes.js';
import { poll, withUnfreeze } from '../helpers/unfreeze.js';

useTemporalEnv();

const DAY = 86_400_000;
let dir = '';
let allowedSignersFile = '';
/** As a worker with REARGUARD_ALLOWED_SIGNERS (dana and eli; mallory is not listed) loads it: signatures required. */
let required: TrustSettings;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rearguard-freeze-signed-'));
  for (const name of ['dana', 'eli', 'mallory']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  const line = async (name: string) => `${name} namespaces="rearguard" ${(await readFile(join(dir, `${name}.pub`), 'utf8')).trim()}`;
  allowedSignersFile = join(dir, 'allowed_signers');
  await writeFile(allowedSignersFile, `${await line('dana')}\n${await line('eli')}\n`);
  required = loadTrustSettings({ REARGUARD_ALLOWED_SIGNERS: allowedSignersFile });
  assert.equal(required.requireSignatures, true);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A policy: in every environment rm-ann and dana may freeze and rm-cy decides exceptions; in prod-eu only dana freezes. */
const policy = parsePolicy(`
apiVersion: rearguard/v1
kind: Policy
metadata: { name: release }
spec:
  environments:
    - match: "*"
      freeze: [rm-ann, dana]
      exceptions: [rm-cy]
      unfreeze: [rm-ann, dana]
    - match: prod-eu
      freeze: [dana]
    - match: prod
      unfreeze: [dana]
`);
assert.ok(policy.ok);
const underPolicy: TrustSettings = { requireSignatures: false, allowedSigners: [], permissions: permissionRules(policy.value) };

interface Ctx {
  env: TestWorkflowEnvironment;
  audit: AuditEvent[];
  /** Starts a 3-day freeze of prod (by rm-ann unless the input says otherwise), its start signed by `signer`'s key when given. */
  start(input?: Partial<FreezeWindowInput>, signer?: string): Promise<WorkflowHandle>;
}

/** A worker whose trustSettings activity answers `trust`; every freeze started in `body` is ended after it. */
async function withTrust(trust: TrustSettings, body: (ctx: Ctx) => Promise<void>, env: TestWorkflowEnvironment = testEnv()): Promise<void> {
  const audit: AuditEvent[] = [];
  const activities = { appendAudit: async (e: AuditEvent) => void audit.push(e), trustSettings: async () => trust, publishGate: async () => undefined };
  await withWorker({ activities, taskQueue: 'freeze-signed', env }, async ({ taskQueue }) => {
    const started: WorkflowHandle[] = [];
    const start = async (over: Partial<FreezeWindowInput> = {}, signer?: string) => {
      const now = await env.currentTimeMs();
      const name = `w-${randomUUID().slice(0, 8)}`;
      const input: FreezeWindowInput = {
        name,
        scope: { environments: ['prod'], services: ['*'] },
        reason: 'Black Friday',
        actor: 'rm-ann',
        start: new Date(now).toISOString(),
        end: new Date(now + 3 * DAY).toISOString(),
        exceptions: { approvers: ['rm-bo', 'rm-cy'], quorum: 1 },
        ...over,
      };
      if (signer) {
        const d = await decision(env, FREEZE_DECISIONS.start, `freeze:${name}`, input.actor, input.reason, freezeStartExtra(input));
        input.signed = await signedBy(signer, d);
      }
      const h = await env.client.workflow.start('freezeWindow', { workflowId: `freeze:${name}`, taskQueue, args: [input] });
      started.push(h);
      return h;
    };
    try {
      await body({ env, audit, start });
    } finally {
      for (const h of started) await endIfRunning(h);
    }
  });
}

/** A decision as the CLI makes it, dated at the server's (workflow) time. */
async function decision(
  env: TestWorkflowEnvironment,
  action: string,
  workflowId: string,
  actor: string,
  reason: string,
  extra: Record<string, string> = {},
): Promise<SignedDecision> {
  return { action, workflowId, actor, reason, at: new Date(await env.currentTimeMs()).toISOString(), nonce: randomUUID(), extra };
}

/** A decision on a running freeze or unfreeze: bound to its chain of runs (extra.firstRun), as `signDecisionOn` signs it. */
const on = (env: TestWorkflowEnvironment, h: WorkflowHandle, action: string, actor: string, reason: string, extra: Record<string, string> = {}) =>
  decision(env, action, h.workflowId, actor, reason, { firstRun: (h as WorkflowHandle & { firstExecutionRunId: string }).firstExecutionRunId, ...extra });

async function signedBy(key: string, d: SignedDecision): Promise<SignedEnvelope> {
  const { payload, signature } = await signDecision(d, { key: join(dir, key), env: { PATH: process.env.PATH, HOME: dir } });
  return { payload, signature };
}

const refused = (p: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
    assert.match(String((err.cause as Error)?.message), pattern);
    return true;
  });

const active = (h: WorkflowHandle) => poll(async () => (await h.query(freezeStateQuery)).phase === 'active', 'freeze active');

describe('freeze decisions under the policy', () => {
  it('a lift (or extend) by someone the policy does not allow is refused, naming them, the action and the rule; an allowed one lifts', async () => {
    await withTrust(underPolicy, async ({ env, start, audit }) => {
      const h = await start();
      await active(h);
      await refused(
        h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-bo', reason: 'done' }] }),
        /^refused by the worker's policy: rm-bo may not start, extend or lift freezes in prod \(policy release, rule \*: rm-ann, dana\)$/,
      );
      await refused(
        h.executeUpdate(extendFreezeUpdate, {
          args: [{ actor: 'rm-bo', reason: 'longer', end: new Date((await env.currentTimeMs()) + 10 * DAY).toISOString() }],
        }),
        /rm-bo may not start, extend or lift freezes in prod/,
      );
      assert.equal((await h.query(freezeStateQuery)).phase, 'active', 'the refused lift changed nothing');
      await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'dana', reason: 'incident resolved' }] });
      assert.equal(((await h.result()) as FreezeState).phase, 'lifted');
      assert.equal(audit.find((e) => e.action === 'freeze.lifted')?.actor, 'dana');
    });
  });

  it('exceptions: approving and rejecting need the exceptions permission; the requester may withdraw their own request', async () => {
    await withTrust(underPolicy, async ({ start }) => {
      const h = await start();
      // Decisions count once the freeze has its trust settings (until then they are refused: try again).
      await active(h);
      await h.executeUpdate(requestExceptionUpdate, { args: [{ actor: 'dave', reason: 'hotfix', changeId: 'PR-1', validFor: 3_600_000 }] });
      // rm-bo is one of the freeze's exception approvers, but the policy gives exceptions to rm-cy only.
      await refused(
        h.executeUpdate(approveExceptionUpdate, { args: [{ actor: 'rm-bo', changeId: 'PR-1', reason: 'fine' }] }),
        /^refused by the worker's policy: rm-bo may not approve or reject freeze exceptions in prod \(policy release, rule \*: rm-cy\)$/,
      );
      await refused(
        h.executeUpdate(rejectExceptionUpdate, { args: [{ actor: 'rm-bo', changeId: 'PR-1', reason: 'no' }] }),
        /rm-bo may not approve or reject freeze exceptions in prod/,
      );
      assert.equal((await h.executeUpdate(approveExceptionUpdate, { args: [{ actor: 'rm-cy', changeId: 'PR-1', reason: 'fine' }] })).status, 'approved');
      const withdrawn = await h.executeUpdate(rejectExceptionUpdate, { args: [{ actor: 'dave', changeId: 'PR-1', reason: 'not needed after all' }] });
      assert.equal(withdrawn.status, 'rejected');
      await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'done' }] });
    });
  });

  it('a start the policy does not allow never takes effect: the run ends refused, saying why', async () => {
    await withTrust(underPolicy, async ({ start, audit }) => {
      const h = await start({ actor: 'mallory' });
      const s = (await h.result()) as FreezeState;
      assert.equal(s.phase, 'refused');
      assert.equal(s.admitted, false);
      assert.match(
        s.refusal ?? '',
        /^refused by the worker's policy: mallory may not start, extend or lift freezes in prod \(policy release, rule \*: rm-ann, dana\)$/,
      );
      const mine = audit.filter((e) => e.workflowId === h.workflowId).map((e) => e.action);
      assert.deepEqual(mine, ['freeze.refused']);
      // A freeze of every environment needs the permission of every rule: rm-ann may not freeze prod-eu.
      const all = await start({ scope: { environments: ['*'], services: ['*'] } });
      const refusedAll = (await all.result()) as FreezeState;
      assert.equal(refusedAll.phase, 'refused');
      assert.match(refusedAll.refusal ?? '', /rm-ann may not start, extend or lift freezes in prod-eu \(policy release, rule prod-eu: dana\)/);
      // dana may: admitted.
      const byDana = await start({ actor: 'dana', scope: { environments: ['*'], services: ['*'] } });
      await active(byDana);
      assert.equal((await byDana.query(freezeStateQuery)).admitted, true);
      await byDana.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'dana', reason: 'done' }] });
    });
  });
});

describe('signed freeze decisions', () => {
  it('admits decisions signed by their makers; refuses unsigned ones, another person key, and a replayed nonce; the trail verifies', async () => {
    await withTrust(required, async ({ env, start, audit }) => {
      const h = await start({ actor: 'dana' }, 'dana');
      await active(h);
      const started = audit.find((e) => e.action === 'freeze.started' && e.workflowId === h.workflowId)!;
      assert.equal(started.signature?.principal, 'dana');
      assert.equal((started.details.decision as SignedDecision).action, FREEZE_DECISIONS.start);

      await refused(
        h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'eli', reason: 'done' }] }),
        /^signed decision required: .*; run with a signing key \(--signing-key, REARGUARD_SIGNING_KEY or git config user\.signingkey\)$/,
      );
      // `freeze lift --as eli` signed with dana's key.
      const asEli = await on(env, h, FREEZE_DECISIONS.lift, 'eli', 'done');
      await refused(
        h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'eli', reason: 'done', signed: await signedBy('dana', asEli) }] }),
        /^signed decision refused: signed by a key allowed for dana, not for eli \(key SHA256:/,
      );
      // mallory's key is listed for nobody.
      const byMallory = await on(env, h, FREEZE_DECISIONS.lift, 'mallory', 'done');
      await refused(
        h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'mallory', reason: 'done', signed: await signedBy('mallory', byMallory) }] }),
        /unknown key SHA256:.* it is not in the worker's allowed_signers/,
      );

      const request = await on(env, h, FREEZE_DECISIONS.requestException, 'eli', 'hotfix', { change: 'PR-9', validFor: '3600000' });
      const req = { actor: 'eli', reason: 'hotfix', changeId: 'PR-9', validFor: 3_600_000, signed: await signedBy('eli', request) };
      await h.executeUpdate(requestExceptionUpdate, { args: [req] });
      await refused(h.executeUpdate(requestExceptionUpdate, { args: [req] }), /nonce .* was already used: a signed decision counts once \(replay refused\)/);
      // A signature for one change does not request another.
      await refused(
        h.executeUpdate(requestExceptionUpdate, { args: [{ ...req, changeId: 'PR-10' }] }),
        /the decision is signed for change "PR-9", not "PR-10"/,
      );

      const lift = await on(env, h, FREEZE_DECISIONS.lift, 'eli', 'sales are over');
      await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'eli', reason: 'sales are over', signed: await signedBy('eli', lift) }] });
      assert.equal(((await h.result()) as FreezeState).phase, 'lifted');
      const lifted = audit.find((e) => e.action === 'freeze.lifted' && e.workflowId === h.workflowId)!;
      assert.deepEqual(lifted.details.decision, lift);
      assert.equal(lifted.signature?.principal, 'eli');

      // The trail as the worker writes it, verified as an auditor would: the real CLI, the same allowed_signers.
      const file = join(dir, `audit-${randomUUID()}.jsonl`);
      const log = new AuditLog(file);
      for (const e of audit) await log.append(e);
      const r = await rearguard(['audit', 'verify', file, '--allowed-signers', allowedSignersFile, '--json'], {});
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual((JSON.parse(r.stdout) as ChainReport).signatures, { signed: 3, verified: 3, unverified: 0, failed: [] });
    });
  });

  it('a lift signed for one freeze is refused by another', async () => {
    await withTrust(required, async ({ env, start }) => {
      const a = await start({ actor: 'dana' }, 'dana');
      const b = await start({ actor: 'dana' }, 'dana');
      await active(a);
      await active(b);
      const lift = await on(env, a, FREEZE_DECISIONS.lift, 'eli', 'done');
      const req = { actor: 'eli', reason: 'done', signed: await signedBy('eli', lift) };
      await refused(
        b.executeUpdate(liftFreezeUpdate, { args: [req] }),
        new RegExp(`the decision is signed for workflow "${a.workflowId}", not "${b.workflowId}"`),
      );
      assert.equal((await b.query(freezeStateQuery)).phase, 'active');
      await a.executeUpdate(liftFreezeUpdate, { args: [req] });
      assert.equal(((await a.result()) as FreezeState).phase, 'lifted');
      await b.executeUpdate(liftFreezeUpdate, {
        args: [{ actor: 'dana', reason: 'done', signed: await signedBy('dana', await on(env, b, FREEZE_DECISIONS.lift, 'dana', 'done')) }],
      });
    });
  });

  it('an unsigned start is refused when signatures are required, before the freeze holds anything', async () => {
    await withTrust(required, async ({ start }) => {
      const h = await start({ actor: 'dana' });
      const s = (await h.result()) as FreezeState;
      assert.equal(s.phase, 'refused');
      assert.match(s.refusal ?? '', /^signed decision required/);
      assert.equal(s.guardrails, undefined);
    });
  });

  it('the nonces survive continue-as-new: a decision replayed on the next run is refused', async () => {
    // Signatures verified when present, unsigned extensions accepted: they fill the history quickly.
    const trust: TrustSettings = { requireSignatures: false, allowedSigners: required.allowedSigners };
    await withDevServer(async (dev) => {
      await withTrust(
        trust,
        async ({ env, start }) => {
          const h = await start({ historyLimit: 40 });
          await active(h);
          const firstRun = (await h.describe()).runId;
          const request = await on(env, h, FREEZE_DECISIONS.requestException, 'eli', 'hotfix', { change: 'PR-1', validFor: '3600000' });
          const req = { actor: 'eli', reason: 'hotfix', changeId: 'PR-1', validFor: 3_600_000, signed: await signedBy('eli', request) };
          await h.executeUpdate(requestExceptionUpdate, { args: [req] });
          let end = Date.parse((await h.query(freezeStateQuery)).end);
          for (let i = 0; (await h.describe()).runId === firstRun; i++) {
            assert.ok(i < 40, 'continued as new');
            end += 60_000;
            await h.executeUpdate(extendFreezeUpdate, { args: [{ actor: 'rm-ann', reason: `extend ${i}`, end: new Date(end).toISOString() }] });
          }
          // The next run was handed the nonce (and the trust settings) with its input.
          const next = await dev.client.workflow.getHandle(h.workflowId).fetchHistory();
          const payload = next.events?.[0].workflowExecutionStartedEventAttributes?.input?.payloads?.[0].data;
          const carried = (JSON.parse(Buffer.from(payload!).toString('utf8')) as FreezeWindowInput).carried;
          assert.deepEqual(
            carried?.decisions?.nonces.map(([nonce]) => nonce),
            [request.nonce],
          );
          await refused(
            h.executeUpdate(requestExceptionUpdate, { args: [req] }),
            /nonce .* was already used: a signed decision counts once \(replay refused\)/,
          );
          // The chain is the same: a fresh decision signed before the continue-as-new still counts.
          const lift = await on(env, h, FREEZE_DECISIONS.lift, 'eli', 'done');
          await h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'eli', reason: 'done', signed: await signedBy('eli', lift) }] });
          assert.equal(((await h.result()) as FreezeState).phase, 'lifted');
        },
        dev,
      );
    });
  });
});

describe('gradual unfreeze decisions under the policy', () => {
  it('the final lift of an admitted unfreeze is the unfreeze acting, not its starter: it lifts where they may not lift by hand', async () => {
    // dana may run gradual unfreezes but not lift freezes herself.
    const split = parsePolicy(`
apiVersion: rearguard/v1
kind: Policy
metadata: { name: split }
spec:
  environments:
    - { match: "*", freeze: [rm-ann], unfreeze: [dana] }
`);
    assert.ok(split.ok);
    const trustSettings = async () => ({ requireSignatures: false, allowedSigners: [], permissions: permissionRules(split.value) });
    // Short soaks: the ladder completes without waiting on the server to skip time.
    await withUnfreeze(
      { actor: 'dana', soak: 1_000, interval: 500 },
      async ({ freeze, start }) => {
        await refused(freeze.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'dana', reason: 'by hand' }] }), /dana may not start, extend or lift freezes/);
        const h = await start();
        assert.equal(((await h.result()) as UnfreezeStatus).phase, 'completed');
        const f = (await freeze.result()) as FreezeState;
        assert.equal(f.phase, 'lifted');
        assert.equal(f.history.at(-1)?.actor, 'dana');
      },
      {},
      testEnv(),
      { trustSettings },
    );
  });

  const trust = { trustSettings: async () => ({ ...underPolicy, allowedSigners: required.allowedSigners }) };

  it('a start the policy does not allow opens nothing; an abort needs the unfreeze permission; a signed abort is audited with its signature', async () => {
    // prod: only dana may unfreeze; rm-ann's ladder reaches prod.
    await withUnfreeze(
      {},
      async ({ freeze, audit, start }) => {
        const h = await start();
        const s = (await h.result()) as UnfreezeStatus;
        assert.equal(s.phase, 'refused');
        assert.match(s.error ?? '', /^refused by the worker's policy: rm-ann may not run gradual unfreezes in prod \(policy release, rule prod: dana\)$/);
        assert.equal((await freeze.query(freezeStateQuery)).released, undefined, 'nothing opened');
        assert.deepEqual(
          audit.filter((e) => e.workflowId === h.workflowId).map((e) => e.action),
          ['unfreeze.refused'],
        );
        // The fixture's own lift (as "test") is not allowed by this policy.
        await freeze.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'test over' }] }).catch(() => undefined);
      },
      {},
      testEnv(),
      trust,
    );
    await withUnfreeze(
      { actor: 'dana' },
      async ({ freeze, audit, start }) => {
        try {
          const h = await start();
          await poll(async () => (await h.query(unfreezeStatusQuery)).phase === 'soaking', 'soaking');
          await refused(
            h.executeUpdate(abortUnfreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'stop' }] }),
            /^refused by the worker's policy: rm-ann may not run gradual unfreezes in prod/,
          );
          const d = await on(testEnv(), h, UNFREEZE_DECISIONS.abort, 'dana', 'errors in dev');
          const s = await h.executeUpdate(abortUnfreezeUpdate, { args: [{ actor: 'dana', reason: 'errors in dev', signed: await signedBy('dana', d) }] });
          assert.equal(s.phase, 'aborted');
          assert.deepEqual(
            s.decisions.map((x) => Object.keys(x).sort()),
            [['action', 'actor', 'environment', 'reason', 'time']],
            'the envelope is not kept in the status',
          );
          await h.result();
          const aborted = audit.find((e) => e.action === 'unfreeze.aborted' && e.workflowId === h.workflowId);
          assert.deepEqual(aborted?.details.decision, d);
          assert.equal(aborted?.signature?.principal, 'dana');
        } finally {
          // The fixture's own lift (as "test") is not allowed by this policy.
          await freeze.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'dana', reason: 'test over' }] }).catch(() => undefined);
        }
      },
      {},
      testEnv(),
      trust,
    );
  });
});
