// Helpers of the rollback-kubectl, alerts and concurrency scenarios: a Temporal dev server and a Rearguard
// worker each as a process of its own (so their CPU and RSS are theirs, read from /proc), runbook files,
// workflow histories read as timings, and small statistics.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, open, writeFile, type FileHandle } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { freePort } from '../../../test/helpers/processes.js';
import { ROOT, toolPath } from '../../../test/helpers/tools.js';
import { buildProblem } from '../../../bin/build-state.js';
import { workflowBundle } from '../../../test/helpers/temporal.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { validateRunbook } from '../../../runbook/load.js';
import type { Runbook } from '../../../runbook/schema.js';

// --- statistics -------------------------------------------------------------------------------------

export const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
export const median = (xs: number[]): number => {
  const s = sorted(xs);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Nearest-rank percentile (p in 0..100). */
export const percentile = (xs: number[], p: number): number => {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
export const round = (x: number, digits = 0): number => Number(x.toFixed(digits));
export const spread = (xs: number[], unit = 'ms'): string => {
  const s = sorted(xs);
  return `n=${s.length}, min ${round(s[0])} ${unit}, median ${round(median(s))}, max ${round(s.at(-1)!)}`;
};

// --- processes: CPU and memory from /proc ---------------------------------------------------------------

const TICKS = 100; // USER_HZ on Linux

/** User + system CPU seconds of a process (all its threads) so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** Resident set size and its peak (VmHWM), in MB (MiB). */
export function memoryMB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Samples `pid`'s RSS every `ms` until stopped; the largest sample (and VmHWM, which sees between samples). */
export function sampleRss(pid: number, ms = 250): { stop(): { maxRss: number; peak: number } } {
  let maxRss = 0;
  const t = setInterval(() => {
    try {
      maxRss = Math.max(maxRss, memoryMB(pid).rss);
    } catch {
      // exited
    }
  }, ms);
  return {
    stop: () => {
      clearInterval(t);
      let peak = maxRss;
      try {
        const m = memoryMB(pid);
        maxRss = Math.max(maxRss, m.rss);
        peak = m.peak;
      } catch {
        // exited
      }
      return { maxRss, peak };
    },
  };
}

/** The machine's load averages: the bench shares 2 cores with whatever else runs. */
export const loadText = (): string =>
  `load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')} (${availableParallelism()} CPUs)`;

// --- Temporal -----------------------------------------------------------------------------------------

export interface TemporalServer {
  address: string;
  pid: number;
  client: Client;
  stop(): Promise<void>;
}

/** A Temporal dev server of its own (in-memory state, no UI), and a client of it. */
export async function startTemporal(workDir: string): Promise<TemporalServer> {
  const port = await freePort();
  const httpPort = await freePort();
  await mkdir(workDir, { recursive: true });
  const child: ChildProcess = spawn(
    toolPath('temporal'),
    [
      'server',
      'start-dev',
      '--headless',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--http-port',
      String(httpPort),
      '--log-level',
      'error',
      ...(process.env.BENCH_TEMPORAL_ARGS?.split(' ').filter(Boolean) ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const address = `127.0.0.1:${port}`;
  const connection = await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`temporal dev server exited: ${err}`);
      const c = await Connection.connect({ address, connectTimeout: 1_000 }).catch(() => undefined);
      if (!c) return undefined;
      const ok = await c.workflowService
        .getSystemInfo({})
        .then(() => true)
        .catch(() => false);
      if (!ok) await c.close();
      return ok ? c : undefined;
    },
    'the Temporal dev server',
    { timeout: 60_000, interval: 200 },
  );
  const client = new Client({ connection });
  // The namespace is registered a moment after the frontend answers.
  await waitFor(
    async () =>
      connection.workflowService
        .describeNamespace({ namespace: 'default' })
        .then(() => true)
        .catch(() => false),
    'the default namespace',
    30_000,
  );
  return {
    address,
    pid: child.pid!,
    client,
    stop: async () => {
      await connection.close().catch(() => undefined);
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 5_000).unref())]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      process.removeListener('exit', killOnExit);
    },
  };
}

/** The environment of a worker or CLI process against `server`, with its own task queue and audit file. */
export function rearguardEnv(server: TemporalServer, workDir: string, taskQueue: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: server.address,
    REARGUARD_TASK_QUEUE: taskQueue,
    REARGUARD_AUDIT_FILE: join(workDir, `${taskQueue}-audit.jsonl`),
    REARGUARD_RUNTIME_METRICS_PORT: '0',
    REARGUARD_METRICS_PORT: '0',
    REARGUARD_METRICS_HOST: '127.0.0.1',
    REARGUARD_DEV_MODE: '1',
    ...extra,
  };
}

