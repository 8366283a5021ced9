// The worker's half of `rearguard doctor`: what only the worker can see, because it holds the targets file, the
// tools and the catalog. Each cluster: reachable, and allowed what the runbooks' steps do in their namespaces (a
// SelfSubjectAccessReview per resource and verb, as `kubectl auth can-i` asks); helm, git and terraform present;
// the catalog read without problems; Prometheus answering; the audit file's directory writable. Read-only: nothing
// is changed anywhere. Never throws for a failed check: a failed check is a finding.
import { access, constants } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Catalog } from './catalog.js';
import { PROMETHEUS_URL_ENV } from './prometheus.js';
import { run } from './process.js';
import type { Env } from './secrets.js';
import type { Clusters } from './targets.js';
import type { ToolPaths } from './tools.js';
import { accessNeeds, guardrailNeeds, type AccessNeed, type DiagnoseInput, type Finding } from '../runbook/doctor.js';

export interface DoctorDeps {
  clusters: Clusters;
  tools: ToolPaths;
  env: Env;
  auditFile: string;
  catalog?: Catalog;
}

const TOOL_ENV: Record<'helm' | 'git' | 'terraform', string> = { helm: 'REARGUARD_HELM_BIN', git: 'REARGUARD_GIT_BIN', terraform: 'REARGUARD_TERRAFORM_BIN' };
const VERSION_ARGS: Record<'helm' | 'git' | 'terraform', string[]> = { helm: ['version', '--short'], git: ['--version'], terraform: ['version'] };

export function doctorActivities(d: DoctorDeps) {
  return {
    async diagnose(input: DiagnoseInput): Promise<Finding[]> {
      const catalogRunbooks = d.catalog ? safe(() => d.catalog!.current().runbooks.map((e) => e.runbook)) : [];
      const runbooks = [...(catalogRunbooks ?? []), ...input.runbooks];
      const guarded = input.guardrails ?? [];
      const needs = [...runbooks.flatMap(accessNeeds), ...guarded.flatMap((g) => guardrailNeeds(g.calendar, g.guardrails))];
      const findings = await Promise.all([tools(d), clusters(d, needs), prometheus(d.env), auditFile(d.auditFile), flagFiles(guarded)]);
      return [...catalogFindings(d), ...findings.flat()];
    },
  };
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const safe = <T>(f: () => T): T | undefined => {
  try {
    return f();
  } catch {
    return undefined;
  }
};

async function tools(d: DoctorDeps): Promise<Finding[]> {
  return Promise.all(
    (['helm', 'git', 'terraform'] as const).map(async (tool): Promise<Finding> => {
      const bin = d.tools[tool];
      try {
        const r = await run(bin, VERSION_ARGS[tool], { timeoutMs: 15_000 });
        const version = `${r.stdout}${r.stderr}`.trim().split('\n')[0];
        if (r.exitCode === 0) return { check: tool, verdict: 'ok', detail: `${bin}: ${version}` };
        return { check: tool, verdict: 'fail', detail: `${bin} ${VERSION_ARGS[tool].join(' ')} exited ${r.exitCode}: ${version}`, fix: fixTool(tool) };
      } catch (err) {
        return { check: tool, verdict: 'fail', detail: `${bin}: ${errorMessage(err)}`, fix: fixTool(tool) };
      }
    }),
  );
}

const fixTool = (tool: 'helm' | 'git' | 'terraform') =>
  `install ${tool === 'terraform' ? 'terraform (or tofu)' : tool} on the worker, or point ${TOOL_ENV[tool]} at it (needed by ${tool === 'git' ? 'gitops and terraform' : tool} steps only)`;

async function clusters(d: DoctorDeps, needs: AccessNeed[]): Promise<Finding[]> {
  const out: Finding[] = [];
  const names = d.clusters.names();
  if (names.length === 0)
    return [{ check: 'clusters', verdict: 'warn', detail: 'no cluster in the targets file', fix: 'name the clusters runbooks act on in REARGUARD_TARGETS' }];
  for (const name of names) {
    const kube = d.clusters.client(name);
    try {
      const v = await kube.get('/version');
      out.push({ check: `cluster ${name}`, verdict: 'ok', detail: `reachable, Kubernetes ${String(v.gitVersion ?? '?')}` });
    } catch (err) {
      out.push({
        check: `cluster ${name}`,
        verdict: 'fail',
        detail: `unreachable: ${errorMessage(err)}`,
        fix: `check the kubeconfig of cluster ${name} in REARGUARD_TARGETS (server, credentials)`,
      });
      continue;
    }
    // What the runbooks on this cluster do, by namespace: each resource and verb asked once.
    const mine = needs.filter((n) => (n.cluster ?? names[0]) === name);
    const subject = mine.length ? await bindingSubject(kube) : undefined;
    for (const namespace of [...new Set(mine.map((n) => n.namespace))].sort()) {
      const denied: string[] = [];
      const roles = new Set<AccessNeed['role']>();
      const asked = new Set<string>();
      for (const n of mine.filter((x) => x.namespace === namespace))
        for (const verb of n.verbs) {
          const key = `${verb} ${n.resource}${n.group ? `.${n.group}` : ''}`;
          if (asked.has(key)) continue;
          asked.add(key);
          const review = await kube
            .call('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SelfSubjectAccessReview',
              spec: { resourceAttributes: { namespace, verb, group: n.group, resource: n.resource } },
            })
            .catch((err: unknown) => ({ status: { allowed: false, reason: errorMessage(err) } }));
          if (!review.status?.allowed) {
            denied.push(`${key} (${n.by})`);
            roles.add(n.role);
          }
        }
      out.push(
        denied.length
          ? {
              check: `cluster ${name}`,
              verdict: 'fail',
              detail: `namespace ${namespace}: not allowed to ${denied.join(', ')}`,
              fix: bindingFix(namespace, [...roles], subject),
            }
          : { check: `cluster ${name}`, verdict: 'ok', detail: `namespace ${namespace}: allowed ${[...asked].join(', ')}` },
      );
    }
  }
  return out;
}

