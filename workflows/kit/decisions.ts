// Signed human decisions (rollback approve/reject/approve-plan, and the other workflows' decisions), judged inside the workflow: the
// worker's trust settings arrive by the trustSettings local activity at the run's start (activities/trust.ts), the
// signature is verified in pure JavaScript (runbook/sshsig.ts) and the decision checked for its action,
// workflow, freshness and nonce (runbook/decision.ts). `judgeDecision` is pure: the Update validator runs it
// to refuse, the handler runs it again (same workflow time, same input) to record what it admitted.
import { proxyLocalActivities } from '@temporalio/workflow';
import type { Activities, TrustSettings } from '../../activities/index.js';
import type { SignedEnvelope } from '../../api/messages.js';
import {
  canonicalDecision,
  checkDecision,
  DECISION_NAMESPACE,
  DELEGATE_PRINCIPAL,
  delegateProblem,
  isDelegatePrincipal,
  type SignedDecision,
} from '../../runbook/decision.js';
import { decodeBase64, parseSshSignature, sshFingerprint, verifySshSignature } from '../../runbook/sshsig.js';

/** How old a signed decision may be when it arrives. */
export const DECISION_MAX_AGE_MS = 10 * 60_000;
/** What the refusal of an unsigned vote tells its sender to configure. */
export const SIGNING_HINT = 'run with a signing key (--signing-key, REARGUARD_SIGNING_KEY or git config user.signingkey)';
/** Until the settings are loaded, and for runs started before signed decisions existed: unsigned votes count. */
export const DEVELOPMENT_TRUST: TrustSettings = { requireSignatures: false, allowedSigners: [] };

/** What the audit event of an admitted signed vote carries (api/audit-chain.ts decisionSignatureVerifier). */
export interface VerifiedDecision {
  decision: SignedDecision;
  /** principal: the actor's, or the `delegate:` principal whose key signed for them (`rearguard serve`). */
  signature: { armored: string; principal: string; fingerprint: string };
}

export interface DecisionRequest {
  /** ROLLBACK_DECISIONS (api/messages.ts). */
  action: string;
  workflowId: string;
  actor: string;
  reason: string;
  signed?: SignedEnvelope;
  /** Fields the signed decision's `extra` must carry with these values (e.g. the plan's step). */
  extra?: Record<string, string>;
}

const MAX_PAYLOAD = 16 * 1024;
const refuse = (why: string): Error => new Error(`signed decision refused: ${why}`);

/** The principals of allowed_signers lines that list the key with this fingerprint. */
function principalsOf(trust: TrustSettings, fingerprint: string): string[] {
  const out = new Set<string>();
  for (const s of trust.allowedSigners) {
    try {
      if (sshFingerprint(decodeBase64(s.publicKey)) === fingerprint) s.principals.forEach((p) => out.add(p));
    } catch {
      // a line the parser kept but whose key does not decode cannot list this key
    }
  }
  return [...out];
}

function signatureFingerprint(armored: string): string | undefined {
  try {
    return sshFingerprint(parseSshSignature(armored).publicKey);
  } catch {
    return undefined;
  }
}

/**
 * Judges one vote: undefined for an unsigned vote this worker accepts (or a signature it has no
 * allowed_signers to check against, when signatures are not required), the verified decision for a signed
 * one; throws an Error saying why the vote is refused. A signature by a key allowed_signers lists under a
 * `delegate:` principal (`rearguard serve`) counts for the actor only under runbook/decision.ts delegateProblem's
 * rule (the OIDC subject and issuer, and that delegate, named in the decision); the verified signature then
 * names the delegate as its principal.
 */
