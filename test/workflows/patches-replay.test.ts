// Issue 16 (part 2): a test per patch. For each patch of the list below, a history recorded by running the workflow
// code of the commit just before the patch (test/fixtures/histories/patches/<patch>.binpb) (1) replays on today's
// workflow code, (2) holds no marker of that patch, so it really comes from before it, and (3) a golden history
// recorded from today's code (test/histories/<type>/<scenario>.json) holds the marker and the commands of the new
// path. signed-decisions, guard-signed-decisions and drill-force-decision have theirs in freeze-replay.test.ts and
// decisions-replay.test.ts. No server needed.
//
// How the old histories were recorded: `git worktree add /tmp/old-<patch> <commit>^`, node_modules linked in, then
// `node --import tsx scripts/record-old-history.ts /tmp/old-<patch> <scenario> <out.binpb>`, which bundles that
// commit's workflows/, runs one scenario on a dev server with stub activities (the runbook from that commit's
// test/helpers/runbooks.ts, messages sent by name) and writes the run's history as binary protobuf:
//
//   patch                 commit (patch's commit ^)   scenario
//   policy-permissions    a98b15d (a2a0031^)          rollback: a runbook without approvers, 3 webhook steps, succeeded
//   signed-triggers       828915d (9dcd4b1^)          rollback-approved: a plain trigger (that code had no signed
//                                                     triggers), approved by alice, succeeded; and
//                                                     rollback-signed-trigger (-envelope): the same with a `signed`
//                                                     envelope on the trigger, as a newer CLI sends it, which that code
//                                                     ignored: today's code asks patched('signed-triggers') for it
//   repeat-rule-check     0225bf7 (2129f0d^)          rollback-relative: a kubernetes step to the `previous` revision
//   outcome-memo          0225bf7 (2129f0d^)          rollback: 3 webhook steps, no approval, succeeded
//   gate-registry         a7aee6e (016795c^)          freeze: prod from now for 3 days, extended by a day, lifted
//   drill-local-runbooks  4e71504 (4e3bcd4^)          drill: a staging drill of a local runbook, rollback child succeeded
//
// repeat-rule-check and outcome-memo are deprecated patches (deprecatePatch, only the new path kept). 2129f0d did
// not add their code: it put code that 0225bf7 had added seven minutes earlier, unpatched, behind patched(). A run of
// 0225bf7 called findRestored and upserted its memo without a marker, so with patched() today's code skipped both on
// its history and diverged ("Activity type of scheduled event 'findRestored' does not match activity type of activity
// command 'runStep'"; "Timer machine does not handle this event: HistoryEvent(id: 50, WorkflowPropertiesModified)").
// Histories from before 0225bf7 cannot take the patches' old path either (the -ee1a2a5.binpb files: scenarios
// rollback-relative and rollback on ee1a2a5, whose rollback workflow is that of 0225bf7^ = 80fe5a1): 0225bf7 also
// made runbook durations milliseconds, and today's rollback fails their text durations ("5m") at its start
// (InvalidRunbook), before any patch is asked. So every rollback history that can replay ran findRestored (given a
// relative target) and the memo upsert, with or without the marker: deprecatePatch replays both.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { RearguardMetrics } from '../../worker/metrics.js';
import { quietRuntime, workflowBundle } from '../helpers/temporal.js';

const fixtures = join(import.meta.dirname, '../fixtures/histories/patches');
const golden = join(import.meta.dirname, '../histories');

type Event = proto.temporal.api.history.v1.IHistoryEvent;
const json = (data: Uint8Array | null | undefined): unknown => JSON.parse(Buffer.from(data ?? []).toString());

/** The IDs of the patch markers in `history`, in order. */
const patchIds = (history: History): string[] =>
  (history.events ?? []).flatMap((e) => {
    const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
    return data ? [(json(data) as { id: string }).id] : [];
  });

/** The events after the marker of `patch` (all of them when `patch` is undefined). */
function after(history: History, patch?: string): Event[] {
  const events = history.events ?? [];
  if (!patch) return events;
  const i = events.findIndex((e) => {
    const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
    return data && (json(data) as { id: string }).id === patch;
  });
  return i < 0 ? [] : events.slice(i + 1);
}
const localActivities = (events: Event[]): string[] =>
  events.flatMap((e) => {
    const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
    return e.markerRecordedEventAttributes?.markerName === 'core_local_activity' && data ? [(json(data) as { activity_type: string }).activity_type] : [];
  });
const activities = (events: Event[]): string[] =>
  events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType!.name!] : []));
const audits = (events: Event[]): string[] =>
  events.flatMap((e) =>
    e.activityTaskScheduledEventAttributes?.activityType?.name === 'appendAudit'
      ? [(json(e.activityTaskScheduledEventAttributes.input!.payloads![0]!.data) as { action: string }).action]
      : [],
  );
