// A single rollback alone (the figure the rollback-kubectl and concurrency scenarios read theirs against):
// a runbook with 3 webhook steps and an http check, no approval, started with triggerRollback and awaited,
// on a dev server with an in-process worker and a local webhook receiver. Start -> verified, one at a time.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { triggerRollback } from '../../../api/rollbacks.js';
import type { RollbackStatus } from '../../../runbook/types.js';
import { startReceiver } from '../../../test/helpers/receiver.js';
import { createRearguardWorker } from '../../../worker/worker.js';
import { RearguardMetrics } from '../../../worker/metrics.js';
import { envInt, median, spread, startDevServer } from '../lib.js';
import type { Scenario } from '../types.js';
import { webhookRunbook } from './support.js';
import { workflowBundle } from '../../../test/helpers/temporal.js';

export const rollbackWebhook: Scenario = {
  name: 'rollback-webhook',
  description: 'one rollback at a time: 3 webhook steps + http check, no approval, start -> verified',
  async run(ctx) {
    const n = envInt('BENCH_ROLLBACK_RUNS', 10);
    const env = await startDevServer(ctx);
    const receiver = await startReceiver();
    try {
      const taskQueue = `bench-rollback-${randomUUID()}`;
      const worker = await createRearguardWorker({
        connection: env.nativeConnection,
        namespace: 'default',
        taskQueue,
        auditFile: join(ctx.workDir, 'audit.jsonl'),
        metrics: new RearguardMetrics(),
        workflowBundle: await workflowBundle(),
      });
      const latencies: number[] = [];
      await worker.runUntil(async () => {
        for (let i = 0; i < n + 1; i++) {
          const service = `bench-${i}`;
          const runbook = webhookRunbook(receiver.url, service, 'dev', '5m');
          const t = performance.now();
          const { workflowId } = await triggerRollback(env.client, taskQueue, runbook, {
            source: 'manual',
            actor: 'bench',
            reason: 'bench',
            requestId: randomUUID(),
          });
          const s = (await env.client.workflow.getHandle(workflowId).result()) as RollbackStatus;
          if (s.outcome !== 'succeeded') throw new Error(`rollback ${workflowId}: ${s.outcome}`);
          // The first one warms the worker's caches and connections: not counted.
          if (i > 0) latencies.push(performance.now() - t);
        }
      });
      return [
        {
          name: 'rollback, 3 webhook steps + http check: start -> verified, median',
          value: median(latencies),
          unit: 'ms',
          note: `${spread(latencies)}; in-process worker, one at a time, after one warm-up`,
        },
      ];
    } finally {
      await receiver.close();
      await env.teardown();
    }
  },
};
