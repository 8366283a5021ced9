// A wedged run: its workflow task fails on every attempt (a bug in workflow code, or an input the code
// cannot handle), so Temporal retries the task for ever and the run stays Running without making
// progress: its Queries time out although workers are up, Updates and cancellation are never handled,
// and a trigger that joins it is lost. DescribeWorkflowExecution shows it (the pending workflow task is
// on attempt 2 or more); the last WorkflowTaskFailed event of the history says why (later attempts are
// not written to the history). Used by the status commands, the freeze gate and the one start-or-join
// path of rollbacks (`rollback start`, the alert intake and the SLO guard through triggerRollback).
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';

/** Event types and workflow task failure causes of the Temporal API (temporal.api.enums.v1). */
const EVENT = { workflowTaskCompleted: 7, workflowTaskTimedOut: 8, workflowTaskFailed: 9 } as const;
/** Causes the server itself produces in normal operation (the next attempt succeeds): not a wedge. */
const BENIGN_CAUSES = new Set([
  1, // UNHANDLED_COMMAND: a signal arrived while the workflow was completing
  13, // RESET_STICKY_TASK_QUEUE
  17, // FORCE_CLOSE_COMMAND
  18, // FAILOVER_CLOSE_COMMAND
  20, // RESET_WORKFLOW
  31, // UNHANDLED_UPDATE
]);
const CAUSE_NAMES: Record<number, string> = {
  14: 'unhandled error in workflow code',
  24: 'non-determinism (the workflow code no longer replays its history)',
};
/** Repeated time-outs of the task (a worker takes it and never answers) count from this attempt on. */
const TIMEOUT_ATTEMPTS = 5;

export interface WedgedRun {
  workflowId: string;
  runId: string;
  /** Attempt of the workflow task pending now (2: it failed once). */
  attempt: number;
  /** The failing task's error. */
  error: string;
  /** When the first failing attempt was recorded (ISO), if known. */
  since?: string;
}

interface RawEvent {
  eventType?: number | null;
  eventTime?: { seconds?: { toString(): string } | number | null; nanos?: number | null } | null;
  workflowTaskFailedEventAttributes?: {
    cause?: number | null;
    failure?: { message?: string | null; applicationFailureInfo?: { type?: string | null } | null } | null;
  } | null;
}

const timeOf = (e: RawEvent): string | undefined =>
  e.eventTime?.seconds != null ? new Date(Number(e.eventTime.seconds.toString()) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6)).toISOString() : undefined;

/**
 * The wedge of a run, if it has one. Pass the description when the caller already has it (one RPC less).
 * Undefined for a run that is not running, does not exist, or whose pending task is a first attempt.
 */
export async function wedgedRun(client: Client, workflowId: string, described?: WorkflowExecutionDescription): Promise<WedgedRun | undefined> {
  let d = described;
  if (!d) {
    try {
      d = await client.workflow.getHandle(workflowId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }
  const attempt = d.raw.pendingWorkflowTask?.attempt ?? 0;
  if (d.status.name !== 'RUNNING' || attempt < 2) return undefined;
  const last = await lastTaskEvent(client, workflowId, d.runId);
  const base = { workflowId, runId: d.runId, attempt };
  if (last?.eventType === EVENT.workflowTaskFailed) {
    const a = last.workflowTaskFailedEventAttributes;
    const cause = a?.cause ?? 0;
    if (BENIGN_CAUSES.has(cause) && attempt < TIMEOUT_ATTEMPTS) return undefined;
    const type = a?.failure?.applicationFailureInfo?.type;
    const message = a?.failure?.message || CAUSE_NAMES[cause] || `workflow task failed (cause ${cause})`;
    return { ...base, error: type && !message.startsWith(type) ? `${type}: ${message}` : message, since: timeOf(last) };
  }
  if (last?.eventType === EVENT.workflowTaskTimedOut && attempt >= TIMEOUT_ATTEMPTS)
    return { ...base, error: 'the workflow task timed out on every attempt (a worker takes it and never completes it)', since: timeOf(last) };
  return undefined;
}

/** The newest workflow task outcome of the history (read from the end: a few events, not the whole history). */
async function lastTaskEvent(client: Client, workflowId: string, runId: string): Promise<RawEvent | undefined> {
  let nextPageToken: Uint8Array | undefined;
  for (let page = 0; page < 5; page++) {
    const r = await client.workflowService.getWorkflowExecutionHistoryReverse({
      namespace: client.options.namespace,
      execution: { workflowId, runId },
      maximumPageSize: 50,
      nextPageToken,
    });
    for (const e of (r.history?.events ?? []) as RawEvent[]) {
      if (e.eventType === EVENT.workflowTaskFailed || e.eventType === EVENT.workflowTaskTimedOut || e.eventType === EVENT.workflowTaskCompleted) return e;
    }
    if (!r.nextPageToken?.length) return undefined;
    nextPageToken = r.nextPageToken;
  }
  return undefined;
}

/** What to do about a wedged run: fix the code, or end the run (cancel and lift are workflow code too, so they cannot reach it). */
export function wedgedRemedy(workflowId: string): string {
  const terminate = `temporal workflow terminate --workflow-id ${workflowId} --reason "..."`;
  const end = workflowId.startsWith('rollback:')
    ? `end the run: rearguard rollback cancel --id ${workflowId} --reason "..." (terminates a wedged rollback), or ${terminate}`
    : `end the run: ${terminate}${workflowId.startsWith('freeze:') ? ' (guardrails the freeze holds are not put back by a termination: check them)' : ''}`;
  return `Remedy: deploy a worker with a fix (the task is retried and the run carries on from where it stopped), or ${end}.`;
}

/** Lines for a person: what is wrong, why status calls time out, and the remedy. */
export function wedgedLines(w: WedgedRun): string[] {
  return [
    `${w.workflowId} is wedged: its workflow task keeps failing (attempt ${w.attempt}${w.since ? `, first failure ${w.since}` : ''}): ${w.error}`,
    'This is a bug (or an input the workflow code cannot handle): Temporal retries the task for ever, the run makes no progress, and its',
    'queries time out although workers are running.',
    wedgedRemedy(w.workflowId),
  ];
}

export const WEDGED_RUN = 'WedgedRun';

/** Refusal to join a wedged run; non-retryable when an activity throws it (the SLO guard's trigger). */
export function wedgedRunError(w: WedgedRun, what = 'refusing to join it'): ApplicationFailure {
  return ApplicationFailure.create({
    message: `${w.workflowId} is wedged (${what}): its workflow task keeps failing (attempt ${w.attempt}): ${w.error}. ${wedgedRemedy(w.workflowId)}`,
    type: WEDGED_RUN,
    nonRetryable: true,
    details: [w],
  });
}

export const isWedgedRunError = (err: unknown): err is ApplicationFailure => err instanceof ApplicationFailure && err.type === WEDGED_RUN;

/** Throws wedgedRunError when the workflow is running and wedged. */
export async function refuseWedged(client: Client, workflowId: string, described?: WorkflowExecutionDescription): Promise<void> {
  const w = await wedgedRun(client, workflowId, described);
  if (w) throw wedgedRunError(w);
}
