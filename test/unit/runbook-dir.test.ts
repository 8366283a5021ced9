// The alert intake's runbook directory: read once, re-read when a file changes, appears or goes.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RunbookDirectory } from '../../client/runbook-dir.js';
import { ROOT } from '../helpers/tools.js';
import { waitFor } from '../helpers/wait.js';

const until = (what: string, ok: () => Promise<boolean>) => waitFor(ok, what, { timeout: 5_000, interval: 25 });

describe('runbook directory cache', () => {
  it('answers from memory and reloads on change (watch), on a new file and on a removed one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'runbooks-'));
    const source = join(ROOT, 'runbooks/demo-local.yaml');
    await copyFile(source, join(dir, 'a.yaml'));
    const cache = new RunbookDirectory(dir, 60_000); // fingerprint fallback out of the way: only watch events reload
    try {
      const first = await cache.get();
      assert.equal(first.runbooks.length, 1);
      assert.equal(await cache.get(), first, 'a second call without change is the same object (no re-read)');

      const text = await readFile(source, 'utf8');
      await writeFile(join(dir, 'a.yaml'), text.replace(/service: \S+/, 'service: renamed'));
      await until('the edit to be seen', async () => (await cache.get()).runbooks[0]?.runbook.spec.service === 'renamed');

      await writeFile(join(dir, 'broken.yaml'), 'apiVersion: rearguard/v1\nkind: Runbook\n');
      await until('the new file', async () => (await cache.get()).problems.some((p) => p.startsWith('broken.yaml: ')));

      await rm(join(dir, 'a.yaml'));
      await until('the removal', async () => (await cache.get()).runbooks.length === 0);
    } finally {
      cache.close();
    }
  });

  it('notices changes by fingerprint when no watch event arrives', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'runbooks-'));
    const cache = new RunbookDirectory(dir, 0);
    cache.close(); // no watcher: only the fingerprint check remains
    assert.equal((await cache.get()).runbooks.length, 0);
    await copyFile(join(ROOT, 'runbooks/demo-local.yaml'), join(dir, 'b.yml'));
    assert.equal((await cache.get()).runbooks.length, 1);
  });
});
