// The `gitops` step. With GitOps the rollback is a commit: revert the bad commit(s), or restore the
// tree of a known-good ref, as one new commit on the configured branch (naming the rollback, actor and
// reason), pushed; then ask the controller to apply it: Argo CD by requesting a sync operation (as
// `argocd app sync` does), Flux by setting reconcile.fluxcd.io/requestedAt (as `flux reconcile` does).
// Git stays the source of truth, unlike `argocd app rollback`, which turns auto-sync off.
import { mkdir, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ApplicationFailure, Context, sleep } from '@temporalio/activity';
import { configurationError } from './errors.js';
import { requireProtected } from './protected-refs.js';
import { isFullCommitId } from '../runbook/repeat.js';
import type { GitopsPlan } from '../runbook/plan.js';
import type { Git } from './git.js';
import type { KubeClient, KubeObject } from './kubernetes/client.js';
import { FROZEN_BY, holdersOf } from './guardrails/common.js';
import { SUSPENDED_BEFORE } from './guardrails/flux.js';
import { type RestoreRecord } from '../runbook/plan.js';

export type { GitopsPlan };

export interface SyncTarget {
  argocd?: { application: string; namespace?: string; wait?: boolean };
  flux?: { kind: 'Kustomization' | 'GitRepository' | 'HelmRelease'; namespace: string; name: string; wait?: boolean };
}

const TRAILER = 'Rearguard-Rollback';
const REVERTS_TRAILER = 'Rearguard-Reverts';
const RESTORES_TRAILER = 'Rearguard-Restores';

/**
 * The rollback that made `commit`, from the trailers of its message (`Rearguard-Rollback: <workflow>/<run>/<step>`,
 * `Workflow: <id>`), or undefined when Rearguard did not make it.
 */
export function rollbackCommitRecord(commit: string, committedAt: string, message: string, where: string): RestoreRecord | undefined {
  const trailer = (key: string) => [...message.matchAll(new RegExp(`^${key}: *(.+)$`, 'gm'))].map((m) => m[1].trim());
  const key = trailer(TRAILER).at(-1);
  if (!key) return undefined;
  const parts = key.split('/');
  const by = trailer('Workflow').at(-1) ?? (parts.length >= 3 ? parts.slice(0, -2).join('/') : key);
  const reverted = [
    ...trailer(REVERTS_TRAILER).map((c) => `reverts ${c.slice(0, 12)}`),
    ...trailer(RESTORES_TRAILER).map((c) => `restores the tree of ${c.slice(0, 12)}`),
  ];
  return {
    revision: commit,
    restoredTo: `commit ${commit.slice(0, 12)}`,
    by,
    ...(parts.length >= 3 ? { runId: parts.at(-2) } : {}),
    at: committedAt,
    detail: `${where} at ${commit.slice(0, 12)} "${message.split('\n')[0]}"${reverted.length ? ` (${reverted.join(', ')})` : ''}`,
  };
}
const PUSH_ATTEMPTS = 5;

export class Gitops {
  constructor(
    readonly git: Git,
    readonly workRoot: string,
  ) {}

  private workspace(key: string): string {
    return join(this.workRoot, 'gitops', createHash('sha256').update(key).digest('hex').slice(0, 16));
  }

  private async freshClone(key: string): Promise<string> {
    const dir = this.workspace(key);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const src = join(dir, 'src');
    await this.git.clone(src, { branch: this.git.repo.branch });
    return src;
  }

