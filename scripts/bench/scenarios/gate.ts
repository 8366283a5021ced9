// Goal 1, the deploy gate under load: `rearguard serve` (a process of its own, the gate's rate limit off) with
// a worker process and 100 running freezes (started with api/freezes.ts startFreeze: a mix of environments and
// services, one in ten with an approved exception). The answers for a few targets are checked first (frozen,
// allowed, an exception's change allowed); then autocannon, 50 connections for 10 s, on /healthz and on
// GET /v1/gate (a frozen and an allowed target in turn) of the same server in the same run.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { approveFreezeException, requestFreezeException, startFreeze } from '../../../api/freezes.js';
import { freezeWorkflowId } from '../../../api/ids.js';
import {
  cpuSeconds,
  envInt,
  load,
  mapLimit,
  num,
  prebuiltBundle,
  rearguardEnv,
  sleep,
  spawnWorker,
  startDevServer,
  startServe,
  statusText,
  type LoadResult,
} from '../lib.js';
import type { BenchContext, Figure, Scenario } from '../types.js';
import { APPROVERS, REQUESTER, changeOf, expectations, freezeInput, gatePath, hasException, type GateExpectation } from './freezes.js';

/** Requests an exception for change CHG-i on window i and approves it. */
export async function approveException(client: Client, prefix: string, i: number): Promise<void> {
  const id = freezeWorkflowId(`${prefix}-${i}`);
  await requestFreezeException(client, id, { actor: REQUESTER, reason: 'bench hotfix', changeId: changeOf(i), validFor: 24 * 3_600_000 });
  await approveFreezeException(client, id, { actor: APPROVERS[0], changeId: changeOf(i), reason: 'bench: reviewed' });
}

/**
 * The gate's answers for the expectations: each is asked until it matches (up to `waitMs`: a gate fed by a
 * registry may lag a moment behind a start). Returns the mismatches as text.
 */
export async function checkAnswers(url: string, wanted: GateExpectation[], waitMs: number): Promise<string[]> {
  const problems: string[] = [];
  for (const x of wanted) {
    const until = Date.now() + waitMs;
    let last = '';
    for (;;) {
      const res = await fetch(`${url}${gatePath(x)}`, { signal: AbortSignal.timeout(60_000) }).catch((err: Error) => err);
      if (!(res instanceof Error) && res.status === x.status) {
        await res.body?.cancel();
        break;
      }
      last = res instanceof Error ? res.message : `${res.status} ${(await res.text()).slice(0, 300)}`;
      if (Date.now() > until) {
        problems.push(`${x.env}/${x.service}${x.change ? ` change ${x.change}` : ''}: expected ${x.status} (${x.why}), got ${last}`);
        break;
      }
      await sleep(250);
    }
  }
  return problems;
}

export interface GateLoadOptions {
  /** "100 freezes": in the figure names. */
  label: string;
  seconds: number;
  connections: number;
  /** The worker process, for its CPU during the gate's load. */
  workerPid?: number;
}

