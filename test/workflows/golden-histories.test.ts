// Every committed golden history (test/histories/<workflow type>/<scenario>.json, recorded by
// `npm run record-histories` from the workflow tests' runs, see test/helpers/golden.ts) replays on today's workflow
// code. A change that alters the commands a running workflow emits fails here, naming the history and the
// diverging command, unless it is behind patched(). No server needed.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import { RearguardMetrics } from '../../worker/metrics.js';
import { quietRuntime, workflowBundle } from '../helpers/temporal.js';

const dir = join(import.meta.dirname, '../histories');

describe('golden histories', () => {
  it("replay on today's workflow code without nondeterminism", async (t) => {
    quietRuntime();
    const types = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    const files = (await Promise.all(types.map(async (type) => (await readdir(join(dir, type))).filter((f) => f.endsWith('.json')).map((f) => `${type}/${f}`))))
      .flat()
      .sort();
    // Every workflow type a worker runs (what workflows/index.ts exports) has recorded runs.
    const registered = Object.keys(await import('../../workflows/index.js'));
    assert.ok(registered.length >= 9, registered.join(', '));
    for (const type of registered) assert.ok(types.includes(type), `no golden history of ${type}: add a workflow test, then npm run record-histories`);
    const histories = await Promise.all(
      files.map(async (file) => {
        const { workflowId, ...history } = JSON.parse(await readFile(join(dir, file), 'utf8')) as { workflowId: string };
        return { file, workflowId, history };
      }),
    );
    const started = Date.now();
    const failures: string[] = [];
    let replayed = 0;
    // One at a time, in order: each result is the next file's (runReplayHistories replays them in turn).
    const options = { workflowBundle: await workflowBundle(), sinks: new RearguardMetrics({ defaultMetrics: false }).sinks() };
    for await (const r of Worker.runReplayHistories(options, histories.map(({ workflowId, history }) => ({ workflowId, history })) as never)) {
      const { file } = histories[replayed++]!;
      if (r.error) failures.push(`${file}: ${r.error instanceof Error ? r.error.message : String(r.error)}`);
    }
    t.diagnostic(`${replayed} histories of ${types.length} workflow types replayed in ${Date.now() - started} ms`);
    assert.equal(replayed, files.length);
    assert.deepEqual(failures, []);
  });
});
