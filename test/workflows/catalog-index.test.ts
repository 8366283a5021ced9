// The catalogIndex workflow (workflows/catalog.ts) on the time-skipping test server, as clients use it
// (api/catalog.ts: `rearguard catalog list|refresh`, `rollback start --runbook NAME`, the alert intake): one short
// run per read, whose local activity reads the worker's catalog (the real one, over a catalog directory), so the
// index is in the run's history. Refresh on demand, a broken catalog keeping the last good one, a worker without a
// catalog refusing at once, and the local activity's retries. Rollbacks of catalog runbooks: rollback-catalog.test.ts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Catalog, catalogActivities, parseCatalogSource } from '../../activities/catalog.js';
import { Repos } from '../../activities/targets.js';
import { catalogRunbook, readCatalog } from '../../api/catalog.js';
import { catalogWorkflowId } from '../../api/ids.js';
import { OperationError } from '../../api/operation-error.js';
import type { CatalogIndex } from '../../runbook/catalog.js';
import { useTemporalEnv, withWorker, type HarnessContext } from '../helpers/harness.js';
import { useSigners } from '../helpers/signers.js';
import { catalogRunbookText, sha256Digest } from '../helpers/runbooks.js';

useTemporalEnv();

const POLICY = 'apiVersion: rearguard/v1\nkind: Policy\nmetadata: { name: catalog-wf }\nspec:\n  localRunbooks: [dev]\n';

// dana's key in the catalog's allowed_signers; the keys' directory holds the catalogs too.
const people = useSigners('catalog-index', ['dana']);

const runbookText = catalogRunbookText;
const sha256 = sha256Digest;

/** A fresh catalog directory holding `runbooks` (file under runbooks/ to text), the policy and the allowed signers. */
async function catalogDir(runbooks: Record<string, string>): Promise<string> {
  const root = join(people.dir, randomUUID().slice(0, 8));
  await mkdir(join(root, 'runbooks'), { recursive: true });
  await writeFile(join(root, 'policy.yaml'), POLICY);
  await writeFile(join(root, 'allowed_signers'), await readFile(people.allowedSigners, 'utf8'));
  for (const [file, text] of Object.entries(runbooks)) await writeFile(join(root, 'runbooks', file), text);
  return root;
}

/** The catalog a worker reads at its start; refreshed only when asked (refreshMs 0), so a test decides when. */
async function openCatalog(root: string): Promise<Catalog> {
  const catalog = new Catalog({
    source: parseCatalogSource(root),
    repos: new Repos({}),
    env: {},
    gitBin: 'git',
    workDir: join(people.dir, 'work'),
    refreshMs: 0,
  });
  await catalog.start();
  return catalog;
}

type ReadIndex = ReturnType<typeof catalogActivities>['catalogIndex'];

/**
 * Runs `body` with a worker whose catalog activities are the real ones over `catalog` (none: a development worker);
 * `read` replaces the index read (it gets the real one), and every call of it is noted with its argument.
 */
async function withCatalogWorker(
  catalog: Catalog | undefined,
  body: (w: HarnessContext, calls: Parameters<ReadIndex>[0][]) => Promise<void>,
  read?: (real: ReadIndex, arg: Parameters<ReadIndex>[0]) => ReturnType<ReadIndex>,
): Promise<void> {
  const real = catalogActivities(catalog);
  const calls: Parameters<ReadIndex>[0][] = [];
  const activities = {
    ...real,
    catalogIndex: (arg: Parameters<ReadIndex>[0]) => {
      calls.push(arg);
      return read ? read(real.catalogIndex, arg) : real.catalogIndex(arg);
    },
  };
  await withWorker({ activities, taskQueue: 'catalog' }, (w) => body(w, calls));
}

const names = (index: CatalogIndex) => index.runbooks.map((r) => r.name);

