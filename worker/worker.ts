// Builds the Rearguard worker: the workflows (bundled from source, or a prebuilt bundle), the
// activities with their dependencies, and the metric sinks. Shared by `npm start`, worker/main.ts and tests.
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { AuditLog } from '../api/audit-file.js';
import { createActivities } from '../activities/index.js';
import { Clusters, Repos } from '../activities/targets.js';
import { toolPaths, type ToolPaths } from '../activities/tools.js';
import type { Env } from '../activities/secrets.js';
import type { Policy } from '../runbook/policy.js';
import type { Catalog } from '../activities/catalog.js';
import type { RearguardMetrics } from './metrics.js';
import { preloadModules } from './bundle-options.js';

/** Running compiled (dist/, `npm run build`) or the TypeScript sources (tsx: development, tests). */
const compiled = extname(fileURLToPath(import.meta.url)) === '.js';

/** The workflows' entry point, bundled at start when the worker is given no bundle: index.ts, or index.js in dist/. */
export const workflowsPath = fileURLToPath(new URL(`../workflows/index.${compiled ? 'js' : 'ts'}`, import.meta.url));

/**
 * The bundle `npm run build` writes beside the compiled code (dist/workflow-bundle.js), if this is that code: the
 * compiled worker uses it when REARGUARD_WORKFLOW_BUNDLE names none, and so never runs webpack at start. Never when
 * running the sources, whose workflows may have changed since the last build.
 */
export function builtWorkflowBundle(): string | undefined {
  const path = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));
  return compiled && existsSync(path) ? path : undefined;
}

export interface RearguardWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  auditFile: string;
  metrics: RearguardMetrics;
  env?: Env;
  clusters?: Clusters;
  repos?: Repos;
  tools?: ToolPaths;
  /** The egress policy (REARGUARD_POLICY), already validated. */
  policy?: Policy;
  /** The runbook catalog, already read (worker/run.ts). */
  catalog?: Catalog;
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
  /** A prebuilt bundle (tests bundle once per file); otherwise the workflows are bundled from source. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Tests stub activities (the Temporal way); production builds them from their dependencies. */
  activities?: ReturnType<typeof createActivities>;
  /** Workflows kept in memory between tasks (default 1,000, see below). */
  maxCachedWorkflows?: number;
  /** Worker Versioning: this worker's version of the deployment; without it the worker is unversioned. */
  version?: { deploymentName: string; buildId: string };
  /** Plugins (OpenTelemetry tracing, api/tracing.ts): their workflow interceptors are bundled, so no prebuilt bundle. */
  plugins?: WorkerOptions['plugins'];
}

export async function createRearguardWorker(o: RearguardWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...(o.workflowBundle && !o.plugins?.length
      ? { workflowBundle: o.workflowBundle }
      : { workflowsPath, bundlerOptions: { preloadModules: preloadModules(workflowsPath) } }),
    ...(o.plugins?.length ? { plugins: o.plugins } : {}),
    activities:
      o.activities ??
      createActivities({
        auditLog: new AuditLog(o.auditFile),
        env: o.env ?? process.env,
        clusters: o.clusters ?? new Clusters({}),
        repos: o.repos ?? new Repos({}),
        tools: o.tools ?? toolPaths(o.env ?? process.env),
        ...(o.policy ? { policy: o.policy } : {}),
        ...(o.catalog ? { catalog: o.catalog } : {}),
      }),
    sinks: o.metrics.sinks(),
    // In-flight activities get this long to finish on SIGTERM; after it they are cancelled and
    // their retries run on another worker.
    shutdownGraceTime: o.shutdownGraceTime ?? '30s',
    // Heartbeats carry cancellation back to activities: send them often enough that cancelling a
    // rollback stops its running step within seconds, not the default half-minute.
    maxHeartbeatThrottleInterval: '2s',
    // Workflows kept in memory between their tasks. The SDK's default follows the V8 heap limit: ~2,300 on a 4 GB
    // heap, but 10-50 when node is given (or, in a container, picks) a heap of a few hundred MB, and a run evicted
    // between its tasks is replayed from its history at each one. Measured with 1,000 webhook rollbacks queued at
    // once on one worker (issue 14, `npm run bench -- --only concurrency`, 2 cores): 250 made every task a replay
    // (199 s, worker CPU 195 s, RSS 852 MB), 1,000 and 2,500 did not (103 s / 81 s / 687 MB; 99 s / 76 s / 819 MB).
    // A cached rollback holds ~0.3 MB of the workflow thread's heap (the SDK evaluates the bundle's modules per
    // workflow), so 1,000 bounds that at ~300 MB whatever the heap limit, and holds more workflows than a worker
    // runs at once (rollbacks, freeze windows, SLO guards).
    maxCachedWorkflows: o.maxCachedWorkflows ?? 1_000,
    // A versioned worker takes the work its version is given: new runs once it is the deployment's current version,
    // and the runs pinned to it (workflows/index.ts says which types are pinned and which move up, and why).
    ...(o.version ? { workerDeploymentOptions: { useWorkerVersioning: true, version: o.version, defaultVersioningBehavior: 'AUTO_UPGRADE' as const } } : {}),
    // Workflow task slots: the SDK's 40 kept. Workflow code runs on one thread (reuseV8Context), which is what a
    // task waits for: 10 slots made 100 concurrent rollbacks slower (14.8 s against 11-13 s), 100 were no faster
    // (11-13 s), and a second workflow thread (workflowThreadPoolSize 2) only added CPU.
  });
}
