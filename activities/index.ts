// All activities, built from their dependencies (samples-typescript's createActivities pattern), so
// tests can pass their own audit file and environment, and workflows import only the type. Adding a
// mechanism or a check: docs/architecture.md, "Where to add things".
import type { Runbook, Step } from '../runbook/schema.js';
import type { AuditEvent, CheckRequest, NotifyRequest, StepRequest, Target } from '../runbook/types.js';
import { hasRelativeTarget } from '../runbook/repeat.js';
import { Context } from '@temporalio/activity';
import type { AuditLog } from '../api/audit-file.js';
import { targetEnvironmentProblem, type Clusters, type Repos } from './targets.js';
import type { ToolPaths } from './tools.js';
import { Git } from './git.js';
import { Gitops, reconcileFlux, syncArgo } from './gitops.js';
import { applyGuardrails, restoreGuardrails, type GuardrailsRequest } from './guardrails/index.js';
import { withHeartbeat } from './heartbeat.js';
import { gatePublisher } from './gate-publish.js';
import { freezeControl } from './freeze-control.js';
import { Helm } from './helm.js';
import { Terraform } from './terraform.js';
import { isKubeStep, kubernetesMechanisms, type KubePlan } from './kubernetes/index.js';
import { type GitopsPlan, type HelmPlan, type Plan, restoredBy, type RestoreRecord, type TerraformPlan } from '../runbook/plan.js';
import { notAvailable } from './errors.js';
import { runHttpCheck } from './http-check.js';
import { evaluateSlo, PROMETHEUS_URL_ENV, runPrometheusCheck } from './prometheus.js';
import { doctorActivities } from './doctor.js';
import { triggerRollback, type TriggerResult } from '../api/rollbacks.js';
import type { Trigger } from '../runbook/types.js';
import { sendNotifications } from './notify.js';
import type { Env } from './secrets.js';
import { runWebhookStep } from './webhook.js';
import { drillActivities } from './drill.js';
import { trustActivities } from './trust.js';
import { catalogActivities, type Catalog } from './catalog.js';
import type { CatalogRef } from '../runbook/catalog.js';
import { type SloEvaluation } from '../runbook/slo-guard.js';
import { egressProblems, type Policy } from '../runbook/policy.js';
import { enforcePolicy, refuseForbidden, type Egress, type Lookup } from './egress.js';

export interface ActivityDeps {
  auditLog: AuditLog;
  /** Where secrets named by runbooks (urlEnv, headersFromEnv, webhookUrlEnv) are looked up. */
  env: Env;
  /** Kubernetes clusters this worker can reach, by the names runbooks use. */
  clusters: Clusters;
  /** Git repositories (GitOps, Terraform configurations) by the names runbooks use. */
  repos: Repos;
  /** Binaries of the CLI-driven mechanisms. */
  tools: ToolPaths;
  /** The worker's Policy (REARGUARD_POLICY): which secrets may go where. None: only the always-on egress refusals. */
  policy?: Policy;
  /** Resolver for the egress checks (tests); node:dns by default. */
  lookup?: Lookup;
  /** The runbook catalog (activities/catalog.ts), already read: its Policy replaces `policy`, its allowed_signers the environment's. */
  catalog?: Catalog;
}

/** Mechanisms this worker can run; the others arrive with their issues and fail preflight until then. */
const STEP_MECHANISMS = new Set(['webhook', 'kubernetes', 'blueGreen', 'helm', 'terraform', 'gitops']);
const CHECK_MECHANISMS = new Set(['http', 'kubernetesAvailable', 'prometheus']);