/** healthz then the gate (a frozen and an allowed target in turn), 2 s of warm-up each; the figures of goal 1. */
export async function gateLoadFigures(ctx: BenchContext, url: string, o: GateLoadOptions): Promise<Figure[]> {
  const run = async (what: string, paths: string[]): Promise<LoadResult> => {
    await load(url, { seconds: 2, connections: o.connections, paths });
    const cpu0 = o.workerPid ? cpuSeconds(o.workerPid) : NaN;
    const r = await load(url, { seconds: o.seconds, connections: o.connections, paths });
    const cpu = o.workerPid ? cpuSeconds(o.workerPid) - cpu0 : NaN;
    ctx.log(
      `${what}: ${num(r.rps)} req/s, p50 ${num(r.latency.median)} ms, p99 ${num(r.latency.p99)} ms, statuses ${statusText(r.statuses)}, errors ${r.errors}, timeouts ${r.timeouts}${o.workerPid ? `, worker CPU ${num(cpu)} s` : ''}`,
    );
    return Object.assign(r, { workerCpu: cpu });
  };
  const healthz = await run('/healthz', ['/healthz']);
  const frozen = gatePath({ env: 'prod', service: 'svc-0' });
  const allowed = gatePath({ env: 'prod', service: 'not-frozen' });
  const gate = (await run('/v1/gate', [frozen, allowed])) as LoadResult & { workerCpu: number };
  const unexpected = gate.completed - (gate.statuses['200'] ?? 0) - (gate.statuses['423'] ?? 0);
  const errors = unexpected + gate.errors;
  const setting = `${o.connections} connections, ${o.seconds} s`;
  const detail = `statuses ${statusText(gate.statuses)}, connection errors ${gate.errors} (timeouts ${gate.timeouts})`;
  return [
    {
      name: `gate (${o.label}): requests/s`,
      value: gate.rps,
      unit: 'req/s',
      goal: { op: '>=', value: 1000 },
      note: `${setting}; GET ${frozen} and ${allowed} in turn; ${detail}${Number.isFinite(gate.workerCpu) ? `; worker CPU ${num(gate.workerCpu)} s during the run` : ''}`,
    },
    {
      name: `gate (${o.label}): p99 latency`,
      value: gate.latency.p99,
      unit: 'ms',
      goal: { op: '<=', value: 5 },
      note: `p50 ${num(gate.latency.median)}, p95 ${num(gate.latency.p95)}, max ${num(gate.latency.max)} ms over ${gate.completed} responses`,
    },
    {
      name: `gate (${o.label}): errors (not 200/423, or no answer)`,
      value: errors,
      unit: 'count',
      goal: { op: '<=', value: 0 },
      note: detail,
    },
    { name: `/healthz (${o.label}): requests/s`, value: healthz.rps, unit: 'req/s', note: `${setting}, same server; statuses ${statusText(healthz.statuses)}` },
    { name: `/healthz (${o.label}): p99 latency`, value: healthz.latency.p99, unit: 'ms', note: `p50 ${num(healthz.latency.median)} ms` },
    {
      name: `gate (${o.label}): p99 / healthz p99`,
      value: gate.latency.p99 / healthz.latency.p99,
      unit: 'x',
      goal: { op: '<=', value: 2 },
      peer: { name: '/healthz p99', value: healthz.latency.p99, unit: 'ms' },
    },
  ];
}

export const gate: Scenario = {
  name: 'gate',
  description: 'GET /v1/gate vs /healthz under autocannon, serve + worker + 100 running freezes',
  async run(ctx) {
    const count = envInt('BENCH_GATE_FREEZES', 100);
    const seconds = envInt('BENCH_GATE_SECONDS', 10);
    const connections = envInt('BENCH_GATE_CONNECTIONS', 50);
    const bundle = await prebuiltBundle(ctx);
    const env = await startDevServer(ctx);
    try {
      const taskQueue = `bench-gate-${randomUUID()}`;
      const e = rearguardEnv(env, ctx.workDir, taskQueue, { REARGUARD_WORKFLOW_BUNDLE: bundle.file });
      const worker = spawnWorker(e);
      const serve = await startServe(e).catch(async (err: unknown) => {
        await worker.stop();
        throw err;
      });
      try {
        await worker.ready;
        const t0 = performance.now();
        const now = Date.now();
        const prefix = `gate${randomUUID().slice(0, 4)}`;
        const inputs = Array.from({ length: count }, (_, i) => freezeInput(i, now, { prefix }));
        await mapLimit(inputs, 8, (input) => startFreeze(env.client, taskQueue, input));
        const withException = inputs.map((_, i) => i).filter(hasException);
        await mapLimit(withException, 8, (i) => approveException(env.client, prefix, i));
        const setup = (performance.now() - t0) / 1000;
        ctx.log(`${count} freezes started, ${withException.length} exceptions approved in ${num(setup)} s`);

        const wanted = expectations(count);
        const problems = await checkAnswers(serve.url, wanted, 30_000);
        if (problems.length) throw new Error(`the gate answers wrongly, so its figures would mean nothing:\n  ${problems.join('\n  ')}\n${serve.log()}`);
        ctx.log(`gate answers as expected for ${wanted.length} targets (frozen, allowed, exceptions)`);

        const figures = await gateLoadFigures(ctx, serve.url, { label: `${count} freezes`, seconds, connections, workerPid: worker.pid });
        figures.push({
          name: `setup: ${count} freezes started + ${withException.length} exceptions approved`,
          value: setup,
          unit: 's',
          note: 'startFreeze (admitted and seen by the gate) with 8 in flight',
        });
        return figures;
      } finally {
        await serve.stop();
        await worker.stop();
      }
    } finally {
      await env.teardown();
    }
  },
};
