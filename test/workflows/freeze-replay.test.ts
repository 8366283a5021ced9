// Freeze and unfreeze histories recorded before signed decisions existed (test/fixtures/histories: a freeze
// with extend, an exception requested, approved and withdrawn, and a lift; the first run of a freeze that
// continued as new; gradual unfreezes approved step by step and aborted, and the freeze they opened) replay
// on today's workflow code: the trust settings and the start decision are behind patched('signed-decisions'),
// so runs started before them go on as they ran. No server needed.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { quietRuntime, workflowBundle } from '../helpers/temporal.js';

const dir = join(import.meta.dirname, '../fixtures/histories');

describe('freeze and unfreeze histories from before signed decisions', () => {
  it('replay without nondeterminism', async () => {
    quietRuntime();
    const files = (await readdir(dir)).filter((f) => /^(freeze|unfreeze)-.*\.binpb$/.test(f)).sort();
    assert.ok(files.length >= 5, `recorded histories: ${files.join(', ')}`);
    const histories = await Promise.all(
      files.map(async (f) => ({ workflowId: f, history: proto.temporal.api.history.v1.History.decode(await readFile(join(dir, f))) })),
    );
    const results: { workflowId: string; error?: unknown }[] = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) results.push(r);
    assert.equal(results.length, files.length);
    for (const r of results) assert.equal(r.error, undefined, `${r.workflowId}: ${String(r.error)}`);
  });
});