const memoUpserts = (events: Event[]): Record<string, unknown>[] =>
  events.flatMap((e) => {
    const fields = e.workflowPropertiesModifiedEventAttributes?.upsertedMemo?.fields;
    return fields ? [Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, json(v.data)]))] : [];
  });
const workflowType = (history: History): string => history.events![0]!.workflowExecutionStartedEventAttributes!.workflowType!.name!;
/** What the tests read of a run's input (its first argument): a rollback's or a drill's. */
interface RunInput {
  runbook?: { spec: { sla: unknown; approval?: { approvers: string[] } } };
  catalog?: unknown;
  trigger?: { signed?: unknown };
}
const input = (history: History): RunInput => json(history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!.data) as RunInput;

interface OldHistory {
  patch: string;
  file: string;
  workflowId: string;
  type: string;
  recorded: string;
  /** What the old code did in this scenario, read from the old history (the patch's old path). */
  oldPath(h: History): void;
}

const OLD: OldHistory[] = [
  {
    patch: 'policy-permissions',
    file: 'policy-permissions.binpb',
    workflowId: 'rollback:prod:payments',
    type: 'rollback',
    recorded: 'a98b15d (a2a0031^), a rollback of a runbook without approvers',
    oldPath(h) {
      assert.equal(input(h).runbook?.spec.approval?.approvers.length, 0);
      assert.deepEqual(localActivities(after(h)), [], 'no trust settings loaded for a runbook without approvers');
    },
  },
  {
    patch: 'signed-triggers',
    file: 'signed-triggers.binpb',
    workflowId: 'rollback:prod:payments',
    type: 'rollback',
    recorded: '828915d (9dcd4b1^), an approved rollback with a plain trigger',
    oldPath(h) {
      assert.equal(input(h).trigger?.signed, undefined);
      assert.ok(!audits(after(h)).includes('rollback.trigger-verified'));
    },
  },
  {
    patch: 'signed-triggers',
    file: 'signed-triggers-envelope.binpb',
    workflowId: 'rollback:prod:payments',
    type: 'rollback',
    recorded: '828915d (9dcd4b1^), an approved rollback whose trigger carries a signed envelope the old code ignored',
    oldPath(h) {
      assert.ok(input(h).trigger?.signed, 'the trigger carries a signed envelope: today the procedure asks patched(signed-triggers)');
      assert.ok(!audits(after(h)).includes('rollback.trigger-verified'));
    },
  },
  {
    patch: 'repeat-rule-check',
    file: 'repeat-rule-check.binpb',
    workflowId: 'rollback:prod:payments',
    type: 'rollback',
    recorded: '0225bf7 (2129f0d^), a rollback with a kubernetes step to the previous revision',
    oldPath(h) {
      assert.ok(activities(after(h)).includes('findRestored'), '0225bf7 already ran the repeat rule check, without a patch');
    },
  },
  {
    patch: 'outcome-memo',
    file: 'outcome-memo.binpb',
    workflowId: 'rollback:prod:payments',
    type: 'rollback',
    recorded: '0225bf7 (2129f0d^), a rollback of 3 webhook steps without approval',
    oldPath(h) {
      assert.deepEqual(memoUpserts(after(h)), [{ outcome: 'succeeded' }], '0225bf7 already upserted the outcome memo, without a patch');
    },
  },
  {
    patch: 'gate-registry',
    file: 'gate-registry.binpb',
    workflowId: 'freeze:black-friday',
    type: 'freezeWindow',
    recorded: 'a7aee6e (016795c^), a freeze window extended, then lifted',
    oldPath(h) {
      assert.ok(!localActivities(after(h)).includes('publishGate'), 'nothing published to a gate registry');
    },
  },
  {
    patch: 'drill-local-runbooks',
    file: 'drill-local-runbooks.binpb',
    workflowId: 'drill:api-staging:2026-12-04T16:00:00.000Z',
    type: 'drill',
    recorded: '4e71504 (4e3bcd4^), a staging drill of a local runbook',
    oldPath(h) {
      assert.ok(input(h).runbook && !input(h).catalog, 'a local runbook, not one from the catalog');
      assert.deepEqual(localActivities(after(h)), [], 'no trust settings loaded');
      assert.ok(
        (h.events ?? []).some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes),
        'its rollback ran as a child',
      );
    },
  },
];