  async plan(revert: { commit?: string; commits?: string[]; toRef?: string }, key: string): Promise<GitopsPlan> {
    const src = await this.freshClone(`${key}/plan`);
    const headBefore = await this.git.resolve(src, 'HEAD');
    const mode = revert.toRef !== undefined ? 'restore' : 'revert';
    const refs = revert.toRef !== undefined ? [revert.toRef] : (revert.commits ?? [revert.commit!]);
    // The repeat rule: a relative ref resolved on top of Rearguard's own rollback commit would revert the
    // rollback (HEAD is now that commit) or restore the bad tree it replaced. Explicit commit ids are explicit.
    let alreadyRestored: RestoreRecord | undefined;
    if (refs.some((r) => !isFullCommitId(r))) {
      const [at, ...message] = (await this.git.ok(src, ['log', '-1', '--format=%cI%n%B', headBefore])).split('\n');
      alreadyRestored = rollbackCommitRecord(headBefore, at, message.join('\n'), `git ${this.git.name}@${this.git.repo.branch}`);
    }
    const commits: string[] = [];
    for (const ref of refs) commits.push(await this.git.resolve(src, ref));
    // A restore applies the tree of toRef: only reviewed history (the protected branch or a protected tag) may be restored.
    if (mode === 'restore') await requireProtected(this.git, src, refs[0], commits[0]);
    if (mode === 'revert') {
      // Newest first, so reverting in this order never touches a change before what built on it.
      const order = (await this.git.ok(src, ['rev-list', 'HEAD'])).split('\n');
      for (const c of commits) if (!order.includes(c)) throw configurationError(`repository ${this.git.name}: ${c} is not on branch ${this.git.repo.branch}`);
      commits.sort((a, b) => order.indexOf(a) - order.indexOf(b));
    }
    const subjects: string[] = [];
    for (const c of commits) subjects.push(await this.git.ok(src, ['log', '-1', '--format=%s', c]));
    await rm(this.workspace(`${key}/plan`), { recursive: true, force: true });
    return {
      kind: 'gitops',
      repo: this.git.name,
      branch: this.git.repo.branch,
      headBefore,
      mode,
      commits,
      subjects,
      ...(alreadyRestored ? { alreadyRestored } : {}),
    };
  }

  /** Makes (once) and pushes the rollback commit; returns its id and whether this call made it. */
  async commit(
    plan: GitopsPlan,
    key: string,
    message: { title: string; actor: string; reason: string; workflowId: string },
  ): Promise<{ commit: string; created: boolean; pushAttempts: number }> {
    if (plan.alreadyRestored) return { commit: plan.headBefore, created: false, pushAttempts: 0 };
    for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
      const src = await this.freshClone(key);
      // Already done (a retry after the push landed, perhaps on another worker): find our trailer.
      const mine = await this.git.ok(src, ['log', '--format=%H', '--max-count=500', '-F', `--grep=${TRAILER}: ${key}`, 'HEAD']);
      if (mine) return { commit: mine.split('\n')[0], created: false, pushAttempts: attempt - 1 };
      // Again before restoring: the plan may come from an older worker, or the protected history may have moved.
      if (plan.mode === 'restore') await requireProtected(this.git, src, plan.commits[0], plan.commits[0]);
      const changed = await this.applyChange(src, plan);
      if (!changed) return { commit: await this.git.resolve(src, 'HEAD'), created: false, pushAttempts: attempt - 1 };
      const body = [
        message.title,
        '',
        ...plan.commits.map((c, i) => `${plan.mode === 'revert' ? 'Reverts' : 'Restores the tree of'} ${c} "${plan.subjects[i]}"`),
        '',
        `Reason: ${message.reason}`,
        `Requested-by: ${message.actor}`,
        `Workflow: ${message.workflowId}`,
        `${TRAILER}: ${key}`,
        ...plan.commits.map((c) => `${plan.mode === 'revert' ? REVERTS_TRAILER : RESTORES_TRAILER}: ${c}`),
      ].join('\n');
      await this.git.ok(src, ['commit', '--quiet', '--no-verify', '-m', body], true);
      const sha = await this.git.resolve(src, 'HEAD');
      const push = await this.git.run(src, ['push', '--quiet', '--porcelain', 'origin', `HEAD:refs/heads/${plan.branch}`]);
      if (push.exitCode === 0) {
        await rm(this.workspace(key), { recursive: true, force: true });
        return { commit: sha, created: true, pushAttempts: attempt };
      }
      if (!/\[rejected\]|non-fast-forward|fetch first|failed to update ref|stale info/i.test(push.stdout + push.stderr)) {
        throw ApplicationFailure.retryable(`repository ${this.git.name}: push failed: ${(push.stderr || push.stdout).slice(-400)}`, 'GitFailed');
      }
      // The branch moved under us: start again from its new head.
      Context.current().heartbeat({ pushRejected: attempt });
    }
    throw ApplicationFailure.retryable(`repository ${this.git.name}: branch ${plan.branch} kept moving; push rejected ${PUSH_ATTEMPTS} times`, 'GitFailed');
  }

  /** Stages the rollback in `src`; false when there is nothing left to change. */
  private async applyChange(src: string, plan: GitopsPlan): Promise<boolean> {
    if (plan.mode === 'restore') {
      await this.git.ok(src, ['restore', `--source=${plan.commits[0]}`, '--staged', '--worktree', '--', ':/'], true);
    } else {
      for (const c of plan.commits) {
        const parents = (await this.git.ok(src, ['rev-list', '--parents', '-n', '1', c])).split(' ').length - 1;
        const r = await this.git.run(src, ['revert', '--no-commit', ...(parents > 1 ? ['-m', '1'] : []), c]);
        if (r.exitCode !== 0) {
          const files = (await this.git.run(src, ['diff', '--name-only', '--diff-filter=U'])).stdout.trim().split('\n').filter(Boolean);
          await this.git.run(src, ['revert', '--abort']);
          if (files.length) {
            throw ApplicationFailure.nonRetryable(
              `repository ${this.git.name}: reverting ${c.slice(0, 12)} conflicts with later changes in ${files.join(', ')}; revert by hand or roll back with toRef`,
              'RevertConflict',
            );
          }
          throw ApplicationFailure.retryable(`repository ${this.git.name}: git revert ${c.slice(0, 12)} failed: ${r.stderr.slice(-300)}`, 'GitFailed');
        }
      }
    }
    const status = await this.git.ok(src, ['status', '--porcelain']);
    return status.length > 0;
  }
}

