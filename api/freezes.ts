// Release freeze operations, for the CLI and `rearguard serve`: start a window (idempotent by name), read
// one or all of them, extend, lift, exceptions, and the freeze gate (`freeze check`, GET /v1/gate).
// The gate reads every running window by Query and fails closed: a running freeze it cannot read (no
// worker answers, a wedged run, a Query slower than the bound) or a failed listing makes the answer
// `unknown` (runbook/gate.ts), never `allowed`, unless the caller opts in to failing open.
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { FreezeException, FreezeState, FreezeWindowInput } from '../runbook/freeze.js';
import { gateAnswer, type FreezeSnapshot, type GateAnswer, type GateQuery } from '../runbook/gate.js';
import { failure, opError, rootMessage, wedgedError, wedgeOf } from './errors.js';
import { freezeWorkflowId, gateRegistryName } from './ids.js';
import {
  approveExceptionUpdate,
  extendFreezeUpdate,
  freezeStateQuery,
  liftFreezeUpdate,
  rejectExceptionUpdate,
  requestExceptionUpdate,
  type SignedEnvelope,
} from './messages.js';
import { wedgedRun } from './wedged.js';
import { LIST_TIMEOUT_MS, gateSynced, readDirectly, readGateRecords, runningFreezeIds } from './gate-view.js';
import { GATE_SHARDS, gateShardOf } from '../runbook/gate-view.js';

/** How long one freeze's Query (and the listing) may take before the freeze counts as unreadable. */
export const GATE_QUERY_TIMEOUT_MS = 3_000;
export { LIST_TIMEOUT_MS };

/**
 * Every running freeze window of the task queue, as the gate sees it: the gate registry's records (a Query per
 * shard), and the running freezes the registry does not have (runs from before it) read directly by Query; those
 * that do not answer within timeoutMs are listed as unreadable with the reason. The listing may take
 * listTimeoutMs (default timeoutMs); when it cannot be read, this throws.
 */
export async function readFreezes(
  client: Client,
  taskQueue: string,
  { timeoutMs = GATE_QUERY_TIMEOUT_MS, listTimeoutMs = timeoutMs }: { timeoutMs?: number; listTimeoutMs?: number } = {},
): Promise<FreezeSnapshot> {
  const [{ records, failed }, running] = await Promise.all([readGateRecords(client, taskQueue, timeoutMs), runningFreezeIds(client, taskQueue, listTimeoutMs)]);
  const known = new Set(records.map((r) => r.id));
  // A running freeze of a shard that could not be read is unreadable for the same reason (no second wait).
  const inFailed = (id: string) => failed.find((f) => f.shard === gateShardOf(id));
  const unknown = running.filter((id) => !known.has(id));
  const direct = await Promise.all(unknown.filter((id) => !inFailed(id)).map((id) => readDirectly(client, id, timeoutMs)));
  // An entry whose run is not listed as running: closed without withdrawing it (terminated, failed)? describe decides.
  const listed = new Set(running);
  const closed = new Set(
    (
      await Promise.all(
        records
          .filter((r) => r.entry !== null && !listed.has(r.id))
          .map(async (r) =>
            (await client.workflow
              .getHandle(r.id)
              .describe()
              .then((d) => d.status.name !== 'RUNNING')
              .catch((err: unknown) => err instanceof WorkflowNotFoundError))
              ? [r.id]
              : [],
          ),
      )
    ).flat(),
  );
  return {
    states: [...records.flatMap((r) => (r.entry && !closed.has(r.id) ? [r.entry] : [])), ...direct.flatMap((a) => ('state' in a ? [a.state] : []))],
    unreadable: [
      ...unknown.flatMap((id) => {
        const f = inFailed(id);
        return f ? [{ id, kind: f.kind, error: f.error }] : [];
      }),
      ...direct.flatMap((a) => ('unreadable' in a ? [a.unreadable] : [])),
      // The registry itself too: a freeze it holds may not be listed yet (visibility lags), and the gate fails closed.
      ...(failed.length
        ? [{ id: gateRegistryName(taskQueue), kind: failed[0]!.kind, error: `${failed.length} of ${GATE_SHARDS} shards: ${failed[0]!.error}` }]
        : []),
    ],
  };
}

/** `freeze list`: readFreezes, with a failed listing as an OperationError. */
export const listFreezes = (client: Client, taskQueue: string): Promise<FreezeSnapshot> =>
  readFreezes(client, taskQueue, { listTimeoutMs: LIST_TIMEOUT_MS }).catch((err: unknown) => {
    throw failure(err, 'cannot list the running freezes:');
  });

/**
 * Waits (up to 10 s each) until these freezes are admitted, then until the gate enforces them (gateSynced), so a
 * command that started them returns with them enforced.
 */
