// The `helm` step: `helm rollback` with the target resolved once from `helm history` (recorded by the
// workflow), a retry that recognises "already rolled back to that revision", and helm's --wait for
// the release's workloads. Credentials come from the worker's cluster configuration.
import { ApplicationFailure } from '@temporalio/activity';
import type { ClusterConfig } from './kubernetes/client.js';
import { configurationError } from './errors.js';
import { failureText, run, type RunResult } from './process.js';

export interface HelmPlan {
  cluster: string;
  namespace: string;
  release: string;
  fromRevision: number;
  toRevision: number;
  fromChart: string;
  toChart: string;
  fromAppVersion?: string;
  toAppVersion?: string;
}

interface HistoryEntry {
  revision: number;
  status: string;
  chart: string;
  app_version?: string;
  description?: string;
}

export class Helm {
  constructor(
    readonly bin: string,
    readonly clusterName: string,
    readonly cluster: ClusterConfig,
  ) {}

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
    return {
      cluster: this.clusterName,
      namespace: ns,
      release,
      fromRevision: current.revision,
      toRevision: wanted,
      fromChart: current.chart,
      toChart: target.chart,
      ...(current.app_version ? { fromAppVersion: current.app_version } : {}),
      ...(target.app_version ? { toAppVersion: target.app_version } : {}),
    };
  }

  /** Rolls back unless a rollback to the planned revision already landed after the plan (a retry). */
  async apply(plan: HelmPlan, timeoutMs: number): Promise<Record<string, unknown>> {
    const { namespace: ns, release } = plan;
    const history = await this.history(ns, release);
    const done = history.find((h) => h.revision > plan.fromRevision && h.description === `Rollback to ${plan.toRevision}`);
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
    return {
      release: `${ns}/${release}`,
      fromRevision: plan.fromRevision,
      toRevision: plan.toRevision,
      newRevision: after.revision,
      fromChart: plan.fromChart,
      toChart: plan.toChart,
      changed: !done,
      ...(output ? { output: output.slice(0, 300) } : {}),
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
