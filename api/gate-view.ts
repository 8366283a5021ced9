// The freeze gate's view, read from the registry (workflows/gate-registry.ts): for `freeze check`/`freeze list`
// by Query, and for `rearguard serve` as a copy kept current by long-polling Updates (GateView), so GET /v1/gate
// answers from memory. Commands that change a freeze call `gateSynced` before they return (read-your-writes).
// Freezes the registry does not know (runs started before it) are read directly (`unregistered`), as before.
// The design and its guarantees: docs/architecture.md, "The freeze gate".
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { covers, type FreezeState } from '../runbook/freeze.js';
import type { UnreadableFreeze } from '../runbook/gate.js';
import { DEFAULT_GATE_LEASE_MS, GATE_SHARDS, ShardView, gateShardOf, type GateEntry, type GateRecord, type GateWatchResult } from '../runbook/gate-view.js';
import { opError, rootMessage } from './errors.js';
import { wedgedRun } from './wedged.js';
import { gateRegistryId, gateRegistryName } from './ids.js';
import { freezeStateQuery, gateRecordsQuery, syncGateUpdate, watchGateUpdate } from './messages.js';

const shards = [...Array(GATE_SHARDS).keys()];
/**
 * Bound of a listing of the running freezes that is not a gate's answer (serve's background comparison, `freeze
 * list`, the calendar): slow is better than failing; listing 10,000 takes 3-5 s on the dev server.
 */
export const LIST_TIMEOUT_MS = 60_000;
const RUNNING_FREEZES = (taskQueue: string) =>
  `WorkflowType = 'freezeWindow' AND ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue.replace(/'/g, "\\'")}'`;

