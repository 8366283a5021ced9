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
  /** Also paced runs at this rate across all connections (req/s; BENCH_GATE_RATE), without goals; 0: none. */
  rate: number;
  /** The worker process, for its CPU during the gate's load. */
  workerPid?: number;
}

/**
 * /healthz, then the gate (a frozen and an allowed target in turn), with `connections` connections flat out for
 * `seconds` each (2 s of warm-up before): the figures of goal 1. Flat out, latency is mostly queueing (p50 ~
 * connections / throughput), the same for both endpoints: the ratio says what the gate itself costs. With `rate`,
 * also paced runs (autocannon overallRate), as extra figures: autocannon sends each connection's share of a second
 * at the start of the second, so those latencies are of bursts of `rate` requests, not of a steady rate.
 */
export async function gateLoadFigures(ctx: BenchContext, url: string, o: GateLoadOptions): Promise<Figure[]> {
  const run = async (what: string, paths: string[], rate?: number): Promise<LoadResult & { workerCpu: number }> => {
    const settings = { seconds: o.seconds, connections: o.connections, paths, ...(rate ? { rate } : {}) };
    await load(url, { ...settings, seconds: 2 });
    const cpu0 = o.workerPid ? cpuSeconds(o.workerPid) : NaN;
    const r = await load(url, settings);
    const cpu = o.workerPid ? cpuSeconds(o.workerPid) - cpu0 : NaN;
    ctx.log(
      `${what} ${rate ? `at ${rate} req/s` : 'flat out'}: ${num(r.rps)} req/s, p50 ${num(r.latency.median)} ms, p99 ${num(r.latency.p99)} ms, statuses ${statusText(r.statuses)}, errors ${r.errors}, timeouts ${r.timeouts}${o.workerPid ? `, worker CPU ${num(cpu)} s` : ''}`,
    );
    return Object.assign(r, { workerCpu: cpu });
  };
  const frozen = gatePath({ env: 'prod', service: 'svc-0' });
  const allowed = gatePath({ env: 'prod', service: 'not-frozen' });
  const healthz = await run('/healthz', ['/healthz']);
  const gate = await run('/v1/gate', [frozen, allowed]);
  const bad = (r: LoadResult) => r.completed - (r.statuses['200'] ?? 0) - (r.statuses['423'] ?? 0) + r.errors;
  const detail = (r: LoadResult) => `statuses ${statusText(r.statuses)}, connection errors ${r.errors} (timeouts ${r.timeouts})`;
  const lat = (r: LoadResult) =>
    `p50 ${num(r.latency.median)}, p95 ${num(r.latency.p95)}, p99 ${num(r.latency.p99)}, max ${num(r.latency.max)} ms over ${r.completed} responses`;
  const cpu = (r: { workerCpu: number }) => (Number.isFinite(r.workerCpu) ? `; worker CPU ${num(r.workerCpu)} s` : '');
  const flat = `${o.connections} connections flat out, ${o.seconds} s`;
  const figures: Figure[] = [
    {
      name: `gate (${o.label}): requests/s`,
      value: gate.rps,
      unit: 'req/s',
      goal: { op: '>=', value: 1000 },
      note: `${flat}; GET ${frozen} and ${allowed} in turn; ${detail(gate)}${cpu(gate)}`,
    },
    {
      name: `gate (${o.label}): p99 latency`,
      value: gate.latency.p99,
      unit: 'ms',
      goal: { op: '<=', value: 5 },
      note: `${lat(gate)}; queueing alone: ${o.connections} connections / ${num(gate.rps)} req/s = ${num((1000 * o.connections) / gate.rps)} ms`,
    },
    {
      name: `gate (${o.label}): p99 / healthz p99`,
      value: gate.latency.p99 / healthz.latency.p99,
      unit: 'x',
      goal: { op: '<=', value: 2 },
      peer: { name: '/healthz p99', value: healthz.latency.p99, unit: 'ms' },
      note: `/healthz, same server, same settings: ${num(healthz.rps)} req/s, ${lat(healthz)}`,
    },
    {
      name: `gate (${o.label}): errors (not 200/423, or no answer)`,
      value: bad(gate),
      unit: 'count',
      goal: { op: '<=', value: 0 },
      note: detail(gate),
    },
    { name: `/healthz (${o.label}): requests/s`, value: healthz.rps, unit: 'req/s', note: `${flat}, same server; ${detail(healthz)}` },
  ];
  if (o.rate > 0) {
    const healthzPaced = await run('/healthz', ['/healthz'], o.rate);
    const gatePaced = await run('/v1/gate', [frozen, allowed], o.rate);
    figures.push({
      name: `gate (${o.label}): p99 latency, paced at ${o.rate} req/s`,
      value: gatePaced.latency.p99,
      unit: 'ms',
      peer: { name: `/healthz p99 at ${o.rate} req/s`, value: healthzPaced.latency.p99, unit: 'ms' },
      note: `served ${num(gatePaced.rps)} req/s, ${lat(gatePaced)}; errors ${bad(gatePaced)}; per-second bursts (autocannon overallRate)`,
    });
  }
  return figures;
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

        const rate = envInt('BENCH_GATE_RATE', 0);
        const figures = await gateLoadFigures(ctx, serve.url, { label: `${count} freezes`, seconds, connections, rate, workerPid: worker.pid });
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
