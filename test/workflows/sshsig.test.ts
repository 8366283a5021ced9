// SSH-signed approvals verified inside a real workflow sandbox: test/workflows/sshsig-workflow.ts bundled
// on its own (workflowsPath) and run on the time-skipping test server. Keys and signatures are real
// (ssh-keygen, client/signing.ts); the Update validator accepts a good signature and refuses a tampered
// payload, another person's key, a decision for another workflow, a replayed nonce and a stale decision
// (time skipped by the server, judged at workflow time). The history then replays deterministically.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { execa } from 'execa';
import { signDecision } from '../../client/signing.js';
import type { SignedDecision } from '../../runbook/decision.js';
import { createTimeSkippingEnv } from '../helpers/temporal.js';
import { finishSignal, signedApproveUpdate, type SignedVote, type sshsigApproval } from './sshsig-workflow.js';

const workflowsPath = fileURLToPath(new URL('./sshsig-workflow.ts', import.meta.url));
let env: TestWorkflowEnvironment;
let dir = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rearguard-sshsig-wf-'));
  for (const name of ['alice', 'bob']) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  env = await createTimeSkippingEnv();
});

after(async () => {
  await env?.teardown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function vote(signer: string, d: SignedDecision): Promise<SignedVote> {
  const { signature } = await signDecision(d, { key: join(dir, signer) });
  return { decision: d, signature };
}

describe('SSH signatures verified in an Update validator (workflow sandbox)', () => {
  it('accepts a signed approval; refuses tampering, another key, another workflow, a replay and a stale decision', async () => {
    const allowedSigners = [
      `alice@example.com namespaces="rearguard" ${(await readFile(join(dir, 'alice.pub'), 'utf8')).trim()}`,
      `bob@example.com ${(await readFile(join(dir, 'bob.pub'), 'utf8')).trim()}`,
    ].join('\n');
    const taskQueue = `sshsig-${randomUUID()}`;
    const worker = await Worker.create({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, workflowsPath });
    const workflowId = `sshsig-${randomUUID()}`;
    const history = await worker.runUntil(async () => {
      const h = await env.client.workflow.start<typeof sshsigApproval>('sshsigApproval', {
        taskQueue,
        workflowId,
        args: [{ allowedSigners, maxAgeMs: 10 * 60_000 }],
      });
      const decision = (over: Partial<SignedDecision> = {}): SignedDecision => ({
        action: 'approve',
        workflowId,
        actor: 'alice@example.com',
        reason: 'error budget burnt: roll back',
        at: new Date().toISOString(),
        nonce: randomUUID(),
        ...over,
      });
      const refused = (v: SignedVote, reason: RegExp) =>
        assert.rejects(h.executeUpdate(signedApproveUpdate, { args: [v] }), (err: unknown) => {
          assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
          assert.match(String((err.cause as Error)?.message), reason);
          return true;
        });

      const good = await vote('alice', decision());
      const accepted = await h.executeUpdate(signedApproveUpdate, { args: [good] });
      assert.equal(accepted.actor, 'alice@example.com');
      assert.match(accepted.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);

      await refused(good, /nonce .* was already used.*replay refused/);
      await refused({ ...good, decision: { ...good.decision, reason: 'changed after signing', nonce: randomUUID() } }, /^bad-signature: bad signature/);
      await refused(await vote('bob', decision()), /^key-not-listed: key SHA256:\S+ is not listed for principal "alice@example\.com"/);
      await refused(await vote('alice', decision({ workflowId: 'rollback:prod:other' })), /signed for workflow "rollback:prod:other", not "sshsig-/);
      await refused(await vote('alice', decision({ action: 'reject' })), /signed for action "reject", not "approve"/);
      await refused({ ...good, signature: 'garbage' }, /^malformed-signature: malformed signature/);
      const later = await vote('bob', decision({ actor: 'bob@example.com' }));
      await env.sleep('15 minutes');
      await refused(later, /older than 600s, sign it again/);

      await h.signal(finishSignal);
      const result = await h.result();
      assert.deepEqual(result.accepted, [accepted]);
      return h.fetchHistory();
    });
    // The validator and handler are pure: the recorded history replays without nondeterminism.
    await Worker.runReplayHistory({ workflowsPath }, history, workflowId);
  });
});