/** Asks Argo CD to sync the Application to `revision` and (optionally) waits until it is Synced and Healthy. */
export async function syncArgo(
  kube: KubeClient,
  app: NonNullable<SyncTarget['argocd']>,
  revision: string,
  reason: string,
  deadline: number,
): Promise<Record<string, unknown>> {
  const path = `/apis/argoproj.io/v1alpha1/namespaces/${app.namespace ?? 'argocd'}/applications/${app.application}`;
  const current = await kube.get(path);
  const already = current.status?.sync?.revision === revision && current.status?.sync?.status === 'Synced';
  const pending = current.operation as KubeObject | undefined;
  if (!already && pending && pending.sync?.revision !== revision) {
    // Someone else's operation (a person's sync, another run's): never merged into (Argo CD runs the copy it took, so
    // ours would be lost or half-applied). Held by a sync window: say so; otherwise wait for it, as the API would.
    const state = current.status?.operationState as KubeObject | undefined;
    if (heldByWindow(state)) throw await syncBlocked(kube, app, current, revision, state!);
    throw ApplicationFailure.retryable(
      `Argo CD application ${app.application} has another sync operation in progress (by ${String(pending.initiatedBy?.username ?? 'unknown').slice(0, 60)}, to ${String(pending.sync?.revision ?? 'its target').slice(0, 40)}): trying again when it ends`,
      'SyncBusy',
    );
  }
  if (!already && pending?.sync?.revision !== revision) {
    await kube.patch(
      path,
      { operation: { initiatedBy: { username: 'rearguard' }, info: [{ name: 'reason', value: reason.slice(0, 200) }], sync: { revision } } },
      'application/merge-patch+json',
    );
  }
  if (app.wait === false) return { application: app.application, revision, requested: !already };
  for (;;) {
    const a = await kube.get(path);
    const op = a.status?.operationState as KubeObject | undefined;
    if (op?.syncResult?.revision === revision && (op.phase === 'Failed' || op.phase === 'Error')) {
      throw ApplicationFailure.nonRetryable(`Argo CD could not sync ${app.application} to ${revision.slice(0, 12)}: ${op.message ?? op.phase}`, 'SyncFailed');
    }
    // The project's sync windows (a freeze's deny window, or no allow window open) hold the operation until they let it
    // run: say so now rather than at the deadline. The operation stays: Argo CD runs it when the windows allow.
    if (heldByWindow(op)) throw await syncBlocked(kube, app, a, revision, op!);
    const health = a.status?.health?.status as string | undefined;
    if (a.status?.sync?.revision === revision && a.status?.sync?.status === 'Synced' && health === 'Healthy') {
      return { application: app.application, revision, sync: 'Synced', health };
    }
    Context.current().heartbeat({ argocd: app.application, sync: a.status?.sync?.status, health });
    if (Date.now() > deadline) {
      throw ApplicationFailure.nonRetryable(
        `Argo CD application ${app.application} not Synced and Healthy at ${revision.slice(0, 12)} in time (sync ${a.status?.sync?.status ?? '?'}, health ${health ?? '?'})`,
        'SyncFailed',
      );
    }
    await sleep(1_000);
  }
}

