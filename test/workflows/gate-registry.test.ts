// The freezeGateRegistry workflow (workflows/gate-registry.ts): one shard of what the freeze gate sees, on the dev
// server (nothing here needs time skipped, and the registry's continue-as-new is the point of one test). Freeze
// windows publish to it through the real activity (signal-with-start); a reader long-polls it as `rearguard serve`
// does (api/gate-view.ts GateView.watch), acknowledging in each call what it applied; `freeze start` and `lift`
// (api/freezes.ts) return once it has (syncGate). Serve's copy of all shards, reconciling and failing closed:
// test/integration/gate-view.test.ts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { liftFreeze, startFreeze } from '../../api/freezes.js';
import { gateRegistryId } from '../../api/ids.js';
import { gateRecordsQuery, publishGateSignal, syncGateUpdate, watchGateUpdate } from '../../api/messages.js';
import type { FreezeState, FreezeWindowInput } from '../../runbook/freeze.js';
import { ShardView, gateShardOf, type GateRecord, type GateWatchRequest, type GateWatchResult } from '../../runbook/gate-view.js';
import type { GateRegistryInput } from '../../workflows/gate-registry.js';
import { endIfRunning, useTemporalEnv, withWorker } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { publishingFreezeActivities } from '../helpers/freeze-window.js';

useTemporalEnv('dev');

const HOUR = 3_600_000;
const activities = publishingFreezeActivities;

const window = (name: string, service = 'checkout'): FreezeWindowInput => ({
  name,
  scope: { environments: ['prod'], services: [service] },
  reason: 'release freeze',
  actor: 'rm-ann',
  start: new Date(Date.now()).toISOString(),
  end: new Date(Date.now() + 2 * HOUR).toISOString(),
  exceptions: { approvers: ['rm-bo'], quorum: 1 },
});

/** A freeze name whose workflow ID falls on `shard` (or on any other shard than `not`). */
function nameOn(o: { shard?: number; not?: number }): string {
  for (;;) {
    const name = `gate-${randomUUID().slice(0, 8)}`;
    const shard = gateShardOf(`freeze:${name}`);
    if (o.shard !== undefined ? shard === o.shard : shard !== o.not) return name;
  }
}

