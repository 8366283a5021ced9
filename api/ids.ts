// Every workflow ID and the task queue, built in one place: the CLI, `rearguard serve`, the activities
// that start workflows and the workflows themselves agree on them, and the IDs are what make starts
// idempotent (one rollback per target, one freeze per name). Pure and deterministic: workflow code
// imports this module (see docs/architecture.md, "Workflow catalogue").

/** The task queue Rearguard's workers poll unless REARGUARD_TASK_QUEUE says otherwise. */
export const TASK_QUEUE = 'rearguard';

/** The worker deployment versioned workers belong to unless REARGUARD_DEPLOYMENT says otherwise (README "Upgrading"). */
export const DEPLOYMENT_NAME = 'rearguard';

/** `rollback:<env>:<service>`: at most one rollback runs per target; later triggers join it. */
export const rollbackWorkflowId = (environment: string, service: string): string => `rollback:${environment}:${service}`;

/** `plan:<env>:<service>:<unique>`: a dry run of a runbook, never a change. */
export const planWorkflowId = (environment: string, service: string, unique: string): string => `plan:${environment}:${service}:${unique}`;

/** `rearguard doctor`'s diagnosis on a worker: a short read-only run. */
export const doctorWorkflowId = (unique: string): string => `doctor:${unique}`;

/** `freeze:<name>`: a freeze window started by hand, by a calendar's one-off window or by a rollback (RCA freeze). */
export const freezeWorkflowId = (name: string): string => `freeze:${name}`;

/** A freeze reference from a user: a workflow ID (`freeze:...`) or a window name. */
export const freezeIdOf = (ref: string): string => (ref.startsWith('freeze:') ? ref : freezeWorkflowId(ref));

/** One occurrence of a recurring calendar window, named like the Schedule's own runs: `freeze:<window>-<start>`. */
export const occurrenceWorkflowId = (window: string, startMs: number): string =>
  `freeze:${window}-${new Date(startMs).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;

/** True for the runs of a recurring window's Schedule: `freeze:<window>-<time>`. */
export const isOccurrenceOf = (workflowId: string, window: string): boolean => workflowId.startsWith(`${freezeWorkflowId(window)}-`);

/** `freeze-schedule:<window>`: the Schedule that starts a recurring calendar window (its runs are `freeze:<window>-<time>`). */
export const freezeScheduleId = (window: string): string => `freeze-schedule:${window}`;

/** The window of a freeze Schedule's ID, or undefined for other Schedules. */
export const windowOfFreezeSchedule = (scheduleId: string): string | undefined =>
  scheduleId.startsWith(freezeScheduleId('')) ? scheduleId.slice(freezeScheduleId('').length) : undefined;

/**
 * `freeze-gate:<task queue>:<shard>`: the freeze gate's registry (workflows/gate-registry.ts), one per shard and task
 * queue, so workers of different task queues (tests, separate installations in one namespace) keep their own.
 */
export const gateRegistryId = (taskQueue: string, shard: number): string => `${gateRegistryName(taskQueue)}:${shard}`;
/** `freeze-gate:<task queue>`: the registry as a whole (its shards' IDs add `:<shard>`). */
export const gateRegistryName = (taskQueue: string): string => `freeze-gate:${taskQueue}`;

/** `unfreeze:<freeze workflow ID>`: at most one gradual unfreeze per freeze. */
export const unfreezeWorkflowId = (freezeId: string): string => `unfreeze:${freezeId}`;

/** `guard:<env>:<service>`: the SLO guard of a target, one per target. */
export const guardWorkflowId = (environment: string, service: string): string => `guard:${environment}:${service}`;

/** `drill:<runbook>:<time>`: one drill run started by hand. */
export const drillWorkflowId = (runbook: string, time: string): string => `drill:${runbook}:${time}`;

/** `drill:<runbook>`: the Schedule of a runbook's drills (its runs are `drill:<runbook>-<scheduled time>`). */
export const drillScheduleWorkflowId = (runbook: string): string => `drill:${runbook}`;

/** `drill-schedule:<runbook>`: the Schedule that starts a runbook's drills. */
export const drillScheduleId = (runbook: string): string => `drill-schedule:${runbook}`;

/** One read of the worker's runbook catalog (`rearguard catalog list`, `rollback start --runbook NAME`, the alert intake). */
export const catalogWorkflowId = (unique: string): string => `catalog:${unique}`;
