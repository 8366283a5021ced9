// Runs a worker process until SIGINT/SIGTERM: runtime telemetry, connection, metrics endpoint, worker.
import { NativeConnection, Runtime, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import { jsonLog, TemporalJsonLogger } from './log.js';
import { startTracing } from '../api/tracing.js';
import { Clusters, Repos, loadTargets, targetsWithoutEnvironments, type Targets } from '../activities/targets.js';
import { ConfigError, type WorkerConfig } from './config.js';
import { resolveTemporal, TemporalConfigError } from '../api/temporal-connection.js';
import { Catalog, CATALOG_ENV, CatalogError, parseCatalogSource } from '../activities/catalog.js';
import { toolPaths } from '../activities/tools.js';
import { loadPolicy, type Policy } from '../runbook/policy.js';
import { RearguardMetrics } from './metrics.js';
import { startMetricsServer } from './metrics-server.js';
import { builtWorkflowBundle, createRearguardWorker } from './worker.js';

export async function runWorker(config: WorkerConfig, logLine?: (line: string) => void): Promise<void> {
  // JSON lines on stderr (worker/log.ts); the SDK's lines filtered at REARGUARD_LOG_LEVEL.
  const out = jsonLog(config.logLevel as LogLevel);
  const log = logLine ?? ((line: string) => out.info(line));
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
  const catalog = await openCatalog(config, repos, log);
  // With a catalog, every cluster and repository says which environments' runbooks may act on it: a runbook's
  // environment is its own declaration, and only this list ties it to real systems (fail closed).
  const unbound = catalog ? targetsWithoutEnvironments(targets) : [];
  if (unbound.length)
    throw new ConfigError([
      `REARGUARD_TARGETS: with a catalog, every cluster and repository needs environments: [...] (the environments whose runbooks may act on it; [] for none): missing on ${unbound.join(', ')}`,
    ]);
  if (catalog && config.allowedSignersFile)
    throw new ConfigError([
      `REARGUARD_ALLOWED_SIGNERS and --catalog (env ${CATALOG_ENV}): the catalog holds who may sign (allowed_signers); remove REARGUARD_ALLOWED_SIGNERS`,
    ]);
  if (catalog && policy)
    throw new ConfigError([`REARGUARD_POLICY and --catalog (env ${CATALOG_ENV}): the catalog holds the policy (policy.yaml); remove REARGUARD_POLICY`]);
  const runtimeMetrics = config.runtimeMetricsPort > 0 ? `127.0.0.1:${config.runtimeMetricsPort}` : undefined;
  Runtime.install({
    logger: new TemporalJsonLogger(out, config.logLevel as LogLevel),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(runtimeMetrics ? { metrics: { prometheus: { bindAddress: runtimeMetrics } } } : {}),
    },
  });
  const metrics = new RearguardMetrics();
  const target = await resolveTemporal(process.env, config).catch((err: unknown) => {
    throw err instanceof TemporalConfigError ? new ConfigError([err.message]) : err;
  });
  const connection = await NativeConnection.connect(target.connection).catch((err: unknown) => {
    const why = /ConnectionRefused/.test(String(err)) ? 'connection refused' : err instanceof Error ? err.message : String(err);
    throw new Error(`cannot reach Temporal at ${target.describe}: ${why} (set --address or TEMPORAL_ADDRESS, TEMPORAL_TLS_* for TLS, or TEMPORAL_PROFILE)`);
  });
  // Tracing (OTEL_* variables, api/tracing.ts) bundles its workflow interceptors at start; otherwise a prebuilt
  // bundle (REARGUARD_WORKFLOW_BUNDLE, else the build's own) spares webpack at every start.
  const tracing = await startTracing(process.env, 'rearguard-worker');
  const workflowBundle = tracing ? undefined : (config.workflowBundle ?? builtWorkflowBundle());
  const metricsServer = await startMetricsServer(metrics, config.metricsHost, config.metricsPort, runtimeMetrics && `http://${runtimeMetrics}/metrics`);
  try {
    const worker = await createRearguardWorker({
      connection,
      namespace: target.namespace,
      taskQueue: config.taskQueue,
      auditFile: config.auditFile,
      metrics,
      clusters,
      repos,
      ...(policy ? { policy } : {}),
      ...(catalog ? { catalog } : {}),
      ...(workflowBundle ? { workflowBundle: { codePath: workflowBundle } } : {}),
      shutdownGraceTime: config.shutdownGrace,
      maxCachedWorkflows: config.maxCachedWorkflows,
      ...(config.buildId ? { version: { deploymentName: config.deploymentName, buildId: config.buildId } } : {}),
      ...(tracing ? { plugins: [tracing.plugin] } : {}),
    });
    log(
      `rearguard worker: task queue ${config.taskQueue} on ${target.describe}; metrics on http://${config.metricsHost}:${metricsServer.port}/metrics; audit file ${config.auditFile}; clusters: ${clusters.names().join(', ') || 'none'}; repos: ${repos.names().join(', ') || 'none'}; egress policy: ${policy ? `${policy.metadata.name} (${config.policyFile})` : 'none'}; workflows: ${workflowBundle ? `bundle ${workflowBundle}` : 'bundled at start'}; tracing ${tracing ? 'on (OTLP)' : 'off'}; ${config.buildId ? `version ${config.buildId} of deployment ${config.deploymentName}` : 'unversioned'}; ${catalog ? `catalog ${catalog.name}` : 'DEVELOPMENT MODE (no catalog: local runbooks and, without allowed_signers, unsigned decisions accepted)'}`,
    );
    await worker.run();
    log('rearguard worker: stopped');
  } finally {
    await tracing?.shutdown().catch(() => undefined);
    catalog?.stop();
    await metricsServer.close();
    await connection.close();
  }
}

/**
 * The catalog the worker acts on, read once before it polls (a broken catalog stops it with every problem).
 * Without one the worker starts only in development mode, which `npm start` turns on and announces.
 */
async function openCatalog(config: WorkerConfig, repos: Repos, log: (line: string) => void): Promise<Catalog | undefined> {
  if (!config.catalog) {
    if (config.dev) return undefined;
    throw new ConfigError([
      `no runbook catalog: set --catalog (env ${CATALOG_ENV}) to a directory or to git:REPO[@BRANCH_OR_TAG][:PATH] of the targets file, holding policy.yaml, allowed_signers and runbooks/*.yaml (README, "Security model"); for a development worker that accepts local runbooks and unsigned decisions, use \`npm start\` or set REARGUARD_DEV_MODE=1`,
    ]);
  }
  const tools = toolPaths(process.env);
  try {
    const catalog = new Catalog({
      source: parseCatalogSource(config.catalog),
      repos,
      env: process.env,
      gitBin: tools.git,
      workDir: tools.workDir,
      refreshMs: config.catalogRefresh,
      log,
    });
    await catalog.start();
    return catalog;
  } catch (err) {
    if (err instanceof CatalogError)
      throw new ConfigError([`--catalog (env ${CATALOG_ENV}) ${config.catalog}: unusable catalog`, ...err.problems.map((p) => `  ${p}`)]);
    // Anything else (a work directory it cannot create, no git binary): still a configuration to fix, said as such.
    throw new ConfigError([`--catalog (env ${CATALOG_ENV}) ${config.catalog}: cannot be read: ${(err as Error).message}`]);
  }
}
