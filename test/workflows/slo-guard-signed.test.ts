// Pause and resume of the SLO guard as decisions (time-skipping server, activities stubbed; the trust settings
// reach the guard through the trustSettings activity as on a real worker): the policy's `guards` refuses
// someone it does not allow; with allowed_signers (real ed25519 keys from ssh-keygen, real signatures from
// client/signing.ts) a pause signed with another person's key or unsigned is refused, a signed one is admitted
// and audited with its signature, and its nonce stays used across continue-as-new (carried with the settings,
// which each run loads again). The recorded histories replay.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TrustSettings } from '../../activities/trust.js';
import { decisionSignatureVerifier } from '../../api/audit-chain.js';
import { GUARD_DECISIONS, guardStatusQuery, pauseGuardUpdate, resumeGuardUpdate, type GuardDecision, type SignedEnvelope } from '../../api/messages.js';
import type { SignedDecision } from '../../runbook/decision.js';
import { permissionRules } from '../../runbook/permissions.js';
import { parsePolicy } from '../../runbook/policy.js';
import type { Runbook } from '../../runbook/schema.js';
import type { SloGuardInput, SloGuardStatus } from '../../runbook/slo-guard.js';
import type { AuditEvent } from '../../runbook/types.js';
import { useSigners } from '../helpers/signers.js';
import { Histories, useTemporalEnv, withDevServer, withWorker } from '../helpers/harness.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { makeRunbook } from '../helpers/runbooks.js';
import { waitFor } from '../helpers/wait.js';

useTemporalEnv();
const histories = new Histories();

const keys = useSigners('guard-signed', ['dana', 'eli']);

const policy = parsePolicy(`
apiVersion: rearguard/v1
kind: Policy
metadata: { name: production }
spec:
  groups: { sre: [alice, bob] }
  environments:
    - match: "*"
      trigger: [group:sre, slo-guard]
    - match: prod
      guards: [alice]
`);
assert.ok(policy.ok);
const permissions = permissionRules(policy.value);

/** An evaluation every second: continue-as-new comes within seconds without skipping time. */
const guardRunbook = (): Runbook => makeRunbook({ slo: { interval: '1s', cooldown: '1h', conditions: [{ name: 'error-ratio', query: 'x', above: 0.05 }] } });

interface Ctx {
  audit: AuditEvent[];
  trustLoads: number;
}

async function withGuard(
  trust: TrustSettings,
  input: Partial<SloGuardInput>,
  body: (h: WorkflowHandle, c: Ctx) => Promise<void>,
  env?: TestWorkflowEnvironment,
): Promise<void> {
  const c: Ctx = { audit: [], trustLoads: 0 };
  const activities = {
    appendAudit: async (e: AuditEvent) => void c.audit.push(e),
    trustSettings: async () => (c.trustLoads++, trust),
    evaluateSlo: async () => ({
      time: new Date().toISOString(),
      conditions: [{ name: 'error-ratio', value: 0.01, breached: false }],
      burnRate: [],
      health: {},
    }),
    triggerRollback: async () => assert.fail('no violation in these tests'),
    notify: async () => ({ sent: [] }),
  };
  const runbook = guardRunbook();
  await withWorker({ activities, taskQueue: 'guard-signed', ...(env ? { env } : {}) }, async ({ client, taskQueue }) => {
    const h = await client.workflow.start('sloGuard', {
      workflowId: `guard:prod:payments-${randomUUID().slice(0, 8)}`,
      taskQueue,
      args: [{ runbook, actor: 'dave', reason: 'protect payments', ...input } satisfies SloGuardInput],
    });
    try {
      await body(h, c);
    } finally {
      await h.cancel().catch(() => undefined);
      await h.result().catch(() => undefined);
    }
    await histories.record(h);
  });
}

/** The audit event once the trail has written it (it appends in the background). */
const auditOf = (c: Ctx, action: string): Promise<AuditEvent> => waitFor(() => c.audit.find((e) => e.action === action), `audit event ${action}`);

const status = (h: WorkflowHandle) => h.query(guardStatusQuery) as Promise<SloGuardStatus>;

/** A decision as `guard pause` makes it, dated at the server's (workflow) time. */
function decisionAt(workflowId: string, nowMs: number, over: Partial<SignedDecision> = {}): SignedDecision {
  return {
    action: GUARD_DECISIONS.pause,
    workflowId,
    actor: 'eli',
    reason: 'planned database migration',
    at: new Date(nowMs).toISOString(),
    nonce: randomUUID(),
    ...over,
  };
}

const request = (d: SignedDecision, signed?: SignedEnvelope): GuardDecision => ({ actor: d.actor, reason: d.reason, ...(signed ? { signed } : {}) });

async function refused(h: WorkflowHandle, update: typeof pauseGuardUpdate, req: GuardDecision, pattern: RegExp): Promise<void> {
  await assert.rejects(h.executeUpdate(update, { args: [req] }), (err: unknown) => {
    assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
    assert.match(String((err.cause as Error)?.message), pattern);
    return true;
  });
}

