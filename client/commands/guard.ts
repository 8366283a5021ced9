// `rearguard guard start|pause|resume|status`: the command line; client/actions/guard.ts does the work.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { withTarget as targetFlags } from './flags.js';

const actions = () => import('../actions/guard.js');
const withTarget = (cmd: Command): Command => targetFlags(cmd, 'environment of the guarded service', 'the guarded service');

export function registerGuard(program: Command, ctx: () => CliContext): void {
  const guard = program.command('guard').description('SLO guards: roll back automatically when a runbook’s spec.slo is violated');

  guard
    .command('start')
    .description('Start guarding the runbook’s service (workflow guard:<env>:<service>)')
    .requiredOption('--runbook <name|file>', 'a catalog runbook by name, or a YAML file (with spec.slo)')
    .option('--reason <text>', 'why: recorded in the audit trail', 'guard started')
    .action(async (raw: Record<string, unknown>) => (await actions()).start(ctx, raw));

  for (const action of ['pause', 'resume'] as const) {
    withTarget(
      guard
        .command(action)
        .description(action === 'pause' ? 'Pause a guard: no evaluation, no automatic rollback until resumed' : 'Resume a paused guard (it evaluates at once)'),
    )
      .requiredOption('--reason <text>', 'why: recorded in the audit trail')
      .action(async (raw: Record<string, unknown>) => (await actions()).setPaused(ctx, action, raw));
  }

  withTarget(guard.command('status').description('Show a guard: state, last evaluation and its values, cooldown, pause, triggers')).action(
    async (raw: Record<string, unknown>) => (await actions()).status(ctx, raw),
  );
}
