// Shared fixtures for the testbed objects the integration and end-to-end tests build: Kubernetes manifests
// (Namespace, Deployment, Service, a GitOps config repo's Deployment), the kubectl steps around them, and
// the environment of a worker or CLI process talking to a test Temporal server; an audit event.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Testbed } from '../testbed/cluster.js';
import type { AuditEvent } from '../../runbook/types.js';

const flow = (m: Record<string, string>) =>
  Object.entries(m)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');

export function namespaceYaml(name: string): string {
  return `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${name} }\n`;
}

export interface DeploymentFixture {
  namespace: string;
  name: string;
  image: string;
  /** Pod labels and selector (default `app: <name>`). */
  labels?: Record<string, string>;
  replicas?: number;
  /** The container's name (default: the Deployment's name). */
  container?: string;
  annotations?: Record<string, string>;
  revisionHistoryLimit?: number;
  /** Container environment variables. */
  env?: Record<string, string>;
}

/** An apps/v1 Deployment with one container. */
export function deploymentYaml(d: DeploymentFixture): string {
  const labels = flow(d.labels ?? { app: d.name });
  const env = d.env ? `, env: [${Object.entries(d.env).map(([name, value]) => `{ name: ${name}, value: ${value} }`)}]` : '';
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${d.name}, namespace: ${d.namespace}${d.annotations ? `, annotations: { ${flow(d.annotations)} }` : ''} }
spec:
  replicas: ${d.replicas ?? 2}
${d.revisionHistoryLimit !== undefined ? `  revisionHistoryLimit: ${d.revisionHistoryLimit}\n` : ''}  selector: { matchLabels: { ${labels} } }
  template:
    metadata: { labels: { ${labels} } }
    spec:
      containers: [{ name: ${d.container ?? d.name}, image: "${d.image}"${env} }]
`;
}

/** A v1 Service on port 80. */
export function serviceYaml(s: { namespace: string; name: string; selector: Record<string, string>; labels?: Record<string, string> }): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${s.name}, namespace: ${s.namespace}${s.labels ? `, labels: { ${flow(s.labels)} }` : ''} }
spec:
  selector: { ${flow(s.selector)} }
  ports: [{ port: 80 }]
`;
}

/** The api Deployment of a GitOps config repository (apps/api/deployment.yaml): no namespace, one container. */
export function configDeploymentYaml(image: string): string {
  return `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: api }\nspec:\n  template:\n    spec:\n      containers: [{ name: api, image: "${image}" }]\n`;
}

/**
 * What a freeze's guardrails hold in namespace `ns`: Argo CD AppProject `project` with an office-hours allow window,
 * and two Flux Kustomizations, `apps` and `legacy` (suspended by a person, so a restore must leave it suspended).
 */
export function guardedObjectsYaml(ns: string, project: string): string {
  return `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: { name: ${project}, namespace: ${ns} }
spec:
  sourceRepos: ['*']
  syncWindows:
    - { kind: allow, schedule: '0 9 * * MON-FRI', duration: 8h, applications: ['*'], description: office hours }
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: { name: apps, namespace: ${ns} }
spec: { interval: 10m, path: ./apps, prune: true, sourceRef: { kind: GitRepository, name: config } }
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: { name: legacy, namespace: ${ns} }
spec: { interval: 10m, path: ./legacy, prune: true, suspend: true, sourceRef: { kind: GitRepository, name: config } }
`;
}

/** `kubectl rollout status` of a Deployment, for up to 60 s. */
export function rolloutStatus(bed: Testbed, ns: string, deployment: string): Promise<string> {
  return bed.kubectl(['rollout', 'status', '-n', ns, `deployment/${deployment}`, '--timeout=60s']);
}

/**
 * The environment of a `rearguard` worker or CLI process against `env`: a unique task queue named after
 * `prefix`, the audit file in `dir`, the runtime metrics on a free port.
 */
export function rearguardEnv(env: TestWorkflowEnvironment, dir: string, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: env.address,
    REARGUARD_TASK_QUEUE: `${prefix}-${randomUUID()}`,
    REARGUARD_AUDIT_FILE: join(dir, 'audit.jsonl'),
    REARGUARD_RUNTIME_METRICS_PORT: '0',
    // `rearguard serve`: look for freezes the gate's registry does not have every 2 s (tests start them by hand).
    REARGUARD_GATE_RECONCILE: '2s',
    ...extra,
  };
}

/** An audit event of a rollback step on prod/payments (the audit file's unit tests). */
export const auditEvent = (id: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  id,
  time: new Date().toISOString(),
  actor: 'tester',
  action: 'rollback.step-succeeded',
  reason: `reason of ${id}`,
  workflowId: 'rollback:prod:payments',
  target: { environment: 'prod', service: 'payments' },
  details: {},
  ...extra,
});
