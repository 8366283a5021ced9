// The gradualUnfreeze workflow on the time-skipping test server, against the real freezeWindow workflow in
// the same worker (the release/refreeze/lift activities message it with the worker's client). Health gates
// are stubbed per environment; 30-minute soaks are skipped, not shortened.
// Fixture: test/helpers/unfreeze.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { FreezeState } from '../../runbook/freeze.js';
import type { UnfreezeStatus } from '../../runbook/unfreeze.js';
import { abortUnfreezeUpdate, advanceUnfreezeUpdate, approveUnfreezeUpdate, freezeStateQuery, unfreezeStatusQuery } from '../../api/messages.js';
import { testEnv, useTemporalEnv, withDevServer } from '../helpers/harness.js';
import { poll, withUnfreeze } from '../helpers/unfreeze.js';

useTemporalEnv();

const MIN = 60_000;
const status = (h: WorkflowHandle) => h.query(unfreezeStatusQuery);
const phase = async (h: WorkflowHandle, want: UnfreezeStatus['phase']) => poll(async () => (await status(h)).phase === want, `phase ${want}`);
const freezeState = (f: WorkflowHandle): Promise<FreezeState> => f.query(freezeStateQuery);
const refused = (p: Promise<unknown>, re: RegExp) =>
  assert.rejects(p, (err: unknown) => err instanceof WorkflowUpdateFailedError && re.test((err.cause as Error).message));

