// `rearguard doctor`, the Temporal side: the namespace, the workers polling the task queue, Worker Versioning's
// current version, then the worker's own diagnosis (workflows/doctor.ts: tools, clusters and access, catalog,
// Prometheus, audit file). Each finding says what is wrong and what to do. Read-only.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { DiagnoseInput, Finding } from '../runbook/doctor.js';
import { DEPLOYMENT_NAME, doctorWorkflowId } from './ids.js';
import { describeDeployment } from './deployments.js';
import { rootMessage } from './errors.js';

// A CommonJS module: its namespace is its default export.
const { temporal } = proto;

/** How long the worker's diagnosis may take (it runs every check once, with its own timeouts). */
const DIAGNOSIS_TIMEOUT = '90s';

export async function temporalFindings(client: Client, taskQueue: string, deployment = DEPLOYMENT_NAME): Promise<{ findings: Finding[]; workers: number }> {
  const namespace = client.options.namespace;
  const findings: Finding[] = [];
  try {
    const ns = await client.workflowService.describeNamespace({ namespace });
    const days = Number(ns.config?.workflowExecutionRetentionTtl?.seconds ?? 0) / 86_400;
    findings.push({ check: 'namespace', verdict: 'ok', detail: `${namespace}${days ? ` (retention ${days}d)` : ''}` });
  } catch (err) {
    findings.push({
      check: 'namespace',
      verdict: 'fail',
      detail: `${namespace}: ${rootMessage(err)}`,
      fix: `create it (temporal operator namespace create --namespace ${namespace}) or set --namespace / TEMPORAL_NAMESPACE`,
    });
    return { findings, workers: 0 };
  }
  const pollers = async (type: number) =>
    (
      await client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: type,
      })
    ).pollers ?? [];
  const [workflow, activity] = await Promise.all([
    pollers(temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
    pollers(temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
  ]);
  const identities = [...new Set([...workflow, ...activity].map((p) => p.identity ?? '?'))].sort();
  findings.push(
    workflow.length && activity.length
      ? { check: 'workers', verdict: 'ok', detail: `${identities.length} polling task queue ${taskQueue}: ${identities.join(', ')}` }
      : {
          check: 'workers',
          verdict: 'fail',
          detail: `no worker polls task queue ${taskQueue}${identities.length ? ` for ${workflow.length ? 'activities' : 'workflow tasks'}` : ''}`,
          fix: `start a worker on task queue ${taskQueue} (npm run worker, the container image, REARGUARD_TASK_QUEUE): until one polls, nothing Rearguard starts makes progress`,
        },
  );
  const d = await describeDeployment(client, deployment).catch(() => undefined);
  if (d && d.versions.length)
    findings.push(
      d.current
        ? {
            check: 'versions',
            verdict: 'ok',
            detail: `deployment ${deployment}: current ${d.current}; ${d.versions.map((v) => `${v.buildId} ${v.status}`).join(', ')}`,
          }
        : {
            check: 'versions',
            verdict: 'fail',
            detail: `deployment ${deployment} has versions (${d.versions.map((v) => v.buildId).join(', ')}) but none is current: new runs wait`,
            fix: `rearguard upgrade BUILD_ID (the build ID the workers were started with)`,
          },
    );
  return { findings, workers: workflow.length && activity.length ? identities.length : 0 };
}

/**
 * The worker's diagnosis: what it sees of its tools, clusters (with access for `runbooks` and the calendars'
 * `guardrails` too), catalog, Prometheus.
 */
export async function workerFindings(client: Client, taskQueue: string, input: DiagnoseInput): Promise<Finding[]> {
  try {
    return (await client.workflow.execute('diagnose', {
      workflowId: doctorWorkflowId(randomUUID()),
      taskQueue,
      args: [input],
      workflowExecutionTimeout: DIAGNOSIS_TIMEOUT,
    })) as Finding[];
  } catch (err) {
    return [
      {
        check: 'worker',
        verdict: 'fail',
        detail: `the worker's diagnosis did not finish: ${rootMessage(err)}`,
        fix: 'a worker older than `rearguard doctor` does not know it: upgrade the workers; otherwise see their log',
      },
    ];
  }
}