/**
 * The rolebindings that grant what was denied: deploy/rbac's rearguard-worker for Rearguard's own mechanisms; for
 * helm, a role that also covers the chart's resources (Helm re-applies them) and its release Secrets.
 */
function bindingFix(namespace: string, roles: AccessNeed['role'][], subject: string | undefined): string {
  const who = subject ?? '--serviceaccount=NAMESPACE:NAME (or --user=NAME)';
  return roles
    .sort()
    .map((role) =>
      role === 'edit'
        ? `for helm, bind a role covering the chart's resources and Secrets (often the built-in edit): kubectl create rolebinding rearguard-helm -n ${namespace} --clusterrole=edit ${who}`
        : `bind the ClusterRole of deploy/rbac/rearguard-worker.yaml to the worker's identity in namespace ${namespace}: kubectl create rolebinding rearguard-worker -n ${namespace} --clusterrole=rearguard-worker ${who}`,
    )
    .join('; ');
}

/** The flags guardrail rewrites its file in place (a temporary file beside it, then a rename): both need writing. */
async function flagFiles(guarded: NonNullable<DiagnoseInput['guardrails']>): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const { calendar, guardrails } of guarded) {
    const file = guardrails.flags?.file;
    if (!file) continue;
    try {
      await access(file, constants.R_OK | constants.W_OK);
      await access(dirname(file), constants.W_OK);
      out.push({ check: 'flags file', verdict: 'ok', detail: `${file} (calendar ${calendar}): readable and writable` });
    } catch (err) {
      out.push({
        check: 'flags file',
        verdict: 'fail',
        detail: `${file} (calendar ${calendar}): ${errorMessage(err)}`,
        fix: 'give the worker read and write access to the flagd file and its directory (the guardrail pins flags there while frozen)',
      });
    }
  }
  return out;
}

/** Who the worker is on this cluster (a SelfSubjectReview, Kubernetes 1.28+), as kubectl create rolebinding's flag. */
async function bindingSubject(kube: ReturnType<Clusters['client']>): Promise<string | undefined> {
  try {
    const review = await kube.call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    });
    const user = String(review.status?.userInfo?.username ?? '');
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user);
    return sa ? `--serviceaccount=${sa[1]}:${sa[2]}` : user ? `--user=${user}` : undefined;
  } catch {
    return undefined;
  }
}

function catalogFindings(d: DoctorDeps): Finding[] {
  if (!d.catalog)
    return [
      {
        check: 'catalog',
        verdict: 'warn',
        detail: 'none: development mode (local runbooks everywhere; unsigned decisions unless allowed_signers is set)',
        fix: 'in production, give the worker a catalog (REARGUARD_CATALOG: a directory or git:REPO@REF)',
      },
    ];
  const problems = d.catalog.problems();
  const current = safe(() => d.catalog!.current());
  const what = current
    ? `${current.source} at ${current.revision}: ${current.runbooks.length} runbooks, policy ${current.policy.metadata.name}`
    : d.catalog.name;
  return problems.length
    ? [
        {
          check: 'catalog',
          verdict: 'fail',
          detail: `${what}; the last read failed: ${problems.join('; ')}`,
          fix: 'fix the catalog (the worker keeps the last good one meanwhile)',
        },
      ]
    : [{ check: 'catalog', verdict: 'ok', detail: what }];
}

async function prometheus(env: Env): Promise<Finding[]> {
  const url = env[PROMETHEUS_URL_ENV];
  if (!url)
    return [
      {
        check: 'prometheus',
        verdict: 'warn',
        detail: `${PROMETHEUS_URL_ENV} is not set`,
        fix: `set ${PROMETHEUS_URL_ENV} if runbooks use prometheus checks, SLO guards or unfreeze gates`,
      },
    ];
  try {
    const res = await fetch(new URL('api/v1/query?query=1', url.endsWith('/') ? url : `${url}/`), { signal: AbortSignal.timeout(5_000) });
    if (res.ok) return [{ check: 'prometheus', verdict: 'ok', detail: `${url} answers queries` }];
    return [
      {
        check: 'prometheus',
        verdict: 'fail',
        detail: `${url}: HTTP ${res.status}`,
        fix: `check ${PROMETHEUS_URL_ENV} (the Prometheus base URL, with its path prefix if any)`,
      },
    ];
  } catch (err) {
    return [
      {
        check: 'prometheus',
        verdict: 'fail',
        detail: `${url}: ${errorMessage(err)}`,
        fix: `check ${PROMETHEUS_URL_ENV} and that Prometheus is reachable from the worker`,
      },
    ];
  }
}

async function auditFile(path: string): Promise<Finding[]> {
  try {
    await access(dirname(path), constants.W_OK);
    return [{ check: 'audit file', verdict: 'ok', detail: `${path} (directory writable)` }];
  } catch (err) {
    return [
      {
        check: 'audit file',
        verdict: 'fail',
        detail: `${path}: ${errorMessage(err)}`,
        fix: 'give the worker a writable REARGUARD_AUDIT_FILE (a persistent volume in a container): workflows wait until their audit events are written',
      },
    ];
  }
}
