// Worker Versioning for Rearguard's own upgrades (README "Upgrading"): which version of the workers is current,
// making a new one current, and draining the old one. Workers started with a build ID (REARGUARD_BUILD_ID) are
// versions of one worker deployment (REARGUARD_DEPLOYMENT, default `rearguard`). Rollbacks, plans and drills are
// pinned to the version that started them; freezes, unfreezes, guards and the registries move to the current
// version at their next task (workflows/index.ts). Draining an old version means: its pinned runs finish on it,
// except rollbacks still waiting for approval, which have not acted yet and are moved to the new version.
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { statusQuery } from './messages.js';
import { failure, opError, rootMessage } from './errors.js';

// A CommonJS module: its namespace is its default export.
const { temporal } = proto;

/** The workflow types pinned to the version that started them (workflows/index.ts). */
export const PINNED_TYPES = ['rollback', 'planRollback', 'drill', 'diagnose'] as const;

export interface DeploymentVersionView {
  buildId: string;
  /** Temporal's status: current, ramping, draining, drained, inactive. */
  status: string;
  createdAt?: string;
}

export interface DeploymentView {
  name: string;
  current?: string;
  versions: DeploymentVersionView[];
}

const VERSION_STATUS: Record<number, string> = {
  [temporal.api.enums.v1.WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE]: 'inactive',
  [temporal.api.enums.v1.WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT]: 'current',
  [temporal.api.enums.v1.WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING]: 'ramping',
  [temporal.api.enums.v1.WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING]: 'draining',
  [temporal.api.enums.v1.WorkerDeploymentVersionStatus.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED]: 'drained',
};

const isNotFound = (err: unknown): boolean => (err as { code?: number }).code === 5 || /not found/i.test(rootMessage(err));

/** The deployment's versions (those whose workers have polled) and the current one; undefined if none has polled yet. */
export async function describeDeployment(client: Client, name: string): Promise<(DeploymentView & { conflictToken: Uint8Array }) | undefined> {
  try {
    const r = await client.workflowService.describeWorkerDeployment({ namespace: client.options.namespace, deploymentName: name });
    const info = r.workerDeploymentInfo;
    return {
      name,
      current: info?.routingConfig?.currentDeploymentVersion?.buildId || undefined,
      versions: (info?.versionSummaries ?? []).map((v) => ({
        buildId: v.deploymentVersion?.buildId ?? '',
        status: VERSION_STATUS[v.status ?? 0] ?? 'unknown',
        ...(v.createTime?.seconds ? { createdAt: new Date(Number(v.createTime.seconds) * 1000).toISOString() } : {}),
      })),
      conflictToken: r.conflictToken ?? new Uint8Array(),
    };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw failure(err, `cannot read the worker deployment ${name}:`);
  }
}

/** Makes `buildId` the current version: new runs start on it, auto-upgrading runs move to it at their next task. */
export async function makeCurrent(client: Client, name: string, buildId: string, identity: string): Promise<{ previous?: string }> {
  const d = await describeDeployment(client, name);
  if (!d?.versions.some((v) => v.buildId === buildId))
    throw opError(
      'not-found',
      `no worker of build ${buildId} has polled deployment ${name} yet${d ? ` (versions seen: ${d.versions.map((v) => v.buildId).join(', ') || 'none'})` : ''}`,
      `Start the new workers first (REARGUARD_BUILD_ID=${buildId}, REARGUARD_DEPLOYMENT=${name}), then run this again.`,
    );
  if (d.current === buildId) return { previous: buildId };
  try {
    await client.workflowService.setWorkerDeploymentCurrentVersion({
      namespace: client.options.namespace,
      deploymentName: name,
      buildId,
      conflictToken: d.conflictToken,
      identity,
    });
  } catch (err) {
    throw failure(err, `cannot make ${buildId} the current version of ${name}:`);
  }
  return { previous: d.current };
}

/** A running pinned run (rollback, plan, drill) and the version it is pinned to. */
export interface PinnedRun {
  workflowId: string;
  runId: string;
  type: string;
  buildId: string;
  /** A rollback's phase (its status Query, answered by its version's worker), when it answered. */
  phase?: string;
}

/** Running pinned runs on versions of `name` other than `buildId`. */
export async function pinnedElsewhere(client: Client, name: string, buildId: string): Promise<PinnedRun[]> {
  const query = `ExecutionStatus = 'Running' AND WorkflowType IN (${PINNED_TYPES.map((t) => `'${t}'`).join(', ')})`;
  const runs: PinnedRun[] = [];
  try {
    for await (const w of client.workflow.list({ query })) {
      const d = await client.workflow.getHandle(w.workflowId, w.runId).describe();
      const v = d.raw.workflowExecutionInfo?.versioningInfo;
      // Where a run is pinned: an override's version if someone moved it, else the version it runs on.
      const pinned =
        v?.versioningOverride?.pinned?.version ??
        (v?.behavior === temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED ? v.deploymentVersion : undefined);
      if (!pinned?.buildId || pinned.deploymentName !== name || pinned.buildId === buildId) continue;
      runs.push({ workflowId: w.workflowId, runId: w.runId, type: w.type, buildId: pinned.buildId });
    }
  } catch (err) {
    throw failure(err, 'cannot list the pinned runs:');
  }
  return runs;
}

/** Adds the phase of each rollback (its status Query, a few seconds at most: the old version may be going down). */
export async function withPhases(client: Client, runs: PinnedRun[]): Promise<PinnedRun[]> {
  return Promise.all(
    runs.map(async (r) => {
      if (r.type !== 'rollback') return r;
      try {
        const s = await client.withDeadline(Date.now() + 5_000, () => client.workflow.getHandle(r.workflowId, r.runId).query(statusQuery));
        return { ...r, phase: s.phase };
      } catch {
        return r;
      }
    }),
  );
}

/**
 * Pins a run to `buildId` (a versioning override): its next task replays its history on that version, which
 * carries it on. Only for runs that have not acted yet (a rollback awaiting approval): one that has finishes
 * where it started.
 */
export async function movePinnedRun(client: Client, run: PinnedRun, name: string, buildId: string, identity: string): Promise<void> {
  try {
    await client.workflowService.updateWorkflowExecutionOptions({
      namespace: client.options.namespace,
      workflowExecution: { workflowId: run.workflowId, runId: run.runId },
      workflowExecutionOptions: {
        versioningOverride: {
          pinned: {
            behavior: temporal.api.workflow.v1.VersioningOverride.PinnedOverrideBehavior.PINNED_OVERRIDE_BEHAVIOR_PINNED,
            version: { deploymentName: name, buildId },
          },
        },
      },
      updateMask: { paths: ['versioning_override'] },
      identity,
    });
  } catch (err) {
    throw failure(err, `cannot move ${run.workflowId} to ${buildId}:`);
  }
}
