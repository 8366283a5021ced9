// `rearguard unfreeze start|status|advance|abort|approve`: the command line; client/actions/unfreeze.ts
// does the work.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

const actions = () => import('../actions/unfreeze.js');
const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerUnfreeze(program: Command, ctx: () => CliContext): void {
  const unfreeze = program.command('unfreeze').description('End a freeze gradually: open one environment at a time, each after a soak with healthy gates');

  unfreeze
    .command('start')
    .description('Start the gradual unfreeze of a freeze (workflow unfreeze:<freeze id>)')
    .requiredOption('--freeze <name>', 'window name (black-friday) or freeze ID (freeze:black-friday)')
    .requiredOption('--ladder <list>', 'environments in the order they open, e.g. dev,staging,prod')
    .requiredOption('--soak <duration>', 'how long each environment must stay healthy, e.g. 30m')
    .option('--gate <expr>', "Prometheus gate, repeatable: 'QUERY < 0.01' or 'QUERY > 100 [for 2m]'; $environment in QUERY is each environment", collect)
    .option('--gate-http <url>', 'http gate, repeatable: the URL must answer 200 (within 10s); $environment in the URL is each environment', collect)
    .option('--gates <file>', "YAML list of checks in the runbook's verify format (prometheus, http, kubernetesAvailable)")
    .option('--interval <duration>', 'how often the gates are evaluated during a soak', '30s')
    .option('--approve-each', 'each environment after the first waits for an approver')
    .option('--approvers <list>', 'who may approve (with --approve-each), comma-separated')
    .option('--notify-webhook <url>', 'told about failed gates, approvals needed, the end; repeatable', collect)
    .option('--notify-slack-env <VAR>', 'Slack incoming webhook, by the name of a worker environment variable holding its URL; repeatable', collect)
    .requiredOption('--reason <text>', 'why now: kept in the audit trail')
    .action(async (raw: Record<string, unknown>) => (await actions()).start(ctx, raw));

  unfreeze
    .command('status')
    .description("Each environment's state (frozen, soaking with time left, healthy, failed, released), the step, the last gate results")
    .requiredOption('--freeze <name>', 'window name or freeze ID')
    .action(async (raw: Record<string, unknown>) => (await actions()).status(ctx, raw));

  // Every human decision carries a reason (kept in the audit trail), as rollback approve and freeze lift do.
  const decision = (name: 'advance' | 'abort' | 'approve', description: string) => {
    const cmd = unfreeze
      .command(name)
      .description(description)
      .requiredOption('--freeze <name>', 'window name or freeze ID')
      .requiredOption('--reason <text>', 'why (kept in the audit trail)');
    cmd.action(async (raw: Record<string, unknown>) => (await actions()).decide(ctx, name, raw));
  };
  decision('advance', 'After a failed gate and a fix: open the failed environment again and soak it again');
  decision('abort', 'Stop the ladder: the environments not yet open stay frozen');
  decision('approve', 'Let the next environment open (with --approve-each; approvers only, not the requester)');
}
