// Property-based fuzzing of the workflows on the time-skipping test server: hundreds of generated valid
// runbooks (every step, check and notify type, every duration form, values at the caps, approvals with
// quorum and timeouts, escalations at percentages and at durations; timers of at least TIMER_FLOOR_MS) run
// as rollbacks against stub activities that succeed, fail (retryable or not), hang until cancelled or timed
// out, or are slow; people approve, reject, approve plans, cancel or do nothing. Then freeze windows from
// generated calendars, with exceptions, extensions and lifts. Every run must reach a terminal outcome with
// zero failed workflow tasks, and its status Query must answer before, during and after it. Seeded:
// REARGUARD_FUZZ_SEED.
// Over 300 lines on purpose: the scripted stub activities, the run drivers and the checks of one property
// run share state (scripts, time-skipping locks) and read best together.
//
// The Java time-skipping test server (temporalio/sdk-java, temporal-test-server) and what the drivers do about it:
// - Its clock jumps to the next timer whenever no time-skipping lock is held; a scheduled workflow task, an
//   activity from scheduling to its end and every lockTimeSkipping call hold one. Otherwise it runs in real time.
// - The event that ends such a thing releases its lock by updating its workflow; once the workflow has closed,
//   the update is refused and the lock is kept for good: the clock runs in real time from then on, and every
//   run waiting for a timer of minutes or days stalls. A rollback got there in two ways: it closed (cancelled)
//   while its cancelled step's activity still ran, or its RCA freeze (an abandoned child) ended after it had
//   closed (the child's "notify parent" lock). The appendAudit stub holds such a rollback open until neither
//   can happen (untilOnlyAuditRuns, closeRcaFreeze).
// - A timer that comes due while a workflow task runs, when that task cancels it (a vote ends the wait for
//   approval, the end of a rollback stops its SLA clock, a lift ends a freeze's wait), makes the server refuse
//   the task's completion ("invalid history builder state for action", sdk-java#2606): the run never gets
//   another task and keeps its lock. Timers come due in real time only when they are short, so generated
//   runs start none shorter than TIMER_FLOOR_MS.
// - An earlier version unlocked the clock from the client to get past stalls. That released the locks of tasks
//   waiting for a worker, and with no lock left the clock jumped to the next timer: the default run timeout of
//   10 years, hence the TIMED_OUT rollbacks seen with seeds 11 and 12345. Nothing unlocks behind the server's
//   back now: a run that does not end is reported stuck, and the batches after it do not start.
// - Cancelled timers, and the timers of closed workflows, stay queued (an activity's schedule-to-close timeout
//   defaults to the 10-year run timeout), so an idle server's clock jumps years ahead between batches. The
//   workflows do not mind; calendars are generated per batch around the server's time then.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowClient, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import fc from 'fast-check';
import { z } from 'zod';
import type { Activities } from '../../activities/index.js';
import { durationOption } from '../../client/options.js';
import { planCalendar, validateCalendar } from '../../runbook/calendar.js';
import { DURATION_LIMITS } from '../../runbook/duration.js';
import type { FreezeState, FreezeWindowInput } from '../../runbook/freeze.js';
import { validateRunbook } from '../../runbook/load.js';
import type { Runbook } from '../../runbook/schema.js';
import type { AuditEvent, RollbackStatus, Trigger } from '../../runbook/types.js';
import {
  approveExceptionUpdate,
  approvePlanUpdate,
  approveUpdate,
  cancelRequestSignal,
  extendFreezeUpdate,
  freezeStateQuery,
  liftFreezeUpdate,
  rejectUpdate,
  requestExceptionUpdate,
  statusQuery,
  triggerSignal,
} from '../../api/messages.js';
import { durationTextArb, fuzzSeed, runbookDocArb, validCalendarDoc, type RunbookDoc } from '../helpers/arbitraries.js';
import { withWorker } from '../helpers/harness.js';
import { createTimeSkippingEnv } from '../helpers/temporal.js';
import { waitFor } from '../helpers/wait.js';
import { rollbackWorkflowId } from '../../api/ids.js';

const seed = fuzzSeed('workflow fuzzing');
const ROLLBACKS = Number(process.env.REARGUARD_FUZZ_ROLLBACKS ?? 60);
const FREEZES = Number(process.env.REARGUARD_FUZZ_FREEZES ?? 30);
/** Runs started together: their approvals land while time stands still, then they finish with time skipping. */
const BATCH = 12;
/** A run that has not ended after this much real time is stuck (a wedged workflow task retries forever, a kept lock). */
const RUN_LIMIT_MS = 120_000;
/** What a run does while time stands still (start, votes, exception requests) takes seconds; more is stuck. */
const PHASE1_LIMIT_MS = 60_000;
/**
 * No timer a generated run starts comes due sooner than this (SLA and escalation marks, approval timeouts,
 * freezeAfter, calendar windows' starts and ends): then none comes due in real time while a run is being
 * driven, only when the server skips to it (see the top of the file).
 */
