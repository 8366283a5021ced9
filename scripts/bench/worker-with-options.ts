// Bench only: the worker process (BENCH_WORKER_MAIN, set by lib.ts spawnWorker) with extra Worker.create options
// from BENCH_WORKER_OPTIONS (JSON, e.g. {"maxCachedWorkflows":200}), so settings can be measured
// (`BENCH_WORKER_OPTIONS='{"maxCachedWorkflows":200}' npm run bench -- --only scale`) before they are proposed
// for worker/worker.ts; and with BENCH_WORKER_MEMORY=1, a line on stderr every 5 s with where its memory is
// (`bench-memory {...}`: RSS, V8 heap used/total, external, V8 contexts), which lib.ts reads. Not a way to run a
// worker in production.
import v8 from 'node:v8';
import { Worker, type WorkerOptions } from '@temporalio/worker';

const extra = JSON.parse(process.env.BENCH_WORKER_OPTIONS || '{}') as Partial<WorkerOptions>;
const create = Worker.create.bind(Worker);
Worker.create = (options: WorkerOptions) => create({ ...options, ...extra });

if (process.env.BENCH_WORKER_MEMORY === '1') {
  const mb = (x: number) => Math.round(x / 2 ** 20);
  setInterval(() => {
    const m = process.memoryUsage();
    const h = v8.getHeapStatistics();
    const line = {
      rss: mb(m.rss),
      heapUsed: mb(m.heapUsed),
      heapTotal: mb(m.heapTotal),
      external: mb(m.external),
      heapLimit: mb(h.heap_size_limit),
      contexts: h.number_of_native_contexts,
    };
    process.stderr.write(`bench-memory ${JSON.stringify(line)}\n`);
  }, 5_000).unref();
}

await import(process.env.BENCH_WORKER_MAIN!);
