// The rollback workflow's test fixture (test/workflows/rollback-*.test.ts): stub activities that record
// what they were asked, and `withRollback`, a rollback for a unique service on a fresh worker.
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { Activities } from '../../activities/index.js';
import type { Runbook } from '../../runbook/schema.js';
import type { AuditEvent, NotifyRequest, RollbackStatus, StepRequest, Trigger } from '../../runbook/types.js';
import type { RearguardMetrics } from '../../worker/metrics.js';
import { statusQuery, triggerSignal } from '../../api/messages.js';
import { rollbackWorkflowId } from '../../api/ids.js';
import { Histories, withWorker } from './harness.js';
import { makeRunbook } from './runbooks.js';
import { waitFor } from './wait.js';

export function stubActivities(overrides: Partial<Activities> = {}) {
  const calls = { audit: [] as AuditEvent[], steps: [] as StepRequest[], notify: [] as NotifyRequest[] };
  // Only what a rollback calls; other workflows' activities (freeze, unfreeze, guard, drill) are not stubbed here.
  const activities = {
    appendAudit: async (e) => void calls.audit.push(e),
    preflight: async () => [],
    applyGuardrails: async () => ({ changes: [] }),
    restoreGuardrails: async () => ({ changes: [] }),
    // The RCA freeze (freezeAfter) publishes to the gate's registry; not under test here.
    publishGate: async () => undefined,
    planStep: async () => {
      throw new Error('no planned steps in these tests');
    },
    findRestored: async () => null,
    // Development trust (no allowed_signers): unsigned votes count; rollback-signed.test.ts overrides it.
    trustSettings: async () => ({ requireSignatures: false, allowedSigners: [] }),
    runStep: async (req) => {
      calls.steps.push(req);
      return { ok: true };
    },
    runCheck: async () => ({ ok: true }),
    notify: async (req) => {
      calls.notify.push(req);
      return { sent: req.targets.map((t) => t.name) };
    },
    ...overrides,
  } as Activities;
  return { activities, calls };
}

export interface Case {
  runbook?: Runbook;
  actor?: string;
  overrides?: Partial<Activities>;
  /** Fields of the first trigger (e.g. an explicit target). */
  trigger?: Partial<Trigger>;
}

export interface RollbackContext {
  calls: ReturnType<typeof stubActivities>['calls'];
  metrics: RearguardMetrics;
  trigger: Trigger;
  start: (t: Trigger) => Promise<WorkflowHandle>;
}

/**
 * `withRollback(case, body)` runs `body` with a fresh worker on its own task queue and a rollback for a unique
 * service, and records its history in `histories` (replayed by the file's last test).
 */
export function rollbackHarness() {
  const histories = new Histories();
  const withRollback = (c: Case, body: (h: WorkflowHandle, ctx: RollbackContext) => Promise<void>) => runRollback(histories, c, body);
  return { histories, withRollback };
}

async function runRollback(histories: Histories, c: Case, body: (h: WorkflowHandle, ctx: RollbackContext) => Promise<void>): Promise<void> {
  const service = `svc-${randomUUID().slice(0, 8)}`;
  const base = c.runbook ?? makeRunbook();
  const runbook = { ...base, spec: { ...base.spec, service } };
  const { activities, calls } = stubActivities(c.overrides);
  await withWorker({ activities }, async ({ client, taskQueue, metrics }) => {
    const workflowId = rollbackWorkflowId(runbook.spec.environment, service);
    const trigger: Trigger = { source: 'manual', actor: c.actor ?? 'dave', reason: 'error rate 12%', requestId: randomUUID(), ...c.trigger };
    const start = (t: Trigger) =>
      client.workflow.signalWithStart('rollback', { workflowId, taskQueue, args: [{ runbook, trigger: t }], signal: triggerSignal, signalArgs: [t] });
    const handle = await start(trigger);
    await body(handle, { calls, metrics, trigger, start });
    await histories.record(handle);
  });
}

export const outcomeOf = async (h: WorkflowHandle): Promise<RollbackStatus> => (await h.result()) as RollbackStatus;
export const actions = (events: AuditEvent[]): string[] => events.map((e) => e.action);
/** Polls every 50 ms, for up to 10 s, until `probe` answers. */
export const poll = <T>(probe: () => Promise<T | undefined>, what: string): Promise<T> => waitFor(probe, what, { timeout: 10_000, interval: 50 });
/**
 * Waits for the rollback's phase. Query errors are retried: a catalog rollback sets its handlers only once its
 * runbook is loaded, so a Query that comes first fails (seen once in CI).
 */
export const phase = (h: WorkflowHandle, p: RollbackStatus['phase']) =>
  waitFor(async () => ((await h.query(statusQuery)).phase === p ? true : undefined), `phase ${p}`, { timeout: 10_000, interval: 50, ignoreErrors: true });
