// Who may do what, per environment: the Policy's `spec.environments` rules (runbook/policy.ts). Pure, so the
// worker, the workflows and the CLI reach the same answer. Rules fail closed: an environment no rule matches
// allows nothing, an action no matching rule names is allowed to nobody, and where several rules match, an
// actor must be allowed by every one of them that names the action (the strictest wins). For approvals the
// runbook and the policy combine the same way: only people both allow, and the larger quorum.
import { matchPattern } from './sshsig.js';
import type { EnvironmentRule, Policy } from './policy.js';

/** The part of a Policy these rules read (plain JSON: the worker hands it to a workflow at its start). */
export type PermissionRules = { metadata: Pick<Policy['metadata'], 'name'>; spec: Pick<Policy['spec'], 'groups' | 'environments'> };

/** A Policy's permission rules alone (what a workflow receives). */
export const permissionRules = (p: Policy): PermissionRules => ({
  metadata: { name: p.metadata.name },
  spec: { groups: p.spec.groups, environments: p.spec.environments },
});

export type PolicyAction = 'trigger' | 'cancel' | 'freeze' | 'exceptions' | 'unfreeze' | 'guards' | 'drills' | 'approve';

const VERB: Record<PolicyAction, string> = {
  trigger: 'start rollbacks',
  cancel: 'cancel rollbacks',
  freeze: 'start, extend or lift freezes',
  exceptions: 'approve or reject freeze exceptions',
  unfreeze: 'run gradual unfreezes',
  guards: 'pause or resume SLO guards',
  drills: 'force drills',
  approve: 'approve rollbacks',
};

export type Permission = { ok: true } | { ok: false; reason: string };

/** The rules that apply to an environment, in file order. */
export const rulesFor = (policy: PermissionRules, environment: string): EnvironmentRule[] =>
  policy.spec.environments.filter((r) => r.match.some((p) => matchPattern(environment, p)));

/** A rule's list for an action: names as written (people and group:NAME). */
function listed(rule: EnvironmentRule, action: PolicyAction): string[] | undefined {
  return action === 'approve' ? rule.approve?.by : rule[action];
}

/** The people a list names, groups expanded. */
export function expand(policy: PermissionRules, names: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const n of names) {
    if (n.startsWith('group:')) for (const m of policy.spec.groups[n.slice(6)] ?? []) out.add(m);
    else out.add(n);
  }
  return out;
}

const where = (r: EnvironmentRule) => `rule ${r.match.join(',')}`;

/** May `actor` do `action` in `environment`? The refusal says which rule refuses and whom it allows. */
export function mayAct(policy: PermissionRules, environment: string, action: PolicyAction, actor: string): Permission {
  const rules = rulesFor(policy, environment);
  const name = `policy ${policy.metadata.name}`;
  if (rules.length === 0) return { ok: false, reason: `${name} has no rule for environment ${environment}, so nothing is allowed there` };
  const naming = rules.filter((r) => listed(r, action) !== undefined);
  if (naming.length === 0) return { ok: false, reason: `${name} allows nobody to ${VERB[action]} in ${environment}` };
  for (const r of naming) {
    const allowed = listed(r, action)!;
    if (!expand(policy, allowed).has(actor))
      return { ok: false, reason: `${actor} may not ${VERB[action]} in ${environment} (${name}, ${where(r)}: ${allowed.join(', ')})` };
  }
  return { ok: true };
}

/** Every environment of a scope (a freeze over several): the first refusal, or ok. */
export function mayActInAll(policy: PermissionRules, environments: readonly string[], action: PolicyAction, actor: string): Permission {
  for (const e of environments) {
    const p = mayAct(policy, e, action, actor);
    if (!p.ok) return p;
  }
  return { ok: true };
}

export interface EffectiveApproval {
  required: boolean;
  approvers: string[];
  quorum: number;
  /** Why it cannot be met (fewer approvers than the quorum), refused when the rollback is triggered. */
  problem?: string;
}

/**
 * The approval a rollback in `environment` needs: the runbook's, made stricter by the policy. The policy's
 * rules that name `approve` make approval required; approvers are the people every such rule allows (and the
 * runbook too, when it lists any); the quorum is the largest asked for. A runbook cannot drop or weaken it.
 */
export function effectiveApproval(
  policy: PermissionRules,
  environment: string,
  runbook: { required: boolean; approvers: string[]; quorum: number } | undefined,
  /** Who triggered the rollback: they cannot approve it, so they do not count towards a reachable quorum. */
  trigger?: string,
): EffectiveApproval {
  const fromRunbook = runbook?.required ? runbook : undefined;
  const rules = rulesFor(policy, environment).filter((r) => r.approve);
  if (rules.length === 0)
    return fromRunbook ? { required: true, approvers: [...fromRunbook.approvers], quorum: fromRunbook.quorum } : { required: false, approvers: [], quorum: 1 };
  let people: string[] | undefined = fromRunbook && fromRunbook.approvers.length > 0 ? [...fromRunbook.approvers] : undefined;
  let quorum = fromRunbook?.quorum ?? 1;
  for (const r of rules) {
    const allowed = expand(policy, r.approve!.by);
    people = people ? people.filter((p) => allowed.has(p)) : [...allowed].sort();
    quorum = Math.max(quorum, r.approve!.quorum);
  }
  const approvers = people ?? [];
  const out: EffectiveApproval = { required: true, approvers, quorum };
  const possible = approvers.filter((a) => a !== trigger);
  if (possible.length < quorum)
    out.problem = `approval in ${environment} needs ${quorum} approver(s), but only ${possible.length} are allowed by both the runbook and policy ${policy.metadata.name}${possible.length ? ` (${possible.join(', ')})` : ''}${trigger && approvers.includes(trigger) ? `, not counting ${trigger}, who triggered it` : ''}`;
  return out;
}
