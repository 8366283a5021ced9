// A test workflow (registered by test/workflows/sshsig.test.ts through workflowsPath, not by Rearguard's
// worker): signed approvals verified in an Update validator, inside the deterministic sandbox, with
// runbook/sshsig.ts (SSH signature, allowed_signers) and runbook/decision.ts (action, workflow, freshness,
// replay). The handler records what the validator admitted; a `finish` Signal ends the run.
import { condition, defineSignal, defineUpdate, setHandler, workflowInfo } from '@temporalio/workflow';
import { canonicalDecision, checkDecision, DECISION_NAMESPACE, type SignedDecision } from '../../runbook/decision.js';
import { parseAllowedSigners, verifySshSignature } from '../../runbook/sshsig.js';

export interface SignedVote {
  decision: SignedDecision;
  /** The armored output of ssh-keygen -Y sign over canonicalDecision(decision). */
  signature: string;
}

export interface Accepted {
  actor: string;
  fingerprint: string;
  nonce: string;
}

export const signedApproveUpdate = defineUpdate<Accepted, [SignedVote]>('signedApprove');
export const finishSignal = defineSignal('finish');

export async function sshsigApproval(input: { allowedSigners: string; maxAgeMs: number }): Promise<{ accepted: Accepted[] }> {
  const signers = parseAllowedSigners(input.allowedSigners);
  const accepted: Accepted[] = [];
  const seen = new Set<string>();
  let finished = false;

  /** The whole judgement, pure: the validator runs it to refuse, the handler to record. */
  const judge = (v: SignedVote): Accepted => {
    const d = v.decision;
    const sig = verifySshSignature({
      message: canonicalDecision(d),
      armored: v.signature,
      namespace: DECISION_NAMESPACE,
      allowedSigners: signers,
      principal: d.actor,
    });
    if (!sig.ok) throw new Error(`${sig.code}: ${sig.reason}`);
    const fresh = checkDecision(d, {
      expectedAction: 'approve',
      expectedWorkflowId: workflowInfo().workflowId,
      nowMs: Date.now(),
      maxAgeMs: input.maxAgeMs,
      seenNonces: seen,
    });
    if (!fresh.ok) throw new Error(fresh.reason);
    return { actor: d.actor, fingerprint: sig.fingerprint, nonce: d.nonce };
  };

  setHandler(
    signedApproveUpdate,
    (v) => {
      const a = judge(v);
      seen.add(a.nonce);
      accepted.push(a);
      return a;
    },
    { validator: (v) => void judge(v) },
  );
  setHandler(finishSignal, () => void (finished = true));
  await condition(() => finished);
  return { accepted };
}
