// Goal 7, worker start: a worker process (workerCommand: the compiled worker when the build made one, else
// worker/main.ts through tsx, as `npm run worker`) with a prebuilt workflow bundle, against a dev server:
// spawn -> its first poll (the task queue lists a poller: DescribeTaskQueue), and spawn -> the first workflow
// task of a freeze started before the spawn is completed. Also the bundling itself (what a worker without a
// prebuilt bundle does at every start), and one start without the bundle for comparison.
import { randomUUID } from 'node:crypto';
import proto from '@temporalio/proto';
import type { Client } from '@temporalio/client';
import type { FreezeWindowInput } from '../../../runbook/freeze.js';
import { envInt, median, num, prebuiltBundle, rearguardEnv, sleep, spawnWorker, spread, startDevServer, workerCommand } from '../lib.js';
import type { Figure, Scenario } from '../types.js';

const WORKFLOW_QUEUE = proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW;

async function hasPoller(client: Client, taskQueue: string): Promise<boolean> {
  const r = await client.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, taskQueueType: WORKFLOW_QUEUE });
  return (r.pollers?.length ?? 0) > 0;
}

async function firstTaskDone(client: Client, workflowId: string): Promise<boolean> {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  return (h.events ?? []).some((e) => e.workflowTaskCompletedEventAttributes);
}

interface StartTimes {
  ready: number;
  poll: number;
  task: number;
  rss: number;
}

/** One start: a freeze waiting on a fresh task queue, then the worker; times since spawn. */
async function oneStart(client: Client, env: Record<string, string>, taskQueue: string, fromSource = false): Promise<StartTimes> {
  const now = Date.now();
  const name = `bench-${randomUUID().slice(0, 8)}`;
  const input: FreezeWindowInput = {
    name,
    scope: { environments: ['prod'], services: ['payments'] },
    reason: 'bench',
    actor: 'bench',
    start: new Date(now).toISOString(),
    end: new Date(now + 86_400_000).toISOString(),
    exceptions: { approvers: ['rm-bo'], quorum: 1 },
  };
  const workflowId = `freeze:${name}`;
  await client.workflow.start('freezeWindow', { workflowId, taskQueue, args: [input] });
  const worker = spawnWorker(env, { fromSource });
  try {
    let poll = NaN;
    let task = NaN;
    const limit = worker.spawnedAt + 120_000;
    while (Number.isNaN(poll) || Number.isNaN(task)) {
      if (worker.child.exitCode !== null) throw new Error(`worker exited ${worker.child.exitCode}:\n${worker.output()}`);
      if (performance.now() > limit) throw new Error(`worker did not poll / complete a task within 120 s:\n${worker.output()}`);
      const at = performance.now() - worker.spawnedAt;
      if (Number.isNaN(poll) && (await hasPoller(client, taskQueue))) poll = at;
      if (Number.isNaN(task) && (await firstTaskDone(client, workflowId))) task = at;
      await sleep(10);
    }
    const ready = await worker.ready;
    await sleep(1_000);
    const rss = worker.memory().rss;
    await client.workflow
      .getHandle(workflowId)
      .terminate('bench')
      .catch(() => undefined);
    return { ready, poll, task, rss };
  } finally {
    await worker.stop();
  }
}

export const workerStart: Scenario = {
  name: 'worker-start',
  description: 'worker process with a prebuilt bundle: spawn -> first poll and first workflow task; bundling time',
  async run(ctx) {
    const n = envInt('BENCH_WORKER_RUNS', 5);
    const bundle = await prebuiltBundle(ctx);
    const { mode } = workerCommand();
    const env = await startDevServer(ctx);
    try {
      const runs: StartTimes[] = [];
      for (let i = 0; i < n; i++) {
        const taskQueue = `bench-start-${randomUUID()}`;
        const t = await oneStart(env.client, rearguardEnv(env, ctx.workDir, taskQueue, { REARGUARD_WORKFLOW_BUNDLE: bundle.file }), taskQueue);
        ctx.log(`run ${i + 1}: ready ${num(t.ready)} ms, first poll ${num(t.poll)} ms, first task ${num(t.task)} ms, RSS ${num(t.rss)} MB`);
        runs.push(t);
      }
      const taskQueue = `bench-start-${randomUUID()}`;
      const unbundled = await oneStart(env.client, rearguardEnv(env, ctx.workDir, taskQueue), taskQueue, true);
      ctx.log(`from the sources, bundling at start: first poll ${num(unbundled.poll)} ms`);
      const poll = runs.map((r) => r.poll);
      const task = runs.map((r) => r.task);
      const figures: Figure[] = [
        {
          name: 'worker start, prebuilt bundle: spawn -> first poll, median',
          value: median(poll),
          unit: 'ms',
          goal: { op: '<=', value: 2000 },
          note: `${spread(poll)}; worker ${mode}, bundle ${bundle.source}; poller seen by DescribeTaskQueue (10 ms probes)`,
        },
        {
          name: 'worker start, prebuilt bundle: spawn -> first workflow task completed, median',
          value: median(task),
          unit: 'ms',
          note: `${spread(task)}; a freeze started before the spawn; "ready" log line at median ${num(median(runs.map((r) => r.ready)))} ms`,
        },
        {
          name: 'worker RSS, idle after start',
          value: median(runs.map((r) => r.rss)),
          unit: 'MB',
          note: spread(
            runs.map((r) => r.rss),
            'MB',
          ),
        },
        {
          name: 'workflow bundle (webpack, bundleWorkflowCode)',
          value: bundle.ms,
          unit: 'ms',
          note: 'what a worker without REARGUARD_WORKFLOW_BUNDLE does at every start',
        },
        {
          name: 'worker start from the sources, bundling at start: spawn -> first poll',
          value: unbundled.poll,
          unit: 'ms',
          note: `one run (worker/main.ts through tsx, no REARGUARD_WORKFLOW_BUNDLE: the worker before the build); first workflow task at ${num(unbundled.task)} ms`,
        },
      ];
      return figures;
    } finally {
      await env.teardown();
    }
  },
};
