// `rearguard-worker` / `npm run worker` (`node dist/worker/main.js`, built by `npm run build`): flags override the
// environment (worker/config.ts).
import { Command } from 'commander';
import { ConfigError, loadWorkerConfig } from './config.js';
import { runWorker } from './run.js';

const program = new Command('rearguard-worker')
  .description('Run a Rearguard worker: executes rollback workflows and their activities')
  .option('--address <host:port>', 'Temporal frontend address (env TEMPORAL_ADDRESS)')
  .option('--namespace <ns>', 'Temporal namespace (env TEMPORAL_NAMESPACE)')
  .option('--task-queue <name>', 'task queue to poll (env REARGUARD_TASK_QUEUE)')
  .option('--audit-file <path>', 'JSON-lines audit trail (env REARGUARD_AUDIT_FILE)')
  .option('--metrics-host <host>', 'bind address of /metrics (env REARGUARD_METRICS_HOST)')
  .option('--metrics-port <port>', 'port of /metrics, 0 for any free port (env REARGUARD_METRICS_PORT)')
  .option('--runtime-metrics-port <port>', 'loopback port of the Temporal runtime metrics, 0 to disable (env REARGUARD_RUNTIME_METRICS_PORT)')
  .option('--targets <file>', 'YAML naming the clusters and repositories runbooks use (env REARGUARD_TARGETS)')
  .option('--catalog <dir|git:REPO[@REF][:PATH]>', 'the runbook catalog: runbooks, policy.yaml and allowed_signers (env REARGUARD_CATALOG)')
  .option('--catalog-refresh <duration>', 'how often the catalog is re-read, 0 for only on demand (env REARGUARD_CATALOG_REFRESH, default 1m)')
  .option('--dev', 'development mode: no catalog, local runbooks and unsigned decisions accepted (env REARGUARD_DEV_MODE=1)')
  .option('--workflow-bundle <file>', "prebuilt workflow bundle (env REARGUARD_WORKFLOW_BUNDLE; default when compiled: the build's dist/workflow-bundle.js)")
  .option('--log-level <level>', 'TRACE, DEBUG, INFO, WARN or ERROR (env REARGUARD_LOG_LEVEL, default WARN)')
  .option('--max-cached-workflows <n>', 'workflows kept in memory between their tasks (env REARGUARD_MAX_CACHED_WORKFLOWS, default 1000)')
  .option('--shutdown-grace <duration>', 'time in-flight activities get on SIGTERM (env REARGUARD_SHUTDOWN_GRACE)')
  .option('--build-id <id>', 'this version of the worker, for Worker Versioning: release or commit (env REARGUARD_BUILD_ID; none: unversioned)')
  .option('--deployment <name>', 'the worker deployment the build belongs to (env REARGUARD_DEPLOYMENT, default rearguard)')
  .action(async (opts: Record<string, string | undefined>) => {
    const { targets, deployment, ...rest } = opts;
    const config = loadWorkerConfig(process.env, { ...rest, targetsFile: targets, deploymentName: deployment });
    await runWorker(config);
  });

program.parseAsync().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`rearguard-worker: ${err.message}`);
    process.exit(2);
  }
  console.error(`rearguard-worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
