// Goal 5: one worker carries many rollbacks at once. 100 concurrent webhook rollbacks (3 webhook steps and an
// http check each, against a local receiver) take at most 2x the wall time of one alone, and 1,000 queued at
// once all succeed with the worker's RSS at most 300 MB. The worker is its own process (worker/main.ts), so
// its RSS and CPU are its own; the Temporal dev server is another, and the benchmark process (client and
// receiver) a third: the CPU each used says where the time goes on a 2-core machine. Per rollback, from
// its history: workflow tasks and activities, and the time in workflow tasks, in activities and waiting for
// a worker slot (schedule-to-start). Knobs: BENCH_CONCURRENT (100), BENCH_QUEUED (1000; 0 skips that part),
// BENCH_VERBOSE=1 (the timeline of one rollback alone), and the worker's (support.ts startWorkerProcess).
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { BenchContext, Figure, Scenario } from '../types.js';
import { triggerRollback } from '../../../api/rollbacks.js';
import { startReceiver, type Receiver } from '../../../test/helpers/receiver.js';
import {
  activityTime,
  activityWait,
  cpuSeconds,
  median,
  memoryMB,
  percentile,
  rearguardEnv,
  round,
  runTimings,
  sampleRss,
  spread,
  startTemporal,
  startWorkerProcess,
  timelineText,
  workerMode,
  loadText,
  workflowTaskTime,
  workflowTaskWait,
  webhookRunbook,
  AuditFollower,
  type RunTimings,
  type TemporalServer,
} from './support.js';

const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 100);
const QUEUED = Number(process.env.BENCH_QUEUED ?? 1000);
const ALONE = 5;
const IDLE_MS = 1_500;

interface Batch {
  /** From the first trigger to the last run's WorkflowExecutionCompleted (history). */
  wallMs: number;
  workflowIds: string[];
  outcomes: Record<string, number>;
  cpu: { worker: number; temporal: number; bench: number };
  runs: RunTimings[];
}

/**
 * Starts `n` rollbacks (at most `startConcurrency` triggers in flight) and waits until each has written its closing
 * audit event (AuditFollower: nothing asks Temporal meanwhile). The wall time ends at the last run's
 * WorkflowExecutionCompleted, read from the histories afterwards.
 */
async function batch(
  server: TemporalServer,
  taskQueue: string,
  receiver: Receiver,
  audit: AuditFollower,
  prefix: string,
  n: number,
  pids: { worker: number; temporal: number },
  startConcurrency = 100,
): Promise<Batch> {
  const runbooks = Array.from({ length: n }, (_, i) => webhookRunbook(receiver.url, `${prefix}-${i}`, 'bench'));
  const cpu0 = { worker: cpuSeconds(pids.worker), temporal: cpuSeconds(pids.temporal), bench: process.cpuUsage() };
  const t0 = Date.now();
  const workflowIds: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(startConcurrency, n) }, async () => {
      while (next < n) {
        const rb = runbooks[next++];
        const { workflowId } = await triggerRollback(server.client, taskQueue, rb, {
          source: 'manual',
          actor: 'bench',
          reason: 'bench',
          requestId: randomUUID(),
        });
        workflowIds.push(workflowId);
      }
    }),
  );
  await audit.waitFor(workflowIds, 30 * 60_000);
  const seen = Date.now();
  const benchCpu = process.cpuUsage(cpu0.bench);
  const cpu = {
    worker: cpuSeconds(pids.worker) - cpu0.worker,
    temporal: cpuSeconds(pids.temporal) - cpu0.temporal,
    bench: (benchCpu.user + benchCpu.system) / 1e6,
  };
  const runs = await histories(server, workflowIds);
  const outcomes: Record<string, number> = {};
  for (const id of workflowIds) {
    const k = audit.closed.get(id) ?? 'none';
    outcomes[k] = (outcomes[k] ?? 0) + 1;
  }
  const open = runs.filter((r) => r.end === undefined).length;
  if (open) outcomes['not closed in history'] = open;
  const last = Math.max(...runs.map((r) => r.end ?? seen));
  return { wallMs: last - t0, workflowIds, outcomes, cpu, runs };
}

