// Goal 6, scale: (1) 10,000 open freeze windows (300 days long) on a dev server with one worker process and
// `rearguard serve`: the worker's RSS once they are all admitted and it is idle, `freeze list` (CLI process), the
// gate's p99 and requests/s (goal 1's figures) and the longest history among the windows (bounded by
// continue-as-new); (2) on a fresh dev server and worker, 1,000 SLO guards evaluating a real Prometheus
// (test/helpers/prometheus.ts, scraping a synthetic metrics target; no condition is ever violated): the
// worker's RSS. Setup times are figures too. Heavy: BENCH_SCALE_FREEZES and BENCH_SCALE_GUARDS scale it down
// (0 skips that part); docs/benchmarks.md lists the other knobs.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { startGuard } from '../../../api/guards.js';
import { freezeWorkflowId } from '../../../api/ids.js';
import { validateRunbook } from '../../../runbook/load.js';
import { startMetricsTarget, startPrometheus } from '../../../test/helpers/prometheus.js';
import {
  cpuSeconds,
  envInt,
  mapLimit,
  median,
  num,
  prebuiltBundle,
  rearguardCommand,
  rearguardEnv,
  runTimed,
  sleep,
  spawnWorker,
  spread,
  startDevServer,
  startServe,
  type WorkerProc,
} from '../lib.js';
import type { BenchContext, Figure, Scenario } from '../types.js';
import { expectations, freezeInput, gatePath, hasException } from './freezes.js';
import { approveException, checkAnswers, gateLoadFigures } from './gate.js';

const RSS_GOAL = { op: '<=' as const, value: 300 };

/** The worker settings the bench changed, and with BENCH_WORKER_MEMORY=1 where its memory is, for the notes. */
const workerSettings = (w?: WorkerProc): string => {
  const settings =
    [
      process.env.BENCH_WORKER_OPTIONS && `Worker.create ${process.env.BENCH_WORKER_OPTIONS}`,
      process.env.BENCH_WORKER_NODE_OPTIONS && `NODE_OPTIONS ${process.env.BENCH_WORKER_NODE_OPTIONS}`,
    ]
      .filter(Boolean)
      .join(', ') || 'worker/worker.ts defaults';
  const heap = w?.heap();
  return heap ? `${settings}; memory ${heap}` : settings;
};

/** How many audit events of this action the file holds (0 while it does not exist). */
async function auditCount(file: string, action: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split(`"action":"${action}"`).length - 1;
}

/** The worker process died before all the workflows were running: what it had got to, for the figures. */
class WorkerDied extends Error {
  constructor(
    readonly done: number,
    readonly maxRss: number,
    readonly seconds: number,
    readonly why: string,
  ) {
    super(`the worker exited after ${done} were running: ${why}`);
  }
}

/** The first lines of a dead worker's output that say why (its errors, not every failed activation). */
function whyDied(output: string, code: number | null): string {
  const lines = output.split('\n').filter((l) => /error|timed out|corrupted|heap|memory/i.test(l) && !/^\s+at /.test(l));
  const distinct = [...new Set(lines.map((l) => l.trim().slice(0, 160)))].slice(-3);
  return `exit ${code}; ${distinct.join(' | ') || 'no error in its output'}`;
}

/**
 * Waits until the audit file holds `n` events of `action`, logging progress and sampling the worker's RSS; the
 * largest RSS sampled. A worker that exits first throws WorkerDied.
 */
async function untilAudited(ctx: BenchContext, file: string, action: string, n: number, worker: WorkerProc, timeoutS: number): Promise<number> {
  const t0 = performance.now();
  let last = -1;
  let maxRss = 0;
  for (;;) {
    const c = await auditCount(file, action);
    if (c >= n) return maxRss;
    if (worker.child.exitCode !== null || worker.child.signalCode !== null)
      throw new WorkerDied(c, maxRss, (performance.now() - t0) / 1000, whyDied(worker.output(), worker.child.exitCode));
    if ((performance.now() - t0) / 1000 > timeoutS) throw new Error(`only ${c} of ${n} ${action} events after ${timeoutS} s`);
    const rss = worker.memory().rss;
    maxRss = Math.max(maxRss, rss);
    if (c !== last) ctx.log(`${action}: ${c}/${n} (worker RSS ${num(rss)} MB)`);
    last = c;
    await sleep(5_000);
  }
}