const TIMER_FLOOR_MS = 2 * 60_000;

/** Each test has a time-skipping server of its own (withServer): one run's trouble stays out of the other test. */
let env: TestWorkflowEnvironment | undefined;
const testEnv = (): TestWorkflowEnvironment => env!;

// --- stub activities, scripted per run --------------------------------------------------------------

const BEHAVIOURS = ['ok', 'ok', 'ok', 'ok', 'slow', 'retryable', 'fatal', 'hang'] as const;
type Behaviour = (typeof BEHAVIOURS)[number];

interface Script {
  behaviours: Behaviour[];
  next: number;
  calls: Record<string, number>;
  cancelled?: boolean;
  hangingUntil?: number;
  /** How the RCA freeze the rollback started ended (set by closeRcaFreeze). */
  rca?: string;
  /** What the stubs found wrong while the run went on. */
  problems: string[];
}
/** What the stubs of one workflow do, in call order; keyed by workflow ID. */
const scripts = new Map<string, Script>();

function behaviourFor(activity: string): { b: Behaviour; cancelled: boolean } {
  const info = Context.current().info;
  const s = scripts.get(info.workflowExecution?.workflowId ?? '');
  if (!s) return { b: 'ok', cancelled: false };
  s.calls[activity] = (s.calls[activity] ?? 0) + 1;
  return { b: s.behaviours[s.next++ % s.behaviours.length], cancelled: s.cancelled === true };
}

/**
 * Heartbeats until cancelled or "timed out". The test server does not skip time while any activity runs, so a
 * hang costs real time for every run in flight: it ends after at most 300 ms (short of the attempt's timeout,
 * so the server never times out an attempt whose stub still runs), with the retryable failure a timed-out
 * attempt gives the workflow. In runs the driver cancels, it hangs until cancelled (or 2.5 s, or just short of
 * its timeout).
 */
async function hang(untilCancelled: boolean): Promise<void> {
  const ctx = Context.current();
  const script = scripts.get(ctx.info.workflowExecution?.workflowId ?? '');
  const timeout = ctx.info.startToCloseTimeoutMs;
  const until = Date.now() + (untilCancelled ? Math.min(2_500, timeout - 400) : Math.min(300, timeout - 400));
  if (untilCancelled && script) script.hangingUntil = until;
  try {
    while (Date.now() < until) {
      ctx.heartbeat({ at: Date.now() });
      await ctx.sleep(100);
    }
  } finally {
    if (script) script.hangingUntil = undefined;
  }
  if (!untilCancelled) throw ApplicationFailure.retryable('stub: attempt timed out (simulated)', 'StubTimedOut');
}

async function act<T>(activity: string, ok: () => T, opts: { neverHang?: boolean; neverFail?: boolean } = {}): Promise<T> {
  const behaviour = behaviourFor(activity);
  const { cancelled } = behaviour;
  let { b } = behaviour;
  // The Java test server cannot cancel an activity that is between attempts (it answers ACTIVITY_UNKNOWN and the
  // workflow task can never complete, which a real server does not do): runs that will be cancelled have no
  // retried attempts; their hangs last until the cancellation (or just short of the attempt's timeout).
  if (cancelled && b === 'retryable') b = 'fatal';
  // Activities without an attempt limit (audit, guardrails) get there in the end.
  if (opts.neverFail && (b === 'retryable' || b === 'fatal' || b === 'hang')) b = 'ok';
  if (b === 'retryable' && Context.current().info.attempt > 3) b = 'ok';
  if (opts.neverHang && b === 'hang') b = 'fatal';
  if (b === 'slow') await Context.current().sleep(10 + (Context.current().info.attempt % 5) * 10);
  if (b === 'retryable') throw ApplicationFailure.retryable(`stub: ${activity} failed for now`, 'Transient');
  if (b === 'fatal') throw ApplicationFailure.nonRetryable(`stub: ${activity} is misconfigured`, 'ConfigurationError');
  if (b === 'hang') await hang(cancelled);
  return ok();
}

