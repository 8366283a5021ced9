// The `helm` step: `helm rollback` with the target resolved once from `helm history` (recorded by the
// workflow), a retry that recognises "already rolled back to that revision", and helm's --wait for
// the release's workloads. Credentials come from the worker's cluster configuration.
import { ApplicationFailure } from '@temporalio/activity';
import { KubeClient, type ClusterConfig } from './kubernetes/client.js';
import { parseRestoreRecord, RESTORED_ANNOTATION } from '../runbook/repeat.js';
import type { HelmPlan } from '../runbook/plan.js';
import { configurationError } from './errors.js';
import { failureText, run, type RunResult } from './process.js';
import { type RestoreRecord } from '../runbook/plan.js';

export type { HelmPlan };

interface HistoryEntry {
  revision: number;
  status: string;
  chart: string;
  app_version?: string;
  description?: string;
}

export class Helm {
  private kubeClient?: KubeClient;

  constructor(
    readonly bin: string,
    readonly clusterName: string,
    readonly cluster: ClusterConfig,
    kube?: KubeClient,
  ) {
    this.kubeClient = kube;
  }

  private get kube(): KubeClient {
    return (this.kubeClient ??= KubeClient.fromConfig(this.clusterName, this.cluster));
  }

  /**
   * The storage object of one release revision, where Helm keeps it (its `secret` driver by default,
   * `configmap` with HELM_DRIVER=configmap): the repeat rule's memory is an annotation on it. Helm rewrites
   * the object (dropping the annotation) only when that revision is superseded, and a new revision is a
   * new object: a new deploy re-arms by itself.
   */
  private storagePath(ns: string, release: string, revision: number): string {
    const kind = /^configmaps?$/i.test(process.env.HELM_DRIVER ?? '') ? 'configmaps' : 'secrets';
    return `/api/v1/namespaces/${ns}/${kind}/sh.helm.release.v1.${release}.v${revision}`;
  }

  /** The record of the rollback that made `revision`, if Rearguard made it. */
  async restoredState(ns: string, release: string, revision: number): Promise<RestoreRecord | undefined> {
    let obj;
    try {
      obj = await this.kube.get(this.storagePath(ns, release, revision));
    } catch (err) {
      // Another storage driver (sql, memory) keeps no object here: there is no memory to read.
      if (err instanceof ApplicationFailure && err.type === 'NotFound') return undefined;
      throw err;
    }
    const r = parseRestoreRecord(obj.metadata?.annotations?.[RESTORED_ANNOTATION]);
    if (!r || r.revision !== revision) return undefined;
    return { revision: r.revision, restoredTo: r.restoredTo, by: r.by, ...(r.runId ? { runId: r.runId } : {}), at: r.at, detail: r.detail };
  }

  /** Marks `revision` (made by `helm rollback` for this plan) as Rearguard's restore. */
  async recordRestored(plan: HelmPlan, revision: number, by: { workflowId: string; runId?: string }, interrupted?: number): Promise<RestoreRecord> {
    const { namespace: ns, release } = plan;
    const record: RestoreRecord & { toRevision: number; chart: string; completesInterrupted?: number } = {
      revision,
      restoredTo: `revision ${revision}`,
      by: by.workflowId,
      ...(by.runId ? { runId: by.runId } : {}),
      at: new Date().toISOString(),
      detail: `helm release ${ns}/${release} at revision ${revision}, a rollback to revision ${plan.toRevision} (${plan.toChart}${plan.toAppVersion ? `, app ${plan.toAppVersion}` : ''})`,
      toRevision: plan.toRevision,
      chart: plan.toChart,
      // The same rollback's earlier revision, left pending by a worker that died (see `apply`).
      ...(interrupted ? { completesInterrupted: interrupted } : {}),
    };
    await this.kube.patch(
      this.storagePath(ns, release, revision),
      { metadata: { annotations: { [RESTORED_ANNOTATION]: JSON.stringify(record) } } },
      'application/merge-patch+json',
    );
    return record;
  }

  private args(ns: string, ...rest: string[]): string[] {
    return [...rest, '--namespace', ns, '--kubeconfig', this.cluster.kubeconfig, ...(this.cluster.context ? ['--kube-context', this.cluster.context] : [])];
  }

  private async helm(ns: string, args: string[], timeoutMs?: number): Promise<RunResult> {
    return run(this.bin, this.args(ns, ...args), { timeoutMs });
  }

  async history(ns: string, release: string): Promise<HistoryEntry[]> {
    const r = await this.helm(ns, ['history', release, '--max', '1000', '-o', 'json']);
    if (r.exitCode !== 0) {
      if (/release: not found/.test(r.stderr))
        throw ApplicationFailure.nonRetryable(`helm release ${ns}/${release} not found in cluster ${this.clusterName}`, 'NotFound');
      throw classify(r);
    }
    return (JSON.parse(r.stdout) as HistoryEntry[]).sort((a, b) => a.revision - b.revision);
  }