/** Per-rollback figures from the histories of a batch. */
function profile(runs: RunTimings[]): string {
  const per = (f: (r: RunTimings) => number) => round(median(runs.map(f)));
  const p95 = (f: (r: RunTimings) => number) => round(percentile(runs.map(f), 95));
  const audits = (r: RunTimings) => r.activities.filter((a) => a.type.startsWith('appendAudit')).length;
  const work = ['runStep', 'runCheck', 'preflight'];
  return [
    `per rollback (median): ${per((r) => r.events)} events, ${per((r) => r.workflowTasks.length)} workflow tasks, ${per((r) => r.activities.length)} activities (${per(audits)} audit), ${per((r) => r.localActivities)} local`,
    `start->end ${per((r) => (r.end ?? r.start) - r.start)} ms (p95 ${p95((r) => (r.end ?? r.start) - r.start)})`,
    `in workflow tasks ${per(workflowTaskTime)} ms, waiting for a workflow task slot ${per(workflowTaskWait)} ms`,
    `in step/check activities ${per((r) => activityTime(r, work))} ms, in audit activities ${per((r) => activityTime(r, ['appendAudit', 'appendAuditBatch']))} ms, activities waiting to start ${per(activityWait)} ms`,
  ].join('; ');
}

const cpuText = (c: Batch['cpu'], wallMs: number) =>
  `CPU over ${round(wallMs / 1000, 1)} s: worker ${round(c.worker, 1)} s, Temporal dev server ${round(c.temporal, 1)} s, bench process (client, receiver) ${round(c.bench, 1)} s`;