const planFor = (step: { type: string; namespace?: string; name?: string }): Record<string, unknown> => {
  switch (step.type) {
    case 'kubernetes':
      return { kind: 'kubernetes', namespace: step.namespace, deployment: 'api', fromRevision: 3, toRevision: 2, fromImages: ['api:3'], toImages: ['api:2'] };
    case 'blueGreen':
      return { kind: 'blueGreen', namespace: step.namespace, service: 'api', fromSelector: { track: 'green' }, toSelector: { track: 'blue' } };
    case 'helm':
      return { kind: 'helm', namespace: step.namespace, release: 'api', fromRevision: 5, toRevision: 4, fromChart: 'api-1.1', toChart: 'api-1.0' };
    case 'gitops':
      return {
        kind: 'gitops',
        repo: 'config',
        branch: 'main',
        headBefore: 'f'.repeat(40),
        commits: ['a'.repeat(40)],
        subjects: ['bad change'],
        mode: 'revert',
      };
    default:
      return { kind: 'terraform', repo: 'infra', workingDir: 'infra', toRef: 'v1', commit: 'b'.repeat(40), add: 0, change: 1, destroy: 0 };
  }
};

/** A client whose result() only waits (the test environment's unlocks time skipping while it waits). */
let plainClient: WorkflowClient | undefined;
const plain = (): WorkflowClient => (plainClient ??= new WorkflowClient({ connection: testEnv().connection, namespace: testEnv().namespace ?? 'default' }));

const problem = (workflowId: string, text: string): void => void scripts.get(workflowId)?.problems.push(text);

/** RCA freezes checked and ended, by how they ended (the summary shows them). */
const rcaFreezes = new Map<string, number>();

/**
 * Holds a cancelled rollback open (its `rollback.cancelled` audit event, which it writes before it closes)
 * until no other activity of it runs: a cancelled step's activity may still be running (the workflow does not
 * wait for it), and if it ended after the workflow closed, the test server would keep its lock for good.
 */
async function untilOnlyAuditRuns(): Promise<void> {
  const { workflowId, runId } = Context.current().info.workflowExecution!;
  const h = plain().getHandle(workflowId, runId);
  const others = async () =>
    ((await h.describe()).raw.pendingActivities ?? []).filter((a) => a.activityType?.name !== 'appendAudit' && a.activityType?.name !== 'appendAuditBatch');
  try {
    await waitFor(async () => (await others()).length === 0, `the other activities of ${workflowId} to end`, { timeout: 20_000, interval: 50 });
  } catch (err) {
    problem(workflowId, `closed with activities running: ${(err as Error).message}`);
  }
}

/**
 * The RCA freeze a successful rollback starts (freezeAfter) is an abandoned child that outlives it. Checked and
 * lifted while the rollback waits for this audit event (`rollback.freeze-started`), so the freeze has ended, and
 * the rollback heard of it, before the rollback closes: a child that ends after its parent closed keeps a
 * time-skipping lock in the test server for good. While this activity runs nothing skips time, so a short
 * freezeAfter ends in real time at the earliest, and a year-long one does not stay behind for the next batches.
 */
async function closeRcaFreeze(event: AuditEvent): Promise<void> {
  const { workflowId, runId } = Context.current().info.workflowExecution!;
  const parent = plain().getHandle(workflowId, runId);
  const rca = plain().getHandle(String(event.details.freeze));
  try {
    const st = await rca.query(freezeStateQuery);
    if (!(Date.parse(st.end) > Date.parse(st.start))) problem(workflowId, `RCA freeze ends ${st.end}, not after its start ${st.start}`);
    // A lift cancels the freeze's end timer: not when that comes due within seconds (the generator keeps
    // freezeAfter above TIMER_FLOOR_MS); the freeze then ends by itself, in real time.
    if (Date.parse(st.end) - (await testEnv().currentTimeMs()) > 10_000)
      await rca.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'fuzz: cause found' }] }).catch(() => undefined);
    const end = (await rca.result()) as FreezeState;
    if (end.phase !== 'lifted' && end.phase !== 'ended') problem(workflowId, `RCA freeze ended in phase ${end.phase}`);
    const heard = async () => ((await parent.fetchHistory()).events ?? []).some((e) => e.childWorkflowExecutionCompletedEventAttributes);
    await waitFor(heard, `${workflowId} to record the end of its RCA freeze`, { timeout: 10_000, interval: 50 });
    const script = scripts.get(workflowId);
    if (script) script.rca = end.phase;
    rcaFreezes.set(end.phase, (rcaFreezes.get(end.phase) ?? 0) + 1);
  } catch (err) {
    problem(workflowId, `RCA freeze: ${failureType(err)}: ${(err as Error).message}`);
  }
}