describe('SLO guard pause and resume as decisions', () => {
  it('the policy: a pause by someone it does not allow (guards) is refused; one it allows is admitted', async () => {
    await withGuard({ requireSignatures: false, allowedSigners: [], permissions }, {}, async (h, c) => {
      await waitFor(async () => (await status(h)).evaluations > 0, 'first evaluation');
      await refused(
        h,
        pauseGuardUpdate,
        { actor: 'bob', reason: 'noisy' },
        /^refused by the worker's policy: bob may not pause or resume SLO guards in prod \(policy production, rule prod: alice\)$/,
      );
      assert.equal((await status(h)).paused, undefined, 'a refused pause changes nothing');
      const paused = await h.executeUpdate(pauseGuardUpdate, { args: [{ actor: 'alice', reason: 'planned migration' }] });
      assert.equal(paused.state, 'paused');
      await refused(h, resumeGuardUpdate, { actor: 'bob', reason: 'done' }, /bob may not pause or resume SLO guards in prod/);
      await h.executeUpdate(resumeGuardUpdate, { args: [{ actor: 'alice', reason: 'migration done' }] });
      await auditOf(c, 'guard.resumed');
      assert.deepEqual(
        c.audit.filter((e) => e.action === 'guard.paused' || e.action === 'guard.resumed').map((e) => [e.action, e.actor, e.signature]),
        [
          ['guard.paused', 'alice', undefined],
          ['guard.resumed', 'alice', undefined],
        ],
      );
    });
  });

  it('signatures: another person key and unsigned refused; a signed pause admitted, audited with its signature; its nonce stays used after continue-as-new', async () => {
    // On a dev server of its own: the time-skipping server can stall a run that continues as new while
    // Updates and Queries arrive (it did in the full suite), and this guard's 1s evaluations need no skipping.
    await withDevServer((env) =>
      withGuard(
        keys.required,
        { historyLimit: 30 },
        async (h, c) => {
          const id = h.workflowId;
          // Decisions dated by the real clock, which the dev server keeps.
          const decision = (workflowId: string, over: Partial<SignedDecision> = {}) => decisionAt(workflowId, Date.now(), over);
          await waitFor(async () => (await status(h)).evaluations > 0, 'first evaluation');
          // `guard pause --as eli` signed with dana's key.
          const asEli = await decision(id);
          await refused(
            h,
            pauseGuardUpdate,
            request(asEli, await keys.sign('dana', asEli)),
            /^signed decision refused: signed by a key allowed for dana, not for eli \(key SHA256:/,
          );
          await refused(h, pauseGuardUpdate, request(asEli), /^signed decision required: /);
          const forRollback = await decision(id, { action: 'rollback.approve' });
          await refused(
            h,
            pauseGuardUpdate,
            request(forRollback, await keys.sign('eli', forRollback)),
            /the decision is signed for action "rollback\.approve", not "guard\.pause"/,
          );
          assert.equal((await status(h)).paused, undefined);

          const pause = await decision(id);
          const pauseSigned = await keys.sign('eli', pause);
          const paused = await h.executeUpdate(pauseGuardUpdate, { args: [request(pause, pauseSigned)] });
          const fingerprint = await keys.fingerprint('eli');
          assert.deepEqual({ actor: paused.paused?.actor, signedWith: paused.paused?.signedWith }, { actor: 'eli', signedWith: fingerprint });
          const event = await auditOf(c, 'guard.paused');
          assert.deepEqual(event.details.decision, pause);
          assert.equal(event.signature?.principal, 'eli');
          assert.deepEqual(await decisionSignatureVerifier(keys.required.allowedSigners)(event), { ok: true }, 'audit verify --allowed-signers checks it');

          // A resume is a decision of its own: the pause's signature cannot stand in for it.
          await refused(h, resumeGuardUpdate, request(pause, pauseSigned), /signed for action "guard\.pause", not "guard\.resume"/);
          const resume = await decision(id, { action: GUARD_DECISIONS.resume, actor: 'dana', reason: 'migration done' });
          await h.executeUpdate(resumeGuardUpdate, { args: [request(resume, await keys.sign('dana', resume))] });
          await refused(h, pauseGuardUpdate, request(pause, pauseSigned), /nonce \S+ was already used: a signed decision counts once \(replay refused\)$/);

          // The next run (continue-as-new) loads the settings again and still knows the nonce.
          await waitFor(async () => (await status(h)).run > paused.run, 'continued as new', { timeout: 60_000, interval: 250 });
          await refused(h, pauseGuardUpdate, request(pause, pauseSigned), /nonce \S+ was already used/);
          assert.ok(c.trustLoads >= 2, `each run loads the trust settings (${c.trustLoads})`);
          await refused(h, pauseGuardUpdate, request(asEli), /^signed decision required: /);
          await auditOf(c, 'guard.resumed');
          assert.deepEqual(
            c.audit.filter((e) => e.signature).map((e) => [e.action, e.actor]),
            [
              ['guard.paused', 'eli'],
              ['guard.resumed', 'dana'],
            ],
          );
        },
        env,
      ),
    );
  });

  it('replays every history recorded above without nondeterminism', async () => {
    assert.equal(histories.length, 2);
    for (const r of await histories.replay()) assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
  });
});
