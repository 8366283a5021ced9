// Rollback drill operations: run one (`drill:<runbook>:<time>`), read or follow its report, and keep a
// runbook's drills on a Temporal Schedule. A drill deploys a marked bad revision in staging, runs the
// runbook's rollback, and reports time-to-restore against the SLA.
import { setTimeout as delay } from 'node:timers/promises';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type ScheduleOptions,
} from '@temporalio/client';
import { type DrillInput, type DrillReport, type DrillStart } from '../runbook/drill.js';
import { failure, opError, rootMessage } from './errors.js';
import { drillScheduleId, drillScheduleWorkflowId, drillWorkflowId } from './ids.js';
import { drillResultQuery } from './messages.js';

/**
 * Starts a drill of the input's runbook; its workflow ID is returned at once (the drill takes minutes). A forced
 * drill's signed decision names the ID: the caller picks it (newDrillWorkflowId) before signing.
 */
export async function startDrill(
  client: Client,
  taskQueue: string,
  input: DrillInput,
  workflowId = newDrillWorkflowId(input.runbook.metadata.name),
): Promise<string> {
  const name = input.runbook.metadata.name;
  try {
    await client.workflow.start('drill', { workflowId, taskQueue, args: [drillArgs(input)], memo: { runbook: name, actor: input.actor } });
  } catch (err) {
    throw failure(err, 'cannot start the drill:');
  }
  return workflowId;
}

/** The drill's workflow input: a catalog runbook goes by name (the worker loads it), never as the client's copy. */
export function drillArgs(input: DrillInput): DrillStart {
  if (!input.catalog) return input;
  const rest: Partial<DrillInput> = { ...input };
  delete rest.runbook;
  return { ...(rest as Omit<DrillInput, 'runbook'>), catalog: input.catalog };
}

/** The workflow ID of a drill started now by hand: `drill:<runbook>:<time>`. */
export const newDrillWorkflowId = (runbook: string): string => drillWorkflowId(runbook, new Date().toISOString());

/** A drill's report: by Query while it runs, then its result (or the report attached to its failure), and why it failed. */
export interface DrillState {
  report?: DrillReport;
  running: boolean;
  error?: string;
}

export async function drillState(client: Client, workflowId: string): Promise<DrillState> {
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe();
  if (d.status.name === 'RUNNING') return { running: true, report: await handle.query(drillResultQuery).catch(() => undefined) };
  try {
    return { running: false, report: (await handle.result()) as DrillReport };
  } catch (err) {
    const details = err instanceof WorkflowFailedError ? (err.cause as { details?: unknown[] } | undefined)?.details : undefined;
    const report = details?.[0] as DrillReport | undefined;
    return { running: false, report: report && typeof report === 'object' && 'workflowId' in report ? report : undefined, error: rootMessage(err) };
  }
}

/** Polls a drill until it ends; onRunning sees each report while it runs. */
export async function followDrill(client: Client, workflowId: string, onRunning: (r: DrillReport) => void): Promise<DrillState> {
  for (;;) {
    const state = await drillState(client, workflowId);
    if (!state.running) return state;
    if (state.report) onRunning(state.report);
    await delay(500);
  }
}

/**
 * Follows a drill until it is under way (past what may refuse it: the runbook's environment, who forced it,
 * preflight) or has ended; undefined when neither happened within timeoutMs (e.g. no worker yet).
 */
export async function drillUnderWay(client: Client, workflowId: string, timeoutMs: number): Promise<DrillState | undefined> {
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const state = await drillState(client, workflowId);
      if (!state.running || state.report?.step !== undefined) return state;
      if (Date.now() > deadline) return undefined;
      await delay(250);
    }
  } catch (err) {
    throw failure(err, `cannot read drill ${workflowId}:`);
  }
}

/** `drill status`: the drill's state now, or (with onRunning) once it has ended; a missing drill is not-found. */
export async function drillStatus(client: Client, workflowId: string, onRunning?: (r: DrillReport) => void): Promise<DrillState> {
  try {
    return onRunning ? await followDrill(client, workflowId, onRunning) : await drillState(client, workflowId);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw opError('not-found', `no drill ${workflowId} was found`);
    throw failure(err, `cannot read drill ${workflowId}:`);
  }
}

/** The Schedule of a runbook's drills: one at a time, none run hours late. */
export function drillScheduleOptions(input: DrillInput, cron: string, timezone: string, taskQueue: string, actor: string): ScheduleOptions {
  const name = input.runbook.metadata.name;
  return {
    scheduleId: drillScheduleId(name),
    spec: { cronExpressions: [cron], timezone },
    action: { type: 'startWorkflow', workflowType: 'drill', workflowId: drillScheduleWorkflowId(name), taskQueue, args: [drillArgs(input)] },
    // One drill at a time per runbook; a drill missed while the cluster was down is not worth running hours late.
    policies: { overlap: 'SKIP', catchupWindow: '10m' },
    memo: { runbook: name, by: actor },
    state: { note: `rollback drill of runbook ${name}: cron "${cron}" (${timezone}), set by ${actor}` },
  };
}

/** Creates the runbook's drill Schedule, or updates the one it has; returns the next (up to 3) run times. */
export async function scheduleDrills(client: Client, options: ScheduleOptions): Promise<{ outcome: 'created' | 'updated'; nextRuns: string[] }> {
  const { scheduleId } = options;
  let outcome: 'created' | 'updated' = 'created';
  try {
    await client.schedule.create(options);
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw failure(err, `cannot create ${scheduleId}:`);
    outcome = 'updated';
    await client.schedule
      .getHandle(scheduleId)
      .update((prev) => ({ ...prev, spec: options.spec, action: options.action, policies: { ...prev.policies, ...options.policies } }))
      .catch((e: unknown) => {
        throw failure(e, `cannot update ${scheduleId}:`);
      });
  }
  return { outcome, nextRuns: await nextRuns(client, scheduleId) };
}

async function nextRuns(client: Client, scheduleId: string): Promise<string[]> {
  try {
    const d = await client.schedule.getHandle(scheduleId).describe();
    return d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString());
  } catch {
    return [];
  }
}

/** Deletes the drill Schedule; false when there was none. */
export async function deleteDrillSchedule(client: Client, scheduleId: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(scheduleId).delete();
    return true;
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw failure(err, `cannot delete ${scheduleId}:`);
    return false;
  }
}
