// Where Temporal is and how to reach it, read as the Temporal CLI reads it (@temporalio/envconfig): the variables
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_GRPC_META_*, and a profile
// (TEMPORAL_PROFILE, default "default") of the client configuration file (TEMPORAL_CONFIG_FILE, default
// ~/.config/temporalio/temporal.toml). A flag given on the command line wins over both. The CLI, `serve` and the
// worker all connect through here, so one set of settings reaches the same cluster from each.
//
// The library is loaded when a connection is first made (the CLI's --help and --version never load it).
import type { NativeConnectionOptions } from '@temporalio/worker';

/** What a command line says, which wins over the environment and the profile. */
export interface TemporalChoice {
  address?: string;
  namespace?: string;
}

/** A cluster to connect to: options for Connection.connect and NativeConnection.connect, and its namespace. */
export interface TemporalTarget {
  connection: Pick<NativeConnectionOptions, 'address' | 'tls' | 'apiKey' | 'metadata'> & { address: string };
  namespace: string;
  /** For logs and errors: address, namespace, TLS and API key in use or not, the profile; never a secret. */
  describe: string;
}

export const DEFAULT_ADDRESS = 'localhost:7233';
export const DEFAULT_NAMESPACE = 'default';

/** Settings that cannot be used: the message says which and why; no secret is in it. */
export class TemporalConfigError extends Error {}

/** The environment with only its set variables (envconfig reads an empty TEMPORAL_TLS as a value). */
function setVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

/**
 * Why the settings could not be read, without their content: the TOML parser quotes the lines around a syntax error
 * (an API key or a PEM key among them), so only its first line is kept, with the line and column.
 */
function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const [first = ''] = message.split('\n');
  const where = (err as { line?: unknown; column?: unknown }).line;
  return typeof where === 'number' ? `${first} (line ${where}, column ${String((err as { column?: unknown }).column)})` : first;
}

/** Reads the connection settings; a `choice` given on the command line wins. */
export async function resolveTemporal(env: NodeJS.ProcessEnv, choice: TemporalChoice = {}): Promise<TemporalTarget> {
  const { loadClientConnectConfig } = await import('@temporalio/envconfig');
  const vars = setVariables(env);
  const profile = vars.TEMPORAL_PROFILE;
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: vars, ...(profile ? { profile } : {}) });
  } catch (err) {
    const file = vars.TEMPORAL_CONFIG_FILE ?? 'the Temporal client configuration file (~/.config/temporalio/temporal.toml)';
    throw new TemporalConfigError(
      `cannot read the Temporal connection settings (TEMPORAL_* variables, ${file}${profile ? `, profile ${profile} (TEMPORAL_PROFILE)` : ''}): ${reason(err)}`,
    );
  }
  const o = loaded.connectionOptions;
  const address = choice.address ?? o.address ?? DEFAULT_ADDRESS;
  const namespace = choice.namespace ?? loaded.namespace ?? DEFAULT_NAMESPACE;
  const tls = o.tls ?? undefined;
  const connection: TemporalTarget['connection'] = {
    address,
    ...(tls ? { tls } : {}),
    ...(o.apiKey ? { apiKey: o.apiKey as string } : {}),
    ...(o.metadata && Object.keys(o.metadata).length ? { metadata: o.metadata } : {}),
  };
  const mtls = typeof tls === 'object' && tls.clientCertPair ? ', client certificate' : '';
  const describe = `${address} (namespace ${namespace}; TLS ${tls ? `on${mtls}` : 'off'}${o.apiKey ? '; API key' : ''}${profile ? `; profile ${profile}` : ''})`;
  return { connection, namespace, describe };
}
