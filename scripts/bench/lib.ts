// Shared helpers of the `npm run bench` scenarios (scripts/bench/scenarios/): statistics, timing commands,
// a Temporal dev server, the workflow bundle, Rearguard's worker / CLI / serve as processes of their own (so
// their start-up, CPU and memory are theirs), and HTTP load with autocannon.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode } from '@temporalio/worker';
import autocannon from 'autocannon';
import { freePort } from '../../test/helpers/processes.js';
import { quietRuntime, workflowBundle } from '../../test/helpers/temporal.js';
import { workflowsPath } from '../../worker/worker.js';
import { ROOT, toolPath } from '../../test/helpers/tools.js';
import { waitFor } from '../../test/helpers/wait.js';
import { num } from './report.js';
import type { BenchContext } from './types.js';

export { num, ROOT };

// --- statistics -----------------------------------------------------------------------------------------

export interface Stats {
  n: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  p95: number;
  p99: number;
}

/** Nearest-rank percentile (p in 0..100) of an ascending array. */
function rank(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Summary of samples; NaN everywhere when there are none (a figure with no samples misses its goal). */
export function stats(xs: number[]): Stats {
  if (xs.length === 0) return { n: 0, min: NaN, max: NaN, mean: NaN, median: NaN, p95: NaN, p99: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return {
    n: s.length,
    min: s[0],
    max: s.at(-1)!,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2,
    p95: rank(s, 95),
    p99: rank(s, 99),
  };
}

export const median = (xs: number[]): number => stats(xs).median;

/** "n=15, min 52, median 60, p95 71, max 80 ms" */
export const spread = (xs: number[], unit = 'ms'): string => {
  const s = stats(xs);
  return `n=${s.n}, min ${num(s.min)}, median ${num(s.median)}, p95 ${num(s.p95)}, max ${num(s.max)} ${unit}`;
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An integer from the environment (scaling knobs such as BENCH_SCALE_FREEZES), else the default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a whole number, got ${JSON.stringify(raw)}`);
  return n;
}

/** Runs fn over items with at most `limit` calls in flight; results in order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

// --- processes ------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
/** Every process a scenario spawns is killed when the bench exits, whatever happens. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

const cleanups = new Set<() => Promise<unknown>>();
/** Ctrl-C or SIGTERM: the dev servers are torn down (at most 10 s) and every tracked process killed, then exit 130. */
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    console.error(`bench: ${signal}, stopping what it started`);
    void Promise.race([Promise.allSettled([...cleanups].map((c) => c())), sleep(10_000)]).then(() => process.exit(130));
  });

/** Resident set size and its peak (VmHWM) of a process, in MiB. */
export function memoryMB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** User + system CPU seconds of a process so far (USER_HZ 100). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface CommandResult {
  code: number;
  ms: number;
  stdout: string;
  stderr: string;
}

/** One run of a command: process start to exit, with its output. */
export function runTimed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = track(spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, ms: performance.now() - t0, stdout, stderr }));
  });
}

export interface Command {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Exit codes that count as a valid run (default [0]); any other fails the scenario with the output. */
  codes?: number[];
}

async function runChecked(c: Command): Promise<CommandResult> {
  const r = await runTimed(c.cmd, c.args, c.env);
  if (!(c.codes ?? [0]).includes(r.code))
    throw new Error(`${[c.cmd, ...c.args].join(' ')} exited ${r.code} (expected ${(c.codes ?? [0]).join(' or ')}):\n${r.stdout}${r.stderr}`);
  return r;
}

/** A command timed n times (after `warmup` untimed runs), process start to exit, in ms. */
export async function timeCommand(c: Command, n: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await runChecked(c);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await runChecked(c)).ms);
  return out;
}

/** Two commands timed alternately (a, b, a, b, ...), so both see the same machine: paired figures. */
export async function timePaired(a: Command, b: Command, n: number, warmup = 1): Promise<{ a: number[]; b: number[] }> {
  for (let i = 0; i < warmup; i++) {
    await runChecked(a);
    await runChecked(b);
  }
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < n; i++) {
    out.a.push((await runChecked(a)).ms);
    out.b.push((await runChecked(b)).ms);
  }
  return out;
}

/** `which`: the first executable of that name on PATH. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

// --- Rearguard's entry points -------------------------------------------------------------------------

const pkg = () => JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };

/** Why the compiled build cannot be run (bin/build-state.js, when the tree has it), or undefined. */
async function buildProblem(): Promise<string | undefined> {
  const state = (await import('../../bin/build-state.js').catch(() => undefined)) as { buildProblem(): string | undefined } | undefined;
  if (state) return state.buildProblem();
  return existsSync(join(ROOT, 'dist/client/main.js')) ? undefined : 'no dist/';
}

/** How the CLI, serve and the worker run in this bench: compiled (dist/) or the sources through tsx, and why. */
let runMode: { compiled: boolean; why: string } | undefined;
const mode = () => (runMode ??= { compiled: existsSync(join(ROOT, 'dist/client/main.js')), why: 'ensureBuild not called' });

/**
 * Decides once per bench run how Rearguard's processes run: the compiled build (`npm run build`, dist/) when the
 * tree has a build script, made first when dist/ is missing or older than the sources; the TypeScript sources through
 * tsx when there is no build script, when the build fails (a tree in the middle of an edit), or with BENCH_FROM_SOURCE=1.
 * Resolves with the mode, for the notes.
 */
export async function ensureBuild(ctx: Pick<BenchContext, 'log'>): Promise<string> {
  if (!runMode) {
    if (process.env.BENCH_FROM_SOURCE === '1') runMode = { compiled: false, why: 'BENCH_FROM_SOURCE=1' };
    else if (!pkg().scripts?.build) runMode = { compiled: false, why: 'no build script' };
    else {
      const problem = await buildProblem();
      if (problem) {
        ctx.log(`npm run build (${problem})`);
        const r = await runTimed('npm', ['run', 'build', '--silent']);
        const still = r.code === 0 ? await buildProblem() : `npm run build exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`;
        if (still) ctx.log(`WARNING: no usable build (${still}): running the sources through tsx`);
        runMode = still ? { compiled: false, why: `build failed: ${still.slice(0, 200)}` } : { compiled: true, why: 'built by the bench' };
      } else runMode = { compiled: true, why: 'current build' };
    }
  }
  return cliMode();
}

/** "compiled (dist/)" or "sources through tsx (why)". */
export const cliMode = (): string => (mode().compiled ? 'compiled (dist/)' : `sources through tsx (${mode().why})`);

/** The environment that makes bin/rearguard.js run the sources when the bench runs without a build. */
const sourceEnv = (): NodeJS.ProcessEnv => (mode().compiled ? {} : { REARGUARD_FROM_SOURCE: '1' });

/** `rearguard <args>` as a user types it: node bin/rearguard.js (compiled, or the sources: see ensureBuild). */
export const rearguardCommand = (args: string[], env: NodeJS.ProcessEnv = {}, codes?: number[]): Command => ({
  cmd: process.execPath,
  args: [join(ROOT, 'bin/rearguard.js'), ...args],
  env: { ...sourceEnv(), ...env },
  ...(codes ? { codes } : {}),
});

/** How the worker process is started: `node dist/worker/main.js` when compiled, else worker/main.ts through tsx (as the tests do). */
export function workerCommand(): { args: string[]; mode: string } {
  if (mode().compiled && existsSync(join(ROOT, 'dist/worker/main.js')))
    return { args: [join(ROOT, 'dist/worker/main.js')], mode: 'compiled (dist/worker/main.js)' };
  return { args: ['--import', 'tsx', join(ROOT, 'worker/main.ts')], mode: `sources through tsx (${mode().why})` };
}

// --- Temporal -------------------------------------------------------------------------------------------

/** A Temporal dev server (as test/helpers/temporal.ts createDevServerEnv: in-memory state, no UI) and its client; call teardown(). */
export async function startDevServer(ctx: BenchContext): Promise<TestWorkflowEnvironment> {
  const t0 = performance.now();
  // createDevServerEnv's server, logging errors only: its warnings (slow list queries under load) would drown the progress lines.
  quietRuntime();
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: toolPath('temporal') }, ui: false, log: { format: 'pretty', level: 'error' } },
  });
  ctx.log(`Temporal dev server on ${env.address} (${num((performance.now() - t0) / 1000)} s)`);
  const teardown = env.teardown.bind(env);
  const cleanup = () => teardown();
  cleanups.add(cleanup);
  env.teardown = () => (cleanups.delete(cleanup), teardown());
  return env;
}

let bundleFile: Promise<{ file: string; ms: number; source: string }> | undefined;
/**
 * The workflow bundle a worker process loads (REARGUARD_WORKFLOW_BUNDLE): the build's dist/workflow-bundle.js when
 * the bench runs compiled, else bundled once per bench run into a file. `ms` is always the time bundleWorkflowCode
 * takes on the sources (what a worker without a prebuilt bundle does at every start). BENCH_PRELOAD_MODULES
 * (comma-separated, e.g. zod,@noble/curves/ed25519.js) bundles with the SDK's preloadModules instead, which share
 * those modules across the workflows of the reused V8 context rather than loading them once per workflow.
 */
export function prebuiltBundle(ctx: BenchContext): Promise<{ file: string; ms: number; source: string }> {
  bundleFile ??= (async () => {
    const t0 = performance.now();
    const preloadModules = process.env.BENCH_PRELOAD_MODULES?.split(',').filter(Boolean);
    const { code } = preloadModules?.length
      ? await bundleWorkflowCode({
          workflowsPath,
          preloadModules,
          logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
        })
      : await workflowBundle();
    const ms = performance.now() - t0;
    ctx.log(
      `workflow bundle: ${num(ms)} ms, ${(code.length / 1024).toFixed(0)} KiB${preloadModules?.length ? `, preloadModules ${preloadModules.join(',')}` : ''}`,
    );
    const built = join(ROOT, 'dist/workflow-bundle.js');
    if (!preloadModules?.length && mode().compiled && existsSync(built)) return { file: built, ms, source: 'the build (dist/workflow-bundle.js)' };
    const dir = join(ctx.workDir, '..', 'bundle');
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'workflow-bundle.js');
    await writeFile(file, code);
    return {
      file,
      ms,
      source: preloadModules?.length ? `bundled by the bench with preloadModules ${preloadModules.join(',')}` : 'bundled by the bench from the sources',
    };
  })();
  return bundleFile;
}

/** The environment of a worker, CLI or serve process against `env`: its task queue, an audit file in dir, development mode. */
export function rearguardEnv(env: TestWorkflowEnvironment, dir: string, taskQueue: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: env.address,
    REARGUARD_TASK_QUEUE: taskQueue,
    REARGUARD_AUDIT_FILE: join(dir, `audit-${taskQueue}.jsonl`),
    REARGUARD_METRICS_PORT: '0',
    REARGUARD_METRICS_HOST: '127.0.0.1',
    REARGUARD_RUNTIME_METRICS_PORT: '0',
    REARGUARD_DEV_MODE: '1',
    REARGUARD_LOG_LEVEL: 'ERROR',
    ...extra,
  };
}

export interface WorkerProc {
  child: ChildProcess;
  pid: number;
  /** Resolves when the worker logs that it is about to poll (`rearguard worker: task queue ...`); ms since spawn. */
  ready: Promise<number>;
  spawnedAt: number;
  output(): string;
  memory(): { rss: number; peak: number };
  /** With BENCH_WORKER_MEMORY=1: the worker's last `bench-memory` line (V8 heap and RSS, MiB), as text. */
  heap(): string | undefined;
  stop(): Promise<void>;
}

/**
 * Plain JavaScript loaded with `--import` into a worker process (no tsx needed, so a compiled worker stays as it
 * runs in production): BENCH_WORKER_OPTIONS (JSON) are merged into every Worker.create call, to measure settings
 * before they are proposed for worker/worker.ts; with BENCH_WORKER_MEMORY=1, a `bench-memory {...}` line on stderr
 * every 5 s (RSS, the main thread's V8 heap; workflow code runs in worker threads, whose heaps only RSS shows).
 * @temporalio/worker is CommonJS: required from the project root, it is the instance the worker's main imports.
 */
const WORKER_HOOK = `
import { createRequire } from 'node:module';
import v8 from 'node:v8';
const require = createRequire(${JSON.stringify(join(ROOT, 'package.json'))});
const { Worker } = require('@temporalio/worker');
const extra = JSON.parse(process.env.BENCH_WORKER_OPTIONS || '{}');
const create = Worker.create.bind(Worker);
Worker.create = (options) => create({ ...options, ...extra });
if (process.env.BENCH_WORKER_MEMORY === '1') {
  const mb = (x) => Math.round(x / 2 ** 20);
  setInterval(() => {
    const m = process.memoryUsage();
    const h = v8.getHeapStatistics();
    process.stderr.write('bench-memory ' + JSON.stringify({ rss: mb(m.rss), heapUsed: mb(m.heapUsed), heapTotal: mb(m.heapTotal), external: mb(m.external), heapLimit: mb(h.heap_size_limit) }) + '\\n');
  }, 5000).unref();
}
`;
let hookFile: string | undefined;
function workerHook(): string {
  if (!hookFile) {
    const dir = mkdtempSync(join(tmpdir(), 'rearguard-bench-hook-'));
    hookFile = join(dir, 'worker-hook.mjs');
    writeFileSync(hookFile, WORKER_HOOK);
  }
  return pathToFileURL(hookFile).href;
}

/**
 * Spawns a worker process (workerCommand) with env (rearguardEnv; REARGUARD_WORKFLOW_BUNDLE for a prebuilt
 * bundle). `nodeOptions` (default BENCH_WORKER_NODE_OPTIONS) goes to NODE_OPTIONS, e.g. --max-old-space-size, which
 * also sizes the SDK's default workflow cache; BENCH_WORKER_OPTIONS and BENCH_WORKER_MEMORY load WORKER_HOOK first.
 * `fromSource`: worker/main.ts through tsx, whatever the build.
 */
export function spawnWorker(
  env: Record<string, string>,
  { nodeOptions = process.env.BENCH_WORKER_NODE_OPTIONS, fromSource = false }: { nodeOptions?: string; fromSource?: boolean } = {},
): WorkerProc {
  const main = fromSource ? ['--import', 'tsx', join(ROOT, 'worker/main.ts')] : workerCommand().args;
  const hooked = Boolean(process.env.BENCH_WORKER_OPTIONS) || process.env.BENCH_WORKER_MEMORY === '1';
  const args = hooked ? ['--import', workerHook(), ...main] : main;
  const spawnedAt = performance.now();
  const child = track(
    spawn(process.execPath, args, {
      cwd: ROOT,
      env: {
        ...process.env,
        ...env,
        ...(nodeOptions ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${nodeOptions}`.trim() } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<number>((resolve, reject) => {
    const onData = (c: Buffer) => {
      output = (output + c.toString()).slice(-20_000);
      if (output.includes('rearguard worker: task queue')) resolve(performance.now() - spawnedAt);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`worker exited with ${code} before it was ready:\n${output}`)));
  });
  ready.catch(() => undefined);
  return {
    child,
    pid: child.pid!,
    ready,
    spawnedAt,
    output: () => output,
    memory: () => memoryMB(child.pid!),
    heap: () => {
      const lines = output.match(/^bench-memory (.*)$/gm);
      return lines?.at(-1)?.slice('bench-memory '.length);
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface ServeProc {
  url: string;
  pid: number;
  log(): string;
  stop(): Promise<void>;
}

/** `rearguard serve` as a process (bin/rearguard.js), ready when /healthz answers; the gate's rate limit off (REARGUARD_GATE_RATE_LIMIT=0). */
export async function startServe(env: Record<string, string>): Promise<ServeProc> {
  const port = await freePort();
  const child = track(
    spawn(process.execPath, [join(ROOT, 'bin/rearguard.js'), 'serve', '--port', String(port)], {
      cwd: ROOT,
      env: { ...process.env, ...sourceEnv(), REARGUARD_GATE_RATE_LIMIT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let log = '';
  const onData = (c: Buffer) => (log = (log + c.toString()).slice(-20_000));
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`rearguard serve exited ${child.exitCode}:\n${log}`);
      return fetch(`${url}/healthz`)
        .then((r) => r.ok || undefined)
        .catch(() => undefined);
    },
    'rearguard serve',
    { timeout: 60_000, detail: () => log },
  );
  return {
    url,
    pid: child.pid!,
    log: () => log,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

// --- HTTP load ----------------------------------------------------------------------------------------

export interface LoadResult {
  /** Completed requests per second over the run. */
  rps: number;
  completed: number;
  /** Latency of each completed request (ms, from autocannon's per-response timing, not its 1-ms histogram). */
  latency: Stats;
  /** Responses by status code. */
  statuses: Record<string, number>;
  /** Connection errors and timeouts (no response at all). */
  errors: number;
  timeouts: number;
  durationS: number;
}

/**
 * autocannon: GET requests for `seconds` with `connections` keep-alive connections, to `url`, or to `paths`
 * of it in turn (each connection cycles through them); flat out, or paced at `rate` requests/s over all connections.
 */
export async function load(
  url: string,
  { seconds, connections, paths, rate, timeoutS = 10 }: { seconds: number; connections: number; paths?: string[]; rate?: number; timeoutS?: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections,
        duration: seconds,
        timeout: timeoutS,
        ...(rate ? { overallRate: rate } : {}),
        ...(paths ? { requests: paths.map((path) => ({ method: 'GET' as const, path })) } : {}),
      },
      (err: unknown, r: autocannon.Result) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(r)),
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      latencies.push(ms);
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
  });
  return {
    rps: latencies.length / result.duration,
    completed: latencies.length,
    latency: stats(latencies),
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration,
  };
}

/** "423: 4980, 503: 12" */
export const statusText = (s: Record<string, number>): string =>
  Object.entries(s)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ') || 'none';