const heldByWindow = (state: KubeObject | undefined): boolean => state?.phase === 'Running' && /blocked by sync window/i.test(String(state.message ?? ''));

/** SyncBlocked for an operation the project's sync windows hold: whose operation, to what, and the project's windows. */
async function syncBlocked(kube: KubeClient, app: { application: string; namespace?: string }, a: KubeObject, revision: string, state: KubeObject) {
  const project = String(a.spec?.project ?? 'default');
  const held = state.operation as KubeObject | undefined;
  const heldRevision = String(held?.sync?.revision ?? '');
  const whose =
    heldRevision === revision
      ? 'the sync Rearguard requested'
      : `a sync by ${String(held?.initiatedBy?.username ?? 'unknown').slice(0, 60)} to ${heldRevision.slice(0, 12) || 'its target'}`;
  const windows = await projectWindows(kube, app.namespace ?? 'argocd', project);
  return ApplicationFailure.nonRetryable(
    `Argo CD holds ${whose} of ${app.application}: the sync windows of project ${project} do not allow it now${windows ? ` (${windows})` : ''}. ${revision.slice(0, 12)} is pushed; Argo CD applies a held sync when the windows allow it (lift the freeze, or sync by hand if the project allows manual syncs)`,
    'SyncBlocked',
  );
}

/** The project's sync windows as their descriptions say (a freeze's names it), at most 5, for an error; never throws. */
async function projectWindows(kube: KubeClient, ns: string, project: string): Promise<string> {
  try {
    const p = await kube.get(`/apis/argoproj.io/v1alpha1/namespaces/${ns}/appprojects/${project}`);
    return ((p.spec?.syncWindows ?? []) as KubeObject[])
      .slice(0, 5)
      .map((w) => `${String(w.kind)}: ${String(w.description ?? `${w.schedule} for ${w.duration}`).slice(0, 160)}`)
      .join('; ');
  } catch {
    return '';
  }
}

const FLUX_API: Record<string, string> = {
  Kustomization: 'kustomize.toolkit.fluxcd.io/v1/namespaces/{ns}/kustomizations',
  GitRepository: 'source.toolkit.fluxcd.io/v1/namespaces/{ns}/gitrepositories',
  HelmRelease: 'helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases',
};
const fluxPath = (kind: string, ns: string, name: string) => `/apis/${FLUX_API[kind].replace('{ns}', ns)}/${name}`;

/**
 * The value of a reconcile request (Flux takes any string and reconciles when it changes): the revision and the step
 * of this run, not the time. An attempt retried after a worker died writes the same value, so the controllers
 * reconcile once per step, not once per attempt; a later run (a retry of a rollback whose reconcile failed) writes
 * a new one, so Flux is asked again even at the same revision.
 */
export const fluxRequest = (revision: string, idempotencyKey: string): string =>
  `rearguard-${revision.slice(0, 12)}-${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 12)}`;

