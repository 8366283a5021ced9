// `rearguard rollback start|plan|status|approve|reject|approve-plan|cancel|list`: the command line;
// client/actions/rollback.ts does the work.
import type { Command } from 'commander';
import { TRIGGER_SOURCES } from '../../runbook/types.js';
import type { CliContext } from '../context.js';
import { withTarget as targetFlags } from './flags.js';

const actions = () => import('../actions/rollback.js');
const withTarget = (cmd: Command): Command => targetFlags(cmd, 'environment of the rollback', 'service of the rollback');

export function registerRollback(program: Command, ctx: () => CliContext): void {
  const rb = program.command('rollback').description('Start, follow, approve and cancel rollbacks');

  rb.command('start')
    .description('Start the rollback of a runbook (or join the one already running for its target)')
    .requiredOption('--runbook <name|file>', 'a catalog runbook by name, or a local runbook YAML file')
    .requiredOption('--reason <text>', 'why: recorded in the audit trail and shown to approvers')
    .option('--source <source>', `what triggered it: ${TRIGGER_SOURCES.join(', ')}`, 'manual')
    .option('--wait', 'follow progress until the rollback ends; exit code from its outcome')
    .option('--to-revision <n>', "an explicit target for the runbook's kubernetes or helm step (audited); goes past a state an earlier rollback restored")
    .option('--step <name>', 'with --to-revision: the kubernetes or helm step it is for (needed when the runbook has several)')
    .action(async (raw: Record<string, unknown>) => (await actions()).start(ctx, raw));

  rb.command('plan')
    .description('Show what each step of a runbook would change (current -> target), changing nothing')
    .requiredOption('--runbook <name|file>', 'a catalog runbook by name, or a local runbook YAML file')
    .action(async (raw: Record<string, unknown>) => (await actions()).plan(ctx, raw));

  withTarget(rb.command('status').description('Show a rollback: phase, approvals, steps, SLA'))
    .option('--wait', 'follow it until it ends')
    .action(async (raw: Record<string, unknown>) => (await actions()).status(ctx, raw));

  for (const decision of ['approve', 'reject'] as const) {
    withTarget(
      rb
        .command(decision)
        .description(decision === 'approve' ? 'Approve a rollback waiting for approval' : 'Reject a rollback waiting for approval (it ends, changing nothing)'),
    )
      .requiredOption('--reason <text>', 'recorded in the audit trail')
      .action(async (raw: Record<string, unknown>) => (await actions()).decide(ctx, decision, raw));
  }

  withTarget(rb.command('approve-plan').description('Approve the saved plan of a step marked approvePlan (e.g. Terraform), so it is applied'))
    .requiredOption('--reason <text>', 'recorded in the audit trail')
    .option('--step <name>', 'the step whose plan you approve (default: the one waiting)')
    .action(async (raw: Record<string, unknown>) => (await actions()).approvePlan(ctx, raw));

  withTarget(rb.command('cancel').description('Cancel a rollback: the running step is cancelled, no further step starts'))
    .requiredOption('--reason <text>', 'recorded in the audit trail')
    .option('--wait', 'wait until the rollback has stopped')
    .action(async (raw: Record<string, unknown>) => (await actions()).cancel(ctx, raw));

  rb.command('list')
    .description('List rollbacks (running ones unless --all)')
    .option('--all', 'include finished rollbacks')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (raw: Record<string, unknown>) => (await actions()).list(ctx, raw));
}
