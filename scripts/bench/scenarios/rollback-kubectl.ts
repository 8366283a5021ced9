// Goal 3: a Kubernetes rollback through Rearguard costs at most 1.2x `kubectl rollout undo` + `kubectl rollout
// status`, and Rearguard's own share of it (trigger to verified, minus the time inside the mechanism's API
// calls and waits) is at most 100 ms. On the testbed (kube-apiserver, etcd, controller-manager, scheduler,
// kwok: pods become ready without containers), each pair is two fresh twin Deployments (same spec, two
// revisions rolled out each): one rolled back by kubectl, the other by `rearguard rollback start --wait`
// (a CLI process, the worker already running; no approval; one kubernetes step and the usual
// kubernetesAvailable verify). The order alternates between pairs; a first pair warms both up, unmeasured.
// Knobs: BENCH_KUBECTL_PAIRS (7, at least 5), BENCH_VERBOSE=1 (each rollback's history timeline).
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Scenario, Figure, BenchContext } from '../types.js';
import { deploymentYaml, namespaceYaml } from '../../../test/helpers/fixtures.js';
import { ROOT } from '../../../test/helpers/tools.js';
import { startTestbed, type Testbed } from '../../../test/testbed/cluster.js';
import {
  activityTime,
  cliCommand,
  median,
  rearguardEnv,
  round,
  runTimings,
  spread,
  startTemporal,
  timelineText,
  workerMode,
  loadText,
  startWorkerProcess,
  writeRunbook,
  type RunTimings,
} from './support.js';

/** Measured pairs (BENCH_KUBECTL_PAIRS, at least 5). */
const PAIRS = Math.max(5, Number(process.env.BENCH_KUBECTL_PAIRS ?? 7));
const REPLICAS = 3;
const NS = 'bench';
/** Activities that are the mechanism: Kubernetes API calls and the rollout waits (planning, the repeat rule's read, apply + wait, verify). */
const MECHANISM = ['findRestored', 'planStep', 'runStep', 'runCheck'];