/** `flux reconcile <kind> --with-source`: request reconciliation and wait for Ready at the new revision. */
export async function reconcileFlux(
  kube: KubeClient,
  target: NonNullable<SyncTarget['flux']>,
  revision: string,
  deadline: number,
  idempotencyKey: string,
): Promise<Record<string, unknown>> {
  const requestedAt = fluxRequest(revision, idempotencyKey);
  const annotate = (kind: string, ns: string, name: string) =>
    kube.patch(fluxPath(kind, ns, name), { metadata: { annotations: { 'reconcile.fluxcd.io/requestedAt': requestedAt } } }, 'application/merge-patch+json');
  const obj = await kube.get(fluxPath(target.kind, target.namespace, target.name));
  // A suspended object ignores reconcile requests (a freeze's guardrail, or a person): say so now, not at the deadline.
  if (obj.spec?.suspend === true) {
    const annotations = (obj.metadata?.annotations ?? {}) as Record<string, string>;
    // Freeze ids as the guardrail writes them (holdersOf), never more than a few: the text reaches chat and audit.
    const freezes = holdersOf(annotations[FROZEN_BY])
      .slice(0, 5)
      .map((h) => h.replace(/[^\w:.-]/g, '?').slice(0, 80))
      .join(', ');
    const byPerson = !freezes || annotations[SUSPENDED_BEFORE] === 'true';
    const who = byPerson ? `by a person${freezes ? `, and held by freeze ${freezes}` : ''}` : `by freeze ${freezes}`;
    throw ApplicationFailure.nonRetryable(
      `Flux ${target.kind} ${target.namespace}/${target.name} is suspended (${who}): it does not reconcile, so ${revision.slice(0, 12)} is pushed but not applied. Flux applies it once the ${target.kind} is resumed (${byPerson ? 'flux resume, by hand' : 'when the freeze ends or is lifted'})`,
      'SyncBlocked',
    );
  }
  const source = gitSourceOf(target, obj);
  if (source) await annotate('GitRepository', source.namespace, source.name);
  await annotate(target.kind, target.namespace, target.name);
  if (target.wait === false) return { [target.kind]: `${target.namespace}/${target.name}`, requestedAt };
  for (;;) {
    const o = await kube.get(fluxPath(target.kind, target.namespace, target.name));
    const state = target.kind === 'HelmRelease' ? await helmReleaseState(kube, target, o, revision, requestedAt) : appliedState(o, revision, requestedAt);
    if (state.done) return { [target.kind]: `${target.namespace}/${target.name}`, ...state.done, ready: true };
    if (state.failed)
      throw ApplicationFailure.nonRetryable(
        `Flux ${target.kind} ${target.namespace}/${target.name} is not Ready at ${revision.slice(0, 12)}: ${state.failed}`,
        'SyncFailed',
      );
    Context.current().heartbeat({ flux: target.name, ...state.progress });
    if (Date.now() > deadline)
      throw ApplicationFailure.nonRetryable(
        `Flux ${target.kind} ${target.namespace}/${target.name} did not become Ready at ${revision.slice(0, 12)} in time (${JSON.stringify(state.progress)})`,
        'SyncFailed',
      );
    await sleep(1_000);
  }
}

/**
 * The GitRepository a Flux object reads (`--with-source`): a Kustomization's `spec.sourceRef`, a HelmRelease's chart
 * source `spec.chart.spec.sourceRef` (a chart kept in Git); none for a GitRepository itself or a chart from a Helm or
 * OCI repository. A source without a namespace is in the object's.
 */
function gitSourceOf(target: NonNullable<SyncTarget['flux']>, obj: KubeObject): { namespace: string; name: string } | undefined {
  if (target.kind === 'GitRepository') return undefined;
  const chart = (obj.spec?.chart as KubeObject | undefined)?.spec as KubeObject | undefined;
  const ref = (target.kind === 'HelmRelease' ? chart?.sourceRef : obj.spec?.sourceRef) as { kind?: string; name?: string; namespace?: string } | undefined;
  if (ref?.kind !== 'GitRepository' || !ref.name) return undefined;
  return { namespace: ref.namespace ?? target.namespace, name: ref.name };
}

interface FluxState {
  done?: Record<string, unknown>;
  failed?: string;
  progress: Record<string, unknown>;
}

const readyOf = (o: KubeObject) => ((o.status?.conditions ?? []) as KubeObject[]).find((c) => c.type === 'Ready');

/** A Kustomization or GitRepository: it handled this request, at this revision, and is Ready. */
function appliedState(o: KubeObject, revision: string, requestedAt: string): FluxState {
  const ready = readyOf(o);
  const applied = String(o.status?.lastAppliedRevision ?? o.status?.artifact?.revision ?? '');
  // A failed apply leaves lastAppliedRevision where it was: the attempt shows in lastAttemptedRevision.
  const attempted = String(o.status?.lastAttemptedRevision ?? applied);
  const progress = { ready: ready?.status, applied };
  if (o.status?.lastHandledReconcileAt !== requestedAt || !(attempted.includes(revision) || applied.includes(revision))) return { progress };
  if (ready?.status === 'True') return { done: { revision: applied }, progress };
  if (ready?.status === 'False' && ready.reason !== 'Progressing') return { failed: String(ready.message ?? ready.reason), progress };
  return { progress };
}

