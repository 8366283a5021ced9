// The repeat rule: a trigger never moves a target past a state that Rearguard itself restored, unless a
// person names the target explicitly. Alertmanager re-sends firing alerts, the SLO guard fires again after
// its cooldown, a second person runs the same command: each would otherwise resolve `previous` (or git's
// `HEAD`) afresh, land on the bad version, and deploy it back. The memory lives on the target (see
// activities/kubernetes/restored.ts, activities/helm.ts, activities/gitops.ts); this file holds the pure
// parts the workflow and the activities share. Deterministic: imported by workflows.
import type { Step } from './schema.js';
import type { ExplicitTarget } from './types.js';
import { type RestoreRecord } from './plan.js';

/** Step types whose target `rollback start --to-revision N` can set. */
export const EXPLICIT_TARGET_TYPES: readonly Step['type'][] = ['kubernetes', 'helm'];

/** A full commit id (SHA-1 or SHA-256). Anything else (`HEAD`, `HEAD~1`, a branch, a tag, a short id) is relative. */
export const isFullCommitId = (ref: string): boolean => /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(ref);

/**
 * Whether the step's target is resolved relative to the target's current state, so that a repeated trigger
 * would resolve it differently: `toRevision: previous` (kubernetes, helm), git refs that are not full commit
 * ids (gitops). Explicit targets (a revision number, a full commit id, a blueGreen selector, a terraform ref,
 * a webhook) are idempotent already.
 */
export function hasRelativeTarget(step: Step): boolean {
  if (step.type === 'kubernetes' || step.type === 'helm') return step.toRevision === 'previous';
  if (step.type === 'gitops') {
    const r = step.revert;
    const refs = r.toRef !== undefined ? [r.toRef] : (r.commits ?? (r.commit !== undefined ? [r.commit] : []));
    return refs.some((ref) => !isFullCommitId(ref));
  }
  return false;
}

/** The step as this run executes it: an explicit target replaces the named step's `toRevision`. */
export function withExplicitTarget(step: Step, explicit: ExplicitTarget | undefined): Step {
  if (!explicit || explicit.step !== (step.name ?? step.type)) return step;
  if (step.type === 'kubernetes' || step.type === 'helm') return { ...step, toRevision: explicit.toRevision };
  return step;
}

/** Why an explicit target cannot apply to this runbook's steps, or undefined when it can. */
export function explicitTargetProblem(steps: Step[], explicit: ExplicitTarget): string | undefined {
  const eligible = steps.filter((s) => EXPLICIT_TARGET_TYPES.includes(s.type)).map((s) => s.name ?? s.type);
  const named = steps.find((s) => (s.name ?? s.type) === explicit.step);
  if (!named) return `the runbook has no step ${explicit.step} (kubernetes and helm steps: ${eligible.join(', ') || 'none'})`;
  if (!EXPLICIT_TARGET_TYPES.includes(named.type))
    return `step ${explicit.step} is a ${named.type} step; only kubernetes and helm steps take a revision (${eligible.join(', ') || 'none'})`;
  if (!Number.isSafeInteger(explicit.toRevision) || explicit.toRevision < 1) return `expected a positive revision number, got ${explicit.toRevision}`;
  return undefined;
}

/**
 * `rollback start --to-revision N [--step NAME]`: the step the revision is for. Without --step the runbook
 * must have exactly one kubernetes or helm step; with several, --step names one.
 */
export function resolveExplicitTarget(steps: Step[], toRevision: number, step?: string): { ok: true; target: ExplicitTarget } | { ok: false; message: string } {
  const eligible = steps.filter((s) => EXPLICIT_TARGET_TYPES.includes(s.type)).map((s) => s.name ?? s.type);
  let name = step;
  if (name === undefined) {
    if (eligible.length === 0) return { ok: false, message: '--to-revision: the runbook has no kubernetes or helm step to take a revision' };
    if (eligible.length > 1)
      return { ok: false, message: `--to-revision: the runbook has several kubernetes/helm steps (${eligible.join(', ')}): name one with --step` };
    name = eligible[0];
  }
  const target = { step: name, toRevision };
  const problem = explicitTargetProblem(steps, target);
  return problem ? { ok: false, message: `${step === undefined ? '--to-revision' : '--step'}: ${problem}` } : { ok: true, target };
}

/** What the audit trail and the escalation targets are told. */
export function alreadyRestoredMessage(r: RestoreRecord): string {
  return `already rolled back to ${r.restoredTo} by ${r.by} at ${r.at}; the condition persists`;
}

/** The annotation (Deployment; Helm release storage object) holding a RestoreRecord as JSON. */
export const RESTORED_ANNOTATION = 'rearguard.io/restored';

/** Reads a RestoreRecord written by Rearguard; anything else (missing, edited by hand, malformed) is no record. */
export function parseRestoreRecord(text: string | undefined): (RestoreRecord & Record<string, unknown>) | undefined {
  if (!text) return undefined;
  try {
    const r = JSON.parse(text) as Record<string, unknown>;
    if ((typeof r.revision !== 'number' && typeof r.revision !== 'string') || typeof r.by !== 'string' || typeof r.at !== 'string') return undefined;
    return { restoredTo: '', detail: '', ...r } as RestoreRecord & Record<string, unknown>;
  } catch {
    return undefined;
  }
}
