// Release freeze operations, for the CLI and `rearguard serve`: start a window (idempotent by name), read
// one or all of them, extend, lift, exceptions, and the freeze gate (`freeze check`, GET /v1/gate).
// The gate reads every running window by Query and fails closed: a running freeze it cannot read (no
// worker answers, a wedged run, a Query slower than the bound) or a failed listing makes the answer
// `unknown` (runbook/gate.ts), never `allowed`, unless the caller opts in to failing open.
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { FreezeException, FreezeState, FreezeWindowInput } from '../runbook/freeze.js';
import { gateAnswer, type FreezeSnapshot, type GateAnswer, type GateQuery, type UnreadableFreeze } from '../runbook/gate.js';
import { failure, opError, rootMessage, wedgedError, wedgeOf } from './errors.js';
import { freezeWorkflowId } from './ids.js';
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

/** How long one freeze's Query (and the listing) may take before the freeze counts as unreadable. */
export const GATE_QUERY_TIMEOUT_MS = 3_000;

const RUNNING_FREEZES = `WorkflowType = 'freezeWindow' AND ExecutionStatus = 'Running'`;

/**
 * Every running freeze window: the state of those that answer their Query within timeoutMs, and the
 * others with the reason (a wedged run is named as such). A failed listing throws.
 */
export async function readFreezes(client: Client, { timeoutMs = GATE_QUERY_TIMEOUT_MS }: { timeoutMs?: number } = {}): Promise<FreezeSnapshot> {
  const ids: string[] = [];
  await client.withDeadline(Date.now() + timeoutMs, async () => {
    for await (const w of client.workflow.list({ query: RUNNING_FREEZES })) ids.push(w.workflowId);
  });
  const answers = await Promise.all(
    ids.map((id) => {
      const deadline = Date.now() + timeoutMs;
      return client
        .withDeadline(deadline, () => client.workflow.getHandle(id).query(freezeStateQuery))
        .then(
          (state) => ({ state }),
          async (err: unknown) => ({ unreadable: { id, ...(await whyUnreadable(client, id, err, timeoutMs, Date.now() >= deadline - 50)) } }),
        );
    }),
  );
  return {
    states: answers.flatMap((a) => ('state' in a ? [a.state] : [])),
    unreadable: answers.flatMap((a) => ('unreadable' in a ? [a.unreadable] : [])),
  };
}

async function whyUnreadable(client: Client, id: string, err: unknown, timeoutMs: number, timedOut: boolean): Promise<Omit<UnreadableFreeze, 'id'>> {
  const wedged = await client.withDeadline(Date.now() + timeoutMs, () => wedgedRun(client, id)).catch(() => undefined);
  if (wedged) return { kind: 'wedged', error: `wedged: its workflow task keeps failing (attempt ${wedged.attempt}): ${wedged.error}` };
  const message = rootMessage(err);
  if (/no poller seen/i.test(message)) return { kind: 'no-worker', error: `no worker polls its task queue (${message}): is a Rearguard worker running?` };
  // The client reports its own deadline as a cancelled call.
  return timedOut || /deadline|timed? ?out/i.test(message)
    ? { kind: 'timeout', error: `its state Query was not answered within ${timeoutMs} ms (${message}): is a Rearguard worker running?` }
    : { kind: 'failed', error: `its state Query failed: ${message}` };
}

/** `freeze list`: readFreezes, with a failed listing as an OperationError. */
export const listFreezes = (client: Client): Promise<FreezeSnapshot> =>
  readFreezes(client).catch((err: unknown) => {
    throw failure(err, 'cannot list the running freezes:');
  });

/** Waits (up to 10 s) until the gate sees these freezes (listed, and answering their Query), so a command that returns has them enforced. */
export async function waitUntilGateSees(client: Client, ids: string[]): Promise<void> {
  const until = Date.now() + 10_000;
  while (ids.length > 0 && Date.now() < until) {
    const seen = await client
      .withDeadline(Math.min(until, Date.now() + GATE_QUERY_TIMEOUT_MS), async () => {
        const listed = new Set<string>();
        for await (const w of client.workflow.list({ query: RUNNING_FREEZES })) listed.add(w.workflowId);
        if (!ids.every((id) => listed.has(id))) return false;
        await Promise.all(ids.map((id) => client.workflow.getHandle(id).query(freezeStateQuery)));
        return true;
      })
      .catch(() => false);
    if (seen) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The gate's answer for a deploy of the target (and change): never throws, an unreadable state makes it `unknown`. */
export async function checkGate(client: Client, q: GateQuery, opts: { failOpen?: boolean; timeoutMs?: number } = {}): Promise<GateAnswer> {
  let snapshot: FreezeSnapshot;
  try {
    snapshot = await readFreezes(client, opts);
  } catch (err) {
    snapshot = { states: [], unreadable: [{ id: '*', kind: 'list', error: `cannot list the running freezes: ${rootMessage(err)}` }] };
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
  if (started) await waitUntilGateSees(client, [id]);
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
    return h.executeUpdate(extendFreezeUpdate, { args: [{ ...req, end }] });
  });

/** Ends a freeze now, and waits until its run has closed (its guardrails are put back by then). */
export async function liftFreeze(client: Client, id: string, req: { actor: string; reason: string; signed?: SignedEnvelope }): Promise<FreezeState> {
  const state = await onFreeze(client, id, 'lift', (h) => h.executeUpdate(liftFreezeUpdate, { args: [req] }));
  await client.workflow
    .getHandle(id)
    .result()
    .catch(() => undefined);
  return state;
}

/** Asks for an exception for one change; validFor in milliseconds. */
export const requestFreezeException = (
  client: Client,
  id: string,
  req: { actor: string; reason: string; changeId: string; validFor: number; signed?: SignedEnvelope },
): Promise<FreezeException> => onFreeze(client, id, 'request an exception', (h) => h.executeUpdate(requestExceptionUpdate, { args: [req] }));

/** An approver's approval of a requested exception. */
export const approveFreezeException = (
  client: Client,
  id: string,
  req: { actor: string; changeId: string; reason: string; signed?: SignedEnvelope },
): Promise<FreezeException> => onFreeze(client, id, 'approve the exception', (h) => h.executeUpdate(approveExceptionUpdate, { args: [req] }));

/** Rejects a requested exception, or revokes an approved one (the gate blocks the change again at once). */
export const rejectFreezeException = (
  client: Client,
  id: string,
  req: { actor: string; changeId: string; reason: string; signed?: SignedEnvelope },
): Promise<FreezeException> => onFreeze(client, id, 'reject the exception', (h) => h.executeUpdate(rejectExceptionUpdate, { args: [req] }));