export async function waitUntilGateSees(client: Client, ids: string[]): Promise<void> {
  await Promise.all(
    ids.map(async (id) => {
      const until = Date.now() + 10_000;
      for (;;) {
        const state = await client.workflow
          .getHandle(id)
          .query(freezeStateQuery)
          .catch(() => undefined);
        if (state && state.admitted !== false) return gateSynced(client, id, { state });
        if (Date.now() >= until)
          throw opError('failed', `${id} was started, but the worker did not admit it within 10s: the gate may not enforce it yet (is a worker running?)`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
}

/** The gate's answer for a deploy of the target (and change): never throws, an unreadable state makes it `unknown`. */
export async function checkGate(client: Client, taskQueue: string, q: GateQuery, opts: { failOpen?: boolean; timeoutMs?: number } = {}): Promise<GateAnswer> {
  let snapshot: FreezeSnapshot;
  try {
    snapshot = await readFreezes(client, taskQueue, opts);
  } catch (err) {
    snapshot = { states: [], unreadable: [{ id: '*', kind: 'list', error: `cannot read the running freezes: ${rootMessage(err)}` }] };
  }
  return gateAnswer(snapshot, q, Date.now(), opts.failOpen === true);
}

/** How long `freeze start` waits for the worker to judge the start (its trust settings load with retries for about 30 s). */
const ADMISSION_TIMEOUT_MS = 60_000;

/**
 * The first run of a workflow's chain (continue-as-new keeps it): what a signed decision on a freeze or a
 * gradual unfreeze names (extra.firstRun), so it cannot be replayed on a later freeze of the same name.
 */
export async function firstRunOf(client: Client, workflowId: string): Promise<string> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    // Servers too old to report the chain's first run: the current run is the first until the first continue-as-new.
    return d.raw.workflowExecutionInfo?.firstRunId || d.runId;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw opError('not-found', `cannot sign a decision for ${workflowId}: no such workflow was found`);
    throw failure(err, `cannot sign a decision for ${workflowId}:`);
  }
}

/**
 * Waits until the worker has judged a new window's start (signature, policy): its state once admitted, or the
 * refusal as an error. A refused window never held anything and its run has ended, so the gate never sees it.
 */
async function admitted(handle: WorkflowHandle, name: string): Promise<FreezeState> {
  const until = Date.now() + ADMISSION_TIMEOUT_MS;
  for (;;) {
    const state = await handle.query(freezeStateQuery);
    if (state.phase === 'refused') throw opError('refused', `freeze ${name} was not started: ${state.refusal ?? 'its start was refused'}`);
    if (state.admitted) return state;
    if (Date.now() >= until)
      throw opError(
        'failed',
        `freeze ${name} was started, but the worker did not judge its start within ${ADMISSION_TIMEOUT_MS / 1000}s; see whether it took effect: rearguard freeze status --name ${name}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StartFreezeResult {
  state: FreezeState;
  /** False when a window of that name was already running (state is that window's: compare before trusting it). */
  started: boolean;
  /** The end the running window was started with (extensions move its state's end, not this). */
  originalEnd?: string;
}

/**
 * Starts the window `freeze:<name>`, or finds the one running under that name; returns once the worker has
 * admitted a new one (its start decision judged: a refusal throws) and the gate enforces it.
 */
export async function startFreeze(client: Client, taskQueue: string, input: FreezeWindowInput): Promise<StartFreezeResult> {
  const id = freezeWorkflowId(input.name);
  const requestId = randomUUID();
  const handle = await client.workflow.start('freezeWindow', {
    workflowId: id,
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    // requestId tells this start from an existing window; end is the end it was started with (extend moves the state's).
    memo: { actor: input.actor, reason: input.reason, requestId, end: input.end },
  });
  const described = await handle.describe();
  const memo = described.memo as { requestId?: string; end?: string } | undefined;
  const started = memo?.requestId === requestId;
  const wedged = started ? undefined : await wedgedRun(client, id, described);
  if (wedged) throw wedgedError(`a freeze named ${input.name} is already running, and it is wedged: nothing was changed.`, wedged);
  // Enforced as soon as we return: wait until the worker admitted it, and the gate can see the window and it answers.
  const state = started ? await admitted(handle, input.name) : await handle.query(freezeStateQuery);
  if (started) await gateSynced(client, id, { taskQueue, state });
  return { state, started, originalEnd: memo?.end };
}

/** Runs a Query or Update on a freeze, with its errors worded for people (`what`: show, extend, lift, ...). */
async function onFreeze<T>(client: Client, id: string, what: string, run: (h: WorkflowHandle) => Promise<T>): Promise<T> {
  const name = id.slice('freeze:'.length);
  // A wedged window answers no Query and handles no Update: say so at once instead of timing out.
  const wedged = await wedgeOf(client, id);
  if (wedged) throw wedgedError(`cannot ${what} freeze ${name}:`, wedged);
  try {
    return await run(client.workflow.getHandle(id));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      const d = await client.workflow
        .getHandle(id)
        .describe()
        .catch(() => undefined);
      throw d
        ? opError(
            'not-found',
            `freeze ${name} is no longer running (${d.status.name.toLowerCase()} at ${d.closeTime?.toISOString() ?? '?'}): nothing to ${what}`,
          )
        : opError('not-found', `no freeze ${name} was found`);
    }
    if (err instanceof WorkflowUpdateFailedError) throw opError('refused', `${what} refused: ${rootMessage(err)}`);
    throw opError('failed', `${what} failed: ${rootMessage(err)}`);
  }
}

/** Returns `value` once the gate enforces the freeze's change (api/gate-view.ts gateSynced). */
async function synced<T>(client: Client, id: string, value: T): Promise<T> {
  await gateSynced(client, id);
  return value;
}

/** One freeze window's state. */
export const freezeState = (client: Client, id: string): Promise<FreezeState> => onFreeze(client, id, 'show', (h) => h.query(freezeStateQuery));

/**
 * Moves the end of a freeze later. newEnd gets the current end (read only when asked for); an error it
 * throws is reported as the extension's failure.
 */
export const extendFreeze = (
  client: Client,
  id: string,
  req: { actor: string; reason: string; signed?: SignedEnvelope },
  newEnd: (currentEnd: () => Promise<string>) => string | Promise<string>,
): Promise<FreezeState> =>
  onFreeze(client, id, 'extend', async (h) => {
    const end = await newEnd(async () => (await h.query(freezeStateQuery)).end);
    return synced(client, id, await h.executeUpdate(extendFreezeUpdate, { args: [{ ...req, end }] }));
  });

/** Ends a freeze now, and waits until its run has closed (its guardrails are put back by then). */
export async function liftFreeze(client: Client, id: string, req: { actor: string; reason: string; signed?: SignedEnvelope }): Promise<FreezeState> {
  const state = await onFreeze(client, id, 'lift', (h) => h.executeUpdate(liftFreezeUpdate, { args: [req] }));
  const final = (await client.workflow
    .getHandle(id)
    .result()
    .catch(() => undefined)) as FreezeState | undefined;
  await gateSynced(client, id, final ? { state: final } : undefined);
  return state;
}

/** Asks for an exception for one change; validFor in milliseconds. */
export const requestFreezeException = (
  client: Client,
  id: string,
  req: { actor: string; reason: string; changeId: string; validFor: number; signed?: SignedEnvelope },
): Promise<FreezeException> =>
  onFreeze(client, id, 'request an exception', async (h) => synced(client, id, await h.executeUpdate(requestExceptionUpdate, { args: [req] })));

/** An approver's approval of a requested exception. */
export const approveFreezeException = (
  client: Client,
  id: string,
  req: { actor: string; changeId: string; reason: string; signed?: SignedEnvelope },
): Promise<FreezeException> =>
  onFreeze(client, id, 'approve the exception', async (h) => synced(client, id, await h.executeUpdate(approveExceptionUpdate, { args: [req] })));

/** Rejects a requested exception, or revokes an approved one (the gate blocks the change again at once). */
export const rejectFreezeException = (
  client: Client,
  id: string,
  req: { actor: string; changeId: string; reason: string; signed?: SignedEnvelope },
): Promise<FreezeException> =>
  onFreeze(client, id, 'reject the exception', async (h) => synced(client, id, await h.executeUpdate(rejectExceptionUpdate, { args: [req] })));

/**
 * Freezes that ended (their last state: ended or lifted, with history and exceptions), closed after `closedAfterMs`
 * and started before `startedBeforeMs`, newest first, at most `limit`: a calendar's past. A run that closed without a state (terminated) is left out.
 */
export async function endedFreezes(client: Client, closedAfterMs: number, startedBeforeMs: number, limit: number): Promise<FreezeState[]> {
  const query =
    `WorkflowType = 'freezeWindow' AND ExecutionStatus = 'Completed' AND CloseTime > '${new Date(closedAfterMs).toISOString()}'` +
    ` AND StartTime < '${new Date(startedBeforeMs).toISOString()}'`;
  const out: FreezeState[] = [];
  try {
    for await (const w of client.workflow.list({ query })) {
      const state = (await client.workflow
        .getHandle(w.workflowId, w.runId)
        .result()
        .catch(() => undefined)) as FreezeState | undefined;
      if (state?.id) out.push(state);
      if (out.length >= limit) break;
    }
  } catch (err) {
    throw failure(err, 'cannot list the ended freezes:');
  }
  return out;
}
