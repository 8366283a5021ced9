// Gradual unfreeze: the shapes the gradualUnfreeze workflow, its activities and the CLI share, and the pure
// helpers around health gates (a per-environment copy of a check, a one-line description). Plain JSON only: all
// of this crosses the workflow boundary. Without zod (unfreeze.ts adds the `--gate` parser, which validates with
// the runbook schema): workflow code imports this, and every workflow a worker creates evaluates its imports again.
import { durationText } from './duration.js';
import type { CarriedDecisions } from './freeze.js';
import type { Check, NotifyTarget } from './schema.js';

/** Written in a gate's query or URL, replaced by the environment being soaked (`env="$environment"`). */
export const ENVIRONMENT_PLACEHOLDER = '$environment';

export interface UnfreezeInput {
  /** The freezeWindow workflow to open gradually, e.g. freeze:black-friday. */
  freezeId: string;
  /** Environments in the order they are opened (e.g. dev, staging, prod); each must be held by the freeze. */
  ladder: string[];
  /** How long each environment must stay healthy after it is opened, in milliseconds (e.g. 1_800_000 for 30m). */
  soak: number;
  /** How often the gates are evaluated during a soak, in milliseconds (default 30s; the CLI requires at least 1s). */
  interval?: number;
  /** Health gates, in the runbook's check format; `$environment` in a query or URL is replaced per environment. */
  gates: Check[];
  /** Wait for an approver before opening each environment after the first. */
  approveEach?: boolean;
  approvers?: string[];
  /** Told when a gate fails, an approval is needed, and when the unfreeze completes or is aborted. */
  notify?: NotifyTarget[];
  actor: string;
  reason: string;
  /** Continue as new past this many history events (default 5000; the server may suggest it earlier). */
  historyLimit?: number;
  /** The person's signed start decision (UNFREEZE_DECISIONS.start, extra: unfreezeStartExtra), judged before anything opens. */
  signed?: { payload: string; signature: string };
  /** Carried over by continue-as-new (decisions: absent from runs started before signed decisions). */
  carried?: { status: UnfreezeStatus; auditSeq: number; decisions?: CarriedDecisions };
}

/** What a signed `unfreeze start` binds (SignedDecision.extra): the ladder it opens, in its order. */
export const unfreezeStartExtra = (input: Pick<UnfreezeInput, 'ladder'>): Record<string, string> => ({ ladder: input.ladder.join(',') });

/**
 * frozen: still held by the freeze (not reached yet); soaking: opened, gates evaluated until the soak ends;
 * healthy: soaked with every gate passing, stays open; failed: a gate failed, frozen again, waiting for
 * advance or abort; released: the ladder completed and the freeze was lifted (or it ended on its own).
 */
export type EnvironmentState = 'frozen' | 'soaking' | 'healthy' | 'failed' | 'released';

/**
 * failed: stopped by a failing gate, waiting for advance or abort; error: the unfreeze itself failed (see error);
 * refused: its start decision was refused (signature or policy), nothing was opened (see error).
 */
export type UnfreezePhase = 'starting' | 'awaiting-approval' | 'soaking' | 'failed' | 'completed' | 'aborted' | 'freeze-ended' | 'error' | 'refused';

export interface GateResult {
  gate: string;
  type: Check['type'];
  ok: boolean;
  /** Workflow time of the evaluation (ISO). */
  at: string;
  /** A short summary of what the check saw, or why it failed. */
  detail: string;
}

export interface EnvironmentStatus {
  environment: string;
  state: EnvironmentState;
  /** Times this environment was opened (a re-release after `advance` counts again). */
  attempts: number;
  releasedAt?: string;
  soakEndsAt?: string;
  /** Computed when the status is queried (workflow time): time left in the soak. */
  remainingMs?: number;
  healthyAt?: string;
  failedAt?: string;
  failure?: string;
  approvedBy?: { actor: string; reason: string; time: string };
  /** Gate evaluations during its soaks. */
  evaluations: number;
  lastGates: GateResult[];
}

export interface UnfreezeStatus {
  workflowId: string;
  freezeId: string;
  ladder: string[];
  /** The soak and interval as people write them (`30m`), for display. */
  soak: string;
  interval: string;
  gates: string[];
  approveEach: boolean;
  approvers: string[];
  actor: string;
  reason: string;
  phase: UnfreezePhase;
  /** Index in the ladder of the environment being worked on (ladder.length once completed). */
  current: number;
  currentEnvironment?: string;
  startedAt: string;
  endedAt?: string;
  environments: EnvironmentStatus[];
  /** The latest evaluation of the gates, whichever environment it was for. */
  lastGates: GateResult[];
  /** The latest advance or abort. */
  decisions: { action: 'advance' | 'abort' | 'approve'; actor: string; reason: string; environment?: string; time: string }[];
  /** Services the freeze covers (the audit target). */
  services?: string[];
  /** Environments the freeze holds that are not in the ladder: they open only when the freeze is lifted at the end. */
  outsideLadder?: string[];
  /** The start was judged and admitted (signature, policy): `unfreeze start` waits for it (or for `refused`). */
  admitted?: boolean;
  error?: string;
}

export interface UnfreezeDecision {
  actor: string;
  reason: string;
}

/** Result of releasing/refreezing an environment or lifting the freeze from an activity. */
export type FreezeControlResult =
  { ok: true; scope: string[]; released: string[]; already: boolean } | { ok: false; closed: true; phase: string; message: string };

/** The check for one environment: `$environment` in a Prometheus query or an http URL becomes its name. */
export function gateFor(check: Check, environment: string): Check {
  const sub = (s: string) => s.split(ENVIRONMENT_PLACEHOLDER).join(environment);
  if (check.type === 'prometheus') return { ...check, query: sub(check.query) };
  if (check.type === 'http') return { ...check, url: sub(check.url) };
  return check;
}

/** One line naming a gate: its name, else what it checks. */
export function describeGate(check: Check): string {
  if (check.name) return check.name;
  if (check.type === 'prometheus') {
    const limits = [check.below !== undefined ? `< ${check.below}` : '', check.above !== undefined ? `> ${check.above}` : ''].filter(Boolean).join(' and ');
    return `${check.query} ${limits}${check.for !== undefined ? ` for ${durationText(check.for)}` : ''}`;
  }
  // Without the query string: it may carry a token, and the gate's name is shown and audited.
  if (check.type === 'http') return `${check.method} ${check.url.replace(/\?.*$/, '')} -> ${check.expectStatus}`;
  return `deployment ${check.namespace}/${check.deployment} available${check.cluster ? ` on ${check.cluster}` : ''}`;
}

/** Why a gate failed, without the check's own repetition of the method and URL its name already shows. */
export function gateFailureDetail(check: Check, detail: string): string {
  const repeated = check.type === 'http' ? `${check.method} ${check.url.replace(/\?.*$/, '')}: ` : '';
  return repeated && detail.startsWith(repeated) ? detail.slice(repeated.length) : detail;
}
