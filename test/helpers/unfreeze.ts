// The gradualUnfreeze workflow's test fixture (test/workflows/unfreeze.test.ts): the real freezeWindow workflow
// in the same worker (the release/refreeze/lift activities message it with the worker's client), health gates
// stubbed per environment.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freezeControl } from '../../activities/freeze-control.js';
import { gatePublisher } from '../../activities/gate-publish.js';
import type { FreezeWindowInput } from '../../runbook/freeze.js';
import type { Check, NotifyTarget } from '../../runbook/schema.js';
import type { AuditEvent, CheckRequest, NotifyRequest } from '../../runbook/types.js';
import type { UnfreezeInput } from '../../runbook/unfreeze.js';
import { freezeStateQuery, liftFreezeUpdate } from '../../api/messages.js';
import { unfreezeWorkflowId } from '../../api/ids.js';
import { endIfRunning, testEnv, withWorker } from './harness.js';
import { waitFor } from './wait.js';

const DAY = 86_400_000;
export const errorRatio: Check = {
  type: 'prometheus',
  query: 'sum(rate(http_requests_total{env="$environment",code=~"5.."}[5m])) / sum(rate(http_requests_total{env="$environment"}[5m]))',
  below: 0.01,
};
export const channel: NotifyTarget = { name: 'release-channel', type: 'webhook', url: 'https://hooks.example.com/release', urlEnv: undefined };

/** Polls every 50 ms, for up to 20 s, until `probe` is true. */
export const poll = (probe: () => Promise<boolean>, what: string): Promise<boolean> => waitFor(probe, what, { timeout: 20_000, interval: 50 });

export interface UnfreezeContext {
  h: WorkflowHandle;
  freeze: WorkflowHandle;
  audit: AuditEvent[];
  checks: CheckRequest[];
  notes: NotifyRequest[];
  /** Per environment: undefined = healthy, a string = the gate fails with that message. */
  health: Record<string, string | undefined>;
  start: () => Promise<WorkflowHandle>;
}

/** A 3-day freeze of dev, staging and prod, and (once `start` is called) its gradual unfreeze. */
export async function withUnfreeze(
  input: Partial<UnfreezeInput>,
  body: (ctx: UnfreezeContext) => Promise<void>,
  freezeInput: Partial<FreezeWindowInput> = {},
  env: TestWorkflowEnvironment = testEnv(),
  /** Activities to replace (e.g. trustSettings, in unfreeze-signed tests). */
  stubs: Record<string, unknown> = {},
) {
  const audit: AuditEvent[] = [];
  const checks: CheckRequest[] = [];
  const notes: NotifyRequest[] = [];
  const health: Record<string, string | undefined> = {};
  const activities = {
    ...freezeControl(),
    // Real: the release/refreeze activities wait until the gate's registry has each change.
    ...gatePublisher(),
    appendAudit: async (e: AuditEvent) => void audit.push(e),
    notify: async (req: NotifyRequest) => (notes.push(req), { sent: req.targets.map((t) => t.name) }),
    runCheck: async (req: CheckRequest) => {
      checks.push(req);
      const bad = health[req.target.environment];
      if (bad) throw ApplicationFailure.nonRetryable(bad, 'CheckFailed');
      return { value: 0.001 };
    },
    // Development trust (no allowed_signers): unsigned decisions count.
    trustSettings: async () => ({ requireSignatures: false, allowedSigners: [] }),
    ...stubs,
  };
  await withWorker({ activities, taskQueue: 'unfreeze', env }, async ({ taskQueue }) => {
    const now = await env.currentTimeMs();
    const name = `bf-${randomUUID().slice(0, 8)}`;
    const freezeId = `freeze:${name}`;
    const freeze = await env.client.workflow.start('freezeWindow', {
      workflowId: freezeId,
      taskQueue,
      args: [
        {
          name,
          scope: { environments: ['dev', 'staging', 'prod'], services: ['*'] },
          reason: 'Black Friday',
          actor: 'rm-ann',
          start: new Date(now).toISOString(),
          end: new Date(now + 3 * DAY).toISOString(),
          exceptions: { approvers: [], quorum: 1 },
          ...freezeInput,
        } satisfies FreezeWindowInput,
      ],
    });
    await poll(async () => (await freeze.query(freezeStateQuery)).phase === 'active', 'freeze active');
    let h: WorkflowHandle | undefined;
    const start = async () =>
      (h = await env.client.workflow.start('gradualUnfreeze', {
        workflowId: unfreezeWorkflowId(freezeId),
        taskQueue,
        args: [
          {
            freezeId,
            ladder: ['dev', 'staging', 'prod'],
            soak: 30 * 60_000,
            interval: 5 * 60_000,
            gates: [errorRatio],
            notify: [channel],
            actor: 'rm-ann',
            reason: 'Black Friday is over',
            ...input,
          } satisfies UnfreezeInput,
        ],
      }));
    try {
      await body({ h: undefined as unknown as WorkflowHandle, freeze, audit, checks, notes, health, start });
    } finally {
      // Nothing may stay pending on the server: it would stop skipping time in later tests.
      if (h) await endIfRunning(h);
      if ((await freeze.describe()).status.name === 'RUNNING') {
        await freeze.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'test', reason: 'test over' }] }).catch(() => undefined);
        await freeze.result().catch(() => undefined);
      }
    }
  });
}