/** The histories of `ids`, each once it has closed (the closing audit event comes a task before the run's end). */
async function histories(server: TemporalServer, ids: string[]): Promise<RunTimings[]> {
  const closed = async (id: string): Promise<RunTimings> => {
    for (let attempt = 0; ; attempt++) {
      const t = await runTimings(server.client, id);
      if (t.end !== undefined || attempt >= 100) return t;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const out: RunTimings[] = [];
  for (let i = 0; i < ids.length; i += 20) out.push(...(await Promise.all(ids.slice(i, i + 20).map(closed))));
  return out;
}

export const concurrency: Scenario = {
  name: 'concurrency',
  description: `${CONCURRENT} concurrent webhook rollbacks on one worker vs one alone; ${QUEUED} queued: all succeed, worker RSS`,
  async run(ctx: BenchContext): Promise<Figure[]> {
    const { workDir, log } = ctx;
    const [server, receiver] = await Promise.all([startTemporal(join(workDir, 'temporal-concurrency')), startReceiver()]);
    let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
    try {
      const taskQueue = `bench-concurrency-${randomUUID().slice(0, 8)}`;
      const env = rearguardEnv(server, workDir, taskQueue);
      worker = await startWorkerProcess(workDir, env);
      const pids = { worker: worker.child.pid!, temporal: server.pid };
      const rssAtStart = memoryMB(pids.worker).rss;
      log(`concurrency: worker up (pid ${pids.worker}, RSS ${round(rssAtStart)} MB)`);

      // Warm-up (bundle caches, connections), then one at a time.
      const audit = new AuditFollower(env.REARGUARD_AUDIT_FILE);
      await batch(server, taskQueue, receiver, audit, 'warm', 3, pids, 1);
      const alone: number[] = [];
      const aloneRuns: RunTimings[] = [];
      for (let i = 0; i < ALONE; i++) {
        // Alone means on an idle worker and server: on the dev server a rollback started within a second of the
        // previous one's end has every task dispatched ~40 ms later (measured: 1.05 s back to back, 0.35 s after a
        // 1.5 s pause, same code), which would flatter the ratio.
        await new Promise((r) => setTimeout(r, IDLE_MS));
        const b = await batch(server, taskQueue, receiver, audit, `alone-${i}`, 1, pids);
        alone.push(b.wallMs);
        aloneRuns.push(...b.runs);
      }
      const one = median(alone);
      const aloneProfile = profile(aloneRuns);
      log(`concurrency: one alone ${spread(alone)}; ${aloneProfile}`);
      if (process.env.BENCH_VERBOSE) log(timelineText(aloneRuns.at(-1)!));

      const many = await batch(server, taskQueue, receiver, audit, 'many', CONCURRENT, pids);
      const manyProfile = profile(many.runs);
      log(
        `concurrency: ${CONCURRENT} concurrent in ${round(many.wallMs)} ms (${JSON.stringify(many.outcomes)}); ${cpuText(many.cpu, many.wallMs)}; ${manyProfile}`,
      );
      const rssAfterMany = memoryMB(pids.worker).rss;

      const figures: Figure[] = [
        {
          name: 'concurrency: one webhook rollback alone (trigger -> completed), median',
          value: round(one),
          unit: 'ms',
          note: `${spread(alone)}, each after ${IDLE_MS} ms idle; ${aloneProfile}; ${workerMode()}; ${loadText()}`,
        },
        {
          name: `concurrency: ${CONCURRENT} concurrent rollbacks, wall time`,
          value: round(many.wallMs),
          unit: 'ms',
          note: `${JSON.stringify(many.outcomes)}; ${cpuText(many.cpu, many.wallMs)}; ${manyProfile}`,
        },
        {
          name: `concurrency: ${CONCURRENT} concurrent / one alone (wall time)`,
          value: round(many.wallMs / one, 2),
          unit: 'x',
          goal: { op: '<=', value: 2 },
          peer: { name: 'one rollback alone', value: round(one), unit: 'ms' },
          note: `3 webhook steps + an http check each, one worker process (${workerMode()}); completion read from the audit file (nothing asks Temporal meanwhile), wall time to the last WorkflowExecutionCompleted; ${loadText()}`,
        },
      ];
      if (QUEUED === 0) return figures;

      const rss = sampleRss(pids.worker);
      const queued = await batch(server, taskQueue, receiver, audit, 'queued', QUEUED, pids, 50);
      const mem = rss.stop();
      const succeeded = queued.outcomes.succeeded ?? 0;
      log(
        `concurrency: ${QUEUED} queued in ${round(queued.wallMs)} ms (${JSON.stringify(queued.outcomes)}); ${cpuText(queued.cpu, queued.wallMs)}; worker RSS max ${round(mem.maxRss)} MB, VmHWM ${round(mem.peak)} MB`,
      );
      return [
        ...figures,
        {
          name: `concurrency: ${QUEUED} queued rollbacks that succeeded`,
          value: succeeded,
          unit: 'count',
          goal: { op: '>=', value: QUEUED },
          note: `in ${round(queued.wallMs / 1000, 1)} s (${round(QUEUED / (queued.wallMs / 1000), 1)} rollbacks/s); ${JSON.stringify(queued.outcomes)}; ${cpuText(queued.cpu, queued.wallMs)}`,
        },
        {
          name: `concurrency: worker RSS with ${QUEUED} queued (peak)`,
          value: round(Math.max(mem.maxRss, mem.peak)),
          unit: 'MB',
          goal: { op: '<=', value: 300 },
          note: `VmHWM of the worker process (${workerMode()}); RSS at start ${round(rssAtStart)} MB, after ${CONCURRENT} concurrent ${round(rssAfterMany)} MB, sampled max during the ${QUEUED} ${round(mem.maxRss)} MB`,
        },
      ];
    } finally {
      await worker?.stop('SIGTERM');
      await receiver.close();
      await server.stop();
    }
  },
};
