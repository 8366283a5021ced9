// The short chaos run (the full one is `npm run chaos`, scripts/chaos.ts): composite rollbacks (blueGreen,
// kubernetes, helm, gitops with Argo CD, terraform, webhook) and a freeze with guardrails on a real Temporal cluster
// (PostgreSQL, mTLS) with two workers, while workers are SIGKILLed at random points (with their helm, git and
// terraform), the Temporal server is SIGKILLed and restarted and PostgreSQL is restarted. Every run must end right,
// with nothing applied twice. A failure prints its seed: CHAOS_SEED=<seed> npm run chaos with the same sizes repeats it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runChaos } from '../helpers/chaos.js';

describe('chaos, short', () => {
  it('every rollback and freeze ends right through worker kills and server and PostgreSQL restarts, nothing applied twice', async () => {
    const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const lines: string[] = [];
    const report = await runChaos({
      rollbacks: 2,
      freezes: 1,
      kills: 6,
      serverRestarts: 1,
      postgresRestarts: 1,
      concurrency: 1,
      pauseMs: [1_500, 3_500],
      seed,
      log: (line) => lines.push(`${new Date().toISOString().slice(11, 19)} ${line}`),
    });
    const context = `seed ${seed}\n${lines.join('\n')}\n${JSON.stringify(report, null, 2)}`;
    assert.deepEqual(report.problems, [], context);
    assert.equal(report.totalDuplicates, 0, context);
    assert.deepEqual(report.rollbacks, { started: 2, succeeded: 2 }, context);
    assert.deepEqual(report.freezes, { started: 1, restored: 1 }, context);
    // The freeze is held until most disruptions are done, so they all happen while work is in flight.
    assert.deepEqual([report.kills, report.serverRestarts, report.postgresRestarts], [6, 1, 1], context);
  });
});
