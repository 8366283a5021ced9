// `rearguard catalog list [--refresh]`: the command line; client/actions/catalog.ts does the work.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

const actions = () => import('../actions/catalog.js');

export function registerCatalog(program: Command, ctx: () => CliContext): void {
  const catalog = program.command('catalog').description("The worker's runbook catalog: reviewed runbooks, policy and allowed signers");
  catalog
    .command('list')
    .description('List the runbooks of the catalog with their digests; exit 1 if the last read of the catalog failed')
    .option('--refresh', 'make the worker read the catalog (directory or git) again first')
    .action(async (opts: { refresh?: boolean }) => (await actions()).list(ctx, opts));
}