const appendAudit = async (event: AuditEvent) => {
  if (event.action === 'rollback.freeze-started') await closeRcaFreeze(event);
  if (event.action === 'rollback.cancelled') await untilOnlyAuditRuns();
};
/** The events that hold their rollback open (above) need the regular activity: a local one holds the workflow task, and the commands they wait for with it. */
const HOLDING = new Set(['rollback.freeze-started', 'rollback.cancelled']);

const stubActivities = {
  appendAudit,
  // Workflows write batches, first as a local activity; one that would hold the run open is refused there, so the
  // workflow writes it with the regular activity (its fallback, workflows/kit/audit.ts).
  appendAuditBatch: async (events: AuditEvent[]) => {
    if (Context.current().info.isLocal && events.some((e) => HOLDING.has(e.action)))
      throw ApplicationFailure.nonRetryable('stub: this batch holds its rollback open: write it with the activity', 'Holding');
    for (const e of events) await appendAudit(e);
  },
  // The development default: unsigned votes count (the fuzzer does not sign decisions).
  trustSettings: async () => ({ requireSignatures: false, allowedSigners: [] }),
  // RCA freezes publish to the gate's registry; not under test here.
  publishGate: async () => undefined,
  preflight: () => act('preflight', () => [] as string[]),
  findRestored: () => act('findRestored', () => undefined, { neverHang: true }),
  planStep: (req: { step: { type: string; namespace?: string } }) => act('planStep', () => planFor(req.step)),
  runStep: () => act('runStep', () => ({ changed: true })),
  runCheck: () => act('runCheck', () => ({ ok: true })),
  notify: (req: { targets: { name: string }[] }) => act('notify', () => ({ sent: req.targets.map((t) => t.name) })),
  // Guardrail activities retry without limit (they must come off again): their stubs fail for good or not at all.
  applyGuardrails: () =>
    act('applyGuardrails', () => ({ changes: [{ guardrail: 'argocd', target: 'appproject argocd/default', action: 'deny sync window added' }] }), {
      neverHang: true,
    }),
  restoreGuardrails: () => act('restoreGuardrails', () => ({ changes: [] }), { neverFail: true }),
} as unknown as Activities;

// --- shared bookkeeping ------------------------------------------------------------------------------

interface Report {
  id: string;
  status: string;
  outcome: string;
  queries: number;
  problems: string[];
  /** Not ended within RUN_LIMIT_MS (or its driver hung): later batches would stall behind it. */
  stuck?: boolean;
}

/** Workflow tasks the server refused because a signal or update arrived while they ran: retried by design, counted apart. */
let unhandledCommandRetries = 0;

/** Every failed workflow task in a run's history, as text (there must be none). */
async function failedTasks(h: WorkflowHandle): Promise<string[]> {
  const history = await h.fetchHistory();
  const failed = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes);
  // UNHANDLED_COMMAND is not a failure of workflow code: new events arrived as the task completed, and it runs again.
  const real = failed.filter(
    (e) => String(e.workflowTaskFailedEventAttributes?.cause) !== '1' && !/UNHANDLED_COMMAND/.test(String(e.workflowTaskFailedEventAttributes?.cause)),
  );
  unhandledCommandRetries += failed.length - real.length;
  return real.map(
    (e) => `workflow task failed: ${e.workflowTaskFailedEventAttributes?.failure?.message ?? JSON.stringify(e.workflowTaskFailedEventAttributes)}`,
  );
}

/** Resolves when the run ends (any way), or after RUN_LIMIT_MS with `stuck`. Time skipping is the batch's (see inBatches). */
async function settle(h: WorkflowHandle): Promise<{ value?: unknown; error?: unknown; stuck?: true }> {
  const result = plain()
    .result(h.workflowId)
    .then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
  return Promise.race([result, later(RUN_LIMIT_MS, { stuck: true as const })]);
}

/** `value` after `ms`, on a timer that does not keep the process alive once the tests are done. */
const later = <T>(ms: number, value: T): Promise<T> => delay(ms, value, { ref: false });

const failureType = (err: unknown): string => {
  let e = err as { cause?: unknown; type?: string; name?: string } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.type ?? e?.name ?? String(err);
};

const debug = process.env.REARGUARD_FUZZ_DEBUG ? (...args: unknown[]) => console.log(new Date().toISOString(), ...args) : () => undefined;

/** A case and its index among all cases (REARGUARD_FUZZ_ONLY, names). */
interface Indexed<T> {
  i: number;
  item: T;
}

const only = process.env.REARGUARD_FUZZ_ONLY?.split(',').map(Number);
const wanted = <T>(cases: Indexed<T>[]): Indexed<T>[] => (only ? cases.filter((c) => only.includes(c.i)) : cases);

