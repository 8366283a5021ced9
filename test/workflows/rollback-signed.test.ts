// Signed approvals and rejections of the rollback workflow, on the time-skipping test server: real ed25519
// keys (ssh-keygen), real signatures (client/signing.ts), the trust settings given by the trustSettings
// activity stub as a worker with REARGUARD_ALLOWED_SIGNERS would (activities/trust.ts reads the same file).
// The Update validator admits a signed approval by the right key, and refuses another person's key, an
// unknown key, a decision for another rollback, a replayed one, a stale one and (when signatures are
// required) an unsigned one; the audit event of an admitted vote verifies with `rearguard audit verify
// --allowed-signers`. Without required signatures an unsigned vote still counts (development).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { execa } from 'execa';
import { loadTrustSettings, type TrustSettings } from '../../activities/trust.js';
import { AuditLog } from '../../api/audit-file.js';
import type { ChainReport } from '../../api/audit-chain.js';
import { approvePlanUpdate, approveUpdate, rejectUpdate, ROLLBACK_DECISIONS, statusQuery, type SignedEnvelope, type VoteRequest } from '../../api/messages.js';
import { signDecision } from '../../client/signing.js';
import type { SignedDecision } from '../../runbook/decision.js';
import { testEnv, useTemporalEnv } from '../helpers/harness.js';
import { rearguard } from '../helpers/processes.js';
import { actions, outcomeOf, phase, poll, rollbackHarness, type Case } from '../helpers/rollback.js';
import { makeRunbook } from '../helpers/runbooks.js';

useTemporalEnv();
const { histories, withRollback } = rollbackHarness();

