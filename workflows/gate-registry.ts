// The freeze gate's registry: one shard of "what the gate sees of every running freeze window". Freeze windows
// publish their gate entry here (an activity signals `publishGate`) whenever it changes; `rearguard serve`
// keeps a copy by long-polling `watchGate` and answers GET /v1/gate from memory; commands that change a freeze
// wait for `syncGate`, which returns once the registry has the change and every serve whose lease still runs
// has acknowledged it. A serve whose lease ran out answers `unknown` (it cannot know what it missed), so once
// `syncGate` has returned, no serve answers from a view without the change: read-your-writes across processes.
// Why a registry and not visibility or a Query per freeze: docs/architecture.md, "The freeze gate".
import { HandlerUnfinishedPolicy } from '@temporalio/common';
import { ApplicationFailure, condition, continueAsNew, setHandler, uuid4 } from '@temporalio/workflow';
import { gateRecordsQuery, publishGateSignal, syncGateUpdate, watchGateUpdate } from '../api/messages.js';
import { MAX_GATE_LEASE_MS, MIN_GATE_LEASE_MS, supersedes, type GateEntry, type GateRecord, type GateWatchResult } from '../runbook/gate-view.js';
import { historyTooLong } from './kit/index.js';

export interface GateRegistryInput {
  shard: number;
  /** Carried across continue-as-new: a watcher from the same chain can keep its copy. */
  carried?: { epoch: string; version: number; records: Carried[]; watchers: Record<string, { acked: number; until: number }> };
  historyLimit?: number;
}

/** How long `syncGate` waits for the freeze's publication to arrive before it reports failure. */
const SYNC_PUBLICATION_MS = 30_000;
const MAX_WAIT_MS = 30_000;
/** Serve processes watching one shard; more is a misconfiguration or an attack. */
const MAX_WATCHERS = 200;

interface Carried extends GateRecord {
  /** When a withdrawn entry was withdrawn (workflow time): kept a while, so a late `syncGate` for it still finds it. */
  removedAt?: number;
}
interface Stored extends Carried {
  /** The registry version at which it last changed. */
  changedAt: number;
}

/** How long a withdrawn entry is carried across continue-as-new. */
const TOMBSTONE_MS = 3_600_000;

