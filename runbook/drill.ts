// Rollback drills (issue 6, section 4): the shapes that cross the workflow boundary and the pure rules
// that both the CLI (to refuse early, exit 2) and the drill workflow (to refuse durably) apply.
import type { CatalogRef } from './catalog.js';
import type { Runbook, Step } from './schema.js';
import type { Outcome, Target } from './types.js';

/** The pod-template annotation that marks a drill's deliberately bad revision. */
export const DRILL_MARKER = 'rearguard.io/drill';
/** The tag the bad revision's first container runs (kwok makes its pods Ready whatever the image is). */
export const DRILL_BAD_TAG = 'rearguard-drill-bad';

export interface DrillInput {
  runbook: Runbook;
  /** Who runs the drill (a person, or `schedule:<schedule id>`); the rollback's trigger actor. */
  actor: string;
  /** Allows environments other than staging and runbooks that require approval. */
  forced?: boolean;
  /** Why it was forced (required with `--force`: a person's decision, kept in the audit trail). */
  reason?: string;
  /**
   * With `forced`: the decision signed by `actor` (api/messages.ts SignedEnvelope: action drill.force, this
   * drill's workflow ID, the reason), judged by the drill at its start with the policy's `drills` permission.
   */
  signed?: { payload: string; signature: string };
  /** Distinguishes this drill's rollback trigger (defaults to the drill's workflow ID). */
  requestId?: string;
  /**
   * A catalog runbook (`drill run|schedule --runbook NAME`): the drill loads it on the worker at its start and
   * the client's copy is not sent (api/drills.ts drillArgs). Schedules name it without a digest, so each drill
   * runs the catalog's reviewed version of its day.
   */
  catalog?: CatalogRef;
}

/** What a drill workflow is started with: a runbook, or (from a catalog) only its name. */
export type DrillStart = DrillInput | (Omit<DrillInput, 'runbook'> & { catalog: CatalogRef; runbook?: undefined });

export type KubernetesStep = Extract<Step, { type: 'kubernetes' }>;

/** What the drill needs to break: the runbook's first `kubernetes` step. */
export function drillStep(runbook: Runbook): KubernetesStep | undefined {
  return runbook.spec.steps.find((s): s is KubernetesStep => s.type === 'kubernetes');
}

/** Why this runbook cannot be drilled as asked, or undefined. The first reason wins. */
export function drillRefusal(runbook: Runbook, forced: boolean): string | undefined {
  const { environment } = runbook.spec;
  if (environment !== 'staging' && !forced)
    return `runbook ${runbook.metadata.name} targets environment ${environment}: drills run in staging only (use --force to drill ${environment} anyway)`;
  if (runbook.spec.approval?.required && !forced)
    return `runbook ${runbook.metadata.name} requires approval: a drill does not wait for people, so it is refused (use --force to drill it anyway; approvers then approve the drill's rollback as usual, and the wait counts in the restore time)`;
  if (!drillStep(runbook))
    return `runbook ${runbook.metadata.name} has no kubernetes step: a drill deploys a marked bad revision of the Deployment of the first kubernetes step, then rolls it back`;
  return undefined;
}

/** The drill's bad image: the same repository with the drill tag (a digest or tag is replaced). */
export function badImage(image: string): string {
  const noDigest = image.split('@')[0];
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const repo = colon > slash ? noDigest.slice(0, colon) : noDigest;
  return `${repo}:${DRILL_BAD_TAG}`;
}

/** The marked bad revision the drill deployed (recorded once; a retry finds it by its marker). */
export interface DrillRevision {
  cluster: string;
  namespace: string;
  deployment: string;
  marker: string;
  /** The revision that was current before the drill, which the rollback must return to. */
  goodRevision: number;
  goodReplicaSet: string;
  goodImages: string[];
  badRevision: number;
  badImages: string[];
  /** False when a retry found the marked revision already deployed. */
  created: boolean;
}

/** The Deployment as the drill sees it after the rollback. */
export interface DrillInspection {
  revision?: number;
  images: string[];
  /** The drill marker still on the pod template, if any. */
  marker?: string;
  rolloutDone: boolean;
}

export type DrillPhase = 'refused' | 'deploying-bad-revision' | 'rolling-back' | 'checking' | 'done';
export type DrillVerdict = 'met' | 'missed' | 'failed';

export interface DrillReport {
  workflowId: string;
  runbook: string;
  target: Target;
  actor: string;
  forced: boolean;
  phase: DrillPhase;
  startedAt: string;
  endedAt?: string;
  sla: string;
  slaSeconds: number;
  step?: string;
  revision?: DrillRevision;
  rollback?: { workflowId: string; outcome?: Outcome; startedAt?: string; endedAt?: string; failure?: string; slaBreached?: boolean };
  /** Trigger to verified, as the rollback measured it (its startedAt to endedAt); absent if it did not succeed. */
  restoreSeconds?: number;
  /** Restored within the SLA: the rollback succeeded, did not breach, and restoreSeconds <= slaSeconds. */
  slaMet?: boolean;
  /** The Deployment no longer carries the drill's marker (it is back on a template without it). */
  restored?: boolean;
  after?: DrillInspection;
  /** The drill put the good template back itself because the rollback did not. */
  cleanedUp?: boolean;
  verdict?: DrillVerdict;
  error?: string;
}

/** met: restored within the SLA; missed: restored, but late; failed: not restored by the rollback. */
export function drillVerdict(r: Pick<DrillReport, 'rollback' | 'restored' | 'restoreSeconds' | 'slaSeconds'>): {
  verdict: DrillVerdict;
  slaMet: boolean;
} {
  if (r.rollback?.outcome !== 'succeeded' || !r.restored || r.restoreSeconds === undefined) return { verdict: 'failed', slaMet: false };
  const slaMet = !r.rollback.slaBreached && r.restoreSeconds <= r.slaSeconds;
  return { verdict: slaMet ? 'met' : 'missed', slaMet };
}