/**
 * How `rearguard` runs here, as a user's shell would run bin/rearguard.js: the compiled CLI (dist/, `npm run build`)
 * when the build is current, else the TypeScript sources through tsx (REARGUARD_FROM_SOURCE=1), which the notes say.
 */
export function cliCommand(args: string[]): { cmd: string; args: string[]; env: Record<string, string>; mode: string } {
  const other = process.env.BENCH_DIST;
  if (other) {
    // A build elsewhere (`npm run build -- --out-dir DIR`): its CLI, started as bin/rearguard.js starts dist/'s.
    const launcher = join(other, 'bench-rearguard.mjs');
    if (!existsSync(launcher)) writeFileSync(launcher, "import { main } from './client/main.js';\nprocess.exitCode = await main(process.argv);\n");
    return { cmd: process.execPath, args: [launcher, ...args], env: {}, mode: `compiled CLI (${other})` };
  }
  const compiled = buildProblem() === undefined;
  return {
    cmd: process.execPath,
    args: [join(ROOT, 'bin/rearguard.js'), ...args],
    env: compiled ? {} : { REARGUARD_FROM_SOURCE: '1' },
    mode: compiled ? 'compiled CLI (dist/)' : 'CLI from the sources through tsx (no current build)',
  };
}

let bundleFile: Promise<string> | undefined;
/** The workflow bundle made once (as the Docker image does with `npm run build:workflows`), for REARGUARD_WORKFLOW_BUNDLE. */
export function prebuiltBundle(workDir: string): Promise<string> {
  bundleFile ??= (async () => {
    const { code } = await workflowBundle();
    const file = join(workDir, 'workflow-bundle.js');
    await mkdir(workDir, { recursive: true });
    await writeFile(file, code);
    return file;
  })();
  return bundleFile;
}

/**
 * A module loaded with `--import` before the worker's main: merges BENCH_WORKER_OPTIONS (JSON) into Worker.create's
 * options, to measure settings before they go into worker/worker.ts. Plain JavaScript, so a compiled worker runs as
 * in production; @temporalio/worker is CommonJS, required from the project root: the instance the worker uses.
 */
async function optionsHook(workDir: string): Promise<string> {
  const file = join(workDir, 'worker-options-hook.mjs');
  await writeFile(
    file,
    `import { createRequire } from 'node:module';
const { Worker } = createRequire(${JSON.stringify(join(ROOT, 'package.json'))})('@temporalio/worker');
const extra = JSON.parse(process.env.BENCH_WORKER_OPTIONS || '{}');
const create = Worker.create.bind(Worker);
Worker.create = (options) => create({ ...options, ...extra });
`,
  );
  return pathToFileURL(file).href;
}

/**
 * Node flags and environment of the worker process: none by default, as the Docker image runs it. Knobs for
 * measuring: BENCH_WORKER_NODE_ARGS (e.g. '--max-old-space-size=256 --max-semi-space-size=4') and
 * BENCH_WORKER_ENV (JSON, e.g. {"MALLOC_ARENA_MAX":"2"}). A heap limit also sizes the SDK's default
 * workflow cache, which worker/worker.ts therefore sets itself.
 */
export const WORKER_NODE_FLAGS = '';
export const WORKER_ENV: Record<string, string> = {};