/**
 * A HelmRelease names chart versions, not commits. For a chart kept in Git, the commit reaches it through its
 * HelmChart (`status.helmChart`): source-controller packages the chart once it has read the GitRepository at that
 * commit (`observedSourceArtifactRevision`), as version `<chart version>+<commit12>` when the HelmChart's
 * reconcileStrategy is Revision. The release is there when helm-controller handled this request, its latest release
 * (`history[0]`) is that chart version, deployed, and the HelmRelease is Ready. For a chart from a Helm or OCI
 * repository no commit can be followed: the handled request and Ready are the answer.
 */
async function helmReleaseState(
  kube: KubeClient,
  target: NonNullable<SyncTarget['flux']>,
  o: KubeObject,
  revision: string,
  requestedAt: string,
): Promise<FluxState> {
  const ready = readyOf(o);
  const attempted = String(o.status?.lastAttemptedRevision ?? '');
  const latest = ((o.status?.history ?? []) as KubeObject[])[0];
  const progress: Record<string, unknown> = { ready: ready?.status, chart: attempted };
  const failedNow = () =>
    ready?.status === 'False' && ready.reason !== 'Progressing' ? { failed: String(ready.message ?? ready.reason), progress } : { progress };
  if (o.status?.lastHandledReconcileAt !== requestedAt) return { progress };
  // A chart kept in Git, by the HelmRelease's own spec: its HelmChart tells which commit the chart was packaged from.
  const source = gitSourceOf(target, o);
  if (!source) {
    if (ready?.status === 'True') return { done: { chart: attempted }, progress };
    return failedNow();
  }
  // Named in status.helmChart once helm-controller made it; source-controller names it <namespace>-<name>.
  const [chartNs, chartName] = String(o.status?.helmChart ?? `${source.namespace}/${target.namespace}-${target.name}`).split('/');
  let chart: KubeObject;
  try {
    chart = await kube.get(`/apis/source.toolkit.fluxcd.io/v1/namespaces/${chartNs}/helmcharts/${chartName}`);
  } catch (err) {
    // Without the HelmChart nothing says which commit was released: never judged from Ready alone.
    if (err instanceof ApplicationFailure && err.type === 'PermissionDenied')
      throw ApplicationFailure.nonRetryable(
        `${err.message}; the gitops step reads the HelmChart of a HelmRelease whose chart is in Git (source.toolkit.fluxcd.io helmcharts: get)`,
        'PermissionDenied',
      );
    return {
      progress: { ...progress, helmChart: `${chartNs}/${chartName} not readable yet: ${err instanceof Error ? err.message.slice(0, 200) : String(err)}` },
    };
  }
  const chartReady = readyOf(chart);
  if (chartReady?.status === 'False' && chartReady.reason !== 'Progressing')
    return { failed: `HelmChart ${chartNs}/${chartName}: ${String(chartReady.message ?? chartReady.reason)}`, progress };
  const observed = String(chart.status?.observedSourceArtifactRevision ?? '');
  const version = String(chart.status?.artifact?.revision ?? '');
  progress.source = observed;
  const current = chartReady?.status === 'True' && chart.status?.observedGeneration === chart.metadata?.generation;
  if (!observed.includes(revision) || !version) return { progress };
  // With reconcileStrategy ChartVersion, a commit that does not bump the chart's version makes no new chart: the
  // revert would never be released. Revision puts the commit in the version (`1.0.0+<commit12>`).
  if (current && !version.includes(`+${revision.slice(0, 12)}`))
    return {
      failed: `HelmChart ${chartNs}/${chartName} packaged ${revision.slice(0, 12)} as ${version}, a version that does not name the commit: with reconcileStrategy ChartVersion a revert that keeps the chart's version is never released (set spec.chart.spec.reconcileStrategy: Revision)`,
      progress,
    };
  if (attempted !== version) return { progress };
  if (ready?.status === 'True' && latest?.chartVersion === version && latest.status === 'deployed')
    return { done: { revision: observed, chart: version }, progress };
  return failedNow();
}