/**
 * Runs `total` cases in batches of BATCH; `batch(from, to)` makes the cases of one batch, with the server's
 * clock standing still. Every run first does what people do while time stands still (votes, exception
 * requests), then the batch's time skipping is unlocked once (one unlock/lock pair, not one per waiting run)
 * and every run goes to its end. A stuck run ends the fuzzing: later batches would stall behind it.
 */
async function inBatches<T>(
  total: number,
  batch: (from: number, to: number) => Promise<Indexed<T>[]>,
  run: (item: T, i: number, together: () => Promise<void>) => Promise<Report>,
): Promise<Report[]> {
  const out: Report[] = [];
  const testService = testEnv().connection.testService!;
  for (let from = 0; from < total; from += BATCH) {
    const cases = await batch(from, Math.min(total, from + BATCH));
    let arrived = 0;
    let unlocked = false;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const arrive = async () => {
      if (++arrived < cases.length) return;
      await testService.unlockTimeSkipping({});
      unlocked = true;
      release();
    };
    const guarded = async ({ i, item }: Indexed<T>): Promise<Report> => {
      let here = false;
      const together = async () => {
        if (!here) {
          here = true;
          await arrive();
        }
        await released;
      };
      const stuck = (problem: string): Report => ({ id: `#${i}`, status: 'unknown', outcome: 'driver stuck', queries: 0, problems: [problem], stuck: true });
      const report = run(item, i, together).catch((err: unknown): Report => {
        void together();
        return { id: `#${i}`, status: 'unknown', outcome: 'driver error', queries: 0, problems: [`driver: ${(err as Error).stack ?? String(err)}`] };
      });
      // A driver call that never answers (phase 1 holds up the batch) or a run that hangs on after its limit.
      const phase1 = later(PHASE1_LIMIT_MS, undefined).then(() => (here ? undefined : stuck(`still starting after ${PHASE1_LIMIT_MS / 1000}s`)));
      const phase2 = released.then(() => later(RUN_LIMIT_MS + 60_000, stuck(`driver hung after ${(RUN_LIMIT_MS + 60_000) / 1000}s`)));
      const first = await Promise.race([report, phase1.then((r) => r ?? report), phase2]);
      if (first.stuck) void together();
      return first;
    };
    try {
      out.push(...(await Promise.all(cases.map(guarded))));
    } finally {
      if (unlocked) await testService.lockTimeSkipping({});
    }
    if (out.some((r) => r.stuck)) {
      out.push({
        id: `cases ${from + BATCH}..${total - 1}`,
        status: 'not run',
        outcome: 'not run',
        queries: 0,
        problems: ['not run: a run before them was stuck'],
      });
      break;
    }
  }
  return out;
}

function summarise(what: string, reports: Report[]): void {
  const tally = new Map<string, number>();
  for (const r of reports) tally.set(r.outcome, (tally.get(r.outcome) ?? 0) + 1);
  console.log(`# ${what}: ${[...tally].map(([k, n]) => `${k} ${n}`).join(', ')}; workflow tasks retried after UNHANDLED_COMMAND: ${unhandledCommandRetries}`);
  const bad = reports.filter((r) => r.problems.length > 0);
  assert.deepEqual(
    bad.map((r) => `${r.id}: ${r.problems.join('; ')}`),
    [],
    `replay with REARGUARD_FUZZ_SEED=${seed}`,
  );
}

const allHandles: WorkflowHandle[] = [];
let taskQueue: string;
/** Runs `body` with a fresh time-skipping server (its clock at the real time) and a worker with the stubs. */
async function withServer<T>(body: () => Promise<T>): Promise<T> {
  env = await createTimeSkippingEnv();
  plainClient = undefined;
  try {
    return await withWorker({ env, activities: stubActivities, taskQueue: 'fuzz', shutdownGraceTime: '1s' }, (w) => {
      taskQueue = w.taskQueue;
      return body();
    });
  } finally {
    await env.teardown();
    env = undefined;
  }
}

// --- rollbacks -------------------------------------------------------------------------------------

const rollbackCase = fc.record({
  doc: runbookDocArb({ timerFloorMs: TIMER_FLOOR_MS }),
  behaviours: fc.array(fc.constantFrom(...BEHAVIOURS), { minLength: 16, maxLength: 48 }),
  vote: fc.constantFrom('approve', 'approve', 'reject', 'partial', 'none'),
  plan: fc.constantFrom('approve', 'reject', 'none'),
  cancel: fc.constantFrom(false, false, false, false, 'early', 'late'),
});
type RollbackCase = typeof rollbackCase extends fc.Arbitrary<infer T> ? T : never;

const OUTCOMES = ['succeeded', 'rejected', 'approval-timeout', 'already-restored'];

