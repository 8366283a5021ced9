// The freezeWindow workflow's test fixture (test/workflows/freeze*.test.ts): a 3-day window of prod on a
// fresh worker, audit events recorded in memory.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../activities/index.js';
import { gatePublisher } from '../../activities/gate-publish.js';
import type { FreezeState, FreezeWindowInput } from '../../runbook/freeze.js';
import type { AuditEvent } from '../../runbook/types.js';
import type { RearguardMetrics } from '../../worker/metrics.js';
import { testEnv, withWorker } from './harness.js';
import { waitFor } from './wait.js';
import { freezeStateQuery } from '../../api/messages.js';

export const DAY = 86_400_000;

/**
 * Activities for freeze windows that publish to the gate's registry for real (signal-with-start of the freeze's
 * shard on the worker's task queue), with the audit, notifications and trust settings stubbed: the gate tests.
 */
export const publishingFreezeActivities = () => ({
  appendAudit: async (_e: AuditEvent) => undefined,
  notify: async () => ({ sent: [] }),
  trustSettings: async () => ({ requireSignatures: false, allowedSigners: [] }),
  ...gatePublisher(),
});

export async function withFreeze(
  input: Partial<FreezeWindowInput> | ((startedAt: number) => Partial<FreezeWindowInput>),
  body: (h: WorkflowHandle, ctx: { audit: AuditEvent[]; metrics: RearguardMetrics; startedAt: number }) => Promise<void>,
  stubs: Partial<Record<keyof Activities, (...args: any[]) => Promise<unknown>>> = {}, // eslint-disable-line @typescript-eslint/no-explicit-any
  on: TestWorkflowEnvironment = testEnv(),
) {
  const audit: AuditEvent[] = [];
  const activities = {
    appendAudit: async (e: AuditEvent) => void audit.push(e),
    // Development trust (no allowed_signers): unsigned decisions count; freeze-signed.test.ts overrides it.
    trustSettings: async () => ({ requireSignatures: false, allowedSigners: [] }),
    // The gate's registry is not under test here (test/integration/gate-view.test.ts).
    publishGate: async () => undefined,
    ...stubs,
  };
  await withWorker({ activities, taskQueue: 'freeze', env: on }, async ({ taskQueue, metrics }) => {
    const startedAt = await on.currentTimeMs();
    const name = `w-${randomUUID().slice(0, 8)}`;
    const full: FreezeWindowInput = {
      name,
      scope: { environments: ['prod'], services: ['*'] },
      reason: 'Black Friday',
      actor: 'rm-ann',
      start: new Date(startedAt).toISOString(),
      end: new Date(startedAt + 3 * DAY).toISOString(),
      exceptions: { approvers: ['rm-bo', 'rm-cy'], quorum: 1 },
      ...(typeof input === 'function' ? input(startedAt) : input),
    };
    const h = await on.client.workflow.start('freezeWindow', { workflowId: `freeze:${name}`, taskQueue, args: [full] });
    // An Update that comes with the start is refused until the worker's trust settings are loaded and the start is
    // judged (a race under load): the body begins once it is admitted, or refused.
    await waitFor(
      async () => {
        const s = await h.query(freezeStateQuery).catch(() => undefined);
        return (s && (s.admitted || s.phase === 'refused')) || undefined;
      },
      'the freeze start to be judged',
      { timeout: 30_000 },
    );
    try {
      await body(h, { audit, metrics, startedAt });
    } catch (err) {
      // A failed body leaves the window running, and its worker would wait for it forever: end it, then fail.
      await h.terminate('test failed').catch(() => undefined);
      throw err;
    }
    // Finish it while the worker runs: a workflow task left pending would stop the server skipping time in later tests.
    await h.result().catch(() => undefined);
  });
}

export const result = async (h: WorkflowHandle) => (await h.result()) as FreezeState;