/** The figures of a part whose worker died while the workflows were starting (RSS goal missed, with why). */
function diedFigures(what: string, count: number, err: WorkerDied): Figure[] {
  return [
    {
      name: `setup: ${what} running before the worker died`,
      value: err.done,
      unit: 'count',
      goal: { op: '>=', value: count },
      note: `after ${num(err.seconds)} s; ${err.why}`,
    },
    {
      name: `worker RSS, ${count} ${what}`,
      value: err.maxRss,
      unit: 'MB',
      goal: RSS_GOAL,
      note: `the largest RSS sampled before the worker died with ${err.done} of ${count} running; ${workerSettings()}`,
    },
  ];
}

/** Waits until the worker uses less than 5% of a core over 4 s (at most maxS); the seconds waited. */
async function untilIdle(pid: number, maxS = 180): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const c0 = cpuSeconds(pid);
    await sleep(4_000);
    const used = cpuSeconds(pid) - c0;
    if (used < 0.2 || (performance.now() - t0) / 1000 > maxS) return (performance.now() - t0) / 1000;
  }
}

/** Running workflows of a type: how many, and the longest history (events; DescribeWorkflowExecution, as the dev server's visibility has no HistoryLength for open runs). */
async function histories(client: Client, type: string): Promise<{ count: number; max: number; median: number }> {
  const ids: string[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowType = '${type}' AND ExecutionStatus = 'Running'` })) ids.push(w.workflowId);
  const lengths = await mapLimit(ids, 32, async (id) => (await client.workflow.getHandle(id).describe()).historyLength);
  return { count: lengths.length, max: lengths.length ? Math.max(...lengths) : NaN, median: median(lengths) };
}

async function freezesPart(ctx: BenchContext, count: number): Promise<Figure[]> {
  const concurrency = envInt('BENCH_SCALE_CONCURRENCY', 32);
  const bundle = await prebuiltBundle(ctx);
  const env = await startDevServer(ctx);
  const figures: Figure[] = [];
  try {
    const taskQueue = `bench-scale-${randomUUID()}`;
    const e = rearguardEnv(env, ctx.workDir, taskQueue, { REARGUARD_WORKFLOW_BUNDLE: bundle.file });
    const worker = spawnWorker(e);
    try {
      await worker.ready;
      const idleRss = worker.memory().rss;
      // Started directly (startFreeze waits until the gate sees each one: it lists every running freeze, O(n) per start).
      const now = Date.now();
      const prefix = `scale${randomUUID().slice(0, 4)}`;
      const t0 = performance.now();
      let done = 0;
      await mapLimit(
        Array.from({ length: count }, (_, i) => i),
        concurrency,
        async (i) => {
          const input = freezeInput(i, now, { prefix });
          await env.client.workflow.start('freezeWindow', {
            workflowId: freezeWorkflowId(input.name),
            taskQueue,
            args: [input],
            memo: { actor: input.actor, reason: input.reason, requestId: randomUUID(), end: input.end },
          });
          if (++done % 1000 === 0) ctx.log(`started ${done}/${count}`);
        },
      );
      const started = (performance.now() - t0) / 1000;
      ctx.log(`${count} freeze workflows started in ${num(started)} s (${num(count / started)}/s, ${concurrency} in flight)`);
      try {
        await untilAudited(ctx, e.REARGUARD_AUDIT_FILE, 'freeze.started', count, worker, envInt('BENCH_SCALE_TIMEOUT_S', 3600));
      } catch (err) {
        if (!(err instanceof WorkerDied)) throw err;
        ctx.log(err.message);
        const startedFigure: Figure = { name: `setup: ${count} freezes started`, value: started, unit: 's', note: `${concurrency} in flight` };
        return [startedFigure, ...diedFigures('open freezes', count, err)];
      }
      const admitted = (performance.now() - t0) / 1000;
      ctx.log(`all ${count} admitted after ${num(admitted)} s`);
      // A few exceptions, among the first windows (the gate's expectations use them).
      const withException = Array.from({ length: Math.min(count, 100) }, (_, i) => i).filter(hasException);
      await mapLimit(withException, 8, (i) => approveException(env.client, prefix, i));
      const idleWait = await untilIdle(worker.pid);
      const settled = worker.memory();
      ctx.log(`worker idle after ${num(idleWait)} s more: RSS ${num(settled.rss)} MB, peak ${num(settled.peak)} MB`);
      figures.push(
        {
          name: `setup: ${count} freezes started`,
          value: started,
          unit: 's',
          note: `client.workflow.start, ${concurrency} in flight: ${num(count / started)}/s`,
        },
        {
          name: `setup: ${count} freezes started and admitted by the worker`,
          value: admitted,
          unit: 's',
          note: `${num(count / admitted)}/s; "freeze.started" audit events counted`,
        },
        {
          name: `worker RSS, ${count} open freezes, idle`,
          value: settled.rss,
          unit: 'MB',
          goal: RSS_GOAL,
          note: `just started: ${num(idleRss)} MB; peak (VmHWM) so far ${num(settled.peak)} MB; worker settings: ${workerSettings(worker)}`,
        },
      );

      const h = await histories(env.client, 'freezeWindow');
      figures.push({
        name: `longest history among ${h.count} running freezes`,
        value: h.max,
        unit: 'events',
        note: `median ${h.median}; continue-as-new past historyLimit (2000) bounds it`,
      });

      const runs = envInt('BENCH_SCALE_LIST_RUNS', 3);
      const list: number[] = [];
      let listNote = '';
      for (let i = 0; i < runs; i++) {
        const c = rearguardCommand(['freeze', 'list', '--json'], e);
        const r = await runTimed(c.cmd, c.args, c.env);
        list.push(r.ms);
        const shown = r.code === 0 ? (JSON.parse(r.stdout) as unknown[]).length : NaN;
        listNote = `exit ${r.code}, ${Number.isNaN(shown) ? 'incomplete' : `${shown} windows`}${r.code !== 0 ? `: ${r.stderr.split('\n')[0].slice(0, 160)}` : ''}`;
        ctx.log(`freeze list: ${num(r.ms)} ms, ${listNote}`);
      }
      figures.push({
        name: `rearguard freeze list, ${count} freezes: median`,
        value: median(list),
        unit: 'ms',
        goal: { op: '<=', value: 2000 },
        note: `${spread(list)}; last run ${listNote}`,
      });

      const serve = await startServe(e);
      try {
        // One request first: a gate that reads every freeze on each request would take minutes under load.
        const t = performance.now();
        const probe = await fetch(`${serve.url}${gatePath({ env: 'prod', service: 'svc-0' })}`, { signal: AbortSignal.timeout(120_000) }).catch(
          (err: Error) => err,
        );
        const one = performance.now() - t;
        ctx.log(`one gate request: ${num(one)} ms, ${probe instanceof Error ? probe.message : probe.status}`);
        if (!(probe instanceof Error)) await probe.body?.cancel();
        const maxOne = envInt('BENCH_SCALE_GATE_MAX_MS', 5_000);
        if (one > maxOne) {
          const why = `one gate request took ${num(one)} ms (> BENCH_SCALE_GATE_MAX_MS ${maxOne}): load skipped`;
          figures.push(
            { name: `gate (${count} freezes): requests/s`, value: NaN, unit: 'req/s', goal: { op: '>=', value: 1000 }, note: why },
            { name: `gate (${count} freezes): p99 latency`, value: NaN, unit: 'ms', goal: { op: '<=', value: 5 }, note: why },
            { name: `gate (${count} freezes): one request`, value: one, unit: 'ms' },
          );
        } else {
          const wanted = expectations(Math.min(count, 100));
          const problems = await checkAnswers(serve.url, wanted, 30_000);
          const seconds = envInt('BENCH_GATE_SECONDS', 10);
          const connections = envInt('BENCH_GATE_CONNECTIONS', 50);
          const rate = envInt('BENCH_GATE_RATE', 0);
          const load = await gateLoadFigures(ctx, serve.url, { label: `${count} freezes`, seconds, connections, rate, workerPid: worker.pid });
          load.push({
            name: `gate (${count} freezes): answers checked before the load`,
            value: wanted.length - problems.length,
            unit: 'count',
            goal: { op: '>=', value: wanted.length },
            note: problems.length ? problems.join('; ').slice(0, 400) : `all ${wanted.length} as expected`,
          });
          figures.push(...load);
        }
      } finally {
        await serve.stop();
      }
      const after = worker.memory();
      figures.push({
        name: `worker RSS, ${count} open freezes, after freeze list and the gate`,
        value: after.rss,
        unit: 'MB',
        goal: RSS_GOAL,
        note: `peak (VmHWM) ${num(after.peak)} MB; ${workerSettings(worker)}`,
      });
    } finally {
      await worker.stop();
    }
  } finally {
    await env.teardown();
  }
  return figures;
}

async function guardsPart(ctx: BenchContext, count: number): Promise<Figure[]> {
  const concurrency = envInt('BENCH_SCALE_CONCURRENCY', 32);
  const intervalS = envInt('BENCH_SCALE_GUARD_INTERVAL_S', 30);
  const bundle = await prebuiltBundle(ctx);
  const target = await startMetricsTarget({ rps: 50, errorRatio: 0.01 });
  const prom = await startPrometheus({ scrapeTargets: [target.hostPort], jobName: 'app', scrapeInterval: '5s', evaluationInterval: '5s' });
  const env = await startDevServer(ctx);
  const figures: Figure[] = [];
  try {
    const taskQueue = `bench-guards-${randomUUID()}`;
    const e = rearguardEnv(env, ctx.workDir, taskQueue, { REARGUARD_WORKFLOW_BUNDLE: bundle.file, REARGUARD_PROMETHEUS_URL: prom.url });
    const worker = spawnWorker(e);
    try {
      await worker.ready;
      const idleRss = worker.memory().rss;
      const t0 = performance.now();
      await mapLimit(
        Array.from({ length: count }, (_, i) => i),
        concurrency,
        async (i) => {
          const rb = validateRunbook({
            apiVersion: 'rearguard/v1',
            kind: 'Runbook',
            metadata: { name: `svc-${i}-prod` },
            spec: {
              service: `svc-${i}`,
              environment: 'prod',
              sla: '5m',
              steps: [{ name: 'undo', type: 'webhook', url: 'http://127.0.0.1:9/never-called' }],
              slo: {
                interval: `${intervalS}s`,
                conditions: [{ name: 'error-ratio', query: 'sum(rate(http_requests_total{code="500"}[1m])) / sum(rate(http_requests_total[1m]))', above: 0.5 }],
              },
            },
          });
          if (!rb.ok) throw new Error(rb.problems.join('\n'));
          await startGuard(env.client, taskQueue, rb.value, { actor: 'bench', reason: 'bench' });
        },
      );
      const started = (performance.now() - t0) / 1000;
      ctx.log(`${count} guards started in ${num(started)} s`);
      try {
        await untilAudited(ctx, e.REARGUARD_AUDIT_FILE, 'guard.started', count, worker, envInt('BENCH_SCALE_TIMEOUT_S', 3600));
      } catch (err) {
        if (!(err instanceof WorkerDied)) throw err;
        ctx.log(err.message);
        return [...figures, ...diedFigures('SLO guards', count, err)];
      }
      const running = (performance.now() - t0) / 1000;
      // Two evaluation intervals, sampling the RSS: every guard has evaluated at least twice.
      const samples: number[] = [];
      const cpu0 = cpuSeconds(worker.pid);
      for (let s = 0; s < (2 * intervalS) / 5; s++) {
        await sleep(5_000);
        samples.push(worker.memory().rss);
      }
      const cpu = cpuSeconds(worker.pid) - cpu0;
      const m = worker.memory();
      const h = await histories(env.client, 'sloGuard');
      ctx.log(
        `guards: RSS ${num(m.rss)} MB (max sampled ${num(Math.max(...samples))}), peak ${num(m.peak)} MB, worker CPU ${num(cpu)} s over ${2 * intervalS} s`,
      );
      figures.push(
        {
          name: `setup: ${count} SLO guards started and running`,
          value: running,
          unit: 's',
          note: `startGuard with ${concurrency} in flight: ${num(started)} s; then their guard.started audit events`,
        },
        {
          name: `worker RSS, ${count} SLO guards evaluating every ${intervalS}s`,
          value: m.rss,
          unit: 'MB',
          goal: RSS_GOAL,
          note: `just started: ${num(idleRss)} MB; over 2 intervals: max sampled ${num(Math.max(...samples))} MB, peak (VmHWM) ${num(m.peak)} MB; worker CPU ${num((100 * cpu) / (2 * intervalS))}% of a core; worker settings: ${workerSettings(worker)}; Prometheus ${prom.url} (real, scraping a synthetic target)`,
        },
        { name: `longest history among ${h.count} running guards`, value: h.max, unit: 'events', note: `median ${h.median}` },
      );
    } finally {
      await worker.stop();
    }
  } finally {
    await env.teardown();
    await prom.stop();
    await target.stop();
  }
  return figures;
}

export const scale: Scenario = {
  name: 'scale',
  description: '10,000 open freezes (worker RSS, freeze list, gate, history length); 1,000 SLO guards (worker RSS)',
  async run(ctx) {
    const freezes = envInt('BENCH_SCALE_FREEZES', 10_000);
    const guards = envInt('BENCH_SCALE_GUARDS', 1_000);
    const t0 = performance.now();
    const figures: Figure[] = [];
    if (freezes > 0) figures.push(...(await freezesPart(ctx, freezes)));
    if (guards > 0) figures.push(...(await guardsPart(ctx, guards)));
    figures.push({
      name: 'scale scenario: total time',
      value: (performance.now() - t0) / 1000,
      unit: 's',
      note: `BENCH_SCALE_FREEZES=${freezes}, BENCH_SCALE_GUARDS=${guards}`,
    });
    return figures;
  },
};
