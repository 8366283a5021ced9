// `rearguard freeze calendar validate|apply|export`: the command line; client/actions/calendar.ts does the work.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

const actions = () => import('../actions/calendar.js');

export function registerCalendar(freeze: Command, ctx: () => CliContext): void {
  const calendar = freeze.command('calendar').description('Freeze calendars: recurring and one-off windows kept in a file');

  calendar
    .command('validate')
    .description('Check a FreezeCalendar file; exit 0 if valid, 2 with every problem listed if not')
    .argument('<file>', 'FreezeCalendar YAML file')
    .action(async (file: string) => (await actions()).validate(ctx, file));

  calendar
    .command('apply')
    .description('Create, update or remove schedules and windows so the server matches the file (idempotent)')
    .argument('<file>', 'FreezeCalendar YAML file')
    .option('--dry-run', 'show what would change, change nothing')
    .action(async (file: string, raw: { dryRun?: boolean }) => (await actions()).apply(ctx, file, raw));

  calendar
    .command('export')
    .description('Write the calendar as an iCalendar (.ics) file for calendar apps, or its occurrences as JSON or YAML (--json, -o yaml)')
    .argument('<file>', 'FreezeCalendar YAML file')
    .option('--ics', 'iCalendar format (the default; with --json, the .ics still goes to --out-file and the summary is JSON)')
    .option('--out-file <path>', 'where to write it (default: stdout)')
    .option('--from <date>', 'first day to include, e.g. 2026-11-01 (default: today)')
    .option('--days <n>', 'how many days of occurrences to include', '365')
    .action(async (file: string, raw: Record<string, unknown>) => (await actions()).exportCalendar(ctx, file, raw));
}