describe('gradualUnfreeze workflow', () => {
  it('opens dev, staging, prod one at a time, each after a 30m soak with healthy gates, then lifts the freeze; status shows time left', async () => {
    await withUnfreeze({}, async ({ freeze, audit, checks, notes, start }) => {
      const h = await start();
      await poll(async () => (await status(h)).environments[0].state === 'soaking', 'dev soaking');
      let s = await status(h);
      assert.equal(s.phase, 'soaking');
      assert.equal(s.currentEnvironment, 'dev');
      assert.deepEqual(
        s.environments.map((e) => e.state),
        ['soaking', 'frozen', 'frozen'],
      );
      assert.ok(s.environments[0].remainingMs! > 29 * MIN && s.environments[0].remainingMs! <= 30 * MIN, `remaining ${s.environments[0].remainingMs}`);
      // The gate is the freeze's now: dev is open, staging and prod are not.
      let f = await freezeState(freeze);
      assert.deepEqual(f.scope.environments, ['staging', 'prod']);
      assert.deepEqual(f.released, ['dev']);

      await testEnv().sleep(12 * MIN);
      s = await status(h);
      assert.ok(s.environments[0].remainingMs! <= 20 * MIN && s.environments[0].remainingMs! > 15 * MIN, `remaining ${s.environments[0].remainingMs}`);
      assert.equal(s.lastGates[0].ok, true);
      assert.match(s.lastGates[0].gate, /env="dev".* < 0\.01$/);

      const done = (await h.result()) as UnfreezeStatus;
      assert.equal(done.phase, 'completed');
      assert.deepEqual(
        done.environments.map((e) => e.state),
        ['released', 'released', 'released'],
      );
      for (const e of done.environments) {
        assert.ok(Date.parse(e.healthyAt!) - Date.parse(e.releasedAt!) >= 30 * MIN, `${e.environment} soaked 30m`);
        assert.ok(e.evaluations >= 7, `${e.environment}: ${e.evaluations} evaluations every 5m`);
      }
      assert.ok(Date.parse(done.environments[1].releasedAt!) >= Date.parse(done.environments[0].healthyAt!), 'staging opens after dev is healthy');
      f = (await freeze.result()) as FreezeState;
      assert.equal(f.phase, 'lifted');
      assert.deepEqual(
        f.history.map((x) => `${x.action}${x.environment ? ` ${x.environment}` : ''}`),
        ['release dev', 'release staging', 'release prod', 'lift'],
      );
      assert.equal(f.history.at(-1)!.reason, 'gradual unfreeze complete');
      // Each environment's gate asked about that environment.
      assert.deepEqual([...new Set(checks.map((c) => c.target.environment))], ['dev', 'staging', 'prod']);
      assert.ok(checks.filter((c) => c.target.environment === 'prod').every((c) => c.check.type === 'prometheus' && c.check.query.includes('env="prod"')));
      const mine = audit.filter((e) => e.workflowId === h.workflowId).map((e) => `${e.action} ${e.target.environment}`);
      assert.deepEqual(mine, [
        'unfreeze.started dev,staging,prod',
        'unfreeze.environment-released dev',
        'unfreeze.environment-healthy dev',
        'unfreeze.environment-released staging',
        'unfreeze.environment-healthy staging',
        'unfreeze.environment-released prod',
        'unfreeze.environment-healthy prod',
        'unfreeze.completed dev,staging,prod',
      ]);
      // The freeze's own events name the environment that opened, not the ones still frozen.
      assert.deepEqual(
        audit.filter((e) => e.workflowId === freeze.workflowId && e.action === 'freeze.environment-released').map((e) => e.target.environment),
        ['dev', 'staging', 'prod'],
      );
      assert.deepEqual(
        notes.map((n) => n.event),
        ['unfreeze-completed'],
      );
    });
  });

  it('shows where the ladder stands in its memo (progress-memo)', async () => {
    await withUnfreeze({}, async ({ start }) => {
      const h = await start();
      await poll(async () => (await status(h)).environments[0].state === 'soaking', 'dev soaking');
      const s = await status(h);
      await poll(async () => (await h.describe()).memo?.environment === 'dev', 'the environment in the memo');
      const { memo } = await h.describe();
      assert.equal(memo?.phase, 'soaking');
      assert.equal(memo?.soakEndsAt, s.environments[0].soakEndsAt);
    });
  });

  it('a failing gate at staging freezes staging again and waits; advance re-opens and re-soaks it, then the ladder completes', async () => {
    await withUnfreeze({}, async ({ freeze, audit, notes, health, start }) => {
      health.staging = 'error ratio 0.2 is not below 0.01';
      const h = await start();
      await refused(h.executeUpdate(advanceUnfreezeUpdate, { args: [{ actor: 'rm-bo', reason: 'x' }] }), /nothing to advance/);
      await testEnv().sleep(31 * MIN);
      await phase(h, 'failed');
      let s = await status(h);
      assert.deepEqual(
        s.environments.map((e) => e.state),
        ['healthy', 'failed', 'frozen'],
      );
      assert.match(s.environments[1].failure!, /error ratio 0\.2 is not below 0\.01/);
      assert.equal(s.lastGates[0].ok, false);
      const f = await freezeState(freeze);
      assert.deepEqual(f.scope.environments.sort(), ['prod', 'staging']);
      assert.deepEqual(f.released, ['dev']);
      const failed = notes.find((n) => n.event === 'unfreeze-gate-failed')!;
      assert.equal(failed.target.environment, 'staging');
      assert.match(failed.text, /stopped at staging: .*error ratio 0\.2.*staging is frozen again.*rearguard unfreeze advance --freeze/);
      // It waits: hours later nothing has moved.
      await testEnv().sleep(6 * 60 * MIN);
      s = await status(h);
      assert.equal(s.phase, 'failed');
      assert.deepEqual((await freezeState(freeze)).scope.environments.sort(), ['prod', 'staging']);

      health.staging = undefined;
      const after = await h.executeUpdate(advanceUnfreezeUpdate, { args: [{ actor: 'rm-bo', reason: 'bad config reverted' }] });
      assert.equal(after.phase, 'soaking');
      assert.equal(after.environments[1].state, 'soaking');
      assert.equal(after.environments[1].attempts, 2);
      const done = (await h.result()) as UnfreezeStatus;
      assert.equal(done.phase, 'completed');
      assert.equal(((await freeze.result()) as FreezeState).phase, 'lifted');
      const mine = audit.filter((e) => e.workflowId === h.workflowId);
      const actions = mine.map((e) => `${e.action} ${e.target.environment}`);
      assert.ok(actions.includes('unfreeze.gate-failed staging'));
      assert.ok(actions.indexOf('unfreeze.environment-refrozen staging') > actions.indexOf('unfreeze.gate-failed staging'));
      const advanced = mine.find((e) => e.action === 'unfreeze.advanced')!;
      assert.equal(advanced.actor, 'rm-bo');
      assert.equal(advanced.reason, 'bad config reverted');
      assert.equal(mine.filter((e) => e.action === 'unfreeze.environment-released' && e.target.environment === 'staging').at(-1)!.actor, 'rm-bo');
      const history = ((await freeze.result()) as FreezeState).history.map((x) => `${x.action} ${x.environment ?? ''}`.trim());
      assert.deepEqual(history, ['release dev', 'release staging', 'refreeze staging', 'release staging', 'release prod', 'lift']);
    });
  });

  it('abort after a failed gate ends the unfreeze and leaves staging and prod frozen', async () => {
    await withUnfreeze({}, async ({ freeze, audit, notes, health, start }) => {
      health.staging = 'p99 latency 2.3s is not below 0.5s';
      const h = await start();
      await testEnv().sleep(31 * MIN);
      await phase(h, 'failed');
      const s = await h.executeUpdate(abortUnfreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'not today' }] });
      assert.equal(s.phase, 'aborted');
      // Checked before waiting for the result: waiting lets the server skip ahead to the freeze's own end.
      const f = await freezeState(freeze);
      assert.equal(f.phase, 'active', 'the freeze still holds');
      assert.deepEqual(f.scope.environments.sort(), ['prod', 'staging']);
      const done = (await h.result()) as UnfreezeStatus;
      assert.equal(done.phase, 'aborted');
      assert.deepEqual(
        done.environments.map((e) => e.state),
        ['healthy', 'failed', 'frozen'],
      );
      const aborted = audit.find((e) => e.action === 'unfreeze.aborted')!;
      assert.equal(aborted.actor, 'rm-ann');
      assert.deepEqual(aborted.details.frozen, ['staging', 'prod']);
      assert.match(notes.at(-1)!.text, /aborted by rm-ann: not today\. Still frozen: staging, prod/);
    });
  });

  it('abort during a soak freezes the soaking environment again', async () => {
    await withUnfreeze({}, async ({ freeze, start }) => {
      const h = await start();
      await poll(async () => (await status(h)).environments[0].state === 'soaking', 'dev soaking');
      const s = await h.executeUpdate(abortUnfreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'incident in dev' }] });
      assert.equal(s.phase, 'aborted');
      assert.equal(s.environments[0].state, 'frozen');
      assert.deepEqual((await freezeState(freeze)).scope.environments.sort(), ['dev', 'prod', 'staging']);
      assert.equal(((await h.result()) as UnfreezeStatus).phase, 'aborted');
    });
  });

  it('approveEach: each environment after the first waits for an approver who is not the requester', async () => {
    await withUnfreeze({ approveEach: true, approvers: ['rm-bo', 'rm-cy', 'rm-ann'] }, async ({ freeze, audit, notes, start }) => {
      const h = await start();
      await refused(h.executeUpdate(approveUnfreezeUpdate, { args: [{ actor: 'rm-bo', reason: 'early' }] }), /no approval is pending/);
      await testEnv().sleep(31 * MIN);
      await phase(h, 'awaiting-approval');
      let s = await status(h);
      assert.equal(s.currentEnvironment, 'staging');
      assert.deepEqual(
        s.environments.map((e) => e.state),
        ['healthy', 'frozen', 'frozen'],
      );
      assert.match(notes.find((n) => n.event === 'unfreeze-approval-requested')!.text, /staging opens when an approver runs: rearguard unfreeze approve/);
      // Hours pass: nothing opens without an approval.
      await testEnv().sleep(4 * 60 * MIN);
      assert.deepEqual((await freezeState(freeze)).scope.environments.sort(), ['prod', 'staging']);
      await refused(
        h.executeUpdate(approveUnfreezeUpdate, { args: [{ actor: 'rm-ann', reason: 'me' }] }),
        /rm-ann started this unfreeze and cannot also approve it/,
      );
      await refused(h.executeUpdate(approveUnfreezeUpdate, { args: [{ actor: 'dave', reason: 'me' }] }), /dave is not an approver of this unfreeze/);
      s = await h.executeUpdate(approveUnfreezeUpdate, { args: [{ actor: 'rm-bo', reason: 'dev looks fine' }] });
      assert.equal(s.environments[1].state, 'soaking');
      assert.equal(s.environments[1].approvedBy?.actor, 'rm-bo');
      await testEnv().sleep(31 * MIN);
      await phase(h, 'awaiting-approval');
      assert.equal((await status(h)).currentEnvironment, 'prod');
      await h.executeUpdate(approveUnfreezeUpdate, { args: [{ actor: 'rm-cy', reason: 'staging too' }] });
      const done = (await h.result()) as UnfreezeStatus;
      assert.equal(done.phase, 'completed');
      const f = (await freeze.result()) as FreezeState;
      assert.deepEqual(
        f.history.map((x) => `${x.action} ${x.environment ?? ''} ${x.actor}`.trim()),
        ['release dev rm-ann', 'release staging rm-bo', 'release prod rm-cy', 'lift  rm-ann'],
      );
      assert.deepEqual(
        audit.filter((e) => e.action === 'unfreeze.approved').map((e) => `${e.actor} ${e.target.environment}`),
        ['rm-bo staging', 'rm-cy prod'],
      );
    });
  });

  it('refuses a ladder with an environment the freeze does not hold, opening nothing', async () => {
    await withUnfreeze({ ladder: ['dev', 'qa'] }, async ({ freeze, audit, start }) => {
      const h = await start();
      await assert.rejects(
        h.result(),
        (err: unknown) => err instanceof WorkflowFailedError && /does not hold qa \(holds: dev, staging, prod\)/.test(err.cause?.message ?? ''),
      );
      assert.deepEqual((await freezeState(freeze)).scope.environments, ['dev', 'staging', 'prod']);
      assert.ok(audit.some((e) => e.action === 'unfreeze.failed'));
    });
  });

  it('a long soak continues as new and keeps its place, soak end and audit sequence', async () => {
    // On the dev server in real time: the time-skipping server stops skipping after a continue-as-new.
    await withDevServer(async (dev) => {
      await withUnfreeze(
        { soak: 4_000, interval: 500, historyLimit: 40 },
        async ({ freeze, audit, start }) => {
          const h = await start();
          const firstRun = (await h.describe()).runId;
          const done = (await h.result().catch((err: { cause?: unknown }) => {
            throw new Error(`unfreeze failed: ${JSON.stringify(err.cause, null, 1)?.slice(0, 1500)}`);
          })) as UnfreezeStatus;
          assert.notEqual((await h.describe()).runId, firstRun, 'continued as new');
          assert.equal(done.phase, 'completed');
          for (const e of done.environments) {
            assert.equal(e.attempts, 1, `${e.environment} opened once`);
            assert.ok(Date.parse(e.healthyAt!) - Date.parse(e.releasedAt!) >= 4_000);
          }
          assert.deepEqual(
            ((await freeze.result()) as FreezeState).history.map((x) => x.action),
            ['release', 'release', 'release', 'lift'],
          );
          const mine = audit.filter((e) => e.workflowId === h.workflowId);
          assert.equal(new Set(mine.map((e) => e.id)).size, mine.length, 'no audit ID reused');
          assert.ok(new Set(mine.map((e) => e.id.split('/')[2])).size > 1, 'events from several runs');
          const seqs = mine.map((e) => Number(e.id.split('/').at(-1)));
          assert.deepEqual(
            seqs,
            [...seqs].sort((a, b) => a - b),
          );
        },
        {},
        dev,
      );
    });
  });
});
