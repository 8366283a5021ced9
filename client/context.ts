// What every command gets from the global flags: who is acting, where Temporal is, output mode.
// @temporalio/client is loaded by connect(), when a command first needs the server: not for --help.
import { userInfo } from 'node:os';
import type { Client, Connection } from '@temporalio/client';
import { ACTOR, ACTOR_HINT } from '../runbook/names.js';
import { badInput, failed, rootMessage } from './errors.js';
import { TASK_QUEUE } from '../api/ids.js';
import { outputFormat, renderLine, type OutputFormat } from './output.js';

export interface GlobalOptions {
  /** Only when given on the command line; otherwise the environment and the profile say (api/temporal-connection.ts). */
  address?: string;
  namespace?: string;
  as?: string;
  /** True for every machine-readable format (--json, -o json, -o yaml): commands then print JSON lines. */
  json?: boolean;
  /** -o: text, json or yaml; createContext settles it with --json. */
  output?: OutputFormat;
  taskQueue: string;
}

export interface CliContext {
  opts: GlobalOptions;
  actor: string;
  out: (line: string) => void;
  err: (line: string) => void;
  connect(): Promise<Client>;
  /** Where `connect` went, for logs: address, namespace, TLS, API key used or not (never a secret). */
  readonly temporal: string | undefined;
  close(): Promise<void>;
}

export function defaultActor(env: NodeJS.ProcessEnv): string {
  if (env.REARGUARD_ACTOR) return env.REARGUARD_ACTOR;
  try {
    return userInfo().username || 'unknown-user';
  } catch {
    return env.USER ?? 'unknown-user';
  }
}

export function globalDefaults(env: NodeJS.ProcessEnv): Pick<GlobalOptions, 'taskQueue'> {
  return { taskQueue: env.REARGUARD_TASK_QUEUE ?? TASK_QUEUE };
}

/** Who acts, checked when a command first needs it: names reach terminals, Slack and commit messages. */
function validActor(opts: GlobalOptions, env: NodeJS.ProcessEnv): string {
  const actor = opts.as ?? defaultActor(env);
  if (ACTOR.test(actor)) return actor;
  const source = opts.as !== undefined ? '--as' : env.REARGUARD_ACTOR ? 'REARGUARD_ACTOR' : 'the OS user name (pass --as)';
  throw badInput(`${source}: ${ACTOR_HINT}`);
}

export function createContext(given: GlobalOptions, env: NodeJS.ProcessEnv): CliContext {
  const format = outputFormat(given);
  if (typeof format !== 'string') throw badInput(format.conflict);
  // Commands only ask "machine-readable?" (opts.json) and print JSON; out() renders it as the format asks.
  const opts: GlobalOptions = { ...given, json: format !== 'text', output: format };
  let connection: Connection | undefined;
  let client: Client | undefined;
  let temporal: string | undefined;
  let tracing: import('../api/tracing.js').Tracing | undefined;
  // A name given on the command line or in the environment is checked at once, before anything is sent.
  let actor: string | undefined = opts.as !== undefined || env.REARGUARD_ACTOR ? validActor(opts, env) : undefined;
  return {
    opts,
    get actor() {
      return (actor ??= validActor(opts, env));
    },
    out: (line) => process.stdout.write(`${renderLine(line, format)}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    async connect() {
      if (client) return client;
      const [{ Client, Connection }, { resolveTemporal, TemporalConfigError }] = await Promise.all([
        import('@temporalio/client'),
        import('../api/temporal-connection.js'),
      ]);
      const target = await resolveTemporal(env, opts).catch((err: unknown) => {
        throw err instanceof TemporalConfigError ? badInput(err.message) : err;
      });
      try {
        connection = await Connection.connect({ ...target.connection, connectTimeout: '5s' });
      } catch (err) {
        throw failed(
          `cannot reach Temporal at ${target.describe}: ${rootMessage(err)}`,
          'Is the server running? Set --address or TEMPORAL_ADDRESS (and TEMPORAL_TLS_* for TLS, or a TEMPORAL_PROFILE), or run `npm start`.',
        );
      }
      // OTEL_* variables set: the command's workflow starts, signals, queries and updates are traced (api/tracing.ts).
      const { tracingRequested, startTracing } = await import('../api/tracing.js');
      tracing = tracingRequested(env) ? await startTracing(env, 'rearguard-cli') : undefined;
      client = new Client({ connection, namespace: target.namespace, ...(tracing ? { interceptors: { workflow: [tracing.clientInterceptor] } } : {}) });
      temporal = target.describe;
      return client;
    },
    get temporal() {
      return temporal;
    },
    async close() {
      await tracing?.shutdown().catch(() => undefined);
      await connection?.close();
    },
  };
}