describe('catalogIndex workflow', () => {
  it("a client reads the worker's catalog: runbooks by name with their file's sha256, one by name, an unknown name lists them", async () => {
    const payments = runbookText('payments-prod', 'payments');
    const web = runbookText('web-prod', 'web');
    const root = await catalogDir({ 'payments.yaml': payments, 'web.yml': web });
    const catalog = await openCatalog(root);
    try {
      await withCatalogWorker(catalog, async ({ client, taskQueue }, calls) => {
        const index = await readCatalog(client, taskQueue);
        assert.equal(index.source, root);
        assert.equal(index.policy, 'catalog-wf');
        assert.match(index.revision, /^sha256:[0-9a-f]{64}$/);
        assert.deepEqual(index.problems, []);
        assert.deepEqual(
          index.runbooks.map(({ name, file, digest }) => ({ name, file, digest })),
          [
            { name: 'payments-prod', file: 'runbooks/payments.yaml', digest: sha256(payments) },
            { name: 'web-prod', file: 'runbooks/web.yml', digest: sha256(web) },
          ],
        );
        assert.equal(index.runbooks[0]!.runbook.spec.service, 'payments', 'the parsed runbook goes along');

        const entry = await catalogRunbook(client, taskQueue, 'web-prod');
        assert.deepEqual([entry.name, entry.digest, entry.source, entry.revision], ['web-prod', sha256(web), root, index.revision]);
        await assert.rejects(catalogRunbook(client, taskQueue, 'billing-prod'), (err: unknown) => {
          assert.ok(err instanceof OperationError);
          assert.equal(err.kind, 'not-found');
          assert.match(err.lines[0]!, new RegExp(`^no runbook billing-prod in the catalog ${root} \\(at sha256:`));
          assert.equal(err.lines[1], 'catalog runbooks: payments-prod, web-prod');
          return true;
        });

        // One run per read, its local activity on the worker: the index is in the run's history (a marker), no
        // activity task goes through the task queue, and the run's result is the index.
        const h = await client.workflow.start('catalogIndex', { workflowId: catalogWorkflowId(randomUUID()), taskQueue, args: [{}] });
        assert.deepEqual(await h.result(), index);
        const events = (await h.fetchHistory()).events ?? [];
        assert.equal(events.filter((e) => e.markerRecordedEventAttributes).length, 1, 'one local activity marker');
        assert.equal(events.filter((e) => e.activityTaskScheduledEventAttributes).length, 0, 'no activity task');
        assert.deepEqual(calls, [{ refresh: false }, { refresh: false }, { refresh: false }, {}]);
      });
    } finally {
      catalog.stop();
    }
  });

  it("refresh: a client's refresh reads the source first; without it the worker's snapshot; a broken catalog keeps the last good one", async () => {
    const root = await catalogDir({ 'payments.yaml': runbookText('payments-prod', 'payments') });
    const catalog = await openCatalog(root);
    try {
      await withCatalogWorker(catalog, async ({ client, taskQueue }, calls) => {
        const first = await readCatalog(client, taskQueue);
        assert.deepEqual(names(first), ['payments-prod']);

        // A runbook merged into the catalog: the worker's snapshot does not have it until a refresh reads the source.
        await writeFile(join(root, 'runbooks', 'web.yaml'), runbookText('web-prod', 'web'));
        const cached = await readCatalog(client, taskQueue);
        assert.deepEqual([names(cached), cached.revision], [['payments-prod'], first.revision]);
        const refreshed = await readCatalog(client, taskQueue, { refresh: true });
        assert.deepEqual(names(refreshed), ['payments-prod', 'web-prod']);
        assert.notEqual(refreshed.revision, first.revision);
        assert.deepEqual(refreshed.problems, []);

        // A bad commit must not take the worker's rules away: the last good snapshot stays, the problems are reported.
        await writeFile(join(root, 'policy.yaml'), 'apiVersion: rearguard/v1\nkind: Policy\nmetadata: {}\n');
        const broken = await readCatalog(client, taskQueue, { refresh: true });
        assert.deepEqual([names(broken), broken.revision, broken.policy], [['payments-prod', 'web-prod'], refreshed.revision, 'catalog-wf']);
        assert.ok(broken.problems.length > 0);
        for (const p of broken.problems) assert.match(p, /^policy\.yaml: /);
        // Without a refresh the problems of the last refresh are still reported.
        assert.deepEqual((await readCatalog(client, taskQueue)).problems, broken.problems);

        await writeFile(join(root, 'policy.yaml'), POLICY);
        assert.deepEqual((await readCatalog(client, taskQueue, { refresh: true })).problems, []);
        assert.deepEqual(
          calls.map((c) => c?.refresh),
          [false, false, true, true, false, true],
        );
      });
    } finally {
      catalog.stop();
    }
  });

  it('a worker without a catalog refuses at once, not retried: the client is told to give a runbook file', async () => {
    await withCatalogWorker(undefined, async ({ client, taskQueue }, calls) => {
      const refusal = (err: unknown) => {
        assert.ok(err instanceof OperationError);
        assert.equal(err.kind, 'refused');
        assert.match(err.message, /^this worker has no runbook catalog \(development mode\): give a runbook file instead of a name/);
        return true;
      };
      await assert.rejects(readCatalog(client, taskQueue), refusal);
      assert.equal(calls.length, 1, 'NoCatalog is not retried');
      await assert.rejects(catalogRunbook(client, taskQueue, 'payments-prod'), refusal);
      assert.equal(calls.length, 2);
    });
  });

  it('a failing read is retried on the worker up to 3 attempts; then the client is told it cannot read the catalog', async () => {
    const root = await catalogDir({ 'payments.yaml': runbookText('payments-prod', 'payments') });
    const catalog = await openCatalog(root);
    let failing = 1;
    try {
      await withCatalogWorker(
        catalog,
        async ({ client, taskQueue }, calls) => {
          assert.deepEqual(names(await readCatalog(client, taskQueue)), ['payments-prod']);
          assert.equal(calls.length, 2, 'one failed attempt, then the index');

          failing = Infinity;
          await assert.rejects(readCatalog(client, taskQueue), (err: unknown) => {
            assert.ok(err instanceof OperationError);
            assert.equal(err.kind, 'failed');
            assert.equal(err.message, 'cannot read the runbook catalog: catalog read failed: EIO');
            return true;
          });
          assert.equal(calls.length, 2 + 3, 'three attempts');
        },
        async (real, arg) => {
          if (failing-- > 0) throw new Error('catalog read failed: EIO');
          return real(arg);
        },
      );
    } finally {
      catalog.stop();
    }
  });
});
