// The freeze gate's answer as a pure rule: the decision over the freezes that could be read (evaluateGate,
// runbook/freeze.ts), and what could not be read. It fails closed: a running freeze it cannot read makes
// the answer `unknown`, never `allowed`, unless the caller opts in to failing open (which is logged).
// Reading the freezes is api/freezes.ts; wording the answer is client/render/freeze.ts.
import { evaluateGate, type GateDecision } from './freeze.js';
import type { GateEntry } from './gate-view.js';

/** A running freeze whose state could not be read; id "*" when the running freezes could not even be listed. */
export interface UnreadableFreeze {
  id: string;
  /**
   * wedged: its workflow task keeps failing; timeout: no answer within the bound; no-worker: the server saw no worker
   * poll its task queue lately; failed: the Query failed otherwise; list: the running freezes could not be listed;
   * stale: serve's copy of the gate's registry could not be kept current (id: the registry shard).
   */
  kind: 'wedged' | 'timeout' | 'no-worker' | 'failed' | 'list' | 'stale';
  error: string;
}

export interface FreezeSnapshot {
  /** From the gate's registry (runbook/gate-view.ts), or read directly: no history of edits. */
  states: GateEntry[];
  unreadable: UnreadableFreeze[];
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

export type GateQuery = { environment: string; service: string; change?: string };

/** The pure rule: what the gate answers from what it could and could not read. */
export function gateAnswer(snapshot: FreezeSnapshot, q: GateQuery, now: number, failOpen: boolean): GateAnswer {
  const decision = evaluateGate(snapshot.states, q, now);
  const { unreadable } = snapshot;
  // A freeze that can be read and blocks is a certain answer; otherwise an unreadable one might block.
  if (!decision.allowed) return { ...decision, result: 'frozen', unreadable };
  if (unreadable.length === 0) return { ...decision, result: 'allowed', unreadable };
  if (failOpen) return { ...decision, result: 'allowed', unreadable, failedOpen: true };
  return { ...decision, allowed: false, result: 'unknown', unreadable };
}

/** The answer when Temporal cannot be reached at all and the caller opted in to failing open (`why`: what failed). */
export const unreachableFailedOpen = (q: GateQuery, why: string): GateAnswer => ({
  ...q,
  allowed: true,
  blockedBy: [],
  exceptedBy: [],
  result: 'allowed',
  unreadable: [{ id: '*', kind: 'list', error: why }],
  failedOpen: true,
});
