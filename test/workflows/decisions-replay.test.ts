// SLO guard, drill and rollback-cancel histories recorded before pause/resume, --force and cancel became
// verified decisions (test/fixtures/histories: a guard paused and resumed, then cancelled; the first run of a
// guard that continued as new; a forced drill of a prod runbook, run to the end; a rollback cancelled by the
// cancelRequest signal) replay on today's workflow code: the guard's and the drill's trust settings are behind
// patched(), and the rollback's cancel Update is a handler only, so runs started before go on as they ran.
// No server needed.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { quietRuntime, workflowBundle } from '../helpers/temporal.js';

const dir = join(import.meta.dirname, '../fixtures/histories');

describe('guard, drill and rollback-cancel histories from before verified decisions', () => {
  it('replay without nondeterminism', async () => {
    quietRuntime();
    const files = (await readdir(dir)).filter((f) => /^(guard|drill|rollback-cancel)-.*\.binpb$/.test(f)).sort();
    assert.deepEqual(files, ['drill-forced.binpb', 'guard-continued-first-run.binpb', 'guard-paused-resumed.binpb', 'rollback-cancel-signal.binpb']);
    const histories = await Promise.all(
      files.map(async (f) => ({ workflowId: f, history: proto.temporal.api.history.v1.History.decode(await readFile(join(dir, f))) })),
    );
    const results: { workflowId: string; error?: unknown }[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) results.push(r);
    assert.equal(results.length, files.length);
    for (const r of results) assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
  });
});
