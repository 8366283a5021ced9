// Runs Rearguard's own entry points as a user or an operator would: the CLI as typed, the worker as
// a separate process (so a test can SIGKILL it).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { CLI, ROOT, cliEnv } from './tools.js';
import { waitFor } from './wait.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** `rearguard <args>` with the given environment; resolves with exit code and output. */
export function rearguard(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> & { child: ChildProcess } {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: cliEnv({ ...process.env, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  return Object.assign(done, { child });
}

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `worker/main.ts` and resolves once it reports that it is polling. `group`: in a process group of its own,
 * which `stop` signals whole, as a container runtime kills a pod's processes (its helm, git and terraform too).
 */
export async function startWorker(env: NodeJS.ProcessEnv, o: { group?: boolean } = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${ROOT}worker/main.ts`], {
    cwd: ROOT,
    detached: o.group ?? false,
    // Development mode unless the test gives the worker a catalog (a worker without one refuses to start).
    env: { ...process.env, ...(env.REARGUARD_CATALOG ? {} : { REARGUARD_DEV_MODE: '1' }), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      output += c.toString();
      if (output.includes('rearguard worker: task queue')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`worker exited with ${code} before it was ready:\n${output}`)));
    setTimeout(() => reject(new Error(`worker not ready after 60s:\n${output}`)), 60_000).unref();
  });
  return {
    child,
    output: () => output,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (o.group) {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // The group is gone already.
        }
      } else if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export interface ServeProcess {
  /** `http://127.0.0.1:<port>/`, with the trailing slash. */
  base: string;
  port: number;
  /** The CLI run, to read its output or exit code once stopped. */
  run: ReturnType<typeof rearguard>;
  /** SIGTERM, then SIGKILL if it has not stopped 10 s later (a stuck shutdown never outlives the test). */
  stop(): Promise<CliResult>;
}

/** `rearguard serve --port <free port> ...args`, resolved once it answers /healthz. */
export async function startServe(env: NodeJS.ProcessEnv, args: string[] = []): Promise<ServeProcess> {
  const port = await freePort();
  const run = rearguard(['serve', '--port', String(port), ...args], env);
  const base = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    run.child.kill('SIGTERM');
    const killer = setTimeout(() => run.child.kill('SIGKILL'), 10_000);
    const result = await run;
    clearTimeout(killer);
    return result;
  };
  try {
    await waitFor(
      () =>
        fetch(`${base}healthz`)
          .then((r) => r.ok)
          .catch(() => false),
      'rearguard serve',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { base, port, run, stop };
}