export function createActivities({ auditLog, env, clusters, repos, tools, policy: fixedPolicy, lookup, catalog }: ActivityDeps) {
  // With a catalog, its current Policy (a refresh applies to the next request); else the worker's file.
  const egress: Egress = { policy: catalog ? catalog.current().policy : fixedPolicy, lookup };
  catalog?.onChange((s) => (egress.policy = s.policy));
  // Read at once: a bad allowed_signers file stops the worker at start (activities/trust.ts).
  const trust = trustActivities(env, fixedPolicy, catalog);
  const kubernetes = kubernetesMechanisms(clusters);
  const helm = (cluster: string | undefined) => {
    const cfg = clusters.get(cluster);
    return new Helm(tools.helm, cfg.name, cfg, clusters.client(cfg.name));
  };
  /** A repository's git, on the step's branch when it names one. */
  const git = (name: string, branch?: string) => {
    const cfg = repos.get(name);
    return new Git(tools.git, name, branch ? { ...cfg, branch } : cfg, env);
  };
  const terraform = (repoName: string) => {
    const repo = repos.get(repoName);
    return new Terraform(tools.terraform, git(repoName), repo.terraformBackendConfig, tools.workDir);
  };
  /** Resolves a step's target once (e.g. revision 7, the blue selector); the workflow records it. */
  const planStep = async (req: StepRequest): Promise<Plan> => {
    const { step } = req;
    if (isKubeStep(step)) return kubernetes.plan(step, req.cluster);
    if (step.type === 'helm') return helm(step.cluster ?? req.cluster).plan(step.namespace, step.release, step.toRevision);
    if (step.type === 'gitops') return new Gitops(git(step.repo, step.branch), tools.workDir).plan(step.revert, req.idempotencyKey);
    if (step.type === 'terraform') return terraform(step.repo!).plan(step.repo!, step.toRef, step.workingDir, req.idempotencyKey);
    throw notAvailable(`planning of ${step.type} steps`);
  };
  /** The rollback whose restore this activity's step records on the target (the repeat rule's memory). */
  const rollbackOf = (req: StepRequest) => {
    const runId = Context.current().info.workflowExecution?.runId;
    return { workflowId: req.workflowId, ...(runId ? { runId } : {}) };
  };
  const clusterProblem = (path: string, name: string | undefined, environment?: string): string | undefined => {
    if (!name) return `${path}: no cluster named (set spec.cluster or the step's cluster)`;
    if (!clusters.names().includes(name))
      return `${path}: cluster ${name} is not configured on the worker (configured: ${clusters.names().join(', ') || 'none'})`;
    const wrong = environment === undefined ? undefined : targetEnvironmentProblem('cluster', name, clusters.config[name]!.environments, environment);
    return wrong && `${path}: ${wrong}`;
  };
  const repoProblem = (path: string, name: string, environment: string): string | undefined => {
    if (!repos.names().includes(name)) return `${path}: repository ${name} is not configured on the worker (configured: ${repos.names().join(', ') || 'none'})`;
    const wrong = targetEnvironmentProblem('repository', name, repos.config[name]!.environments, environment);
    return wrong && `${path}: ${wrong}`;
  };
  return {
    /** Gradual unfreeze: freezeState, releaseEnvironment, refreezeEnvironment, liftFreeze, with the worker's client. */
    ...freezeControl(),
    /** Freeze windows: their gate entry to the registry that `rearguard serve` watches. */
    ...gatePublisher(),
    /** `rearguard doctor`: the worker's tools, clusters and access, catalog, Prometheus, audit file (read-only). */
    ...doctorActivities({ clusters, tools, env, auditFile: auditLog.path, ...(catalog ? { catalog } : {}) }),

    async appendAudit(event: AuditEvent): Promise<void> {
      await auditLog.append(event);
    },

    /**
     * The events a workflow recorded since its last flush, in order (workflows/kit/audit.ts; a local activity):
     * each written once, whatever the retries, and written with the other rollbacks' in one group commit.
     */
    async appendAuditBatch(events: AuditEvent[]): Promise<void> {
      await auditLog.appendMany(events);
    },

    /** Problems that would make the rollback fail half-way, found before anything is changed. */
    async preflight({ runbook }: { runbook: Runbook }): Promise<string[]> {
      const problems: string[] = [];
      runbook.spec.steps.forEach((s, i) => {
        if (!STEP_MECHANISMS.has(s.type))
          problems.push(`spec.steps[${i}] (${s.type}): the ${s.type} mechanism is not available yet in this version of Rearguard`);
        const environment = runbook.spec.environment;
        if (s.type === 'kubernetes' || s.type === 'blueGreen' || s.type === 'helm') {
          const p = clusterProblem(`spec.steps[${i}]`, s.cluster ?? runbook.spec.cluster, environment);
          if (p) problems.push(p);
        }
        if (s.type === 'gitops') {
          const r = repoProblem(`spec.steps[${i}]`, s.repo, environment);
          if (r) problems.push(r);
          if (s.argocd || s.flux) {
            const p = clusterProblem(`spec.steps[${i}] (argocd/flux)`, runbook.spec.cluster, environment);
            if (p) problems.push(p);
          }
        }
        if (s.type === 'terraform') {
          if (!s.repo) problems.push(`spec.steps[${i}]: terraform steps need repo, a repository configured on the worker`);
          else {
            const r = repoProblem(`spec.steps[${i}]`, s.repo, environment);
            if (r) problems.push(r);
          }
          if (s.approvePlan && !(runbook.spec.approval?.approvers.length ?? 0)) problems.push(`spec.steps[${i}]: approvePlan needs approvers in spec.approval`);
        }
        if (s.type === 'webhook') {
          for (const v of [s.urlEnv, ...Object.values(s.headersFromEnv ?? {})]) {
            if (v !== undefined && !env[v]) problems.push(`spec.steps[${i}]: environment variable ${v} is not set on the worker`);
          }
        }
      });
      runbook.spec.verify.forEach((c, i) => {
        if (!CHECK_MECHANISMS.has(c.type))
          problems.push(`spec.verify[${i}] (${c.type}): the ${c.type} check is not available yet in this version of Rearguard`);
        if (c.type === 'prometheus' && !env[PROMETHEUS_URL_ENV])
          problems.push(`spec.verify[${i}] (prometheus): no Prometheus configured on the worker: set ${PROMETHEUS_URL_ENV} (e.g. http://prometheus:9090)`);
      });
      runbook.spec.notify.forEach((n, i) => {
        if (n.urlEnv !== undefined && !env[n.urlEnv]) problems.push(`spec.notify[${i}] (${n.name}): environment variable ${n.urlEnv} is not set on the worker`);
      });
      // The worker's egress policy, statically (hosts in urlEnv values are checked when the request is made).
      const policy = egress.policy;
      if (policy) problems.push(...egressProblems(runbook, policy).map((p) => `${p} (egress policy ${policy.metadata.name})`));
      return problems;
    },

    /** Resolves a step's target once (e.g. revision 7, the blue selector); the workflow records it. */
    async planStep(req: StepRequest): Promise<Plan> {
      return planStep(req);
    },

    /**
     * The repeat rule, before anything runs: the first step with a relative target (runbook/repeat.ts) whose
     * target is still in the state an earlier rollback restored, and that rollback's record. A step that
     * cannot be planned here is left to its own plan, which reports the problem when the step runs.
     */
    async findRestored(req: {
      workflowId: string;
      target: Target;
      cluster?: string;
      steps: Step[];
      trigger: StepRequest['trigger'];
    }): Promise<{ step: string; record: RestoreRecord } | null> {
      const runId = Context.current().info.workflowExecution?.runId ?? 'run';
      // Heartbeats: a worker that dies while planning is noticed within the heartbeat timeout, not the minute.
      return withHeartbeat({ findRestored: req.workflowId }, async () => {
        for (const step of req.steps) {
          if (!hasRelativeTarget(step)) continue;
          const name = step.name ?? step.type;
          const plan = await planStep({ ...req, step, idempotencyKey: `${req.workflowId}/${runId}/repeat-check/${name}` }).catch(() => undefined);
          const record = restoredBy(plan);
          if (record) return { step: name, record };
        }
        return null;
      });
    },

    async runStep(req: StepRequest): Promise<Record<string, unknown>> {
      const { step } = req;
      if (step.type === 'webhook') return runWebhookStep(env, { ...req, step }, egress);
      if (isKubeStep(step)) {
        if (req.plan === undefined) throw notAvailable(`running ${step.type} steps without a plan`);
        return kubernetes.apply(step, req.plan as KubePlan, rollbackOf(req));
      }
      if (step.type === 'gitops') {
        if (req.plan === undefined) throw notAvailable('running gitops steps without a plan');
        const plan = req.plan as GitopsPlan;
        // Planned as "already restored": nothing to commit or sync (the workflow does not run such a step).
        if (plan.alreadyRestored) return { repo: plan.repo, branch: plan.branch, changed: false, alreadyRestored: plan.alreadyRestored };
        const gitops = new Gitops(git(step.repo, plan.branch), tools.workDir);
        const title = `Rollback ${req.target.service} in ${req.target.environment}: ${plan.mode === 'revert' ? `revert ${plan.commits.map((c) => c.slice(0, 12)).join(', ')}` : `restore ${plan.commits[0].slice(0, 12)}`}`;
        const made = await gitops.commit(plan, req.idempotencyKey, { title, actor: req.trigger.actor, reason: req.trigger.reason, workflowId: req.workflowId });
        const deadline = Date.now() + Math.max(10_000, Context.current().info.startToCloseTimeoutMs - 10_000);
        const result: Record<string, unknown> = {
          repo: plan.repo,
          branch: plan.branch,
          from: plan.headBefore,
          commit: made.commit,
          created: made.created,
          mode: plan.mode,
          reverted: plan.commits,
        };
        if (step.argocd) result.argocd = await syncArgo(clusters.client(req.cluster), step.argocd, made.commit, req.trigger.reason, deadline);
        if (step.flux) result.flux = await reconcileFlux(clusters.client(req.cluster), step.flux, made.commit, deadline, req.idempotencyKey);
        return result;
      }
      if (step.type === 'terraform') {
        if (req.plan === undefined) throw notAvailable('running terraform steps without a plan');
        return terraform(step.repo!).apply(req.plan as TerraformPlan);
      }
      if (step.type === 'helm') {
        if (req.plan === undefined) throw notAvailable('running helm steps without a plan');
        const plan = req.plan as HelmPlan;
        return helm(plan.cluster).apply(plan, Context.current().info.startToCloseTimeoutMs, rollbackOf(req));
      }
      const unknown: never = step;
      throw notAvailable(`the ${(unknown as { type: string }).type} mechanism`);
    },

    async runCheck(req: CheckRequest): Promise<Record<string, unknown>> {
      const { check } = req;
      if (check.type === 'http') return runHttpCheck(check, egress);
      if (check.type === 'kubernetesAvailable') return kubernetes.check(check, req.cluster);
      if (check.type === 'prometheus') return runPrometheusCheck(env, check);
      throw notAvailable(`the ${(check as { type: string }).type} check`);
    },

    /** SLO guard: one evaluation of the runbook's spec.slo (Prometheus problems are reported, not thrown). */
    async evaluateSlo({ runbook }: { runbook: Runbook }): Promise<SloEvaluation> {
      // A refused health URL fails the evaluation (the guard alerts) instead of counting as an unhealthy service.
      const health = runbook.spec.slo?.health?.http;
      if (health) {
        const what = `spec.slo.health.http: GET ${health.url.replace(/\?.*$/, '')}`;
        enforcePolicy(egress.policy, { url: health.url }, what);
        await refuseForbidden(health.url, what, lookup);
      }
      return evaluateSlo({ env, clusters }, runbook);
    },

    /** Signal-with-start of the runbook's rollback (a running one is joined), on this worker's task queue. */
    async triggerRollback({ runbook, trigger, catalog }: { runbook: Runbook; trigger: Trigger; catalog?: CatalogRef }): Promise<TriggerResult> {
      const ctx = Context.current();
      return triggerRollback(ctx.client, ctx.info.taskQueue, runbook, trigger, catalog);
    },

    async notify(req: NotifyRequest): Promise<{ sent: string[] }> {
      return sendNotifications(env, req, egress);
    },

    /** Freeze guardrails (Argo CD, Flux, flags): idempotent, state kept as markers on the changed objects. */
    async applyGuardrails(req: GuardrailsRequest & { reason: string }) {
      return withHeartbeat({ applyGuardrails: req.freezeId }, () => applyGuardrails({ clusters }, req));
    },

    async restoreGuardrails(req: GuardrailsRequest) {
      return withHeartbeat({ restoreGuardrails: req.freezeId }, () => restoreGuardrails({ clusters }, req));
    },

    /** Rollback drills: the marked bad revision, inspection, clean-up (activities/drill.ts). */
    ...drillActivities(clusters),

    /** Signed decisions: the worker's allowed_signers and whether signatures are required (activities/trust.ts). */
    ...trust,

    /** The runbook catalog: its index, and one runbook by name and digest (activities/catalog.ts). */
    ...catalogActivities(catalog),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { TrustSettings } from './trust.js';
