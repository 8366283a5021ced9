// Chaos, counted: composite rollbacks and guarded freezes run on a real Temporal cluster (PostgreSQL, mTLS) with two
// worker processes, while worker processes are SIGKILLed at random points (with their helm, git and terraform, as a
// container runtime kills a pod), the Temporal server is SIGKILLed and restarted, and PostgreSQL is restarted. At the
// end every system is checked (test/helpers/chaos-systems.ts): the right outcome, and how many times each change
// was applied. Used by `npm run chaos` (scripts/chaos.ts, the full run) and test/e2e/chaos.test.ts (a short one).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { rollbackFinal } from '../../api/rollbacks.js';
import { resolveTemporal } from '../../api/temporal-connection.js';
import type { FreezeState } from '../../runbook/freeze.js';
import type { AuditEvent, RollbackStatus } from '../../runbook/types.js';
import { startTestbed, type Testbed } from '../testbed/cluster.js';
import { startArgoCd, type ArgoCd } from './argocd.js';
import { compositeService, guardedFreeze, type CompositeService, type Findings, type GuardedFreeze } from './chaos-systems.js';
import { startTemporalCluster, type TemporalCluster } from './cluster.js';
import { rearguard, startWorker, type CliResult, type WorkerProcess } from './processes.js';
import { startReceiver, type Receiver } from './receiver.js';
import { toolPath } from './tools.js';

export interface ChaosOptions {
  rollbacks: number;
  freezes: number;
  /** Worker SIGKILLs. */
  kills: number;
  serverRestarts: number;
  postgresRestarts: number;
  /** Rollbacks in flight at once. */
  concurrency: number;
  /** Pause between two disruptions, drawn in [min, max] ms. */
  pauseMs: [number, number];
  seed: number;
  log?: (line: string) => void;
}

export interface Disruption {
  kind: 'worker' | 'server' | 'postgres';
  at: number;
}

export interface ChaosReport {
  seed: number;
  kills: number;
  serverRestarts: number;
  postgresRestarts: number;
  /** Workers that exited on their own (not killed) and were started again. */
  workerExits: number;
  rollbacks: { started: number; succeeded: number };
  freezes: { started: number; restored: number };
  duplicates: Record<string, number>;
  totalDuplicates: number;
  /** Interrupted work found and completed, by kind. */
  resumed: Record<string, number>;
  problems: string[];
  /** For each disruption, how long the runs in flight then went without an audit event; the longest. */
  longestRecoveryMs: number;
  /** Disruptions that hit a rollback in flight, and a freeze applying or restoring its guardrails. */
  during: { rollbacks: number; guardrailChanges: number };
  durationMs: number;
}