async function runRollback(c: RollbackCase, i: number, together: () => Promise<void>): Promise<Report> {
  const service = `svc-${i}-${randomUUID().slice(0, 6)}`;
  const doc: RunbookDoc = structuredClone(c.doc);
  doc.spec.service = service;
  const validated = validateRunbook(doc);
  const id = rollbackWorkflowId(String(doc.spec.environment), service);
  const report: Report = { id, status: 'not started', outcome: 'invalid', queries: 0, problems: [] };
  if (!validated.ok) {
    report.problems.push(`generated runbook is invalid: ${validated.problems.join('; ')}`);
    await together();
    return report;
  }
  const runbook: Runbook = validated.value;
  scripts.set(id, { behaviours: c.behaviours, next: 0, calls: {}, cancelled: c.cancel === 'late', problems: [] });
  const trigger: Trigger = { source: 'manual', actor: 'dave', reason: `fuzz run ${i}`, requestId: randomUUID() };
  const h = await testEnv().client.workflow.signalWithStart('rollback', {
    workflowId: id,
    taskQueue,
    args: [{ runbook, trigger }],
    signal: triggerSignal,
    signalArgs: [trigger],
  });
  allHandles.push(h);
  const query = async (): Promise<RollbackStatus | undefined> => {
    try {
      const s = await h.query(statusQuery);
      report.queries++;
      return s;
    } catch (err) {
      report.problems.push(`status query failed: ${failureType(err)}: ${(err as Error).message}`);
      return undefined;
    }
  };
  const quietly = (p: Promise<unknown>) => p.catch(() => undefined);

  // Time stands still until someone waits for a result: approvals land before their timeout.
  let s = await query();
  for (let n = 0; n < 30 && s?.phase === 'preflight'; n++) {
    await delay(50);
    s = await query();
  }
  if (s?.phase === 'awaiting-approval') {
    const approvers = s.approval.approvers.filter((a) => a !== trigger.actor);
    const quorum = s.approval.quorum;
    if (c.vote === 'approve' || c.vote === 'partial') {
      const n = c.vote === 'approve' ? quorum : quorum - 1;
      for (const actor of approvers.slice(0, n)) await quietly(h.executeUpdate(approveUpdate, { args: [{ actor, reason: 'fuzz approve' }] }));
    } else if (c.vote === 'reject' && approvers[0]) await quietly(h.executeUpdate(rejectUpdate, { args: [{ actor: approvers[0], reason: 'fuzz reject' }] }));
  }
  // Cancelled while nothing cancellable runs (still waiting for approvers after the votes: a quorum starts the
  // steps at once), or while a step hangs (below): the Java test server cannot take a cancellation racing an
  // activity's completion (ACTIVITY_UNKNOWN, the run gets no further task), which a real server records as a no-op.
  if (c.cancel === 'early' && s?.phase === 'awaiting-approval') s = await query();
  if (c.cancel === 'early' && s?.phase === 'awaiting-approval') {
    await quietly(h.signal(cancelRequestSignal, { actor: 'erin', reason: 'fuzz cancel' }));
    await quietly(h.cancel());
  }
  await query();
  debug(id, 'phase 1 done', s?.phase);
  await together();

  // Then to the end with time skipping, asking for the status (and deciding plans) on the way.
  const done = settle(h);
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    await Promise.race([done, delay(150)]);
    if (finished) break;
    const now = await query();
    const pending = now?.steps.find((x) => x.planApproval && !x.planApproval.approvedBy && x.state === 'running');
    if (pending && c.plan !== 'none') {
      const approver = now!.approval.approvers.find((a) => a !== trigger.actor);
      if (approver)
        await quietly(
          c.plan === 'approve'
            ? h.executeUpdate(approvePlanUpdate, { args: [{ actor: approver, reason: 'fuzz plan ok', step: pending.name }] })
            : h.executeUpdate(rejectUpdate, { args: [{ actor: approver, reason: 'fuzz plan rejected' }] }),
        );
    }
    const hanging = scripts.get(id)?.hangingUntil;
    if (c.cancel === 'late' && hanging !== undefined && hanging - Date.now() > 1_500) {
      await quietly(h.signal(cancelRequestSignal, { actor: 'erin', reason: 'fuzz cancel while a step hangs' }));
      await quietly(h.cancel());
    }
  }
  const end = await done;
  debug(id, 'ended', end.stuck ? 'STUCK' : 'ok', scripts.get(id)?.calls);
  if (end.stuck && process.env.REARGUARD_FUZZ_DEBUG) {
    const d = await h.describe();
    debug(
      id,
      'pending',
      JSON.stringify(d.raw.pendingActivities?.map((a) => ({ type: a.activityType?.name, state: a.state, attempt: a.attempt, last: a.lastFailure?.message }))),
    );
    const events = (await h.fetchHistory()).events ?? [];
    debug(
      id,
      'last events',
      events
        .slice(-8)
        .map((e) => `${e.eventId} ${e.eventType} ${e.eventTime?.seconds}`)
        .join(' | '),
    );
    debug(
      id,
      'now',
      await testEnv().currentTimeMs(),
      'timers',
      events
        .filter((e) => e.timerStartedEventAttributes || e.timerFiredEventAttributes)
        .map((e) => `${e.eventId}:${e.eventType}@${e.eventTime?.seconds}+${e.timerStartedEventAttributes?.startToFireTimeout?.seconds ?? ''}`)
        .join(' '),
    );
    for (const other of allHandles) {
      const ev = (await other.fetchHistory()).events ?? [];
      if (ev.at(-1)?.eventType === 6 || ev.at(-1)?.eventType === 5)
        debug(
          'open task:',
          other.workflowId,
          ev
            .slice(-12)
            .map((e) => `${e.eventId}:${e.eventType}`)
            .join(' '),
          c.cancel,
        );
    }
  }
  if (end.stuck) {
    report.problems.push(`not ended after ${RUN_LIMIT_MS / 1000}s`);
    report.stuck = true;
  }
  const d = await h.describe();
  report.status = d.status.name;
  if (end.value) report.outcome = (end.value as RollbackStatus).outcome ?? 'no outcome';
  else if (end.error instanceof WorkflowFailedError) report.outcome = failureType(end.error);
  if (report.status === 'COMPLETED' && !OUTCOMES.includes(report.outcome)) report.problems.push(`completed with outcome ${report.outcome}`);
  if (report.status === 'FAILED' && report.outcome !== 'RollbackFailed') report.problems.push(`failed with ${report.outcome} (expected RollbackFailed)`);
  if (!['COMPLETED', 'FAILED', 'CANCELLED'].includes(report.status)) report.problems.push(`status ${report.status}`);
  const last = await query();
  if (last && last.phase !== 'done') report.problems.push(`status after the end: phase ${last.phase}`);
  if (report.queries < 3) report.problems.push(`only ${report.queries} status queries answered`);
  report.problems.push(...(await failedTasks(h)));
  // The RCA freeze a successful rollback starts (freezeAfter) was checked and lifted before the rollback closed.
  const script = scripts.get(id)!;
  if (report.outcome === 'succeeded' && runbook.spec.freezeAfter !== undefined && script.rca === undefined) report.problems.push('RCA freeze not seen');
  report.problems.push(...script.problems);
  scripts.delete(id);
  return report;
}

