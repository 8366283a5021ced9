// Who may pause and resume an SLO guard (README "Signed decisions", "Policy: permissions"): the worker's trust
// settings, which every run of the guard loads at its start (kit/decisions.ts loadTrust, so they are in its
// history), and the nonces of the signed decisions it admitted. A guard runs for months: loading them again at
// each continue-as-new lets a changed allowed_signers or policy apply from the next run; the settings carried
// from the run before bridge the moment before they are loaded, and stand in if loading fails.
import { isCancellation } from '@temporalio/workflow';
import type { TrustSettings } from '../../activities/index.js';
import type { GuardDecision } from '../../api/messages.js';
import { mayAct } from '../../runbook/permissions.js';
import type { SloGuardInput } from '../../runbook/slo-guard.js';
import { errorMessage } from '../kit/index.js';
import { DECISION_MAX_AGE_MS, DEVELOPMENT_TRUST, judgeDecision, loadTrust, type VerifiedDecision } from '../kit/decisions.js';

/** How far ahead of workflow time a decision may be dated (runbook/decision.ts checkDecision's default skew). */
const MAX_SKEW_MS = 5 * 60_000;
/** Past this, a decision admitted then is stale wherever it is replayed: its nonce need not be kept. */
export const NONCE_TTL_MS = DECISION_MAX_AGE_MS + MAX_SKEW_MS;

type Carried = NonNullable<SloGuardInput['carried']>;

export class GuardDecisions {
  /** Undefined until loaded in a run that carried none: every decision is refused until then. */
  private trust: TrustSettings | undefined;
  /** Why the settings could not be loaded, when nothing stands in for them. */
  private problem: string | undefined;
  /** A guard started before signed decisions: it judges as it always did, and hands nothing on. */
  private unsigned = false;
  /** Nonce -> when it was admitted (workflow time). */
  private readonly nonces: Map<string, number>;

  constructor(
    private readonly workflowId: string,
    private readonly environment: string,
    carried?: Carried,
  ) {
    this.trust = carried?.trust as TrustSettings | undefined;
    this.nonces = new Map((carried?.nonces ?? []).map((n) => [n.nonce, n.admittedMs]));
  }

  /** Runs started before signed decisions (not patched): unsigned pauses count, as they did when recorded. */
  legacy(): void {
    this.trust = DEVELOPMENT_TRUST;
    this.unsigned = true;
  }

  /** Loads the worker's settings; when it cannot, says so (for the audit trail) and keeps what it has. */
  async load(): Promise<string | undefined> {
    try {
      this.trust = await loadTrust();
      return undefined;
    } catch (err) {
      if (isCancellation(err)) throw err;
      const why = `could not load the worker's trust settings (signed decisions): ${errorMessage(err)}`;
      if (this.trust) return `${why}; pause and resume are judged by the settings of the guard's previous run`;
      // Fail closed for decisions only: the guard keeps guarding, nobody can pause it unverified.
      this.problem = why;
      return `${why}; pause and resume are refused until a later run of the guard loads them`;
    }
  }

  /**
   * Throws why `req` may not make this decision (the policy's `guards` for the guard's environment, then the
   * signature, kit/decisions.ts); returns the verified decision of a signed one. Pure at workflow time, so the
   * validator and the handler agree.
   */
  judge(action: string, req: GuardDecision): VerifiedDecision | undefined {
    const { trust } = this;
    if (!trust) throw new Error(this.problem ?? "the guard is starting: the worker's trust settings are not loaded yet; try again in a moment");
    if (trust.permissions) {
      const may = mayAct(trust.permissions, this.environment, 'guards', req.actor);
      if (!may.ok) throw new Error(`refused by the worker's policy: ${may.reason}`);
    }
    const { actor, reason, signed } = req;
    return judgeDecision(trust, { action, workflowId: this.workflowId, actor, reason, signed }, Date.now(), new Set(this.nonces.keys()));
  }

  /** The handler's judgement (the validator's again); the nonce of a signed decision is used up here. */
  admit(action: string, req: GuardDecision): VerifiedDecision | undefined {
    const verified = this.judge(action, req);
    if (verified) this.nonces.set(verified.decision.nonce, Date.now());
    return verified;
  }

  /** What the next run starts from: these settings and the nonces a replayed decision could still use. */
  carry(): Pick<Carried, 'trust' | 'nonces'> {
    if (this.unsigned) return {};
    const now = Date.now();
    const nonces = [...this.nonces].filter(([, admittedMs]) => now - admittedMs <= NONCE_TTL_MS).map(([nonce, admittedMs]) => ({ nonce, admittedMs }));
    return { ...(this.trust ? { trust: this.trust } : {}), nonces };
  }
}
