// Plans: what a planned step (kubernetes, blueGreen, helm, gitops, terraform) will change, resolved once by
// the planStep activity and recorded in workflow history, so every retry of the step, on any worker, aims at
// exactly that target. Tagged by `kind` (the step type that made it) so that readers switch on the tag
// instead of guessing the mechanism from which keys a plan happens to have.

/**
 * What an earlier rollback restored, as recorded on the target itself (a Deployment annotation, an
 * annotation on the Helm release revision's storage object, trailers of the rollback commit).
 */
export interface RestoreRecord {
  /** The target's state Rearguard produced: the Deployment or Helm revision, or the rollback commit. */
  revision: number | string;
  /** What that state is, in words: `revision 2`, `commit 0123456789ab`. */
  restoredTo: string;
  /** The workflow that made it. */
  by: string;
  runId?: string;
  /** When it was recorded (ISO 8601). */
  at: string;
  /** Where and what: `deployment shop/api revision 4 (api=api:1.25)`. */
  detail: string;
}

/** `kubectl rollout undo` of a Deployment (activities/kubernetes/rollout.ts). */
export interface RolloutPlan {
  kind: 'kubernetes';
  cluster: string;
  namespace: string;
  deployment: string;
  fromRevision: number;
  toRevision: number;
  fromImages: string[];
  toImages: string[];
  /** The target, by name: after the rollback it carries a new revision number, the name stays. */
  replicaSet: string;
  /** kubectl's "skipped rollback (current template already matches revision N)". */
  alreadyAtTarget: boolean;
  /**
   * Set when the target is relative (`previous`) and the Deployment is still at the revision an earlier
   * rollback produced (runbook/repeat.ts): the plan then targets the current state, and the workflow stops.
   */
  alreadyRestored?: RestoreRecord;
}

/** A Service's selector switched to another track (activities/kubernetes/blue-green.ts). */
export interface BlueGreenPlan {
  kind: 'blueGreen';
  cluster: string;
  namespace: string;
  service: string;
  fromSelector: Record<string, string>;
  toSelector: Record<string, string>;
  /** Deployments whose pods the new selector picks. */
  deployments: string[];
  alreadyAtTarget: boolean;
}

/** `helm rollback` to a revision resolved from `helm history` (activities/helm.ts). */
export interface HelmPlan {
  kind: 'helm';
  cluster: string;
  namespace: string;
  release: string;
  fromRevision: number;
  toRevision: number;
  fromChart: string;
  toChart: string;
  fromAppVersion?: string;
  toAppVersion?: string;
  /**
   * Set when the target is relative (`previous`) and the current revision is one an earlier rollback made
   * (runbook/repeat.ts): the plan then targets the current revision, and the workflow stops.
   */
  alreadyRestored?: RestoreRecord;
}

/** A revert (or restore) commit on a config repository's branch (activities/gitops.ts). */
export interface GitopsPlan {
  kind: 'gitops';
  repo: string;
  branch: string;
  /** Branch tip when planned. */
  headBefore: string;
  mode: 'revert' | 'restore';
  /** revert: the commits to revert, newest first; restore: the commit whose tree is restored. */
  commits: string[];
  subjects: string[];
  /**
   * Set when a ref is relative (not a full commit id: `HEAD`, `HEAD~1`, a branch or tag) and the branch head
   * is a rollback commit Rearguard made (runbook/repeat.ts): nothing is committed, the workflow stops.
   */
  alreadyRestored?: RestoreRecord;
}

/** A saved `terraform plan` of the configuration at `toRef` (activities/terraform.ts). */
export interface TerraformPlan {
  kind: 'terraform';
  repo: string;
  toRef: string;
  commit: string;
  workingDir: string;
  add: number;
  change: number;
  destroy: number;
  /** Resource addresses that change, with their action (at most 50). */
  changes: string[];
  /** Where the saved plan lives on the worker that made it, and its digest. */
  workspace: string;
  planSha256: string;
}

export type Plan = RolloutPlan | BlueGreenPlan | HelmPlan | GitopsPlan | TerraformPlan;
export type PlanKind = Plan['kind'];

/** The repeat rule's finding on a plan, whatever its kind (only some mechanisms can find one). */
export const restoredBy = (plan: Plan | undefined): RestoreRecord | undefined => (plan && 'alreadyRestored' in plan ? plan.alreadyRestored : undefined);

/**
 * The kind of a plan. Runs that planned before plans carried `kind` hold untagged plans in their history and
 * still replay (and are described) here, so an untagged plan's kind is read from its keys, as it used to be.
 */
export function planKind(plan: Record<string, unknown>): PlanKind | undefined {
  if (typeof plan.kind === 'string') return plan.kind as PlanKind;
  if ('headBefore' in plan) return 'gitops';
  if ('workingDir' in plan) return 'terraform';
  if ('release' in plan) return 'helm';
  if ('toRevision' in plan) return 'kubernetes';
  if ('toSelector' in plan) return 'blueGreen';
  return undefined;
}

/** One line for the audit trail and the plan-approval request: what a planned step is about to change. */
export function describePlan(plan: Plan | Record<string, unknown>): string {
  const p = plan as Record<string, unknown>;
  if (p.alreadyRestored) {
    const r = p.alreadyRestored as RestoreRecord;
    return `${r.detail}: already restored by ${r.by} at ${r.at}; a relative target would move past it, so nothing changes (name a revision explicitly to go further)`;
  }
  // Fields are read loosely (String(...)): a plan recorded by an older worker may lack some of them.
  const atTarget = p.alreadyAtTarget ? ', already at target' : '';
  switch (planKind(p)) {
    case 'gitops': {
      const commits = (p.commits as string[]).map((c, i) => `${c.slice(0, 12)} "${(p.subjects as string[])[i]}"`).join(', ');
      const change = p.mode === 'revert' ? `revert ${commits}` : `restore the tree of ${commits}`;
      return `git ${String(p.repo)}@${String(p.branch)}: ${change} as a new commit on ${String(p.headBefore).slice(0, 12)}`;
    }
    case 'terraform':
      return `terraform ${String(p.repo)}/${String(p.workingDir)} at ${String(p.toRef)} (${String(p.commit).slice(0, 12)}): ${String(p.add)} to add, ${String(p.change)} to change, ${String(p.destroy)} to destroy`;
    case 'helm':
      return `helm release ${String(p.namespace)}/${String(p.release)}: revision ${String(p.fromRevision)} (${String(p.fromChart)}) -> revision ${String(p.toRevision)} (${String(p.toChart)})`;
    case 'kubernetes': {
      const images = (v: unknown) => (Array.isArray(v) ? v.join(', ') : '');
      return `deployment ${String(p.namespace)}/${String(p.deployment)}: revision ${String(p.fromRevision)} (${images(p.fromImages)}) -> revision ${String(p.toRevision)} (${images(p.toImages)})${atTarget}`;
    }
    case 'blueGreen': {
      const labels = (v: unknown) =>
        Object.entries((v ?? {}) as Record<string, string>)
          .map(([k, x]) => `${k}=${x}`)
          .join(',');
      return `service ${String(p.namespace)}/${String(p.service)}: selector ${labels(p.fromSelector)} -> ${labels(p.toSelector)}${atTarget}`;
    }
    default:
      return JSON.stringify(plan);
  }
}