// --- freeze windows from calendars -----------------------------------------------------------------

const freezeCase = (nowMs: number) =>
  fc.record({
    doc: validCalendarDoc(nowMs, { timerFloorMs: TIMER_FLOOR_MS }),
    pick: fc.nat(),
    behaviours: fc.array(fc.constantFrom(...BEHAVIOURS), { minLength: 8, maxLength: 24 }),
    exceptions: fc.array(fc.record({ validFor: durationTextArb(DURATION_LIMITS.freeze), approve: fc.boolean() }), { maxLength: 3 }),
    extend: fc.option(durationTextArb(DURATION_LIMITS.freeze, { max: 40 * 86_400_000 }), { nil: undefined }),
    lift: fc.constantFrom('no', 'no', 'early', 'late'),
  });
type FreezeCase = ReturnType<typeof freezeCase> extends fc.Arbitrary<infer T> ? T : never;

/** The CLI's own parsers for --valid-for and --by: the fuzzer's durations go through them. */
const cliDuration = z.object({ value: durationOption(DURATION_LIMITS.freeze) });

async function runFreeze(c: FreezeCase, i: number, fallback: FreezeWindowInput, together: () => Promise<void>): Promise<Report> {
  const cal = validateCalendar(c.doc);
  const report: Report = { id: `freeze #${i}`, status: 'not started', outcome: 'invalid', queries: 0, problems: [] };
  if (!cal.ok) {
    report.problems.push(`generated calendar is invalid: ${cal.problems.join('; ')}`);
    await together();
    return report;
  }
  const plans = planCalendar(cal.value);
  const input = plans.length > 0 ? plans[c.pick % plans.length].input : fallback;
  const id = `freeze:${input.name}-${i}-${randomUUID().slice(0, 6)}`;
  report.id = id;
  scripts.set(id, { behaviours: c.behaviours, next: 0, calls: {}, problems: [] });
  const h = await testEnv().client.workflow.start('freezeWindow', { workflowId: id, taskQueue, args: [input] });
  const query = async (): Promise<FreezeState | undefined> => {
    try {
      const s = await h.query(freezeStateQuery);
      report.queries++;
      return s;
    } catch (err) {
      report.problems.push(`state query failed: ${failureType(err)}: ${(err as Error).message}`);
      return undefined;
    }
  };
  const quietly = (p: Promise<unknown>) => p.catch(() => undefined);
  const s = await query();
  const approvers = s?.approvers ?? [];
  for (const [n, e] of c.exceptions.entries()) {
    const validFor = cliDuration.parse({ value: e.validFor }).value;
    const changeId = `PR-${n + 1}`;
    await quietly(h.executeUpdate(requestExceptionUpdate, { args: [{ actor: 'dave', reason: 'fuzz hotfix', changeId, validFor }] }));
    if (e.approve)
      for (const actor of approvers.slice(0, s?.quorum ?? 1)) await quietly(h.executeUpdate(approveExceptionUpdate, { args: [{ actor, changeId }] }));
  }
  if (c.extend) {
    const by = cliDuration.parse({ value: c.extend }).value;
    const current = await query();
    if (current)
      await quietly(
        h.executeUpdate(extendFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'fuzz extend', end: new Date(Date.parse(current.end) + by).toISOString() }] }),
      );
  }
  if (c.lift === 'early') await quietly(h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'fuzz lift' }] }));
  await query();
  await together();

  const done = settle(h);
  let finished = false;
  void done.then(() => (finished = true));
  for (let n = 0; !finished; n++) {
    await Promise.race([done, delay(150)]);
    if (finished) break;
    await query();
    if (c.lift === 'late' && n === 1) await quietly(h.executeUpdate(liftFreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'fuzz late lift' }] }));
  }
  const end = await done;
  if (end.stuck) {
    report.problems.push(`not ended after ${RUN_LIMIT_MS / 1000}s`);
    report.stuck = true;
  }
  report.status = (await h.describe()).status.name;
  if (end.value) report.outcome = (end.value as FreezeState).phase;
  else report.outcome = failureType(end.error);
  if (report.status !== 'COMPLETED') report.problems.push(`status ${report.status}: ${report.outcome}`);
  const last = await query();
  if (last && last.phase !== 'ended' && last.phase !== 'lifted') report.problems.push(`state after the end: phase ${last.phase}`);
  if (report.queries < 3) report.problems.push(`only ${report.queries} state queries answered`);
  report.problems.push(...(await failedTasks(h)));
  scripts.delete(id);
  return report;
}

