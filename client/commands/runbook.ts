// `rearguard runbook validate`: the command line; client/actions/runbook.ts does the work.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

const actions = () => import('../actions/runbook.js');

export function registerRunbook(program: Command, ctx: () => CliContext): void {
  const runbook = program.command('runbook').description('Work with runbook files');
  runbook
    .command('validate')
    .description('Check a runbook file; exit 0 if valid, 2 with every problem listed if not')
    .argument('<file>', 'runbook YAML file')
    .option('--policy <file>', 'also check the runbook against a Policy document (secrets and hosts its requests may use)')
    .action(async (file: string, opts: { policy?: string }) => (await actions()).validate(ctx, file, opts));
}
