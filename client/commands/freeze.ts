// `rearguard freeze start|extend|lift|status|list|check|exception|calendar`: the command line;
// client/actions/freeze.ts does the work, client/actions/gate.ts the deploy gate (`freeze check`, which
// CI runs before every deploy, so it loads only what it needs).
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { registerCalendar } from './calendar.js';
import { LateDefaultOption, localTimeZone, withLateDefaults } from './flags.js';

const actions = () => import('../actions/freeze.js');
const gate = () => import('../actions/gate.js');

export function registerFreeze(program: Command, ctx: () => CliContext): void {
  const freeze = program.command('freeze').description('Release freezes: start, extend, lift, exceptions, and the deploy gate');

  freeze
    .command('start')
    .description('Freeze deploys for environments/services until an end time (idempotent by --name)')
    .requiredOption('--name <name>', 'window name, e.g. black-friday (the workflow is freeze:<name>)')
    .requiredOption('--env <list>', 'environments, comma-separated, or *')
    .option('--service <list>', 'services, comma-separated, or * for all', '*')
    .option('--start <time>', 'when it starts, e.g. 2026-11-26T00:00 in --tz, or now', 'now')
    .option('--end <time>', 'when it ends, e.g. 2026-12-01T08:00 in --tz')
    .option('--duration <d>', 'or how long it lasts from its start, e.g. 3d')
    .addOption(new LateDefaultOption('--tz <zone>', 'IANA time zone of --start/--end', localTimeZone))
    .requiredOption('--reason <text>', 'why: shown by the gate and kept in the audit trail')
    .option('--approvers <list>', 'who may approve exceptions, comma-separated')
    .option('--quorum <n>', 'approvals an exception needs', '1')
    .action(async (raw: Record<string, unknown>, cmd: Command) => (await actions()).start(ctx, withLateDefaults(cmd, raw)));

  freeze
    .command('extend')
    .description('Move the end of a freeze later')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .option('--end <time>', 'new end, in --tz')
    .option('--by <duration>', 'or extend by this much, e.g. 1d')
    .addOption(new LateDefaultOption('--tz <zone>', 'IANA time zone of --end', localTimeZone))
    .requiredOption('--reason <text>', 'why')
    .action(async (raw: Record<string, unknown>, cmd: Command) => (await actions()).extend(ctx, withLateDefaults(cmd, raw)));

  freeze
    .command('lift')
    .description('End a freeze now')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--reason <text>', 'why')
    .action(async (raw: Record<string, unknown>) => (await actions()).lift(ctx, raw));

  freeze
    .command('status')
    .description('Show one freeze window')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .action(async (raw: Record<string, unknown>) => (await actions()).status(ctx, raw));

  freeze
    .command('list')
    .description('List running freeze windows')
    .action(async () => (await actions()).listWindows(ctx));

  freeze
    .command('check')
    .description('The deploy gate: exit 0 if the change may deploy, 3 if a freeze blocks it, 1 if it cannot tell (a running freeze cannot be read)')
    .requiredOption('--env <environment>', 'environment of the deploy')
    .requiredOption('--service <service>', 'service being deployed')
    .option('--change <id>', 'change ID, matched against approved exceptions')
    .option('--fail-open', 'allow (exit 0, with a warning) when a running freeze cannot be read, instead of exit 1')
    .action(async (raw: Record<string, unknown>) => (await gate()).check(ctx, raw));

  const exception = freeze.command('exception').description('Exceptions to a freeze for a specific change (e.g. a bug fix)');
  exception
    .command('request')
    .description('Ask for an exception for one change (PR, commit, ticket): once approved, the gate lets it through for --valid-for')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--change <id>', 'change ID (PR, commit, ticket) the exception is for')
    .requiredOption('--reason <text>', 'why this change cannot wait')
    .option('--valid-for <duration>', 'how long an approved exception lasts', '4h')
    .action(async (raw: Record<string, unknown>) => (await actions()).requestException(ctx, raw));
  exception
    .command('approve')
    .description("Approve a requested exception (one of the freeze's exception approvers, not the requester)")
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--change <id>', 'change ID')
    .requiredOption('--reason <text>', 'why this change may go out during the freeze: kept in the audit trail')
    .action(async (raw: Record<string, unknown>) => (await actions()).approveException(ctx, raw));
  exception
    .command('reject')
    .description('Turn down a requested exception, or revoke an approved one (an exception approver, or the requester withdrawing it)')
    .requiredOption('--name <name>', 'window name, or freeze ID')
    .requiredOption('--change <id>', 'change ID')
    .requiredOption('--reason <text>', 'why: kept in the audit trail and told to the requester')
    .action(async (raw: Record<string, unknown>) => (await actions()).rejectException(ctx, raw));

  registerCalendar(freeze, ctx);
}