/** The golden history (recorded from today's code) that shows each patch's new path, and what shows it. */
const NEW: { patch: string; file: string; shows: string; newPath(events: Event[], h: History): void }[] = [
  {
    patch: 'policy-permissions',
    file: 'rollback/rollback-policy-a-runbook-without-approval-still-needs-the-policy-quorum-a-made-up-approve.json',
    shows: 'a runbook without approval loads the trust settings (the policy)',
    newPath(events, h) {
      assert.equal(input(h).runbook?.spec.approval, undefined);
      assert.ok(localActivities(events).includes('trustSettings'));
    },
  },
  {
    patch: 'signed-triggers',
    file: 'rollback/rollback-catalog-loads-the-runbook-by-name-and-digest-on-the-worker-a-runbook-without-appr.json',
    shows: 'a signed trigger is verified and audited',
    newPath(events, h) {
      assert.ok(input(h).trigger?.signed);
      assert.ok(audits(events).includes('rollback.trigger-verified'));
    },
  },
  {
    patch: 'repeat-rule-check',
    file: 'rollback/rollback-repeat-ends-already-restored-before-approval-and-before-any-step-audited-escalate.json',
    shows: 'findRestored runs before approval',
    newPath(events) {
      assert.equal(activities(events)[0], 'findRestored');
    },
  },
  {
    patch: 'outcome-memo',
    file: 'rollback/rollback-approval-waits-for-a-quorum-of-2-then-runs-every-step-in-order-and-succeeds.json',
    shows: 'the outcome is upserted into the memo',
    newPath(events) {
      assert.deepEqual(memoUpserts(events)[0], { outcome: 'succeeded' });
    },
  },
  {
    patch: 'gate-registry',
    file: 'freezeWindow/freeze-lift-ends-it-at-once-lifting-a-finished-window-is-refused.json',
    shows: 'the window publishes to the gate registry',
    newPath(events) {
      assert.ok(localActivities(events).includes('publishGate'));
    },
  },
  {
    patch: 'drill-local-runbooks',
    file: 'drill/drill-staging-deploys-the-marked-bad-revision-runs-the-rollback-as-a-child-and-meets-the-s.json',
    shows: "a drill of a local runbook loads the worker's trust settings",
    newPath(events, h) {
      assert.ok(input(h).runbook && !input(h).catalog);
      assert.equal(localActivities(events)[0], 'trustSettings');
    },
  },
];

const load = async (file: string): Promise<History> => proto.temporal.api.history.v1.History.decode(await readFile(join(fixtures, file)));

/** Replays `history` on today's workflow code: the error, or undefined. */
async function replay(workflowId: string, history: History): Promise<unknown> {
  quietRuntime();
  const options = { workflowBundle: await workflowBundle(), sinks: new RearguardMetrics({ defaultMetrics: false }).sinks() };
  for await (const r of Worker.runReplayHistories(options, [{ workflowId, history }])) return r.error;
  throw new Error('nothing replayed');
}
const describeError = (err: unknown): string => (err instanceof Error ? err.message : String(err));

describe('patches: histories recorded before each patch', () => {
  for (const old of OLD) {
    describe(`${old.patch}: ${old.file}, recorded on ${old.recorded}`, () => {
      it(`is a ${old.type} run without a ${old.patch} marker, on the old path`, async () => {
        const h = await load(old.file);
        assert.equal(workflowType(h), old.type);
        assert.ok(!patchIds(h).includes(old.patch), `${old.file} has a ${old.patch} marker: not recorded before the patch`);
        old.oldPath(h);
      });
      it("replays on today's workflow code", async () => {
        const error = await replay(old.workflowId, await load(old.file));
        assert.equal(error, undefined, `${old.file} (${old.recorded}) does not replay on today's code: ${describeError(error)}`);
      });
    });
  }

  // Histories from before 0225bf7, the commit that added the code 2129f0d put behind repeat-rule-check and
  // outcome-memo: they cannot replay whatever the patches say, so no replayable history takes the patches' old path.
  for (const patch of ['repeat-rule-check', 'outcome-memo']) {
    it(`${patch}: a history from before 0225bf7 (ee1a2a5) fails at its start on its text durations, before any patch is asked`, async () => {
      const h = await load(`${patch}-ee1a2a5.binpb`);
      assert.ok(!patchIds(h).includes(patch));
      assert.equal(input(h).runbook?.spec.sla, '5m');
      const error = await replay('rollback:prod:payments', h);
      assert.match(describeError(error), /Fail workflow machine does not handle this event: HistoryEvent\(id: 6, TimerStarted\)/);
    });
  }

  for (const n of NEW) {
    it(`${n.patch}: today's code takes the new path (${n.shows}): golden ${n.file}`, async () => {
      const recorded = JSON.parse(await readFile(join(golden, n.file), 'utf8')) as Record<string, unknown>;
      delete recorded.workflowId; // added by the recorder (test/helpers/golden.ts), not a History field
      const h = historyFromJSON(recorded);
      assert.ok(patchIds(h).includes(n.patch), `${n.file} has no ${n.patch} marker`);
      n.newPath(after(h, n.patch), h);
    });
  }

  it('covers every patch of the list', () => {
    const patches = ['policy-permissions', 'signed-triggers', 'repeat-rule-check', 'outcome-memo', 'gate-registry', 'drill-local-runbooks'];
    assert.deepEqual([...new Set(OLD.map((o) => o.patch))], patches);
    assert.deepEqual(
      NEW.map((n) => n.patch),
      patches,
    );
  });
});