/** A small seeded generator (mulberry32): a failing run is repeated with its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => undefined);
  const rand = random(o.seed);
  const began = Date.now();
  let cluster: TemporalCluster | undefined;
  let bed: Testbed | undefined;
  let receiver: Receiver | undefined;
  let argo: ArgoCd | undefined;
  let connection: Connection | undefined;
  const services: CompositeService[] = [];
  const workers: (WorkerProcess | undefined)[] = [undefined, undefined];
  const killGroups = () => workers.forEach((w) => w && void w.stop('SIGKILL'));
  process.once('exit', killGroups);
  const dir = await mkdtemp(join(tmpdir(), 'rearguard-chaos-'));
  let stopping = false;
  try {
    [cluster, bed, receiver] = await Promise.all([startTemporalCluster(), startTestbed(), startReceiver()]);
    argo = await startArgoCd(bed);
    log(`cluster at ${cluster.address}, testbed at ${bed.server}`);

    for (let i = 1; i <= o.rollbacks; i++) services.push(await compositeService(bed, dir, `chaos-s${i}`, receiver));
    const freezes: GuardedFreeze[] = [];
    for (let i = 1; i <= o.freezes; i++) freezes.push(await guardedFreeze(bed, dir, `chaos-f${i}`, receiver));
    log(`${services.length} services and ${freezes.length} freezes set up in ${Math.round((Date.now() - began) / 1000)} s`);

    const targets = join(dir, 'targets.yaml');
    await writeFile(targets, `clusters:\n  testbed: { kubeconfig: ${bed.kubeconfig} }\nrepos:\n${services.map((s) => s.repos).join('')}`);
    const audit = join(dir, 'audit.jsonl');
    const env = {
      ...cluster.env,
      HOME: dir,
      REARGUARD_TASK_QUEUE: 'rearguard-chaos',
      REARGUARD_AUDIT_FILE: audit,
      REARGUARD_METRICS_PORT: '0',
      REARGUARD_RUNTIME_METRICS_PORT: '0',
    };
    const workerEnv = (slot: number) => ({
      ...env,
      REARGUARD_TARGETS: targets,
      REARGUARD_HELM_BIN: toolPath('helm'),
      REARGUARD_TERRAFORM_BIN: toolPath('terraform'),
      REARGUARD_WORKDIR: join(dir, `work-${slot}`),
    });
    let workerExits = 0;
    const start = async (slot: number): Promise<void> => {
      await mkdir(join(dir, `work-${slot}`), { recursive: true });
      const w = await startWorker(workerEnv(slot), { group: true });
      workers[slot] = w;
      // A worker that exits on its own (not by our kill) is counted and started again, as its Deployment would.
      void w.exited.then(async () => {
        if (stopping || workers[slot] !== w || (w as WorkerProcess & { killed?: boolean }).killed) return;
        workerExits++;
        log(`worker ${slot} exited on its own:\n${w.output().slice(-1500)}`);
        for (let attempt = 1; attempt <= 10 && !stopping; attempt++) {
          try {
            return await start(slot);
          } catch (err) {
            log(`worker ${slot} did not start again (${attempt}/10): ${String(err).slice(0, 300)}`);
            await sleep(3_000);
          }
        }
      });
    };
    await Promise.all([start(0), start(1)]);
    const target = await resolveTemporal({ ...cluster.env, HOME: dir });
    connection = await Connection.connect(target.connection);
    const client = new Client({ connection, namespace: target.namespace });

    /** A CLI command, tried again while the cluster is disrupted (`done` says whether a failed try took effect). */
    const cli = async (args: string[], done?: () => Promise<boolean>): Promise<CliResult> => {
      for (let attempt = 1; ; attempt++) {
        const r = await rearguard(args, env);
        if (r.code === 0 || attempt >= 30) return r;
        if (done && (await done().catch(() => false))) return { ...r, code: 0 };
        log(`retrying \`${args.slice(0, 2).join(' ')}\` (${r.stderr.trim().split('\n')[0]})`);
        await sleep(2_000);
      }
    };
    const exists = (id: string) => async () => {
      await client.workflow.getHandle(id).describe();
      return true;
    };

    const disruptions: Disruption[] = [];
    // The disruptions, from before the first freeze starts: server and PostgreSQL restarts spread among worker kills.
    let kills = 0;
    let serverRestarts = 0;
    let postgresRestarts = 0;
    let done = 0;
    let aborted = false;
    // Server restarts a third of the way through the kills, PostgreSQL restarts two thirds, each spread evenly.
    const plan: Disruption['kind'][] = Array.from({ length: o.kills }, () => 'worker');
    const insert = (kind: Disruption['kind'], n: number, offset: number) => {
      for (let k = n - 1; k >= 0; k--) plan.splice(Math.round(((k + offset) / n) * o.kills), 0, kind);
    };
    insert('server', o.serverRestarts, 0.33);
    insert('postgres', o.postgresRestarts, 0.66);
    // A freeze that has just been started or lifted cuts the pause short: the next disruption then lands while its
    // guardrails are going on or coming off (they take about a second, which random pauses would rarely hit).
    let nudge = () => undefined as void;
    const disrupt = (async () => {
      for (const kind of plan) {
        const pause = o.pauseMs[0] + rand() * (o.pauseMs[1] - o.pauseMs[0]);
        await Promise.race([sleep(pause), new Promise<void>((r) => (nudge = r))]);
        if (aborted || stopping) break;
        const at = Date.now();
        if (kind === 'server') {
          await cluster!.restartServer({ downMs: 2_000 });
          serverRestarts++;
          log(`Temporal server SIGKILLed and restarted (${Date.now() - at} ms)`);
        } else if (kind === 'postgres') {
          await cluster!.restartPostgres({ downMs: 2_000 });
          postgresRestarts++;
          log(`PostgreSQL restarted (${Date.now() - at} ms)`);
        } else {
          const slot = rand() < 0.5 ? 0 : 1;
          const w = workers[slot]!;
          (w as WorkerProcess & { killed?: boolean }).killed = true;
          await w.stop('SIGKILL');
          kills++;
          log(`kill ${kills}: worker ${slot} (pid ${w.child.pid})`);
          await start(slot);
        }
        disruptions.push({ kind, at });
        done++;
      }
    })();
    void disrupt.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    /** Resolves once `n` disruptions are done (or all of them). */
    const disrupted = async (n: number) => {
      while (done < Math.min(n, plan.length) && !aborted) await sleep(500);
    };
    // The work: freezes started first, rollbacks `concurrency` at a time, freezes lifted once half the rollbacks
    // ended and most disruptions are done (the rest hit the lifts).
    // When each run was busy (recovery is measured for busy runs only): a rollback from start to end; a freeze while
    // its guardrails go on (from apply to the guardrails-applied event) and from its lift to its end.
    const spans: { id: string; from: number; to?: number; until?: string }[] = [];
    const statuses = new Map<string, RollbackStatus | undefined>();
    const freezeStates = new Map<string, FreezeState | undefined>();
    /** Resolves once that fraction of the disruptions is done: the work is paced along them. */
    const at = (fraction: number) => disrupted(Math.floor(plan.length * fraction));

    // Freeze j: its guardrails go on in the first 40% of the disruptions, come off between 50% and 90%.
    const freezeRun = async (f: GuardedFreeze, j: number) => {
      const id = `freeze:${f.name}`;
      await at((j / freezes.length) * 0.4);
      // Busy from the moment the command is sent: the guardrails may be on before it returns.
      const from = Date.now();
      const r = await cli(['freeze', 'calendar', 'apply', f.calendar, '--as', 'rm-chaos'], exists(id));
      if (r.code !== 0) throw new Error(`freeze ${f.name} did not start: ${r.stderr}`);
      spans.push({ id, from, until: 'freeze.guardrails-applied' });
      log(`${id} started`);
      nudge();
      await at(0.5 + (j / freezes.length) * 0.4);
      const span: (typeof spans)[number] = { id, from: Date.now() };
      spans.push(span);
      const lifting = cli(['freeze', 'lift', '--name', f.name, '--reason', 'chaos done', '--as', 'rm-chaos'], async () => {
        const d = await client.workflow.getHandle(id).describe();
        return d.status.name !== 'RUNNING';
      });
      // The CLI takes most of a second to start and send the lift; the restore begins as it lands.
      setTimeout(() => nudge(), 700);
      const lift = await lifting;
      if (lift.code !== 0) log(`lift ${f.name} failed: ${lift.stderr}`);
      for (;;) {
        try {
          freezeStates.set(f.name, (await client.workflow.getHandle(id).result()) as FreezeState);
          break;
        } catch (err) {
          log(`waiting for ${id}: ${String(err)}`);
          await sleep(1_000);
        }
      }
      span.to = Date.now();
      log(`${id} ended ${freezeStates.get(f.name)?.phase}`);
    };

    // Rollback k starts once k/n of 85% of the disruptions are done (and a lane is free).
    let next = 0;
    let finished = 0;
    const one = async (s: CompositeService, k: number) => {
      await at((k / services.length) * 0.85);
      const id = `rollback:prod:${s.service}`;
      const span: (typeof spans)[number] = { id, from: Date.now() };
      const r = await cli(['rollback', 'start', '--runbook', s.runbook, '--reason', 'chaos: bad release', '--as', 'dave'], exists(id));
      if (r.code !== 0) throw new Error(`rollback ${s.service} did not start: ${r.stderr}`);
      spans.push(span);
      for (;;) {
        const end = await rollbackFinal(client, id).catch(() => ({ closed: false as const, status: undefined }));
        if (end.closed) {
          statuses.set(s.service, end.status);
          break;
        }
        await sleep(1_000);
      }
      span.to = Date.now();
      finished++;
      log(`${id} ended ${statuses.get(s.service)?.outcome ?? '(no status)'} (${finished}/${services.length})`);
    };
    const lanes = Array.from({ length: Math.max(1, o.concurrency) }, async () => {
      for (let k = next++; k < services.length; k = next++) await one(services[k]!, k);
    });
    const work = Promise.all([...lanes, ...freezes.map(freezeRun)]).catch((err) => {
      aborted = true;
      throw err;
    });

    await Promise.all([work, disrupt]);

    // The checks.
    const events = (await readFile(audit, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent);
    const findings: Findings[] = [];
    for (const s of services) findings.push(await s.check(statuses.get(s.service)));
    for (const f of freezes) {
      const found = await f.check(events);
      const state = freezeStates.get(f.name);
      if (state?.phase !== 'lifted' || state.guardrails?.restored !== true)
        found.problems.push(`${f.name}: ended ${state?.phase}, restored ${state?.guardrails?.restored}`);
      findings.push(found);
    }
    const duplicates: Record<string, number> = {};
    for (const f of findings) for (const [k, n] of Object.entries(f.duplicates)) duplicates[k] = (duplicates[k] ?? 0) + n;
    const { missing = 0, ...applied } = duplicates;
    const resumed: Record<string, number> = {};
    for (const f of findings) for (const [k, n] of Object.entries(f.resumed ?? {})) resumed[k] = (resumed[k] ?? 0) + n;
    const problems = findings.flatMap((f) => f.problems);
    if (missing) problems.push(`${missing} service(s) with a change not applied at all`);

    /** Whether `span` was busy at `t`: it began before, and ends after (a span waiting for an audit event that never came ends where it began). */
    const busyAt = (span: (typeof spans)[number], t: number) => {
      const to = span.until ? events.find((e) => e.workflowId === span.id && e.action === span.until && Date.parse(e.time) >= span.from) : undefined;
      const end = span.to ?? (to ? Date.parse(to.time) : span.until ? span.from : Infinity);
      return span.from <= t && t <= end;
    };
    // Recovery: after each disruption, the time until each run then busy wrote its next audit event.
    const recoveries: { ms: number; what: string }[] = [];
    for (const [i, d] of disruptions.entries()) {
      for (const span of spans.filter((x) => busyAt(x, d.at))) {
        const next = events.find((e) => e.workflowId === span.id && Date.parse(e.time) > d.at);
        if (next) recoveries.push({ ms: Date.parse(next.time) - d.at, what: `disruption ${i + 1} (${d.kind}) -> ${span.id} ${next.action}` });
      }
    }
    recoveries.sort((a, b) => b.ms - a.ms);
    // Which disruptions hit work in progress: a rollback running, a freeze's guardrails going on or coming off.
    const during = {
      rollbacks: disruptions.filter((d) => spans.some((x) => x.id.startsWith('rollback') && busyAt(x, d.at))).length,
      guardrailChanges: disruptions.filter((d) => spans.some((x) => x.id.startsWith('freeze') && busyAt(x, d.at))).length,
    };
    for (const r of recoveries.slice(0, 3)) log(`recovery ${(r.ms / 1000).toFixed(1)} s: ${r.what}`);
    const longestRecoveryMs = recoveries[0]?.ms ?? 0;
    return {
      seed: o.seed,
      kills,
      serverRestarts,
      postgresRestarts,
      workerExits,
      rollbacks: { started: statuses.size, succeeded: [...statuses.values()].filter((s) => s?.outcome === 'succeeded').length },
      freezes: { started: freezes.length, restored: [...freezeStates.values()].filter((s) => s?.guardrails?.restored).length },
      duplicates: applied,
      totalDuplicates: Object.values(applied).reduce((a, b) => a + b, 0),
      resumed,
      problems,
      longestRecoveryMs,
      during,
      durationMs: Date.now() - began,
    };
  } finally {
    stopping = true;
    process.off('exit', killGroups);
    await Promise.all(workers.map((w) => w?.stop('SIGKILL')));
    for (const s of services) s.stop();
    await argo?.stop();
    await connection?.close();
    await Promise.all([cluster?.stop(), bed?.stop(), receiver?.close()]);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}
