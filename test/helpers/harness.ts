// The workflow test harness: one Temporal test environment per test file (created in `before`, torn down
// in `after`), and a fresh Rearguard worker on its own task queue per test, with stub activities.
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach } from 'node:test';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Activities } from '../../activities/index.js';
import type { AuditEvent } from '../../runbook/types.js';
import { RearguardMetrics } from '../../worker/metrics.js';
import { createRearguardWorker, type RearguardWorkerOptions } from '../../worker/worker.js';
import { noticingRuns, recordHistories, recordingDir, runsOnTaskQueue, type SeenRuns } from './golden.js';
import { createDevServerEnv, createTimeSkippingEnv, workflowBundle } from './temporal.js';

let fileEnv: TestWorkflowEnvironment | undefined;
let bundle: WorkflowBundleWithSourceMap | undefined;
/** The running test's file and name: the scenario of the histories its runs leave (test/helpers/golden.ts). */
let scenario = 'unnamed';

/**
 * Registers the file's `before`/`after` hooks: a time-skipping test server (or the dev server) for the whole
 * file, and the bundled workflows. Call once, at the top level of a test file.
 */
export function useTemporalEnv(server: 'time-skipping' | 'dev' = 'time-skipping'): void {
  before(async () => {
    fileEnv = await (server === 'dev' ? createDevServerEnv() : createTimeSkippingEnv());
    bundle = await workflowBundle();
  });
  beforeEach((t) => {
    scenario = `${
      process.argv[1]
        ?.split('/')
        .at(-1)
        ?.replace(/\.test\.ts$/, '') ?? 'test'
    } ${t.name}`;
  });
  after(async () => {
    await fileEnv?.teardown();
    fileEnv = undefined;
  });
}

/** The file's environment (see `useTemporalEnv`). */
export function testEnv(): TestWorkflowEnvironment {
  if (!fileEnv) throw new Error('no Temporal environment: call useTemporalEnv() at the top of the test file');
  return fileEnv;
}

/** Runs `body` against a dev server of its own (e.g. for continue-as-new, which the time-skipping server stops skipping after). */
export async function withDevServer<T>(body: (env: TestWorkflowEnvironment) => Promise<T>): Promise<T> {
  const dev = await createDevServerEnv();
  try {
    return await body(dev);
  } finally {
    await dev.teardown();
  }
}

export interface HarnessOptions {
  /** The stub activities; whatever a workflow calls that is not here fails as an unknown activity. */
  activities: object;
  /** Prefix of the worker's unique task queue (default `test`). */
  taskQueue?: string;
  /** Another environment than the file's (e.g. one from `withDevServer`). */
  env?: TestWorkflowEnvironment;
  /** The worker's metrics (default: a fresh registry without default metrics). */
  metrics?: RearguardMetrics;
  /** The worker's audit file (default /dev/null: stub activities audit in memory). */
  auditFile?: string;
  shutdownGraceTime?: RearguardWorkerOptions['shutdownGraceTime'];
}

export interface HarnessContext {
  env: TestWorkflowEnvironment;
  client: TestWorkflowEnvironment['client'];
  taskQueue: string;
  metrics: RearguardMetrics;
  worker: Worker;
}

/** Creates a Rearguard worker on a fresh task queue with the given stub activities, and runs `body` while it runs. */
export async function withWorker<T>(o: HarnessOptions, body: (w: HarnessContext) => Promise<T>): Promise<T> {
  const env = o.env ?? testEnv();
  const taskQueue = `${o.taskQueue ?? 'test'}-${randomUUID()}`;
  const metrics = o.metrics ?? new RearguardMetrics({ defaultMetrics: false });
  const recording = recordingDir();
  const seen: SeenRuns = new Map();
  const since = recording ? await env.currentTimeMs() : 0;
  const worker = await createRearguardWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    auditFile: o.auditFile ?? '/dev/null',
    metrics,
    activities: (recording ? noticingRuns(withAuditBatches(o.activities), seen) : withAuditBatches(o.activities)) as Activities,
    workflowBundle: bundle ?? (await workflowBundle()),
    ...(o.shutdownGraceTime !== undefined ? { shutdownGraceTime: o.shutdownGraceTime } : {}),
  });
  const result = await worker.runUntil(() => body({ env, client: env.client, taskQueue, metrics, worker }));
  if (recording) {
    // Then the runs on its task queue that called no activity (e.g. the gate registry's shards), after those that did.
    for (const [key, run] of await runsOnTaskQueue(env, taskQueue, since)) if (!seen.has(key)) seen.set(key, run);
    await recordHistories(env, seen, scenario, recording);
  }
  return result;
}

/**
 * Workers also offer `appendAuditBatch` (several events, one write; not used by workflows yet: batching them in
 * workflows/kit/audit.ts was withdrawn for a replay problem); a stub set with only `appendAudit` gets a batch
 * writer that hands it each event in order, so stubs keep seeing one event at a time.
 */
function withAuditBatches(activities: object): object {
  const a = activities as { appendAudit?: (e: AuditEvent) => Promise<void>; appendAuditBatch?: unknown };
  if (!a.appendAudit || a.appendAuditBatch) return activities;
  const one = a.appendAudit;
  return {
    ...activities,
    appendAuditBatch: async (events: AuditEvent[]) => {
      for (const e of events) await one(e);
    },
  };
}

/**
 * Terminates the run if it is still running: nothing may stay pending on a time-skipping server (it would stop
 * skipping time in later tests). A run that closes between the look and the terminate is fine.
 */
export async function endIfRunning(h: WorkflowHandle): Promise<void> {
  if ((await h.describe()).status.name !== 'RUNNING') return;
  await h.terminate('test over').catch((err: unknown) => {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  });
}

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/** Histories recorded by a file's tests, replayed by its last test to catch nondeterminism. */
export class Histories {
  readonly recorded: { workflowId: string; history: History }[] = [];

  async record(h: WorkflowHandle): Promise<void> {
    this.recorded.push({ workflowId: h.workflowId, history: await h.fetchHistory() });
  }

  get length(): number {
    return this.recorded.length;
  }

  /** Replays every recorded history against the bundled workflows; resolves with one error (or undefined) per history. */
  async replay(): Promise<{ workflowId: string; error: unknown }[]> {
    const results: { workflowId: string; error: unknown }[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: bundle ?? (await workflowBundle()) }, this.recorded)) {
      results.push({ workflowId: r.workflowId, error: r.error });
    }
    return results;
  }
}