let dir = '';
let allowedSignersFile = '';
/** As a worker with REARGUARD_ALLOWED_SIGNERS=allowedSignersFile (and the default: signatures required) loads it. */
let required: TrustSettings;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rearguard-signed-'));
  for (const name of ['dana', 'eli', 'mallory']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  const line = async (name: string) => `${name} namespaces="rearguard" ${(await readFile(join(dir, `${name}.pub`), 'utf8')).trim()}`;
  allowedSignersFile = join(dir, 'allowed_signers');
  await writeFile(allowedSignersFile, `# who may sign rollback decisions\n${await line('dana')}\n${await line('eli')}\n`);
  required = loadTrustSettings({ REARGUARD_ALLOWED_SIGNERS: allowedSignersFile });
  assert.equal(required.requireSignatures, true, 'required by default once a file is configured');
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const approvers = { required: true, approvers: ['dana', 'eli', 'fay'], quorum: 2, timeout: '30m' };
const signedCase = (trust: TrustSettings, c: Partial<Case> = {}): Case => ({
  actor: 'dana',
  runbook: makeRunbook({ approval: approvers }),
  overrides: { trustSettings: async () => trust },
  ...c,
});

/** A decision as `rollback approve` makes it, dated at the server's (workflow) time. */
async function decision(workflowId: string, over: Partial<SignedDecision> = {}): Promise<SignedDecision> {
  // Bound to the run, as the CLI signs it (rollbackRunId).
  const run = (await testEnv().client.workflow.getHandle(workflowId).describe()).runId;
  const { extra, ...rest } = over;
  return {
    action: ROLLBACK_DECISIONS.approve,
    workflowId,
    actor: 'eli',
    reason: 'error rate confirmed on the dashboard',
    at: new Date(await testEnv().currentTimeMs()).toISOString(),
    nonce: randomUUID(),
    ...rest,
    extra: { run, ...extra },
  };
}

async function signedBy(key: string, d: SignedDecision): Promise<SignedEnvelope> {
  const { payload, signature } = await signDecision(d, { key: join(dir, key), env: { PATH: process.env.PATH, HOME: dir } });
  return { payload, signature };
}

const vote = (d: SignedDecision, signed?: SignedEnvelope): VoteRequest => ({ actor: d.actor, reason: d.reason, ...(signed ? { signed } : {}) });

async function refused(
  h: WorkflowHandle,
  req: VoteRequest,
  pattern: RegExp,
  update: typeof approveUpdate | typeof rejectUpdate | typeof approvePlanUpdate = approveUpdate,
): Promise<void> {
  await assert.rejects(h.executeUpdate(update as typeof approveUpdate, { args: [req] }), (err: unknown) => {
    assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
    assert.match(String((err.cause as Error)?.message), pattern);
    return true;
  });
}

describe('signed rollback decisions', () => {
  it('admits an approval signed by the approver; its audit event carries the signature and verifies with audit verify', async () => {
    await withRollback(signedCase(required, { runbook: makeRunbook({ approval: { ...approvers, quorum: 1 } }) }), async (h, { calls }) => {
      await phase(h, 'awaiting-approval');
      const d = await decision(h.workflowId);
      const result = await h.executeUpdate(approveUpdate, { args: [vote(d, await signedBy('eli', d))] });
      assert.deepEqual(result, { accepted: true, approvals: 1, quorum: 1, decided: true });
      assert.equal((await outcomeOf(h)).outcome, 'succeeded');

      const approved = calls.audit.find((e) => e.action === 'rollback.approved')!;
      assert.equal(approved.actor, 'eli');
      assert.deepEqual(approved.details.decision, d);
      assert.equal(approved.signature?.principal, 'eli');
      assert.match(approved.signature?.armored ?? '', /^-----BEGIN SSH SIGNATURE-----/);
      const fingerprint = (await execa('ssh-keygen', ['-l', '-f', join(dir, 'eli.pub')])).stdout.split(' ')[1];
      assert.equal(approved.signature?.fingerprint, fingerprint);
      // Unsigned events (the trigger, the steps) stay unsigned.
      assert.equal(calls.audit.filter((e) => e.signature).length, 1);

      // The trail as the worker writes it, verified as an auditor would: the real CLI, the same allowed_signers.
      const file = join(dir, `audit-${randomUUID()}.jsonl`);
      const log = new AuditLog(file);
      for (const e of calls.audit) await log.append(e);
      const r = await rearguard(['audit', 'verify', file, '--allowed-signers', allowedSignersFile, '--json'], {});
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.deepEqual((JSON.parse(r.stdout) as ChainReport).signatures, { signed: 1, verified: 1, unverified: 0, failed: [] });
    });
  });

  it('refuses unsigned votes, another person key, an unknown key, a stale or replayed decision, and a reason changed after signing', async () => {
    // dana triggered the rollback; eli and fay may approve it.
    await withRollback(signedCase(required), async (h, { calls }) => {
      await phase(h, 'awaiting-approval');
      const id = h.workflowId;

      await refused(
        h,
        { actor: 'eli', reason: 'lgtm' },
        /^signed decision required: .*; run with a signing key \(--signing-key, REARGUARD_SIGNING_KEY or git config user\.signingkey\)$/,
      );
      // `approve --as eli` signed with dana's key; it is also how dana would approve her own rollback under eli's name.
      const asEli = await decision(id);
      await refused(h, vote(asEli, await signedBy('dana', asEli)), /^signed decision refused: signed by a key allowed for dana, not for eli \(key SHA256:/);
      // dana as herself, with her own key: the existing rule (no self-approval) still holds.
      const asDana = await decision(id, { actor: 'dana' });
      await refused(h, vote(asDana, await signedBy('dana', asDana)), /dana requested this rollback and cannot also approve or reject it/);
      const byMallory = await decision(id);
      await refused(
        h,
        vote(byMallory, await signedBy('mallory', byMallory)),
        /^signed decision refused: unknown key SHA256:\S+: it is not in the worker's allowed_signers/,
      );
      const stale = await decision(id, { at: new Date((await testEnv().currentTimeMs()) - 11 * 60_000).toISOString() });
      await refused(h, vote(stale, await signedBy('eli', stale)), /^signed decision refused: the decision was signed at .*older than 600s, sign it again/);
      const rejectSigned = await decision(id, { action: ROLLBACK_DECISIONS.reject });
      await refused(
        h,
        vote(rejectSigned, await signedBy('eli', rejectSigned)),
        /the decision is signed for action "rollback\.reject", not "rollback\.approve"/,
      );
      const changed = await decision(id);
      await refused(h, { ...vote(changed, await signedBy('eli', changed)), reason: 'something else' }, /^signed decision refused: the signed reason/);
      const notCanonical = await decision(id);
      const good = await signedBy('eli', notCanonical);
      await refused(
        h,
        vote(notCanonical, { ...good, payload: JSON.stringify(notCanonical, null, 1) }),
        /the payload is not a decision: it is not in canonical form/,
      );
      assert.equal(actions(calls.audit).filter((a) => a === 'rollback.approved').length, 0, 'nothing refused was recorded');

      // The good one counts once: the same signed payload again is a replay.
      const first = await h.executeUpdate(approveUpdate, { args: [vote(notCanonical, good)] });
      assert.equal(first.approvals, 1);
      await refused(h, vote(notCanonical, good), /^signed decision refused: nonce \S+ was already used: a signed decision counts once \(replay refused\)$/);
      const byFay = await decision(id, { actor: 'fay' });
      await refused(h, vote(byFay, await signedBy('eli', byFay)), /signed by a key allowed for eli, not for fay/);
      assert.equal(calls.audit.filter((e) => e.signature).length, 1);

      // A valid signature for rollback A, replayed on rollback B (another service): refused there.
      await withRollback(signedCase(required), async (b) => {
        await phase(b, 'awaiting-approval');
        await refused(b, vote(notCanonical, good), new RegExp(`^signed decision refused: the decision is signed for workflow "${id}", not "${b.workflowId}"$`));
        const rejection = await decision(b.workflowId, { action: ROLLBACK_DECISIONS.reject, reason: 'not needed' });
        await b.executeUpdate(rejectUpdate, { args: [vote(rejection, await signedBy('eli', rejection))] });
        const s = await outcomeOf(b);
        assert.equal(s.outcome, 'rejected');
      });
    });
  });

  it('a decision signed for one run of a service is refused on the next run of the same service (same workflow ID)', async () => {
    await withRollback(signedCase(required, { runbook: makeRunbook({ approval: { ...approvers, quorum: 1 } }) }), async (h, { trigger, start }) => {
      await phase(h, 'awaiting-approval');
      const d = await decision(h.workflowId);
      const signed = await signedBy('eli', d);
      await h.executeUpdate(approveUpdate, { args: [vote(d, signed)] });
      assert.equal((await outcomeOf(h)).outcome, 'succeeded');
      // The next incident: a new run of rollback:<env>:<service>, within the decision's 10 minutes.
      const next = await start({ ...trigger, requestId: randomUUID() });
      await phase(next, 'awaiting-approval');
      const firstRun = JSON.parse(signed.payload) as SignedDecision;
      assert.notEqual(firstRun.extra?.run, (await next.describe()).runId);
      await refused(next, vote(d, signed), /^signed decision refused: the decision is signed for run "[^"]+", not "[^"]+"$/);
      await next.cancel();
    });
  });

  it('without required signatures an unsigned vote counts (development); a signed one is still verified', async () => {
    const optional = loadTrustSettings({ REARGUARD_ALLOWED_SIGNERS: allowedSignersFile, REARGUARD_REQUIRE_SIGNATURES: 'false' });
    assert.equal(optional.requireSignatures, false);
    await withRollback(signedCase(optional), async (h, { calls }) => {
      await phase(h, 'awaiting-approval');
      const bad = await decision(h.workflowId);
      await refused(h, vote(bad, await signedBy('dana', bad)), /signed by a key allowed for dana, not for eli/);
      const unsigned = await h.executeUpdate(approveUpdate, { args: [{ actor: 'eli', reason: 'lgtm' }] });
      assert.equal(unsigned.approvals, 1);
      const fay = await decision(h.workflowId, { actor: 'fay' });
      assert.equal((await h.executeUpdate(approveUpdate, { args: [{ actor: 'fay', reason: fay.reason }] })).decided, true);
      assert.equal((await outcomeOf(h)).outcome, 'succeeded');
      assert.equal(calls.audit.filter((e) => e.signature).length, 0);
    });
    // No allowed_signers at all (the shared stubs' default): unsigned votes count, as before signed decisions.
    await withRollback({ actor: 'dana', runbook: makeRunbook({ approval: { ...approvers, quorum: 1 } }) }, async (h) => {
      await phase(h, 'awaiting-approval');
      assert.equal((await h.executeUpdate(approveUpdate, { args: [{ actor: 'eli', reason: 'lgtm' }] })).decided, true);
      assert.equal((await outcomeOf(h)).outcome, 'succeeded');
    });
  });

  it('a signed plan approval names its step: admitted for the waiting step, audited with its signature', async () => {
    const plan = { kind: 'terraform' as const, repo: 'infra', toRef: 'v1', commit: 'abc', workingDir: 'infra/app', add: 0, change: 1, destroy: 0 };
    const runbook = makeRunbook({
      approval: { required: false, approvers: ['dana', 'eli'] },
      steps: [{ name: 'infra', type: 'terraform', repo: 'infra', workingDir: 'infra/app', toRef: 'v1', approvePlan: true }],
    });
    await withRollback(
      signedCase(required, {
        runbook,
        overrides: { trustSettings: async () => required, planStep: async () => ({ ...plan, changes: [], workspace: '/tmp/x', planSha256: 'f' }) },
      }),
      async (h, { calls }) => {
        await poll(async () => ((await h.query(statusQuery)).steps[0].planApproval ? true : undefined), 'plan approval requested');
        await refused(h, { actor: 'eli', reason: 'ok' }, /^signed decision required: /, approvePlanUpdate);
        const otherStep = await decision(h.workflowId, { action: ROLLBACK_DECISIONS.approvePlan, extra: { step: 'network' } });
        await refused(h, vote(otherStep, await signedBy('eli', otherStep)), /the decision is signed for step "network", not "infra"/, approvePlanUpdate);
        const asApprove = await decision(h.workflowId, { extra: { step: 'infra' } });
        await refused(
          h,
          vote(asApprove, await signedBy('eli', asApprove)),
          /signed for action "rollback\.approve", not "rollback\.approve-plan"/,
          approvePlanUpdate,
        );
        const d = await decision(h.workflowId, { action: ROLLBACK_DECISIONS.approvePlan, extra: { step: 'infra' } });
        assert.deepEqual(await h.executeUpdate(approvePlanUpdate, { args: [vote(d, await signedBy('eli', d))] }), { accepted: true, step: 'infra' });
        assert.equal((await outcomeOf(h)).outcome, 'succeeded');
        const approved = calls.audit.find((e) => e.action === 'rollback.plan-approved')!;
        assert.deepEqual(approved.details.decision, d);
        assert.equal(approved.signature?.principal, 'eli');
      },
    );
  });

  it('replays every history recorded above without nondeterminism', async () => {
    assert.ok(histories.length >= 6, `recorded ${histories.length} histories`);
    for (const r of await histories.replay()) assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
  });
});
