// The signed decisions of a freeze or a gradual unfreeze (README "Signed decisions", "Policy: permissions"),
// kept as the rollback keeps its votes (workflows/rollback/state.ts): each person's decision is judged in its
// Update's validator and again in the handler (kit/decisions.ts judgeDecision: signature, action, workflow,
// freshness, nonce), the handler records the nonce, and the worker's policy says who may take it
// (runbook/permissions.ts). Both workflows run for months and continue as new, so the book goes on to the next
// run: the trust settings the chain started with (a freeze keeps the rules it was started under; a worker's new
// settings apply to the freezes started after them, as for rollbacks), and the nonces still fresh enough to be
// replayed (older ones are refused as stale anyway, so the carried set stays small).
import { isCancellation, workflowInfo } from '@temporalio/workflow';
import type { TrustSettings } from '../../activities/index.js';
import type { SignedEnvelope } from '../../api/messages.js';
import type { CarriedDecisions } from '../../runbook/freeze.js';
import { mayActInAll, type PermissionRules, type PolicyAction } from '../../runbook/permissions.js';
import { DECISION_MAX_AGE_MS, DEVELOPMENT_TRUST, judgeDecision, loadTrust, type VerifiedDecision } from '../kit/decisions.js';
import { errorMessage } from '../kit/index.js';

/** How far ahead of workflow time a decision may be dated (runbook/decision.ts checkDecision's default skew). */
const DECISION_SKEW_MS = 5 * 60_000;

/** A person's decision as an Update (or a workflow's input) carries it. */
export interface Decision {
  actor: string;
  reason: string;
  signed?: SignedEnvelope;
}

/**
 * The environments a decision over `environments` needs permission in: `*` (every environment) also needs
 * every environment the policy has a rule for, so a freeze of everything needs the strictest rule's permission.
 */
export function permissionScope(rules: PermissionRules, environments: readonly string[]): string[] {
  if (!environments.includes('*')) return [...environments];
  return [...new Set([...environments, ...rules.spec.environments.flatMap((r) => r.match)])];
}

/** The audit fields of an admitted decision: details.decision (api/audit-chain.ts verifies it with the signature). */
export const decisionDetails = (v: VerifiedDecision | undefined): { decision?: VerifiedDecision['decision'] } => (v ? { decision: v.decision } : {});

export class DecisionBook {
  /** Who may sign, and the policy; the development default until loaded, and for runs from before signed decisions. */
  private trust: TrustSettings;
  /** Nonces of admitted decisions, and when each was signed (ms). */
  private readonly nonces: Map<string, number>;
  /** Signed decisions name the chain of runs (its first run: continue-as-new keeps it), so a freeze of the same name started later cannot take them. */
  private readonly firstRun = workflowInfo().firstExecutionRunId;
  /** Why the trust settings could not be loaded: every decision is refused (fails closed). */
  private unavailable: string | undefined;
  /** The settings were loaded by this chain (not the development default of a run from before signed decisions). */
  private loaded: boolean;

  constructor(
    private readonly workflowId: string,
    /** "freeze black-friday", "the unfreeze": how refusals name the workflow. */
    private readonly what: string,
    carried: CarriedDecisions | undefined,
    /** The trust settings are still to be loaded (load()): until then every decision is refused, none counts unjudged. */
    public pending: boolean,
  ) {
    this.trust = (carried?.trust as TrustSettings | undefined) ?? DEVELOPMENT_TRUST;
    this.loaded = carried !== undefined;
    this.nonces = new Map(carried?.nonces ?? []);
  }

  /** The worker's trust settings, in history before any decision counts. A failure refuses every decision (fails closed). */
  async load(): Promise<void> {
    try {
      this.trust = await loadTrust();
      this.loaded = true;
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.unavailable = errorMessage(err);
    } finally {
      this.pending = false;
    }
  }

  /** Why no decision can be judged now, or undefined. */
  problem(): string | undefined {
    if (this.pending) return `${this.what} is still loading the worker's trust settings (signed decisions): try again in a moment`;
    if (this.unavailable) return `${this.what} could not load the worker's trust settings (signed decisions), so it takes no decisions: ${this.unavailable}`;
    return undefined;
  }

  /**
   * Judges a decision at workflow time (pure: the validator refuses with it, the handler admits with it): the
   * verified decision, undefined for an unsigned one this worker accepts; throws why it is refused. `bound`:
   * the decision names the chain's first run (extra.firstRun); a start cannot, as the run does not exist yet.
   */
  judge(action: string, d: Decision, extra: Record<string, string> = {}, bound = true): VerifiedDecision | undefined {
    const problem = this.problem();
    if (problem) throw new Error(problem);
    return judgeDecision(
      this.trust,
      { action, workflowId: this.workflowId, actor: d.actor, reason: d.reason, signed: d.signed, extra: bound ? { firstRun: this.firstRun, ...extra } : extra },
      Date.now(),
      new Set(this.nonces.keys()),
    );
  }

  /** judge, then uses up the nonce (handlers only: validators change nothing). */
  admit(action: string, d: Decision, extra?: Record<string, string>, bound = true): VerifiedDecision | undefined {
    const verified = this.judge(action, d, extra, bound);
    if (verified) this.nonces.set(verified.decision.nonce, Date.parse(verified.decision.at));
    return verified;
  }

  /** Throws unless the worker's policy lets `actor` do `action` in every one of `environments` (no policy: not limited). */
  permit(action: PolicyAction, environments: readonly string[], actor: string): void {
    const rules = this.trust.permissions;
    if (!rules) return;
    const may = mayActInAll(rules, permissionScope(rules, environments), action, actor);
    if (!may.ok) throw new Error(`refused by the worker's policy: ${may.reason}`);
  }

  /**
   * What the next run carries: the settings and the nonces a replay could still use. Undefined when no settings
   * were loaded (they failed to load, or the run is from before signed decisions), so the next run loads them.
   */
  carry(): CarriedDecisions | undefined {
    if (!this.loaded) return undefined;
    const oldest = Date.now() - DECISION_MAX_AGE_MS - DECISION_SKEW_MS;
    return { trust: this.trust, nonces: [...this.nonces].filter(([, at]) => at >= oldest) };
  }
}
