// A signed human decision (approve, reject, lift, ...): the payload a person signs with their SSH key
// (client/signing.ts) and a workflow verifies (runbook/sshsig.ts). The signature covers
// canonicalDecision(d), never the JSON as it was sent; checkDecision then refuses a decision meant for
// another action or workflow, a stale or future-dated one, and a replayed nonce. Pure: usable in workflows.

/** The SSH signature namespace of every Rearguard decision (`ssh-keygen -Y sign -n rearguard`). */
export const DECISION_NAMESPACE = 'rearguard';

export interface SignedDecision {
  /** What is decided, e.g. "approve" (the Update's name). */
  action: string;
  /** The workflow the decision is for: a signature for one rollback cannot approve another. */
  workflowId: string;
  /** Who decides: the principal their key is listed under in allowed_signers. */
  actor: string;
  reason: string;
  /** When it was signed: ISO 8601 with its zone, e.g. 2026-11-29T08:00:00.000Z. */
  at: string;
  /** Unique per decision (a UUID): a workflow accepts each nonce once. */
  nonce: string;
  extra?: Record<string, string>;
}

const FIELDS = ['action', 'workflowId', 'actor', 'reason', 'at', 'nonce'] as const;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** `{"k":v,...}` with keys sorted by UTF-16 code units; values already JSON. */
function jsonObject(entries: [string, string][]): string {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${sorted.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

/**
 * The exact text that is signed: JSON with keys sorted (by UTF-16 code units, at every level) and no
 * whitespace, `extra` only when present. Throws an Error naming the field when d is not a SignedDecision
 * (a non-string field, an unknown key), so an unsigned field can never ride along.
 */
export function canonicalDecision(d: SignedDecision): string {
  if (typeof d !== 'object' || d === null) throw new Error('a decision must be an object');
  const known = new Set<string>([...FIELDS, 'extra']);
  const unknown = Object.keys(d).filter((k) => !known.has(k));
  if (unknown.length) throw new Error(`decision: unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')} (only ${[...known].join(', ')})`);
  const entries: [string, string][] = FIELDS.map((f) => {
    if (typeof d[f] !== 'string') throw new Error(`decision.${f}: expected a string, got ${d[f] === null ? 'null' : typeof d[f]}`);
    return [f, JSON.stringify(d[f])];
  });
  if (d.extra !== undefined) {
    if (typeof d.extra !== 'object' || d.extra === null || Array.isArray(d.extra)) throw new Error('decision.extra: expected an object of strings');
    const extra = Object.entries(d.extra).map(([k, v]): [string, string] => {
      if (typeof v !== 'string') throw new Error(`decision.extra.${k}: expected a string, got ${typeof v}`);
      return [k, JSON.stringify(v)];
    });
    entries.push(['extra', jsonObject(extra)]);
  }
  return jsonObject(entries);
}

export interface DecisionExpectations {
  expectedAction: string;
  expectedWorkflowId: string;
  /** The time to judge freshness at (workflow time inside a workflow). */
  nowMs: number;
  /** How old `at` may be. */
  maxAgeMs: number;
  /** Nonces already accepted by this workflow. */
  seenNonces: ReadonlySet<string> | readonly string[];
  /** How far `at` may be ahead of nowMs (clock skew between the signer and Temporal); default 5 minutes. */
  maxSkewMs?: number;
}

export type DecisionCheck = { ok: true; atMs: number } | { ok: false; reason: string };

/** Whether a (signature-verified) decision applies here and now: action, workflow, freshness, replay. */
export function checkDecision(d: SignedDecision, o: DecisionExpectations): DecisionCheck {
  const fail = (reason: string): DecisionCheck => ({ ok: false, reason });
  if (d.action !== o.expectedAction) return fail(`the decision is signed for action "${d.action}", not "${o.expectedAction}"`);
  if (d.workflowId !== o.expectedWorkflowId) return fail(`the decision is signed for workflow "${d.workflowId}", not "${o.expectedWorkflowId}"`);
  if (typeof d.actor !== 'string' || d.actor.trim() === '') return fail('the decision names no actor');
  if (typeof d.nonce !== 'string' || d.nonce.trim() === '') return fail('the decision has no nonce');
  const atMs = typeof d.at === 'string' && INSTANT.test(d.at) ? Date.parse(d.at) : NaN;
  if (!Number.isFinite(atMs)) return fail(`the decision's time "${d.at}" is not an ISO 8601 time with its zone, e.g. 2026-11-29T08:00:00Z`);
  const skew = o.maxSkewMs ?? 5 * 60_000;
  if (atMs - o.nowMs > skew) {
    return fail(`the decision is dated ${d.at}, ${Math.round((atMs - o.nowMs) / 1000)}s in the future (more than ${Math.round(skew / 1000)}s of clock skew)`);
  }
  if (o.nowMs - atMs > o.maxAgeMs) {
    return fail(`the decision was signed at ${d.at}, ${Math.round((o.nowMs - atMs) / 1000)}s ago: older than ${Math.round(o.maxAgeMs / 1000)}s, sign it again`);
  }
  const seen = Array.isArray(o.seenNonces) ? o.seenNonces.includes(d.nonce) : (o.seenNonces as ReadonlySet<string>).has(d.nonce);
  if (seen) return fail(`nonce ${d.nonce} was already used: a signed decision counts once (replay refused)`);
  return { ok: true, atMs };
}

// --- delegates ----------------------------------------------------------------------------------
// `rearguard serve` decides for people its OIDC provider authenticated: it signs their decisions with its own
// key, listed in allowed_signers under a `delegate:` principal (README, "Signed decisions"). Such a decision
// names the person as its actor, and in `extra` who vouched for them: oidcIssuer, oidcSubject (the token's
// sub) and delegate (the principal of the key that signed). The same rule admits it in a workflow
// (workflows/kit/decisions.ts) and in `rearguard audit verify` (api/audit-chain.ts).

/** allowed_signers principals of delegates start with this, e.g. `delegate:rearguard-serve`. */
export const DELEGATE_PREFIX = 'delegate:';

export const isDelegatePrincipal = (principal: string): boolean => principal.startsWith(DELEGATE_PREFIX);
/** A delegate's principal as `rearguard serve` takes it: `delegate:` and a name (no allowed_signers patterns). */
export const DELEGATE_PRINCIPAL = /^delegate:[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$/;
/** The principal `rearguard serve` signs as unless configured (--delegate, REARGUARD_SERVE_PRINCIPAL). */
export const DEFAULT_DELEGATE_PRINCIPAL = 'delegate:rearguard-serve';

/** Why a decision signed by the key of delegate `principal` cannot count, or undefined when it may. */
export function delegateProblem(d: SignedDecision, principal: string): string | undefined {
  const e = d.extra ?? {};
  const named = (v: string | undefined): boolean => typeof v === 'string' && v.trim() !== '';
  if (!named(e.oidcSubject) || !named(e.oidcIssuer))
    return `signed by delegate ${principal} for ${d.actor}, but the decision names no OIDC subject and issuer (extra.oidcSubject, extra.oidcIssuer): a delegate signs only for a person its OIDC provider authenticated`;
  if (e.delegate !== principal)
    return `signed by the key of ${principal}, but the decision names delegate ${JSON.stringify(e.delegate ?? '(none)')} (extra.delegate)`;
  if (isDelegatePrincipal(d.actor)) return `the decision's actor ${d.actor} is a delegate: a delegate signs for people, it does not decide`;
  return undefined;
}

/**
 * The `extra` of a signed rollback trigger: the runbook, its catalog digest (as the signer saw it), the trigger's
 * source and explicit target. The CLI signs these and the rollback workflow checks them, so a captured trigger
 * cannot be replayed as another source or with another revision.
 */
export function triggerExtra(
  runbook: string,
  digest: string | undefined,
  t: { source: string; explicitTarget?: { step: string; toRevision: number } },
): Record<string, string> {
  return {
    runbook,
    ...(digest ? { digest } : {}),
    source: t.source,
    ...(t.explicitTarget ? { toRevision: String(t.explicitTarget.toRevision), step: t.explicitTarget.step } : {}),
  };
}