export async function freezeGateRegistry(input: GateRegistryInput): Promise<void> {
  const epoch = input.carried?.epoch ?? uuid4();
  let version = input.carried?.version ?? 0;
  // Versions up to `horizon` are only known as a whole: a watcher from before it gets the full shard.
  const horizon = version;
  const records = new Map<string, Stored>((input.carried?.records ?? []).map((r) => [r.id, { ...r, changedAt: version }]));
  /** Watchers whose lease runs: what they acknowledged, and until when (workflow time) the registry waits for them. */
  // Carried across continue-as-new: a `syncGate` on the next run must still wait for the watchers of this one.
  const watchers = new Map<string, { acked: number; until: number }>(Object.entries(input.carried?.watchers ?? {}));
  let draining = false;
  let watching = 0;
  const tooLong = historyTooLong(input.historyLimit ?? 2000);

  setHandler(publishGateSignal, (p) => {
    // Anyone who may signal the namespace can send this: a malformed one is dropped, never a failed workflow task.
    if (!wellFormed(p)) return;
    if (!supersedes(records.get(p.id), p)) return; // a retried or late publication
    version++;
    records.set(p.id, {
      id: p.id,
      chain: p.chain,
      revision: p.revision,
      entry: p.entry,
      changedAt: version,
      ...(p.entry === null ? { removedAt: Date.now() } : {}),
    });
  });

  setHandler(gateRecordsQuery, () => ({ epoch, version, records: [...records.values()].filter((r) => r.entry !== null).map(plain) }));

  const renew = (watcher: string, acked: number, leaseMs: number) => {
    const had = watchers.get(watcher);
    watchers.set(watcher, { acked: Math.max(acked, had?.acked ?? 0), until: Date.now() + leaseMs });
  };
  const answer = (since: number, sameEpoch: boolean): GateWatchResult => {
    const full = !sameEpoch || since < horizon || since > version;
    const changes = [...records.values()].filter((r) => (full ? r.entry !== null : r.changedAt > since)).map(plain);
    return { epoch, version, full, changes };
  };

  setHandler(
    watchGateUpdate,
    async ({ watcher, epoch: theirs, since, leaseMs, waitMs }) => {
      // A version this run never had cannot be acknowledged (it would let a forged call vouch for a real watcher).
      const sameEpoch = theirs === epoch && since <= version;
      // The call itself acknowledges what the watcher has applied, and holds its lease while it waits.
      renew(watcher, sameEpoch ? since : 0, leaseMs);
      watching++;
      try {
        if (sameEpoch && since === version) await condition(() => version > since || draining, waitMs);
      } finally {
        watching--;
      }
      renew(watcher, sameEpoch ? since : 0, leaseMs);
      return answer(since, sameEpoch);
    },
    {
      validator: ({ watcher, since, leaseMs, waitMs }) => {
        // Refused, not recorded: the watcher calls again (its lease still runs) and reaches the next run.
        if (draining) throw new Error('the registry is continuing as new; call again');
        if (!watchers.has(watcher) && watchers.size >= MAX_WATCHERS) throw new Error(`watcher: at most ${MAX_WATCHERS} watchers`);
        if (typeof watcher !== 'string' || watcher.length === 0 || watcher.length > 200) throw new Error('watcher: expected a non-empty ID');
        if (!Number.isInteger(since) || since < 0) throw new Error(`since: expected a version (an integer >= 0), got ${JSON.stringify(since)}`);
        if (!Number.isInteger(leaseMs) || leaseMs < MIN_GATE_LEASE_MS || leaseMs > MAX_GATE_LEASE_MS)
          throw new Error(`leaseMs: expected ${MIN_GATE_LEASE_MS}..${MAX_GATE_LEASE_MS}, got ${JSON.stringify(leaseMs)}`);
        if (!Number.isInteger(waitMs) || waitMs < 0 || waitMs > Math.min(MAX_WAIT_MS, leaseMs / 2))
          throw new Error(`waitMs: expected 0..${Math.min(MAX_WAIT_MS, leaseMs / 2)} (at most half the lease), got ${JSON.stringify(waitMs)}`);
      },
    },
  );

  setHandler(
    syncGateUpdate,
    async ({ id, chain, revision }) => {
      const has = () => {
        const r = records.get(id);
        return r !== undefined && r.chain === chain && r.revision >= revision;
      };
      const arrived = await condition(has, SYNC_PUBLICATION_MS);
      if (!arrived)
        throw ApplicationFailure.nonRetryable(
          `freeze ${id} did not publish revision ${revision} to the gate within ${SYNC_PUBLICATION_MS / 1000}s: is a worker running?`,
          'GateNotSynced',
        );
      const at = records.get(id)!.changedAt;
      // Every watcher whose lease runs must have acknowledged `at`; one whose lease runs out answers unknown instead.
      const waiting = () => [...watchers.values()].filter((w) => w.until > Date.now() && w.acked < at);
      const giveUp = Date.now() + MAX_GATE_LEASE_MS * 2;
      for (;;) {
        const open = waiting();
        if (open.length === 0) break;
        if (Date.now() >= giveUp)
          throw ApplicationFailure.nonRetryable(`${open.length} watcher(s) renewed their lease without acknowledging ${id}`, 'GateNotSynced');
        const soonest = Math.min(...open.map((w) => w.until)) - Date.now();
        await condition(() => waiting().length === 0, Math.max(1, soonest));
      }
      const acked = [...watchers.values()].filter((w) => w.acked >= at).length;
      return { version: at, watchers: acked };
    },
    {
      // A sync still waiting when the registry continues as new fails; the caller asks the next run again.
      unfinishedPolicy: HandlerUnfinishedPolicy.ABANDON,
      validator: ({ id, chain, revision }) => {
        if (typeof id !== 'string' || !id.startsWith('freeze:')) throw new Error(`id: expected a freeze workflow ID (freeze:...), got ${JSON.stringify(id)}`);
        if (typeof chain !== 'string' || chain.length === 0) throw new Error('chain: expected the first run ID of the freeze');
        if (!Number.isInteger(revision) || revision < 0) throw new Error(`revision: expected an integer >= 0, got ${JSON.stringify(revision)}`);
      },
    },
  );

  // The registry runs for as long as the installation: it hands over to a new run before its history grows long,
  // carrying the records (withdrawn ones for an hour, for late syncs), the epoch and the watchers; watchers from before get the whole shard once.
  await condition(tooLong);
  draining = true;
  // Watches return at once (their watchers call the next run). A sync still waiting is abandoned: its caller asks
  // the next run, which has the watchers' leases and acknowledgements (waiting here could only hold the watchers up).
  await condition(() => watching === 0);
  for (const [w, lease] of watchers) if (lease.until <= Date.now()) watchers.delete(w);
  await continueAsNew<typeof freezeGateRegistry>({
    ...input,
    carried: {
      epoch,
      version,
      records: [...records.values()]
        .filter((r) => r.entry !== null || Date.now() - (r.removedAt ?? 0) < TOMBSTONE_MS)
        .map((r) => ({ ...plain(r), ...(r.removedAt !== undefined ? { removedAt: r.removedAt } : {}) })),
      watchers: Object.fromEntries(watchers),
    },
  });
}

const plain = ({ id, chain, revision, entry }: GateRecord): GateRecord => ({ id, chain, revision, entry });

/** The shape of a publication (entries are the freeze workflows' own; the fields the gate reads are checked). */
function wellFormed(p: unknown): p is GateRecord {
  if (typeof p !== 'object' || p === null) return false;
  const r = p as Partial<GateRecord>;
  if (typeof r.id !== 'string' || !r.id.startsWith('freeze:') || typeof r.chain !== 'string' || !Number.isSafeInteger(r.revision) || r.revision! < 0)
    return false;
  if (r.entry === null) return true;
  const e = r.entry as Partial<GateEntry> | undefined;
  return (
    typeof e === 'object' &&
    e !== null &&
    e.id === r.id &&
    typeof e.start === 'string' &&
    typeof e.end === 'string' &&
    typeof e.phase === 'string' &&
    Array.isArray(e.scope?.environments) &&
    Array.isArray(e.scope?.services) &&
    Array.isArray(e.exceptions)
  );
}