let lastWorkerMode = '';
/** How the last worker was run, for the notes. */
export const workerMode = (): string => lastWorkerMode;

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * The worker as its own process, as production runs it: the compiled worker (dist/worker/main.js, with the build's
 * workflow bundle) when the build is current, else worker/main.ts through tsx with a bundle made once; in
 * development mode. BENCH_FROM_SOURCE=1 runs the sources anyway. Bench knobs: BENCH_WORKER_OPTIONS (JSON, extra
 * Worker.create options, through an --import hook), BENCH_WORKER_NODE_ARGS (node flags, e.g. --cpu-prof),
 * BENCH_WORKER_NODE_OPTIONS (its NODE_OPTIONS), BENCH_WORKER_ENV (JSON), BENCH_DIST (a build made with
 * `npm run build -- --out-dir DIR`, DIR inside the project: its worker, and cliCommand's CLI), BENCH_WORKER_ROOT
 * and BENCH_WORKER_BUNDLE (another checkout's worker, e.g. the last commit's from `git archive`, for a before/after
 * pair in the same minutes: other load on the machine moves the figures more than many changes do).
 */
export async function startWorkerProcess(workDir: string, env: Record<string, string>): Promise<WorkerProcess> {
  const other = process.env.BENCH_WORKER_ROOT;
  const root = other ?? ROOT;
  // BENCH_DIST: a build made elsewhere (`npm run build -- --out-dir DIR`, DIR inside the project).
  const dist = process.env.BENCH_DIST ?? join(ROOT, 'dist');
  const compiled = !other && process.env.BENCH_FROM_SOURCE !== '1' && (process.env.BENCH_DIST !== undefined || buildProblem() === undefined);
  const main = compiled ? join(dist, 'worker/main.js') : join(root, 'worker/main.ts');
  const bundleFile = compiled
    ? join(dist, 'workflow-bundle.js')
    : (process.env.BENCH_WORKER_BUNDLE ?? (process.env.BENCH_NO_PREBUILT ? undefined : await prebuiltBundle(workDir)));
  const options = process.env.BENCH_WORKER_OPTIONS;
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? WORKER_NODE_FLAGS).split(' ').filter(Boolean);
  const args = [...nodeArgs, ...(options ? ['--import', await optionsHook(workDir)] : []), ...(compiled ? [] : ['--import', 'tsx']), main];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {
      ...process.env,
      ...WORKER_ENV,
      ...(JSON.parse(process.env.BENCH_WORKER_ENV ?? '{}') as Record<string, string>),
      ...(process.env.BENCH_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${process.env.BENCH_WORKER_NODE_OPTIONS}`.trim() } : {}),
      REARGUARD_DEV_MODE: '1',
      ...(bundleFile ? { REARGUARD_WORKFLOW_BUNDLE: bundleFile } : {}),
      BENCH_WORKER_MAIN: main,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const malloc = (JSON.parse(process.env.BENCH_WORKER_ENV ?? '{}') as Record<string, string>).MALLOC_ARENA_MAX ?? WORKER_ENV.MALLOC_ARENA_MAX;
  lastWorkerMode = `${compiled ? 'compiled worker (dist/)' : 'worker from the sources through tsx'}${nodeArgs.length ? `, node ${nodeArgs.join(' ')}` : ''}${process.env.BENCH_WORKER_NODE_OPTIONS ? `, NODE_OPTIONS ${process.env.BENCH_WORKER_NODE_OPTIONS}` : ''}${malloc ? `, MALLOC_ARENA_MAX=${malloc}` : ''}${options ? `, options ${options}` : ''}`;
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      output = (output + c.toString()).slice(-20_000);
      if (output.includes('rearguard worker: task queue')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`worker exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`)));
    setTimeout(() => reject(new Error(`worker not ready after 120 s:\n${output}`)), 120_000).unref();
  });
  return {
    child,
    pid: child.pid!,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 40_000).unref())]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      process.removeListener('exit', killOnExit);
    },
  };
}

// --- runbooks -----------------------------------------------------------------------------------------

export async function writeRunbook(dir: string, name: string, yaml: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, yaml);
  return file;
}

// --- workflow histories as timings --------------------------------------------------------------------

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

const ms = (t: HistoryEvent['eventTime']): number => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

export interface ActivityTiming {
  type: string;
  scheduled: number;
  started?: number;
  completed?: number;
}

export interface RunTimings {
  start: number;
  end?: number;
  /** Activities by scheduled event, in history order. */
  activities: ActivityTiming[];
  /** Local activities (markers): type and the time of the workflow task completion that recorded them. */
  localActivities: number;
  /** Workflow tasks: scheduled -> started -> completed times. */
  workflowTasks: { scheduled: number; started?: number; completed?: number }[];
  events: number;
  /** Every event: its time since the start and what it is (for reading where the time went). */
  timeline: { at: number; what: string }[];
}

export async function runTimings(client: Client, workflowId: string, runId?: string): Promise<RunTimings> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const events = history.events ?? [];
  const out: RunTimings = { start: ms(events[0]?.eventTime), activities: [], localActivities: 0, workflowTasks: [], events: events.length, timeline: [] };
  const byScheduled = new Map<number, ActivityTiming>();
  const wft = new Map<number, RunTimings['workflowTasks'][number]>();
  for (const e of events) {
    const id = Number(e.eventId);
    const t = ms(e.eventTime);
    const kind = Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]) ?? String(e.eventType);
    const type = e.activityTaskScheduledEventAttributes?.activityType?.name ?? e.markerRecordedEventAttributes?.markerName;
    out.timeline.push({ at: t - out.start, what: `${kind.replace('EventAttributes', '')}${type ? `(${type})` : ''}` });
    if (e.activityTaskScheduledEventAttributes) {
      const a: ActivityTiming = { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', scheduled: t };
      byScheduled.set(id, a);
      out.activities.push(a);
    } else if (e.activityTaskStartedEventAttributes) {
      byScheduled.get(Number(e.activityTaskStartedEventAttributes.scheduledEventId))!.started = t;
    } else if (e.activityTaskCompletedEventAttributes) {
      byScheduled.get(Number(e.activityTaskCompletedEventAttributes.scheduledEventId))!.completed = t;
    } else if (e.activityTaskFailedEventAttributes) {
      byScheduled.get(Number(e.activityTaskFailedEventAttributes.scheduledEventId))!.completed = t;
    } else if (e.workflowTaskScheduledEventAttributes) {
      const w = { scheduled: t };
      wft.set(id, w);
      out.workflowTasks.push(w);
    } else if (e.workflowTaskStartedEventAttributes) {
      wft.get(Number(e.workflowTaskStartedEventAttributes.scheduledEventId))!.started = t;
    } else if (e.workflowTaskCompletedEventAttributes) {
      wft.get(Number(e.workflowTaskCompletedEventAttributes.scheduledEventId))!.completed = t;
    } else if (e.markerRecordedEventAttributes?.markerName === 'core_local_activity') {
      out.localActivities++;
    } else if (e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes) {
      out.end = t;
    }
  }
  return out;
}

/** Total of started -> completed of the activities whose type is in `types`. */
export const activityTime = (r: RunTimings, types: string[]): number =>
  r.activities.filter((a) => types.includes(a.type) && a.started && a.completed).reduce((n, a) => n + (a.completed! - a.started!), 0);

/** Time the run had a workflow task started and not yet completed (the worker running workflow code, plus reporting). */
export const workflowTaskTime = (r: RunTimings): number => r.workflowTasks.reduce((n, w) => n + (w.completed && w.started ? w.completed - w.started : 0), 0);

/** Time workflow tasks waited between scheduled and started (queueing for a worker's slot or poller). */
export const workflowTaskWait = (r: RunTimings): number => r.workflowTasks.reduce((n, w) => n + (w.started ? w.started - w.scheduled : 0), 0);

/** Time activities waited between scheduled and started. */
export const activityWait = (r: RunTimings): number => r.activities.reduce((n, a) => n + (a.started ? a.started - a.scheduled : 0), 0);

/** The timeline as lines: `+ms what`. */
export const timelineText = (r: RunTimings): string => r.timeline.map((e) => `+${e.at} ${e.what}`).join('\n');

// --- completion without asking Temporal ---------------------------------------------------------------

/**
 * Follows an audit file (polling its size, reading only what was appended) and resolves when every workflow in
 * `ids` has a closing event (`rollback.succeeded`, `.failed`, ...). A benchmark that waits for results by asking
 * Temporal (a long poll on each result, or describes) slows the dev server's dispatch of every task by tens of
 * milliseconds while the calls are in flight; reading the file the worker writes asks Temporal nothing.
 */
export class AuditFollower {
  private offset = 0;
  private carry = '';
  /** workflowId -> action of its closing event */
  readonly closed = new Map<string, string>();

  constructor(
    readonly file: string,
    private readonly closing = /^rollback\.(succeeded|failed|rejected|cancelled|approval-timeout|already-restored)$/,
  ) {}

  async poll(): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(this.file, 'r');
    } catch {
      return;
    }
    try {
      const { size } = await fh.stat();
      if (size <= this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
      this.offset += bytesRead;
      const lines = (this.carry + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
      this.carry = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        const e = JSON.parse(line) as { action: string; workflowId: string };
        if (this.closing.test(e.action)) this.closed.set(e.workflowId, e.action.replace(/^rollback\./, ''));
      }
    } finally {
      await fh.close();
    }
  }

  async waitFor(ids: string[], timeoutMs: number, intervalMs = 25): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      await this.poll();
      if (ids.every((id) => this.closed.has(id))) return;
      if (Date.now() > until)
        throw new Error(`${ids.filter((id) => !this.closed.has(id)).length} of ${ids.length} rollbacks did not end within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}

/** The bench's webhook rollback: 3 webhook steps against `receiverUrl` and an http check of its /healthz. */
export function webhookRunbook(receiverUrl: string, service: string, environment: string, sla = '10m'): Runbook {
  const rb = validateRunbook({
    apiVersion: 'rearguard/v1',
    kind: 'Runbook',
    metadata: { name: service },
    spec: {
      service,
      environment,
      sla,
      steps: [1, 2, 3].map((n) => ({ name: `s${n}`, type: 'webhook', url: `${receiverUrl}/${service}/${n}` })),
      verify: [{ type: 'http', url: `${receiverUrl}/healthz` }],
    },
  });
  if (!rb.ok) throw new Error(rb.problems.join('\n'));
  return rb.value;
}
