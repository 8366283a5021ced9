// `npm run bench`: figures, not assertions. Start-up of the two Temporal servers, CLI latency, and
// trigger-to-verified time of a webhook rollback on the dev server. Prints a table; exits 0.
import { spawn, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { validateRunbook } from '../runbook/load.js';
import type { RollbackStatus } from '../runbook/types.js';
import { RearguardMetrics } from '../worker/metrics.js';
import { createRearguardWorker } from '../worker/worker.js';
import { triggerRollback } from '../api/rollbacks.js';
import { freePort } from '../test/helpers/processes.js';
import { startReceiver } from '../test/helpers/receiver.js';
import { createDevServerEnv, workflowBundle } from '../test/helpers/temporal.js';
import { ROOT, toolPath } from '../test/helpers/tools.js';

const rows: [string, string][] = [];
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)].toFixed(0)} ms, min ${s[0].toFixed(0)}, max ${s.at(-1)!.toFixed(0)} (n=${s.length})`;
};

async function timeToPort(cmd: string, args: string[], port: number): Promise<number> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: 'ignore' });
  try {
    for (;;) {
      const open = await new Promise<boolean>((r) => {
        const s = connect({ port, host: '127.0.0.1' });
        s.once('connect', () => (s.destroy(), r(true)));
        s.once('error', () => r(false));
      });
      if (open) return performance.now() - t0;
      if (performance.now() - t0 > 30_000) throw new Error(`${cmd} did not open port ${port}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    child.kill('SIGKILL');
  }
}

async function main() {
  const testServer: number[] = [];
  for (let i = 0; i < 5; i++) {
    const port = await freePort();
    testServer.push(await timeToPort(toolPath('temporal-test-server'), [String(port)], port));
  }
  rows.push(['Java test server: spawn -> port open (SDK allows ~5 s)', stats(testServer)]);

  const dev: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'bench-'));
    dev.push(
      await timeToPort(
        toolPath('temporal'),
        ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', join(dir, 'db'), '--log-level', 'error'],
        port,
      ),
    );
  }
  rows.push(['Temporal dev server: spawn -> port open', stats(dev)]);

  const cli: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, [`${ROOT}bin/rearguard.js`, 'runbook', 'validate', `${ROOT}runbooks/payments-prod.yaml`], { stdio: 'ignore' });
    cli.push(performance.now() - t0);
  }
  rows.push(['CLI: rearguard runbook validate (process start to exit)', stats(cli)]);

  const env = await createDevServerEnv();
  const receiver = await startReceiver();
  try {
    const taskQueue = `bench-${randomUUID()}`;
    const t0 = performance.now();
    const bundle = await workflowBundle();
    rows.push(['Workflow bundle (webpack) at worker start', `${(performance.now() - t0).toFixed(0)} ms`]);
    const worker: Worker = await createRearguardWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue,
      auditFile: join(await mkdtemp(join(tmpdir(), 'bench-')), 'audit.jsonl'),
      metrics: new RearguardMetrics(),
      workflowBundle: bundle,
    });
    const latencies: number[] = [];
    await worker.runUntil(async () => {
      for (let i = 0; i < 10; i++) {
        const service = `bench-${i}`;
        const rb = validateRunbook({
          apiVersion: 'rearguard/v1',
          kind: 'Runbook',
          metadata: { name: service },
          spec: {
            service,
            environment: 'dev',
            sla: '5m',
            steps: [1, 2, 3].map((n) => ({ name: `s${n}`, type: 'webhook', url: `${receiver.url}/${service}/${n}` })),
            verify: [{ type: 'http', url: `${receiver.url}/healthz` }],
          },
        });
        if (!rb.ok) throw new Error(rb.problems.join('\n'));
        const trigger = { source: 'manual' as const, actor: 'bench', reason: 'bench', requestId: randomUUID() };
        const t = performance.now();
        const { workflowId } = await triggerRollback(env.client, taskQueue, rb.value, trigger);
        const s = (await env.client.workflow.getHandle(workflowId).result()) as RollbackStatus;
        if (s.outcome !== 'succeeded') throw new Error(`rollback ${s.outcome}`);
        latencies.push(performance.now() - t);
      }
    });
    rows.push(['Rollback, 3 webhook steps + http check, no approval: start -> verified', stats(latencies)]);
  } finally {
    await receiver.close();
    await env.teardown();
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\nRearguard benchmarks (${new Date().toISOString()}, ${(await import('node:os')).cpus().length} cores)\n`);
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