  async plan(ns: string, release: string, toRevision: 'previous' | number): Promise<HelmPlan> {
    const history = await this.history(ns, release);
    const current = history.at(-1)!;
    if (current.status.startsWith('pending-')) {
      throw ApplicationFailure.retryable(
        `helm release ${ns}/${release} has an operation in progress (${current.status} at revision ${current.revision})`,
        'HelmBusy',
      );
    }
    // The repeat rule: `previous` of a revision Rearguard's rollback made is the bad one it replaced. Plan to stay.
    const restored = toRevision === 'previous' && current.status === 'deployed' ? await this.restoredState(ns, release, current.revision) : undefined;
    // From the current revision to `to`: both ends as helm reports them.
    const planTo = (to: { revision: number; chart: string; app_version?: string }): HelmPlan => ({
      kind: 'helm',
      cluster: this.clusterName,
      namespace: ns,
      release,
      fromRevision: current.revision,
      toRevision: to.revision,
      fromChart: current.chart,
      toChart: to.chart,
      ...(current.app_version ? { fromAppVersion: current.app_version } : {}),
      ...(to.app_version ? { toAppVersion: to.app_version } : {}),
    });
    if (restored) return { ...planTo(current), alreadyRestored: restored };
    // helm rollback without a revision goes to the one before the current (helm's own rule).
    const wanted = toRevision === 'previous' ? current.revision - 1 : toRevision;
    const target = history.find((h) => h.revision === wanted);
    if (!target) {
      throw configurationError(
        toRevision === 'previous'
          ? `helm release ${ns}/${release} has no previous revision to roll back to (current is ${current.revision})`
          : `helm release ${ns}/${release} has no revision ${toRevision} (history: ${history.map((h) => h.revision).join(', ')})`,
      );
    }
    if (target.status === 'failed')
      throw configurationError(`revision ${wanted} of helm release ${ns}/${release} failed when it was deployed; refusing to roll back to it`);
    return planTo(target);
  }

  /**
   * Rolls back unless a rollback to the planned revision already landed after the plan (a retry). With `by`,
   * the new revision is then recorded as that rollback's restore (the repeat rule's memory).
   *
   * A rollback revision of this plan left `pending-rollback` was interrupted: its helm died with the worker that ran
   * it (Temporal starts this attempt only once that one stopped heartbeating, and an attempt that learns it timed out
   * kills its helm). helm never finishes such a revision and refuses upgrades after it, so it is rolled back again
   * (`helm rollback` accepts a pending release); the new revision's record names the interrupted one, which helm
   * leaves as it was (its history shows it pending). Applying the same manifests again changes nothing the first
   * attempt did not.
   */
  async apply(plan: HelmPlan, timeoutMs: number, by?: { workflowId: string; runId?: string }): Promise<Record<string, unknown>> {
    const { namespace: ns, release } = plan;
    // Planned as "already restored": nothing to change (the workflow does not run such a step).
    if (plan.alreadyRestored) return { release: `${ns}/${release}`, changed: false, alreadyRestored: plan.alreadyRestored };
    const history = await this.history(ns, release);
    const ours = (h: HistoryEntry) => h.revision > plan.fromRevision && h.description === `Rollback to ${plan.toRevision}`;
    const latest = history.at(-1)!;
    const done = history.find((h) => ours(h) && (h.status === 'deployed' || h.status === 'superseded'));
    const interrupted = ours(latest) && latest.status === 'pending-rollback' ? latest.revision : undefined;
    if (!done && !interrupted && latest.status.startsWith('pending-'))
      throw ApplicationFailure.retryable(
        `helm release ${ns}/${release} has an operation in progress (${latest.status} at revision ${latest.revision})`,
        'HelmBusy',
      );
    let output = '';
    if (!done) {
      const helmTimeout = `${Math.max(30, Math.floor((timeoutMs - 15_000) / 1000))}s`;
      const r = await this.helm(ns, ['rollback', release, String(plan.toRevision), '--wait', '--timeout', helmTimeout], timeoutMs);
      if (r.exitCode !== 0) throw classify(r);
      output = r.stdout;
    }
    const after = (await this.history(ns, release)).at(-1)!;
    if (after.status !== 'deployed')
      throw ApplicationFailure.nonRetryable(`helm release ${ns}/${release} is ${after.status} after the rollback (revision ${after.revision})`, 'HelmFailed');
    const restoreRecord = by && ours(after) ? await this.recordRestored(plan, after.revision, by, interrupted) : undefined;
    return {
      release: `${ns}/${release}`,
      fromRevision: plan.fromRevision,
      toRevision: plan.toRevision,
      newRevision: after.revision,
      fromChart: plan.fromChart,
      toChart: plan.toChart,
      changed: !done,
      ...(interrupted ? { interruptedRevision: interrupted } : {}),
      ...(output ? { output: output.slice(0, 300) } : {}),
      ...(restoreRecord ? { restoreRecord } : {}),
    };
  }
}

function classify(r: RunResult): ApplicationFailure {
  const text = failureText(r);
  if (/forbidden|Unauthorized/i.test(r.stderr))
    return ApplicationFailure.nonRetryable(`${text} (check the worker's RBAC for helm: it reads and writes release Secrets)`, 'PermissionDenied');
  if (/another operation \(install\/upgrade\/rollback\) is in progress/.test(r.stderr)) return ApplicationFailure.retryable(text, 'HelmBusy');
  if (r.timedOut || /timed out waiting|context deadline exceeded/i.test(r.stderr)) return ApplicationFailure.nonRetryable(text, 'HelmFailed');
  return ApplicationFailure.retryable(text, 'HelmFailed');
}
