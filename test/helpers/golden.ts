// The golden histories (test/histories/<workflow type>/<scenario>.json): histories of real runs of the
// workflows, committed, and replayed by every `npm test` (test/workflows/golden-histories.test.ts) so a change that
// would break a running workflow fails CI. `npm run record-histories` runs the workflow tests with
// REARGUARD_RECORD_HISTORIES set: the harness notes every run that calls an activity (a rollback, its RCA freeze,
// a guard, an unfreeze and the freeze it drives, ...), then every other run on its test's task queue (runs that call
// no activity, such as the gate registry's shards a freeze signal-with-starts), and writes each run's history once
// its test's worker stops.
// A history already in the corpus is never written again: a change must replay the old ones, not replace them.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { toolPath } from './tools.js';

/** Where recorded histories go (`npm run record-histories` sets it), or undefined: not recording. */
export const recordingDir = (): string | undefined => process.env.REARGUARD_RECORD_HISTORIES || undefined;

/** The runs seen by one worker: workflow ID and run ID of every activity call. */
export type SeenRuns = Map<string, { workflowId: string; runId: string }>;

/** `activities` with each call noting the run it is for in `seen`. */
export function noticingRuns<T extends object>(activities: T, seen: SeenRuns): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      typeof fn === 'function'
        ? (...args: unknown[]) => {
            const run = Context.current().info.workflowExecution;
            if (run) seen.set(`${run.workflowId}/${run.runId}`, { workflowId: run.workflowId, runId: run.runId });
            return (fn as (...a: unknown[]) => unknown).apply(activities, args);
          }
        : fn,
    ]),
  ) as T;
}

/**
 * Every run on `taskQueue` that started at `sinceMs` (server time) or later, open or closed: with the runs
 * `noticingRuns` saw, everything a test's worker ran, including runs that call no activity at all. The
 * time-skipping test server filters listings neither by query nor by start time, and leaves out their task queue:
 * the filtering is done here, describing each recent run whose listing names no task queue. Visibility may lag on
 * the dev server: a run started as the test ends may be missed.
 */
export async function runsOnTaskQueue(env: TestWorkflowEnvironment, taskQueue: string, sinceMs: number): Promise<SeenRuns> {
  const service = env.client.workflowService;
  const namespace = env.namespace ?? 'default';
  const found: SeenRuns = new Map();
  // Open runs first: one that closes meanwhile is then in the second listing, never in neither.
  for (const closed of [false, true]) {
    let nextPageToken: Uint8Array | undefined;
    do {
      const request = { namespace, maximumPageSize: 1000, ...(nextPageToken ? { nextPageToken } : {}) };
      const page = closed ? await service.listClosedWorkflowExecutions(request) : await service.listOpenWorkflowExecutions(request);
      for (const e of page.executions) {
        const workflowId = e.execution?.workflowId;
        const runId = e.execution?.runId;
        if (!workflowId || !runId || Number(e.startTime?.seconds ?? 0) < Math.floor(sinceMs / 1000)) continue;
        const queue =
          e.taskQueue ||
          (await env.client.workflow
            .getHandle(workflowId, runId)
            .describe()
            .then((d) => d.taskQueue)
            .catch(() => undefined));
        if (queue === taskQueue) found.set(`${workflowId}/${runId}`, { workflowId, runId });
      }
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
  }
  return found;
}

/** Lower-case words joined by dashes, at most 90 characters: a file name from a test's name. */
export const slug = (text: string): string =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 90)
    .replace(/-$/, '');

/**
 * Writes the history of each run in `seen` to `<dir>/<workflow type>/<scenario>[-<n>].json` (n counts the runs of
 * one type in one scenario), unless that file exists. The JSON is the Temporal CLI's (`temporal workflow show
 * --output json`), the format the Temporal UI downloads and `Worker.runReplayHistories` reads, with the run's
 * `workflowId` added. Resolves with the files written.
 */
export async function recordHistories(env: TestWorkflowEnvironment, seen: SeenRuns, scenario: string, dir: string): Promise<string[]> {
  const written: string[] = [];
  const perType = new Map<string, number>();
  for (const { workflowId, runId } of seen.values()) {
    const { stdout } = await promisify(execFile)(
      toolPath('temporal'),
      [
        'workflow',
        'show',
        '--address',
        env.address,
        '--namespace',
        env.namespace ?? 'default',
        '--workflow-id',
        workflowId,
        '--run-id',
        runId,
        '--output',
        'json',
      ],
      { maxBuffer: 64 << 20 },
    );
    const history = JSON.parse(stdout) as { events?: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] };
    const type = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
    if (!type) continue;
    const n = (perType.get(type) ?? 0) + 1;
    perType.set(type, n);
    const file = join(dir, type, `${slug(scenario)}${n > 1 ? `-${n}` : ''}.json`);
    await mkdir(join(dir, type), { recursive: true });
    try {
      // The workflow ID goes along (replay needs it: signed decisions are bound to their workflow's ID).
      await writeFile(file, `${JSON.stringify({ workflowId, ...history })}\n`, { flag: 'wx' });
      written.push(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return written;
}
