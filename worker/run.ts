// Runs a worker process until SIGINT/SIGTERM: runtime telemetry, connection, metrics endpoint, worker.
import { DefaultLogger, NativeConnection, Runtime, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import { Clusters, Repos, loadTargets, type Targets } from '../activities/targets.js';
import { ConfigError, type WorkerConfig } from './config.js';
import { loadPolicy, type Policy } from '../runbook/policy.js';
import { RearguardMetrics } from './metrics.js';
import { startMetricsServer } from './metrics-server.js';
import { createRearguardWorker } from './worker.js';

export async function runWorker(config: WorkerConfig, log: (line: string) => void = (l) => console.error(l)): Promise<void> {
  let targets: Targets;
  try {
    targets = loadTargets(config.targetsFile);
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }
  // An invalid policy stops the worker here, with every problem as `path: message`.
  let policy: Policy | undefined;
  if (config.policyFile) {
    const loaded = await loadPolicy(config.policyFile);
    if (!loaded.ok)
      throw new ConfigError(
        loaded.io ? loaded.problems : [`${config.policyFile} (env REARGUARD_POLICY): invalid policy`, ...loaded.problems.map((p) => `  ${p}`)],
      );
    policy = loaded.value;
  }
  const clusters = new Clusters(targets.clusters);
  const repos = new Repos(targets.repos);
  const runtimeMetrics = config.runtimeMetricsPort > 0 ? `127.0.0.1:${config.runtimeMetricsPort}` : undefined;
  Runtime.install({
    logger: new DefaultLogger(config.logLevel as LogLevel),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(runtimeMetrics ? { metrics: { prometheus: { bindAddress: runtimeMetrics } } } : {}),
    },
  });
  const metrics = new RearguardMetrics();
  const connection = await NativeConnection.connect({ address: config.address }).catch((err: unknown) => {
    const why = /ConnectionRefused/.test(String(err)) ? 'connection refused' : err instanceof Error ? err.message : String(err);
    throw new Error(`cannot reach Temporal at ${config.address}: ${why} (set --address or TEMPORAL_ADDRESS)`);
  });
  const metricsServer = await startMetricsServer(metrics, config.metricsHost, config.metricsPort, runtimeMetrics && `http://${runtimeMetrics}/metrics`);
  try {
    const worker = await createRearguardWorker({
      connection,
      namespace: config.namespace,
      taskQueue: config.taskQueue,
      auditFile: config.auditFile,
      metrics,
      clusters,
      repos,
      ...(policy ? { policy } : {}),
      ...(config.workflowBundle ? { workflowBundle: { codePath: config.workflowBundle } } : {}),
      shutdownGraceTime: config.shutdownGrace,
    });
    log(
      `rearguard worker: task queue ${config.taskQueue} on ${config.address} (namespace ${config.namespace}); metrics on http://${config.metricsHost}:${metricsServer.port}/metrics; audit file ${config.auditFile}; clusters: ${clusters.names().join(', ') || 'none'}; repos: ${repos.names().join(', ') || 'none'}; egress policy: ${policy ? `${policy.metadata.name} (${config.policyFile})` : 'none'}`,
    );
    await worker.run();
    log('rearguard worker: stopped');
  } finally {
    await metricsServer.close();
    await connection.close();
  }
}
