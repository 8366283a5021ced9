// The freeze gate's view: what the freeze registry (workflows/gate-registry.ts) holds for every running freeze
// window, and what `rearguard serve` keeps in memory to answer GET /v1/gate without asking Temporal on every
// call. Pure shapes and rules, shared by the registry workflow, the activity that publishes to it and the
// view in serve (api/gate-view.ts). Why the gate works this way: docs/architecture.md, "The freeze gate".
import type { FreezeState } from './freeze.js';

/** What the gate (and `freeze list`) needs of a freeze: its state without the history of edits, which only `freeze status` shows. */
export type GateEntry = Omit<FreezeState, 'history' | 'gateRevision' | 'gateChain'>;

/** The registry is split in this many shards (workflows), so none of them carries more than a slice of 10,000s of freezes. */
export const GATE_SHARDS = 8;

/** How long a watcher (a serve instance) may go without renewing before the registry stops waiting for it, and it stops answering. */
export const DEFAULT_GATE_LEASE_MS = 10_000;
export const MIN_GATE_LEASE_MS = 1_000;
export const MAX_GATE_LEASE_MS = 60_000;

/** One freeze as the registry holds it: `entry` null once the freeze's run ended (kept until the registry continues as new). */
export interface GateRecord {
  id: string;
  /**
   * The freeze's chain of runs (its first run ID): a freeze name used again is a new chain, whose revisions count
   * from 1 again and replace whatever the registry holds for the ID.
   */
  chain: string;
  /** Counts the freeze's publications (carried across its continue-as-new): a retried or late publication is ignored. */
  revision: number;
  entry: GateEntry | null;
}

/** Published by a freeze window (through an activity) whenever what the gate sees of it changes. */
export type GatePublication = GateRecord;

/** A watcher's long poll: everything after `since` in the registry run chain `epoch`. */
export interface GateWatchRequest {
  /** Unique per serve process: the registry waits for its acknowledgement while its lease runs. */
  watcher: string;
  /** The registry's epoch the watcher's view comes from (absent on the first call). */
  epoch?: string;
  /** The registry version the watcher has applied (0 on the first call): acknowledges everything up to it. */
  since: number;
  leaseMs: number;
  /** How long the registry may hold the call open when nothing changed. */
  waitMs: number;
}

export interface GateWatchResult {
  epoch: string;
  version: number;
  /** True: `changes` is the whole shard (the watcher's epoch or version was too old); replace, don't merge. */
  full: boolean;
  changes: GateRecord[];
}

/** `rearguard freeze start|extend|lift|exception approve` waits for this: the registry has the freeze at `revision`, and every live watcher has it. */
export interface GateSyncRequest {
  id: string;
  chain: string;
  revision: number;
}
export interface GateSyncResult {
  version: number;
  /** Watchers that acknowledged it; those whose lease ran out instead answer `unknown` until they catch up. */
  watchers: number;
}

/** The gate entry of a freeze state (what is published). `lifted`: a lift was accepted, though the run is still putting guardrails back. */
export function gateEntryOf(state: FreezeState, lifted: boolean): GateEntry {
  // Not its revision: that counts changes of the entry, so it is no part of it.
  const entry: GateEntry & Partial<Pick<FreezeState, 'history' | 'gateRevision' | 'gateChain'>> = { ...state };
  delete entry.history;
  delete entry.gateRevision;
  delete entry.gateChain;
  return lifted && (entry.phase === 'scheduled' || entry.phase === 'active') ? { ...entry, phase: 'lifted' } : entry;
}

/** The shard of a freeze workflow ID (FNV-1a): the same in the workflow, the activity and every client. */
export function gateShardOf(freezeId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < freezeId.length; i++) {
    h ^= freezeId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % GATE_SHARDS;
}

/** Whether `next` replaces `had`: a newer revision of the same chain, or another chain (a freeze name used again). */
export const supersedes = (had: GateRecord | undefined, next: GateRecord): boolean => !had || had.chain !== next.chain || had.revision < next.revision;

/** A watcher's copy of one shard: records by freeze ID, applied in order. */
export class ShardView {
  epoch: string | undefined;
  version = 0;
  readonly records = new Map<string, GateRecord>();

  apply(res: GateWatchResult): void {
    if (res.full || res.epoch !== this.epoch) this.records.clear();
    for (const r of res.changes) {
      const had = this.records.get(r.id);
      if (!supersedes(had, r)) continue;
      // A withdrawn freeze is forgotten here: the registry keeps its tombstone for late syncs, serve needs nothing.
      if (r.entry === null) this.records.delete(r.id);
      else this.records.set(r.id, r);
    }
    this.epoch = res.epoch;
    this.version = res.version;
  }
}