// REARGUARD_FUZZ_DEBUG=1 and REARGUARD_FUZZ_ONLY=i,j help diagnose a failing run (with its REARGUARD_FUZZ_SEED).
describe('workflow fuzzing (time-skipping server)', () => {
  it(`${ROLLBACKS} generated runbooks run as rollbacks: each ends, no failed workflow task, status always answers`, async () => {
    const all = fc.sample(rollbackCase, { seed, numRuns: ROLLBACKS }).map((item, i) => ({ i, item }));
    const reports = await withServer(() => inBatches(ROLLBACKS, async (from, to) => wanted(all.slice(from, to)), runRollback));
    console.log(`# RCA freezes: ${[...rcaFreezes].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`);
    summarise('rollbacks', reports);
    assert.equal(reports.length, wanted(all).length);
  });

  it(`${FREEZES} freeze windows from generated calendars: exceptions, extensions, lifts; each ends cleanly`, async () => {
    const fallback: FreezeWindowInput = {
      name: 'fallback',
      scope: { environments: ['prod'], services: ['*'] },
      reason: 'fuzz',
      actor: 'rm-ann',
      duration: 3_600_000,
      exceptions: { approvers: ['alice', 'bob'], quorum: 1 },
    };
    // Each batch's calendars are around the server's time when it starts: an idle server's clock jumps to the
    // timers closed runs left behind (see the top of the file), so a time taken once would soon be long past.
    const batch = async (from: number, to: number) => {
      const nowMs = await testEnv().currentTimeMs();
      const cases = fc.sample(freezeCase(nowMs), { seed: seed + 1 + from, numRuns: to - from });
      return wanted(cases.map((item, j) => ({ i: from + j, item })));
    };
    const reports = await withServer(() => inBatches(FREEZES, batch, (c, i, together) => runFreeze(c, i, fallback, together)));
    summarise('freeze windows', reports);
    assert.equal(reports.length, only ? new Set(only.filter((i) => i >= 0 && i < FREEZES)).size : FREEZES);
  });
});
