// The freeze gate: every running freeze window's state (by Query), then the pure decision of
// runbook/freeze.ts. Shared by `rearguard freeze check` and `GET /v1/gate`.
// It fails closed: a running freeze it cannot read (no worker answers, a wedged run, a Query slower
// than the bound) or a failed listing makes the answer `unknown`, never `allowed`, unless the caller
// opts in to failing open (`--fail-open`, `?failOpen=true`), which is logged.
import type { Client } from '@temporalio/client';
import { DateTime } from 'luxon';
import { wedgedRun } from '../api/wedged.js';
import { evaluateGate, type FreezeState, type GateDecision } from '../runbook/freeze.js';
import { freezeStateQuery } from '../api/messages.js';
import { rootMessage } from './errors.js';

/** How long one freeze's Query (and the listing) may take before the freeze counts as unreadable. */
export const GATE_QUERY_TIMEOUT_MS = 3_000;

/** A running freeze whose state could not be read; id "*" when the running freezes could not even be listed. */
export interface UnreadableFreeze {
  id: string;
  /**
   * wedged: its workflow task keeps failing; timeout: no answer within the bound; no-worker: the server saw no worker
   * poll its task queue lately; failed: the Query failed otherwise; list: the running freezes could not be listed.
   */
  kind: 'wedged' | 'timeout' | 'no-worker' | 'failed' | 'list';
  error: string;
}

export interface FreezeSnapshot {
  states: FreezeState[];
  unreadable: UnreadableFreeze[];
}

/**
 * Every running freeze window: the state of those that answer their Query within timeoutMs, and the
 * others with the reason (a wedged run is named as such). A failed listing throws.
 */
export async function readFreezes(client: Client, { timeoutMs = GATE_QUERY_TIMEOUT_MS }: { timeoutMs?: number } = {}): Promise<FreezeSnapshot> {
  const ids: string[] = [];
  await client.withDeadline(Date.now() + timeoutMs, async () => {
    for await (const w of client.workflow.list({ query: `WorkflowType = 'freezeWindow' AND ExecutionStatus = 'Running'` })) ids.push(w.workflowId);
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

/** Waits (up to 10 s) until the gate sees these freezes (listed, and answering their Query), so a command that returns has them enforced. */
export async function waitUntilGateSees(client: Client, ids: string[]): Promise<void> {
  const until = Date.now() + 10_000;
  while (ids.length > 0 && Date.now() < until) {
    const seen = await client
      .withDeadline(Math.min(until, Date.now() + GATE_QUERY_TIMEOUT_MS), async () => {
        const listed = new Set<string>();
        for await (const w of client.workflow.list({ query: `WorkflowType = 'freezeWindow' AND ExecutionStatus = 'Running'` })) listed.add(w.workflowId);
        if (!ids.every((id) => listed.has(id))) return false;
        await Promise.all(ids.map((id) => client.workflow.getHandle(id).query(freezeStateQuery)));
        return true;
      })
      .catch(() => false);
    if (seen) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export type GateResult = 'allowed' | 'frozen' | 'unknown';

/** The gate's answer: the decision over the freezes it could read, and what it could not read. */
export interface GateAnswer extends GateDecision {
  /** `unknown` when a running freeze could not be read and none of the readable ones blocks. */
  result: GateResult;
  unreadable: UnreadableFreeze[];
  /** The answer would have been unknown; the caller opted in to failing open. */
  failedOpen?: boolean;
}

export async function checkGate(
  client: Client,
  q: { environment: string; service: string; change?: string },
  opts: { failOpen?: boolean; timeoutMs?: number } = {},
): Promise<GateAnswer> {
  let snapshot: FreezeSnapshot;
  try {
    snapshot = await readFreezes(client, opts);
  } catch (err) {
    snapshot = { states: [], unreadable: [{ id: '*', kind: 'list', error: `cannot list the running freezes: ${rootMessage(err)}` }] };
  }
  return gateAnswer(snapshot, q, Date.now(), opts.failOpen === true);
}

/** The pure rule: what the gate answers from what it could and could not read. */
export function gateAnswer(snapshot: FreezeSnapshot, q: { environment: string; service: string; change?: string }, now: number, failOpen: boolean): GateAnswer {
  const decision = evaluateGate(snapshot.states, q, now);
  const { unreadable } = snapshot;
  // A freeze that can be read and blocks is a certain answer; otherwise an unreadable one might block.
  if (!decision.allowed) return { ...decision, result: 'frozen', unreadable };
  if (unreadable.length === 0) return { ...decision, result: 'allowed', unreadable };
  if (failOpen) return { ...decision, result: 'allowed', unreadable, failedOpen: true };
  return { ...decision, allowed: false, result: 'unknown', unreadable };
}

/** How the CLI names a window: its name, or its ID for occurrences of a recurring one. */
const windowRef = (w: { id: string; name: string }): string => (w.id === `freeze:${w.name}` ? w.name : w.id);

/** When a window ends, in the caller's time zone (the gate's reader is usually a person or a CI log). */
export function localTime(iso: string, zone = Intl.DateTimeFormat().resolvedOptions().timeZone): string {
  return DateTime.fromISO(iso, { zone: 'utc' }).setZone(zone).toFormat('yyyy-LL-dd HH:mm ZZZZ');
}

const unreadableLine = (u: UnreadableFreeze) => `  ${u.id === '*' ? 'running freezes' : u.id}: ${u.error}`;

export function describeDecision(d: GateAnswer): string[] {
  const target = `${d.environment}/${d.service}${d.change ? ` change ${d.change}` : ''}`;
  if (d.result === 'unknown') {
    return [
      `UNKNOWN: cannot tell whether ${target} is frozen: ${d.unreadable.length} running freeze(s) could not be read`,
      ...d.unreadable.map(unreadableLine),
      'The gate fails closed: deploys stay blocked until every running freeze can be read (rearguard freeze list shows them).',
      'To deploy anyway, ask again with --fail-open (logged).',
    ];
  }
  if (d.failedOpen) {
    return [
      `allowed (failing open, --fail-open): ${target} is not blocked by any freeze that could be read, but ${d.unreadable.length} could not be read`,
      ...d.unreadable.map(unreadableLine),
    ];
  }
  if (d.allowed) {
    return [
      `allowed: ${target} is not frozen`,
      ...d.exceptedBy.map((e) => `  (freeze ${e.name} applies, but exception ${e.changeId} is approved until ${localTime(e.validUntil)})`),
    ];
  }
  return [
    `FROZEN: ${target} is blocked by a release freeze`,
    ...d.blockedBy.map((w) => `  ${w.name}: ${w.reason} (by ${w.actor}) until ${localTime(w.end)}`),
    `To ask for an exception: rearguard freeze exception request --name ${windowRef(d.blockedBy[0])} --change <CHANGE-ID> --reason "..."`,
    ...(d.unreadable.length ? [`(also ${d.unreadable.length} running freeze(s) could not be read:)`, ...d.unreadable.map(unreadableLine)] : []),
  ];
}
