// `rearguard upgrade BUILD_ID`: the command line; client/actions/upgrade.ts does the work.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { DEPLOYMENT_NAME } from '../../api/ids.js';

const actions = () => import('../actions/upgrade.js');

export function registerUpgrade(program: Command, ctx: () => CliContext, env: NodeJS.ProcessEnv): void {
  program
    .command('upgrade')
    .argument('<build-id>', "the new workers' REARGUARD_BUILD_ID (they must be polling already)")
    .description(
      'Make a new version of the workers current, then drain the old ones: running rollbacks finish on the version that started them (those still awaiting approval move), freezes, unfreezes and guards move at their next task; exit 0 once no run is left on an old version',
    )
    .option('--deployment <name>', `the worker deployment (env REARGUARD_DEPLOYMENT, default ${DEPLOYMENT_NAME})`)
    .option('--drain-timeout <duration>', 'how long to wait for the old versions to drain (0: do not wait)', '30m')
    .action(async (buildId: string, raw: Record<string, unknown>) => (await actions()).upgrade(ctx, buildId, raw, env));
}