/** Starts the registry's shards if they are not running (idempotent): a serve may start before any freeze published. */
async function ensureShard(client: Client, taskQueue: string, shard: number): Promise<void> {
  await client.workflow.start('freezeGateRegistry', {
    workflowId: gateRegistryId(taskQueue, shard),
    taskQueue,
    args: [{ shard }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

/**
 * Every record the registry holds for this task queue (a shard never started holds none), and the shards that
 * could not be read within timeoutMs, with the reason.
 */
export async function readGateRecords(
  client: Client,
  taskQueue: string,
  timeoutMs: number,
): Promise<{ records: GateRecord[]; failed: (UnreadableFreeze & { shard: number })[] }> {
  const all = await Promise.all(
    shards.map(async (shard) => {
      const id = gateRegistryId(taskQueue, shard);
      const deadline = Date.now() + timeoutMs;
      try {
        return { records: (await client.withDeadline(deadline, () => client.workflow.getHandle(id).query(gateRecordsQuery))).records };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { records: [] };
        const why = await whyUnreadable(client, id, err, timeoutMs, Date.now() >= deadline - 50);
        return {
          records: [],
          failed: { id, shard, kind: why.kind, error: `the gate registry could not be read: ${why.error.replace(/^its state Query/, 'its Query')}` },
        };
      }
    }),
  );
  return { records: all.flatMap((a) => a.records), failed: all.flatMap((a) => (a.failed ? [a.failed] : [])) };
}

/** Running freeze IDs on the task queue (visibility: eventually consistent, used only to find unregistered ones). */
export async function runningFreezeIds(client: Client, taskQueue: string, timeoutMs: number): Promise<string[]> {
  const ids: string[] = [];
  await client.withDeadline(Date.now() + timeoutMs, async () => {
    for await (const w of client.workflow.list({ query: RUNNING_FREEZES(taskQueue) })) ids.push(w.workflowId);
  });
  return ids;
}

/** How long `gateSynced` keeps asking (the registry answers within a watcher's lease once the freeze has published). */
const SYNC_TIMEOUT_MS = 60_000;

/**
 * Returns once the gate enforces the freeze's current state: the registry has it, and every `rearguard serve`
 * whose lease runs has it (one whose lease ran out answers `unknown` until it catches up). A run from before the
 * registry (no gateRevision) is read directly by the gate and needs no wait.
 */
export async function gateSynced(client: Client, freezeId: string, known?: { taskQueue?: string; state?: FreezeState }): Promise<void> {
  const h = client.workflow.getHandle(freezeId);
  const [taskQueue, state] = await Promise.all([
    known?.taskQueue ?? h.describe().then((d) => d.taskQueue),
    known?.state?.gateRevision !== undefined ? known.state : h.query(freezeStateQuery),
  ]);
  if (state.gateRevision === undefined || state.gateChain === undefined) return;
  const registry = client.workflow.getHandle(gateRegistryId(taskQueue, gateShardOf(freezeId)));
  const until = Date.now() + SYNC_TIMEOUT_MS;
  for (;;) {
    try {
      await client.withDeadline(until, () =>
        registry.executeUpdate(syncGateUpdate, { args: [{ id: freezeId, chain: state.gateChain!, revision: state.gateRevision! }] }),
      );
      return;
    } catch (err) {
      // The registry continued as new mid-call, or is not started yet: ask again (the publication starts it).
      if (Date.now() >= until)
        throw opError(
          'failed',
          `the freeze gate did not confirm ${freezeId} within ${SYNC_TIMEOUT_MS / 1000}s (${rootMessage(err)}); the change is recorded, but until the gate confirms it a deploy check may answer unknown`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export interface GateViewOptions {
  taskQueue: string;
  /** A watcher's lease: how long serve answers from its copy without hearing from a shard. */
  leaseMs?: number;
  /** How often running freezes the registry does not know are looked for (visibility) and read directly. */
  reconcileMs?: number;
  /** Bound of each direct read. */
  queryTimeoutMs?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

/** What serve answers from: the entries, and why it cannot answer (then every answer is `unknown`). */
export interface GateViewSnapshot {
  entries: GateEntry[];
  unreadable: UnreadableFreeze[];
}

/**
 * `rearguard serve`'s copy of the gate's registry. One long-polling `watchGate` Update per shard: each returns
 * as soon as the shard changes (or after `leaseMs / 3`), and each call acknowledges what was applied. The copy
 * is current while every shard answered within its lease; otherwise (Temporal unreachable, no worker) the view
 * says so and the gate answers unknown: it fails closed, never from a copy that may have missed a change.
 */
export class GateView {
  readonly watcher = `serve-${randomUUID()}`;
  private readonly leaseMs: number;
  private readonly reconcileMs: number;
  private readonly queryTimeoutMs: number;
  private readonly views = shards.map(() => new ShardView());
  /** Per shard: the lease end (local clock, counted from when the call was sent), and the last error. */
  private readonly leases = shards.map(() => ({ until: 0, error: 'not read yet' as string | undefined, restartedAt: undefined as number | undefined }));
  /** Registry entries whose run has closed without withdrawing them (terminated, failed, timed out): they hold nothing. */
  private closed = new Set<string>();
  private rerun = false;
  private index: Map<string, GateEntry[]> | undefined;
  /** Running freezes the registry does not have (runs from before it), read directly by the reconciler. */
  private unregistered: { states: FreezeState[]; unreadable: UnreadableFreeze[]; at: number } = { states: [], unreadable: [], at: 0 };
  private reconciled = false;
  private stopped = false;
  private cache: GateEntry[] | undefined;
  private readonly loops: Promise<void>[] = [];
  private wake: (() => void) | undefined;
  private readonly abort = new AbortController();
  private startedAt: number | undefined;
  private current = false;

  constructor(
    private readonly client: Client,
    private readonly opts: GateViewOptions,
  ) {
    this.leaseMs = opts.leaseMs ?? DEFAULT_GATE_LEASE_MS;
    this.reconcileMs = opts.reconcileMs ?? 30_000;
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 3_000;
  }

  /** Starts watching (once). */
  start(): this {
    if (this.startedAt !== undefined) return this;
    this.startedAt = Date.now();
    // Every call of the view listens on this one signal (nine loops, each with a call at a time).
    setMaxListeners(0, this.abort.signal);
    for (const shard of shards) this.loops.push(this.watch(shard));
    this.loops.push(this.reconcileLoop());
    return this;
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.abort.abort();
  }

  /**
   * Just started and not current yet: a caller may wait (up to `timeoutMs`) for the first copy instead of being
   * told `unknown` by a serve that only began to watch. Once current, a view that falls behind answers at once.
   */
  async warmedUp(timeoutMs: number): Promise<void> {
    const until = Math.min(Date.now() + timeoutMs, (this.startedAt ?? Date.now()) + this.leaseMs);
    while (!this.current && !this.stopped && Date.now() < until) {
      if (this.snapshot().unreadable.every((u) => u.kind !== 'stale')) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * What the gate answers a deploy of environment/service from: only the entries that cover it (an index, so an
   * answer costs the same with 10,000 freezes as with 10), and what makes the answer unknown, limited to the same.
   */
  snapshotFor(environment: string, service: string, now = Date.now()): GateViewSnapshot {
    const all = this.snapshot(now);
    const unreadable = all.unreadable.filter((u) => u.kind !== 'stale' || !u.id.startsWith('freeze:') || this.staleCovers(u.id, environment, service));
    if (all.entries.length === 0) return { entries: [], unreadable };
    this.index ??= indexByTarget(all.entries);
    const found = new Set<GateEntry>();
    for (const env of [environment, '*']) for (const svc of [service, '*']) for (const e of this.index.get(`${env}\u0000${svc}`) ?? []) found.add(e);
    return { entries: [...found], unreadable };
  }

  private staleCovers(id: string, environment: string, service: string): boolean {
    const e = this.views[gateShardOf(id)]!.records.get(id)?.entry;
    return !e || covers(e.scope, environment, service);
  }

  /** Current when every shard answered within its lease and the unregistered freezes were looked for once. */
  snapshot(now = Date.now()): GateViewSnapshot {
    // A shard not heard from within its lease, or restarted and not yet compared with the running freezes: the
    // freezes of its last copy, and the registry itself (it may hold more).
    const late = this.leases.flatMap((l, shard) =>
      l.until <= now
        ? [{ shard, error: l.error ?? 'no answer within its lease' }]
        : l.restartedAt !== undefined
          ? [{ shard, error: 'the registry shard started afresh; comparing it with the running freezes' }]
          : [],
    );
    const error = late.length
      ? `serve's copy of the gate registry is out of date (${late.length} of ${GATE_SHARDS} shards: ${late[0]!.error}): is a Rearguard worker running?`
      : '';
    const stale: UnreadableFreeze[] = late.length
      ? [
          ...late.flatMap(({ shard }) =>
            [...this.views[shard]!.records.values()].filter((r) => r.entry !== null).map((r) => ({ id: r.id, kind: 'stale' as const, error })),
          ),
          { id: gateRegistryName(this.opts.taskQueue), kind: 'stale', error },
        ]
      : [];
    if (stale.length === 0 && this.reconciled) this.current = true;
    if (stale.length > 0 || !this.reconciled)
      return {
        entries: [],
        unreadable: stale.length > 0 ? stale : [{ id: '*', kind: 'stale', error: 'running freezes not yet compared with the registry' }],
      };
    this.cache ??= this.entries();
    return { entries: this.cache, unreadable: this.unregistered.unreadable.filter((u) => !this.known(u.id)) };
  }

  private known(id: string): boolean {
    return this.views[gateShardOf(id)]!.records.has(id);
  }

  private invalidate(): void {
    this.cache = undefined;
    this.index = undefined;
  }

  /** The registry's entries, and the directly read states of freezes it does not have (once it has one, it wins). */
  private entries(): GateEntry[] {
    const fromRegistry = this.views.flatMap((v) => [...v.records.values()].flatMap((r) => (r.entry && !this.closed.has(r.id) ? [r.entry] : [])));
    return [...fromRegistry, ...this.unregistered.states.filter((s) => !this.known(s.id))];
  }

  private async watch(shard: number): Promise<void> {
    const view = this.views[shard]!;
    const lease = this.leases[shard]!;
    const handle = this.client.workflow.getHandle(gateRegistryId(this.opts.taskQueue, shard));
    let started = false;
    let failures = 0;
    while (!this.stopped) {
      const sent = Date.now();
      try {
        if (!started) await this.client.withAbortSignal(this.abort.signal, () => ensureShard(this.client, this.opts.taskQueue, shard));
        started = true;
        const res: GateWatchResult = await this.client.withAbortSignal(this.abort.signal, () =>
          handle.executeUpdate(watchGateUpdate, {
            args: [{ watcher: this.watcher, epoch: view.epoch, since: view.version, leaseMs: this.leaseMs, waitMs: Math.floor(this.leaseMs / 3) }],
          }),
        );
        const epochChanged = view.epoch !== undefined && res.epoch !== view.epoch;
        if (res.changes.length > 0 || res.full) this.invalidate();
        view.apply(res);
        // A registry started afresh (terminated, reset) may lack freezes that published to the old one: the shard
        // counts as stale until a comparison with the running freezes, begun after this, has finished.
        if (epochChanged) lease.restartedAt = Date.now();
        lease.until = sent + this.leaseMs;
        lease.error = undefined;
        if (failures > 0) this.opts.log?.('info', 'gate registry reachable again', { shard });
        failures = 0;
        if (epochChanged) {
          this.opts.log?.('warn', 'gate registry shard started afresh; comparing it with the running freezes', { shard });
          this.rerun = true;
          this.wake?.();
        }
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof WorkflowNotFoundError) started = false;
        lease.error = `the gate registry could not be watched: ${rootMessage(err)}`;
        if (failures++ === 0) this.opts.log?.('warn', 'gate registry watch failed', { shard, error: rootMessage(err) });
        // Quick at first: a registry continuing as new refuses a call or two, and the lease keeps running meanwhile.
        await new Promise((r) => setTimeout(r, Math.min(1_000, 25 * 2 ** Math.min(failures, 6))));
      }
    }
  }

  private async reconcileLoop(): Promise<void> {
    // The first comparison waits for every shard's first copy: before it, every running freeze would look unknown.
    while (!this.stopped && this.leases.some((l) => l.until === 0)) await new Promise((r) => setTimeout(r, 20));
    while (!this.stopped) {
      const began = Date.now();
      this.rerun = false;
      const ok = await this.reconcile().then(
        () => true,
        (err: unknown) => {
          if (this.stopped) return false;
          // A listing that fails once after a good one keeps its result a while (it only finds runs from before the
          // registry); failing for longer, or before any good one, makes every answer unknown.
          if (this.unregistered.at > 0 && Date.now() - this.unregistered.at < 5 * this.reconcileMs) {
            this.opts.log?.('warn', 'gate could not list the running freezes; keeping the last comparison', { error: rootMessage(err) });
            return false;
          }
          this.unregistered = {
            states: [],
            unreadable: [{ id: '*', kind: 'list', error: `cannot list the running freezes: ${rootMessage(err)}` }],
            at: Date.now(),
          };
          this.invalidate();
          return false;
        },
      );
      if (ok) for (const l of this.leases) if (l.restartedAt !== undefined && l.restartedAt <= began) l.restartedAt = undefined;
      this.reconciled = true;
      if (this.rerun) continue;
      await new Promise<void>((r) => {
        const t = setTimeout(r, this.reconcileMs);
        this.wake = () => (clearTimeout(t), r());
      });
    }
  }

  /** Running freezes that no shard has: read directly (a run from before the registry, or one whose publication is late). */
  private async reconcile(): Promise<void> {
    // In the background, so it may take long: at 10,000 freezes the listing alone takes seconds.
    const ids = await this.client.withAbortSignal(this.abort.signal, () => runningFreezeIds(this.client, this.opts.taskQueue, LIST_TIMEOUT_MS));
    const running = new Set(ids);
    const missing = ids.filter((id) => !this.known(id));
    const read = await this.client.withAbortSignal(this.abort.signal, () => limited(missing, (id) => readDirectly(this.client, id, this.queryTimeoutMs)));
    // Entries of runs that are not listed as running: the authoritative describe says whether they closed without
    // withdrawing (terminated, failed), so they no longer block; visibility alone could lag behind a new start.
    const unlisted = this.views.flatMap((v) => [...v.records.values()].filter((r) => r.entry !== null && !running.has(r.id)).map((r) => r.id));
    const closed = await this.client.withAbortSignal(this.abort.signal, () =>
      limited(unlisted, async (id) =>
        (await this.client.workflow
          .getHandle(id)
          .describe()
          .then((d) => d.status.name !== 'RUNNING')
          .catch((err: unknown) => err instanceof WorkflowNotFoundError))
          ? [id]
          : [],
      ),
    );
    const states = read.flatMap((r) => ('state' in r ? [r.state] : []));
    const unreadable = read.flatMap((r) => ('unreadable' in r ? [r.unreadable] : []));
    this.unregistered = { states, unreadable, at: Date.now() };
    this.closed = new Set(closed.flat());
    this.invalidate();
    if (missing.length) this.opts.log?.('info', 'gate read running freezes the registry does not know directly', { ids: missing });
  }
}

/** `fn` over `items`, 16 at a time (a serve that starts next to 10,000 freezes must not open 10,000 calls at once). */
async function limited<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, items.length) }, lane));
  return out;
}

/** Entries by every environment/service pair of their scope (`*` included): the gate looks up four keys per answer. */
function indexByTarget(entries: GateEntry[]): Map<string, GateEntry[]> {
  const index = new Map<string, GateEntry[]>();
  for (const e of entries)
    for (const env of new Set(e.scope.environments))
      for (const svc of new Set(e.scope.services)) {
        const key = `${env}\u0000${svc}`;
        const list = index.get(key);
        if (list) list.push(e);
        else index.set(key, [e]);
      }
  return index;
}

/** One freeze's state by Query, or why it could not be read. */
export async function readDirectly(client: Client, id: string, timeoutMs: number): Promise<{ state: FreezeState } | { unreadable: UnreadableFreeze }> {
  const deadline = Date.now() + timeoutMs;
  try {
    return { state: await client.withDeadline(deadline, () => client.workflow.getHandle(id).query(freezeStateQuery)) };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { state: closedState(id) };
    return { unreadable: { id, ...(await whyUnreadable(client, id, err, timeoutMs, Date.now() >= deadline - 50)) } };
  }
}

/** A freeze that closed between the listing and its Query holds nothing. */
const closedState = (id: string): FreezeState => ({
  id,
  name: id,
  scope: { environments: [], services: [] },
  reason: '',
  actor: '',
  start: new Date(0).toISOString(),
  end: new Date(0).toISOString(),
  phase: 'ended',
  exceptions: [],
  approvers: [],
  quorum: 1,
  history: [],
});

/** Why a freeze's Query failed, in the gate's words (a wedged run is named as such). */
export async function whyUnreadable(client: Client, id: string, err: unknown, timeoutMs: number, timedOut: boolean): Promise<Omit<UnreadableFreeze, 'id'>> {
  const wedged = await client.withDeadline(Date.now() + timeoutMs, () => wedgedRun(client, id)).catch(() => undefined);
  if (wedged) return { kind: 'wedged', error: `wedged: its workflow task keeps failing (attempt ${wedged.attempt}): ${wedged.error}` };
  const message = rootMessage(err);
  if (/no poller seen/i.test(message)) return { kind: 'no-worker', error: `no worker polls its task queue (${message}): is a Rearguard worker running?` };
  // The client reports its own deadline as a cancelled call.
  return timedOut || /deadline|timed? ?out/i.test(message)
    ? { kind: 'timeout', error: `its state Query was not answered within ${timeoutMs} ms (${message}): is a Rearguard worker running?` }
    : { kind: 'failed', error: `its state Query failed: ${message}` };
}