export function judgeDecision(trust: TrustSettings, req: DecisionRequest, nowMs: number, seenNonces: ReadonlySet<string>): VerifiedDecision | undefined {
  const { signed } = req;
  if (signed === undefined || signed === null) {
    if (!trust.requireSignatures) return undefined;
    throw new Error(
      `signed decision required: this worker accepts only signed approvals and rejections (REARGUARD_REQUIRE_SIGNATURES, keys in REARGUARD_ALLOWED_SIGNERS); ${SIGNING_HINT}`,
    );
  }
  // Development (no allowed_signers configured): nothing to verify a signature against; the vote counts unsigned.
  if (!trust.requireSignatures && trust.allowedSigners.length === 0) return undefined;
  if (typeof signed !== 'object' || typeof signed.payload !== 'string' || typeof signed.signature !== 'string')
    throw refuse('expected signed = { payload, signature } (strings)');
  if (signed.payload.length > MAX_PAYLOAD) throw refuse(`the payload is ${signed.payload.length} characters, more than a decision (${MAX_PAYLOAD})`);
  let d: SignedDecision;
  try {
    d = JSON.parse(signed.payload) as SignedDecision;
    if (canonicalDecision(d) !== signed.payload) throw new Error('it is not in canonical form (sorted keys, no whitespace), as client/signing.ts signs it');
  } catch (err) {
    throw refuse(`the payload is not a decision: ${(err as Error).message}`);
  }
  if (d.actor !== req.actor) throw refuse(`the decision is signed as ${d.actor}, but the vote is by ${req.actor}`);
  if (d.reason !== req.reason) throw refuse(`the signed reason ${JSON.stringify(d.reason)} is not the vote's reason ${JSON.stringify(req.reason)}`);
  // The workflow first (the clearest message for a decision replayed on another service), then the run and step.
  if (d.workflowId !== req.workflowId)
    throw refuse(`the decision is signed for workflow ${JSON.stringify(d.workflowId)}, not ${JSON.stringify(req.workflowId)}`);
  for (const [k, v] of Object.entries(req.extra ?? {}))
    if (d.extra?.[k] !== v) throw refuse(`the decision is signed for ${k} ${JSON.stringify(d.extra?.[k] ?? '(none)')}, not ${JSON.stringify(v)}`);
  // A delegate's own name never decides: it signs for people (runbook/decision.ts delegateProblem).
  if (isDelegatePrincipal(req.actor)) throw refuse(`${req.actor} is a delegate: a delegate signs for people, it does not decide`);
  const verify = (principal: string) =>
    verifySshSignature({
      message: signed.payload,
      armored: signed.signature,
      namespace: DECISION_NAMESPACE,
      allowedSigners: trust.allowedSigners,
      principal,
      nowMs,
    });
  let r = verify(req.actor);
  let principal = req.actor;
  if (!r.ok) {
    if (r.code !== 'key-not-listed') throw refuse(`${r.code}: ${r.reason}`);
    const fingerprint = signatureFingerprint(signed.signature) ?? 'of the signature';
    const owners = principalsOf(trust, fingerprint);
    // A delegate (`rearguard serve`) signs for the person its OIDC provider authenticated: admitted only with
    // that person's OIDC subject and issuer in the decision, and the delegate named as the one who signed.
    const delegates = owners.filter((p) => DELEGATE_PRINCIPAL.test(p));
    if (delegates.length) {
      const named = d.extra?.delegate;
      const delegate = named !== undefined && delegates.includes(named) ? named : delegates[0];
      const problem = delegateProblem(d, delegate);
      if (problem) throw refuse(problem);
      r = verify(delegate);
      if (!r.ok) throw refuse(`${r.code}: ${r.reason}`);
      principal = delegate;
    } else if (owners.length) throw refuse(`signed by a key allowed for ${owners.join(', ')}, not for ${req.actor} (key ${fingerprint})`);
    else throw refuse(`unknown key ${fingerprint}: it is not in the worker's allowed_signers (REARGUARD_ALLOWED_SIGNERS), for ${req.actor} or anyone`);
  }
  const check = checkDecision(d, {
    expectedAction: req.action,
    expectedWorkflowId: req.workflowId,
    nowMs,
    maxAgeMs: DECISION_MAX_AGE_MS,
    seenNonces,
  });
  if (!check.ok) throw refuse(check.reason);
  return { decision: d, signature: { armored: signed.signature, principal, fingerprint: r.fingerprint } };
}

// Quick attempts for about half a minute. A local activity: it only returns what this worker read at start,
// so it need not go through the task queue (a rollback starts a round trip sooner, about 100 ms measured with
// `npm run bench`); its answer is recorded in history all the same.
const { trustSettings } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 9 },
});

/**
 * The worker's trust settings (from the worker running this workflow task). Fails closed: any failure ends
 * the run as failed in preflight, before anything changed, rather than letting unsigned votes count.
 */
export async function loadTrust(): Promise<TrustSettings> {
  return await trustSettings();
}
