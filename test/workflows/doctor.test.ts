// The diagnose workflow (`rearguard doctor`'s worker half) on the time-skipping server with a stub activity: the
// findings come back as the worker made them, the local runbooks and calendars' guardrails reach it, the activity is tried once (a failed
// check is a finding; an activity that throws is not retried but reported), and nothing else is recorded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workerFindings } from '../../api/doctor.js';
import type { DiagnoseInput, Finding } from '../../runbook/doctor.js';
import { useTemporalEnv, withWorker } from '../helpers/harness.js';
import { makeRunbook } from '../helpers/runbooks.js';

useTemporalEnv();

describe('diagnose workflow', () => {
  it("returns the worker's findings, with the local runbooks passed to it", async () => {
    const runbook = makeRunbook({ cluster: 'prod-eu', steps: [{ name: 'api', type: 'kubernetes', namespace: 'shop', deployment: 'api' }] });
    const seen: DiagnoseInput[] = [];
    const findings: Finding[] = [
      { check: 'helm', verdict: 'ok', detail: 'helm: v3.19.5' },
      { check: 'cluster prod-eu', verdict: 'fail', detail: 'namespace shop: not allowed to patch deployments.apps', fix: 'bind the ClusterRole' },
    ];
    const activities = {
      diagnose: async (input: DiagnoseInput) => {
        seen.push(input);
        return findings;
      },
    };
    await withWorker({ activities }, async ({ client, taskQueue }) => {
      const guardrails = [{ calendar: 'peak', guardrails: { flux: { cluster: 'prod-eu', kustomizations: ['flux-system/apps'], helmReleases: [] } } }];
      assert.deepEqual(await workerFindings(client, taskQueue, { runbooks: [runbook], guardrails }), findings);
      assert.equal(seen.length, 1);
      assert.deepEqual(seen[0].runbooks, JSON.parse(JSON.stringify([runbook])), 'as sent (JSON)');
      assert.deepEqual(seen[0].guardrails, guardrails);
    });
  });

  it('an activity that throws is tried once and reported as a failed finding', async () => {
    let calls = 0;
    const activities = {
      diagnose: async () => {
        calls++;
        throw new Error('kubeconfig unreadable');
      },
    };
    await withWorker({ activities }, async ({ client, taskQueue }) => {
      const [f] = await workerFindings(client, taskQueue, { runbooks: [] });
      assert.equal(f.check, 'worker');
      assert.equal(f.verdict, 'fail');
      assert.match(f.detail, /the worker's diagnosis did not finish/);
      assert.equal(calls, 1, 'not retried');
    });
  });
});
