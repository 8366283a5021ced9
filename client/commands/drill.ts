// `rearguard drill run|status|schedule`: the command line; client/actions/drill.ts does the work.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

const actions = () => import('../actions/drill.js');

export function registerDrill(program: Command, ctx: () => CliContext): void {
  const drillCmd = program.command('drill').description('Rollback drills: break staging on purpose, roll back, measure time-to-restore');

  drillCmd
    .command('run')
    .description('Deploy a marked bad revision (staging only unless --force), run the rollback, report restore time vs SLA')
    .requiredOption('--runbook <name|file>', 'a catalog runbook by name, or a YAML file (needs a kubernetes step)')
    .option('--force', 'drill a runbook outside staging, or one that requires approval (with --reason)')
    .option('--reason <text>', 'why the drill is forced: required with --force, kept in the audit trail')
    .option('--wait', 'follow the drill and print its report; exit 1 if the SLA was missed or the service was not restored')
    .action(async (raw: Record<string, unknown>) => (await actions()).run(ctx, raw));

  drillCmd
    .command('status')
    .description('Show a drill: phase, or its report once it ended')
    .requiredOption('--id <workflowId>', 'the drill workflow ID (drill:<runbook>:<time>)')
    .option('--wait', 'follow it until it ends')
    .action(async (raw: Record<string, unknown>) => (await actions()).status(ctx, raw));

  drillCmd
    .command('schedule')
    .description('Run a runbook drill on a Temporal Schedule (created or updated; --delete removes it)')
    .requiredOption('--runbook <name|file>', 'a catalog runbook by name, or a runbook YAML file')
    .option('--cron <expr>', 'five-field cron, e.g. "0 10 * * TUE"')
    .option('--timezone <zone>', 'IANA time zone of the cron', 'UTC')
    .option('--force', 'allow a runbook outside staging, or one that requires approval (with --reason)')
    .option('--reason <text>', 'why the drills are forced: required with --force, kept in the audit trail')
    .option('--delete', 'delete the schedule of this runbook')
    .action(async (raw: Record<string, unknown>) => (await actions()).schedule(ctx, raw));
}
