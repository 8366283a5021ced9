// `rearguard catalog list [--refresh]`: the runbooks of the worker's catalog (name, environment, service,
// digest), read by the worker that acts on them (api/catalog.ts); --refresh makes it read its source first,
// e.g. right after a change to the catalog's repository was merged.
import { readCatalog } from '../../api/catalog.js';
import type { CliContext } from '../context.js';
import { failed } from '../errors.js';

export async function list(ctx: () => CliContext, opts: { refresh?: boolean }): Promise<void> {
  const c = ctx();
  const index = await readCatalog(await c.connect(), c.opts.taskQueue, { refresh: opts.refresh === true });
  if (c.opts.json)
    c.out(
      JSON.stringify({
        ...index,
        runbooks: index.runbooks.map((r) => ({
          name: r.name,
          file: r.file,
          digest: r.digest,
          environment: r.runbook.spec.environment,
          service: r.runbook.spec.service,
        })),
      }),
    );
  else {
    c.out(`Catalog ${index.source} at ${index.revision} (read ${index.readAt}), policy ${index.policy}`);
    if (!index.runbooks.length) c.out('  no runbooks');
    for (const r of index.runbooks) c.out(`  ${r.name}  ${r.runbook.spec.environment}/${r.runbook.spec.service}  ${r.file}  ${r.digest}`);
  }
  // The worker keeps acting on the last good catalog; a broken newer one is worth a non-zero exit.
  if (index.problems.length) throw failed('the last read of the catalog failed (the catalog above is still in use):', ...index.problems.map((p) => `  ${p}`));
}