/** Runs a command; resolves with its wall time in ms, rejects with its output when it fails. */
function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string; startedAt: number; endedAt: number }> {
  const t0 = performance.now();
  const startedAt = Date.now();
  const child = spawn(cmd, args, { cwd: ROOT, env: env ? { ...process.env, ...env } : process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve({ ms, stdout: out, startedAt, endedAt: Date.now() });
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`));
    }),
  );
}

async function twinWithHistory(bed: Testbed, name: string): Promise<void> {
  await bed.kubectl(
    ['apply', '-f', '-'],
    deploymentYaml({ namespace: NS, name, image: 'registry.local/twin:1.0', replicas: REPLICAS, container: 'app', revisionHistoryLimit: 10 }),
  );
  await bed.kubectl(['rollout', 'status', '-n', NS, `deployment/${name}`, '--timeout=120s']);
  await bed.kubectl(['set', 'image', '-n', NS, `deployment/${name}`, 'app=registry.local/twin:2.0-bad']);
  await bed.kubectl(['rollout', 'status', '-n', NS, `deployment/${name}`, '--timeout=120s']);
}

interface RearguardRun {
  ms: number;
  timings: RunTimings;
  /** CLI spawned -> WorkflowExecutionStarted (process start, connection, start-or-join). */
  toTrigger: number;
  /** The last verify activity completed -> the CLI exited (the last audit writes, the run's end, --wait noticing). */
  afterVerified: number;
}

export interface RollbackBreakdown {
  /** WorkflowExecutionStarted -> the last verify activity's completion. */
  triggerToVerified: number;
  /** Inside the mechanism's activities (started -> completed). */
  mechanism: number;
  /** triggerToVerified - mechanism. */
  own: number;
  /** Of `own`: activity schedule-to-start of the mechanism's activities, other activities' time, workflow tasks. */
  detail: string;
}

/** Rearguard's own share of one rollback, from its workflow history. */
export function ownShare(t: RunTimings, mechanism = MECHANISM): RollbackBreakdown {
  const checks = t.activities.filter((a) => a.type === 'runCheck' && a.completed);
  const verified = (checks.at(-1) ?? t.activities.filter((a) => a.type === 'runStep').at(-1))?.completed ?? t.end ?? t.start;
  const inMechanism = t.activities.filter((a) => mechanism.includes(a.type) && a.started && a.completed && a.completed <= verified);
  const mech = inMechanism.reduce((n, a) => n + (a.completed! - a.started!), 0);
  const scheduleToStart = inMechanism.reduce((n, a) => n + (a.started! - a.scheduled), 0);
  const others = t.activities
    .filter((a) => !mechanism.includes(a.type) && a.scheduled < verified)
    .map((a) => `${a.type} ${a.completed && a.started ? a.completed - a.started : '?'}`)
    .join(', ');
  const triggerToVerified = verified - t.start;
  return {
    triggerToVerified,
    mechanism: mech,
    own: triggerToVerified - mech,
    detail: `mechanism activities' schedule-to-start ${scheduleToStart} ms; ${t.workflowTasks.filter((w) => w.scheduled < verified).length} workflow tasks; other activities: ${others || 'none'}`,
  };
}

export const rollbackKubectl: Scenario = {
  name: 'rollback-kubectl',
  description: `Kubernetes rollback: rearguard rollback start --wait vs kubectl rollout undo + rollout status on twin Deployments (${PAIRS} alternating pairs, testbed with kwok)`,
  async run(ctx: BenchContext): Promise<Figure[]> {
    const { workDir, log } = ctx;
    log('rollback-kubectl: starting the testbed and a Temporal dev server');
    const [bed, temporal] = await Promise.all([startTestbed(), startTemporal(join(workDir, 'temporal-k8s'))]);
    let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
    try {
      await bed.kubectl(['apply', '-f', '-'], namespaceYaml(NS));
      const clusters = join(workDir, 'k8s-clusters.yaml');
      await writeFile(clusters, `clusters:\n  testbed: { kubeconfig: ${bed.kubeconfig} }\n`);
      const env = rearguardEnv(temporal, workDir, `bench-k8s-${randomUUID().slice(0, 8)}`, { REARGUARD_TARGETS: clusters });
      worker = await startWorkerProcess(workDir, env);
      const kubectl = (args: string[]) => timed('kubectl', ['--kubeconfig', bed.kubeconfig, ...args]);

      const kubectlMs: number[] = [];
      const rearguardRuns: RearguardRun[] = [];
      for (let i = 0; i <= PAIRS; i++) {
        const k = `k-${i}`;
        const r = `r-${i}`;
        await Promise.all([twinWithHistory(bed, k), twinWithHistory(bed, r)]);
        const runbook = await writeRunbook(
          join(workDir, 'k8s-runbooks'),
          `twin-${i}`,
          `apiVersion: rearguard/v1
kind: Runbook
metadata: { name: twin-${i} }
spec:
  service: twin-${i}
  environment: bench
  cluster: testbed
  sla: 5m
  steps:
    - { name: undo, type: kubernetes, namespace: ${NS}, deployment: ${r}, toRevision: previous }
  verify:
    - { type: kubernetesAvailable, namespace: ${NS}, deployment: ${r} }
`,
        );
        const viaKubectl = async () => {
          const t0 = performance.now();
          await kubectl(['rollout', 'undo', '-n', NS, `deployment/${k}`]);
          await kubectl(['rollout', 'status', '-n', NS, `deployment/${k}`, '--timeout=120s']);
          return performance.now() - t0;
        };
        const viaRearguard = async (): Promise<RearguardRun> => {
          const cli = cliCommand(['rollback', 'start', '--runbook', runbook, '--reason', 'bench: 2.0 is bad', '--as', 'bench', '--wait']);
          const { ms, startedAt, endedAt } = await timed(cli.cmd, cli.args, { ...env, ...cli.env });
          const timings = await runTimings(temporal.client, `rollback:bench:twin-${i}`);
          const verified = ownShare(timings).triggerToVerified + timings.start;
          return { ms, timings, toTrigger: timings.start - startedAt, afterVerified: endedAt - verified };
        };
        // Alternate who goes first: the second of a pair runs on a cluster the first just made busy.
        let km: number, rr: RearguardRun;
        if (i % 2 === 0) {
          km = await viaKubectl();
          rr = await viaRearguard();
        } else {
          rr = await viaRearguard();
          km = await viaKubectl();
        }
        const share = ownShare(rr.timings);
        log(
          `rollback-kubectl: pair ${i}${i === 0 ? ' (warm-up, not counted)' : ''}: kubectl ${round(km)} ms, rearguard ${round(rr.ms)} ms (CLI start -> trigger ${rr.toTrigger} ms, verified -> CLI exit ${rr.afterVerified} ms; trigger->verified ${share.triggerToVerified} ms, mechanism ${share.mechanism} ms, own ${share.own} ms; ${share.detail})`,
        );
        if (process.env.BENCH_VERBOSE) log(timelineText(rr.timings));
        if (i === 0) continue;
        kubectlMs.push(km);
        rearguardRuns.push(rr);
      }
      const k = median(kubectlMs);
      const rg = median(rearguardRuns.map((x) => x.ms));
      const shares = rearguardRuns.map((x) => ownShare(x.timings));
      const own = median(shares.map((s) => s.own));
      const ttv = median(shares.map((s) => s.triggerToVerified));
      const steps = median(rearguardRuns.map((x) => activityTime(x.timings, ['runStep'])));
      return [
        {
          name: 'rollback-kubectl: rearguard rollback start --wait, median',
          value: round(rg),
          unit: 'ms',
          note: spread(rearguardRuns.map((x) => x.ms)),
        },
        { name: 'rollback-kubectl: kubectl rollout undo + rollout status, median', value: round(k), unit: 'ms', note: spread(kubectlMs) },
        {
          name: 'rollback-kubectl: Rearguard / kubectl (medians)',
          value: round(rg / k, 2),
          unit: 'x',
          goal: { op: '<=', value: 1.2 },
          peer: { name: 'kubectl rollout undo + rollout status', value: round(k), unit: 'ms' },
          note: `${PAIRS} alternating pairs of twin Deployments (${REPLICAS} replicas, 2 revisions each), after one warm-up pair; Rearguard's wall time: CLI start -> trigger median ${round(median(rearguardRuns.map((x) => x.toTrigger)))} ms, trigger -> verified ${round(median(rearguardRuns.map((x) => ownShare(x.timings).triggerToVerified)))} ms, verified -> CLI exit ${round(median(rearguardRuns.map((x) => x.afterVerified)))} ms; it includes the CLI process (${cliCommand([]).mode}) and its --wait polling; ${workerMode()}; ${loadText()}`,
        },
        {
          name: "rollback-kubectl: Rearguard's own share (trigger -> verified minus the mechanism's activities), median",
          value: round(own),
          unit: 'ms',
          goal: { op: '<=', value: 100 },
          note: `from workflow history: trigger -> verified median ${round(ttv)} ms, of which runStep (apply + rollout wait) ${round(steps)} ms; mechanism = ${MECHANISM.join(', ')} (started -> completed); own: ${spread(shares.map((s) => s.own))}`,
        },
      ];
    } finally {
      await worker?.stop('SIGTERM');
      await Promise.all([temporal.stop(), bed.stop()]);
    }
  },
};