/** Starts the shard if it is not running, as serve does before any freeze has published (api/gate-view.ts ensureShard). */
async function ensureShard(
  client: Client,
  taskQueue: string,
  shard: number,
  o: Partial<GateRegistryInput> = {},
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  return client.workflow.start('freezeGateRegistry', {
    workflowId: gateRegistryId(taskQueue, shard),
    taskQueue,
    args: [{ shard, ...o }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

const watch = (registry: WorkflowHandle, req: Partial<GateWatchRequest> & Pick<GateWatchRequest, 'watcher' | 'since'>): Promise<GateWatchResult> =>
  registry.executeUpdate(watchGateUpdate, { args: [{ leaseMs: 2_000, waitMs: 0, ...req }] });

/**
 * A reader of one shard as serve is (api/gate-view.ts GateView.watch): one long poll after the other, each
 * acknowledging the version of its copy (`since`), each answer applied to the copy before the next call.
 */
class Reader {
  readonly view = new ShardView();
  readonly answers: GateWatchResult[] = [];
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly registry: WorkflowHandle,
    readonly watcher: string,
    private readonly leaseMs = 10_000,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const res = await watch(this.registry, {
          watcher: this.watcher,
          ...(this.view.epoch ? { epoch: this.view.epoch } : {}),
          since: this.view.version,
          leaseMs: this.leaseMs,
          waitMs: Math.floor(this.leaseMs / 3),
        });
        this.view.apply(res);
        this.answers.push(res);
      } catch {
        // Refused while the registry continues as new, or the run ended: serve calls again (the next run answers).
        if (!this.stopped) await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  /** The first answer (the whole shard). */
  async started(): Promise<this> {
    await waitFor(() => this.answers.length > 0 || undefined, `${this.watcher}'s first answer`);
    return this;
  }

  /** Stops calling; resolves once the call in flight has ended (its registry ended, or its wait ran out). */
  stop(): Promise<void> {
    this.stopped = true;
    return this.done;
  }
}

/** Ends the reader and the registry's open run (nothing may stay running once the test's worker stops). */
async function close(readers: Reader[], registries: WorkflowHandle[]): Promise<void> {
  const stopping = readers.map((r) => r.stop());
  for (const r of registries)
    await endIfRunning(r).catch((err: unknown) => {
      if (!(err instanceof WorkflowNotFoundError)) throw err; // a shard the test never got to start
    });
  await Promise.all(stopping);
}

const refused = (p: Promise<unknown>, re: RegExp) =>
  assert.rejects(p, (err: unknown) => err instanceof WorkflowUpdateFailedError && re.test((err.cause as Error).message));

describe('freezeGateRegistry workflow', () => {
  it('freezes publish to their shard; a long poll returns with each change; start and lift return once the reader has it', async () => {
    await withWorker({ activities: activities(), taskQueue: 'gate' }, async ({ client, taskQueue }) => {
      const name = nameOn({});
      const id = `freeze:${name}`;
      const shard = gateShardOf(id);
      const registry = await ensureShard(client, taskQueue, shard);
      const reader = await new Reader(registry, 'serve-a').started();
      // A freeze on a shard nobody started: its publication starts it (signal-with-start).
      const otherName = nameOn({ not: shard });
      const other = client.workflow.getHandle(gateRegistryId(taskQueue, gateShardOf(`freeze:${otherName}`)));
      try {
        assert.deepEqual({ ...reader.answers[0], epoch: '' }, { epoch: '', version: 0, full: true, changes: [] });

        const { state } = await startFreeze(client, taskQueue, window(name));
        // Read-your-writes: start returned, so the reader's copy has the freeze (syncGate waited for its acknowledgement).
        const record = reader.view.records.get(id);
        assert.equal(record?.entry?.phase, 'active');
        assert.equal(record.chain, (await client.workflow.getHandle(id).describe()).runId, 'the chain is the freeze run');
        assert.equal(record.chain, state.gateChain);
        assert.ok(record.revision >= state.gateRevision!);
        assert.ok(
          reader.answers.some((a) => !a.full && a.changes.some((c) => c.id === id)),
          'a long poll answered with the change',
        );
        const records = await registry.query(gateRecordsQuery);
        assert.equal(records.epoch, reader.view.epoch);
        assert.deepEqual(
          records.records.find((r) => r.id === id),
          record,
        );
        // syncGate (what `freeze start` called): the registry has the revision, and the one reader acknowledged it.
        const sync = await registry.executeUpdate(syncGateUpdate, { args: [{ id, chain: state.gateChain!, revision: state.gateRevision! }] });
        assert.equal(sync.watchers, 1);
        assert.ok(sync.version >= 1 && sync.version <= reader.view.version);

        // A retried or late publication (the same revision, another entry) and malformed ones change nothing.
        const before = await registry.query(gateRecordsQuery);
        await registry.signal(publishGateSignal, { ...record, entry: { ...record.entry!, phase: 'ended' } });
        await registry.signal(publishGateSignal, null as never);
        await registry.signal(publishGateSignal, { id, chain: 'forged', revision: 99, entry: { id } } as never);
        await registry.signal(publishGateSignal, { id: 'not-a-freeze', chain: 'x', revision: 1, entry: null });
        assert.deepEqual(await registry.query(gateRecordsQuery), before);
        assert.equal((await registry.describe()).status.name, 'RUNNING');

        const started = await startFreeze(client, taskQueue, window(otherName, 'payments'));
        const { records: otherRecords } = await other.query(gateRecordsQuery);
        assert.deepEqual(
          otherRecords.map((r) => [r.id, r.chain, r.entry?.phase]),
          [[`freeze:${otherName}`, started.state.gateChain, 'active']],
        );
        assert.equal(reader.view.records.has(`freeze:${otherName}`), false, 'only its own shard has it');

        // Lift: the run withdraws its entry; lift returns once the reader has dropped it.
        await liftFreeze(client, id, { actor: 'rm-ann', reason: 'done' });
        assert.equal(reader.view.records.has(id), false);
        assert.ok(reader.answers.some((a) => a.changes.some((c) => c.id === id && c.entry === null)));
        const lifted = await registry.query(gateRecordsQuery);
        assert.deepEqual([lifted.epoch, lifted.records], [before.epoch, []]);
        assert.ok(lifted.version > before.version);
        await liftFreeze(client, `freeze:${otherName}`, { actor: 'rm-ann', reason: 'done' });
        assert.deepEqual((await other.query(gateRecordsQuery)).records, []);
        // One chain of answers: after the first, every answer was a change, never the whole shard again.
        assert.ok(reader.answers.slice(1).every((a) => !a.full && a.epoch === before.epoch));
      } finally {
        await close([reader], [registry, other]);
      }
    });
  });

  it('an idle long poll returns unchanged; another epoch or an unknown version gets the whole shard; a silent reader is waited for no longer than its lease', async () => {
    await withWorker({ activities: activities(), taskQueue: 'gate' }, async ({ client, taskQueue }) => {
      const name = nameOn({});
      const id = `freeze:${name}`;
      const registry = await ensureShard(client, taskQueue, gateShardOf(id));
      try {
        // No reader yet: start returns as soon as the registry has the freeze.
        await startFreeze(client, taskQueue, window(name));
        const first = await watch(registry, { watcher: 'serve-b', since: 0 });
        assert.equal(first.full, true);
        assert.deepEqual(
          first.changes.map((c) => [c.id, c.entry?.phase]),
          [[id, 'active']],
        );
        const { epoch, version } = first;

        assert.deepEqual(await watch(registry, { watcher: 'serve-b', epoch, since: version, waitMs: 500 }), { epoch, version, full: false, changes: [] });
        // Same epoch, an older version: the changes since (here all of them), not the whole shard.
        const since0 = await watch(registry, { watcher: 'serve-b', epoch, since: 0 });
        assert.deepEqual([since0.full, since0.changes], [false, first.changes]);
        for (const stale of [
          { epoch: 'another-chain', since: version },
          { epoch, since: version + 5 },
        ])
          assert.deepEqual(await watch(registry, { watcher: 'serve-b', ...stale }), { epoch, version, full: true, changes: first.changes });

        // The validators refuse what no serve sends, before it is recorded.
        await refused(watch(registry, { watcher: '', since: 0 }), /watcher: expected a non-empty ID/);
        await refused(watch(registry, { watcher: 'serve-b', since: -1 }), /since: expected a version/);
        await refused(watch(registry, { watcher: 'serve-b', since: 0.5 }), /since: expected a version/);
        await refused(watch(registry, { watcher: 'serve-b', since: 0, leaseMs: 999 }), /leaseMs: expected 1000\.\.60000/);
        await refused(watch(registry, { watcher: 'serve-b', since: 0, leaseMs: 2_000, waitMs: 1_001 }), /waitMs: expected 0\.\.1000/);
        const sync = (req: object) => registry.executeUpdate(syncGateUpdate, { args: [{ id, chain: 'c', revision: 1, ...req }] });
        await refused(sync({ id: 'checkout' }), /id: expected a freeze workflow ID/);
        await refused(sync({ chain: '' }), /chain: expected the first run ID/);
        await refused(sync({ revision: -1 }), /revision: expected an integer >= 0/);

        // serve-b stops calling, its last acknowledgement older than the lift: the lift's syncGate waits for it until
        // its lease runs out (it answers unknown by then), and no longer; the reader is then not counted.
        await liftFreeze(client, id, { actor: 'rm-ann', reason: 'done' });
        const final = (await client.workflow.getHandle(id).result()) as FreezeState;
        const synced = await registry.executeUpdate(syncGateUpdate, { args: [{ id, chain: final.gateChain!, revision: final.gateRevision! }] });
        assert.equal(synced.watchers, 0);
        assert.ok(synced.version > version);
      } finally {
        await close([], [registry]);
      }
    });
  });

  it('continues as new past its history limit with its epoch, version, records, a withdrawn one and its readers; a reader keeps its copy', async () => {
    await withWorker({ activities: activities(), taskQueue: 'gate' }, async ({ client, taskQueue }) => {
      const kept = nameOn({});
      const shard = gateShardOf(`freeze:${kept}`);
      const gone = nameOn({ shard });
      const registry = await ensureShard(client, taskQueue, shard, { historyLimit: 150 });
      const firstRun = registry.firstExecutionRunId;
      const reader = await new Reader(registry, 'serve-c').started();
      try {
        await startFreeze(client, taskQueue, window(kept, 'checkout'));
        await startFreeze(client, taskQueue, window(gone, 'payments'));
        await liftFreeze(client, `freeze:${gone}`, { actor: 'rm-ann', reason: 'done' });
        const goneState = (await client.workflow.getHandle(`freeze:${gone}`).result()) as FreezeState;
        const { epoch, version } = reader.view;
        assert.deepEqual([...reader.view.records.keys()], [`freeze:${kept}`]);

        // Publications it already has (a freeze's retries) add events and nothing else, until the run hands over.
        const stale = (await registry.query(gateRecordsQuery)).records[0]!;
        for (let i = 0; (await registry.describe()).runId === firstRun; i++) {
          assert.ok(i < 500, 'the registry continued as new');
          await registry.signal(publishGateSignal, stale);
        }
        const next = await client.workflow.getHandle(registry.workflowId).describe();
        const started = (await client.workflow.getHandle(registry.workflowId, next.runId).fetchHistory()).events![0]!;
        const payload = started.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
        const carried = (JSON.parse(Buffer.from(payload.data!).toString('utf8')) as GateRegistryInput).carried!;
        assert.deepEqual([carried.epoch, carried.version], [epoch, version]);
        const byId = new Map<string, GateRecord & { removedAt?: number }>(carried.records.map((r) => [r.id, r]));
        assert.equal(byId.get(`freeze:${kept}`)?.entry?.phase, 'active');
        // The withdrawn freeze goes along as a tombstone (for a late syncGate), not as an entry.
        assert.equal(byId.get(`freeze:${gone}`)?.entry, null);
        assert.equal(typeof byId.get(`freeze:${gone}`)?.removedAt, 'number');
        assert.deepEqual(Object.keys(carried.watchers), ['serve-c'], "the reader's lease and acknowledgement go along");
        assert.equal(carried.watchers['serve-c']!.acked, version);

        const now = await registry.query(gateRecordsQuery);
        assert.deepEqual([now.epoch, now.version, now.records.map((r) => r.id)], [epoch, version, [`freeze:${kept}`]]);
        // A reader from before keeps its copy (nothing new); one from before the hand-over gets the whole shard.
        assert.deepEqual(await watch(registry, { watcher: 'serve-c', epoch, since: version }), { epoch, version, full: false, changes: [] });
        // A late syncGate for the withdrawn freeze finds its tombstone on the new run.
        const late = await registry.executeUpdate(syncGateUpdate, {
          args: [{ id: `freeze:${gone}`, chain: goneState.gateChain!, revision: goneState.gateRevision! }],
        });
        assert.deepEqual(late, { version, watchers: 1 });
        const older = await watch(registry, { watcher: 'serve-d', epoch, since: version - 1, leaseMs: 1_000 });
        assert.deepEqual([older.full, older.version, older.changes.map((c) => c.id)], [true, version, [`freeze:${kept}`]]);

        // A change on the new run reaches the reader before lift returns; it never had to re-read the whole shard.
        await liftFreeze(client, `freeze:${kept}`, { actor: 'rm-ann', reason: 'done' });
        assert.equal(reader.view.records.size, 0);
        assert.equal(reader.view.epoch, epoch);
        assert.ok(reader.view.version > version);
        assert.ok(reader.answers.slice(1).every((a) => !a.full && a.epoch === epoch));
      } finally {
        await close([reader], [registry]);
      }
    });
  });
});
