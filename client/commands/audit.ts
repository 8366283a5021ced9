// `rearguard audit` and `audit verify`: the command line; client/actions/audit.ts does the work.
import type { Command } from 'commander';
import { defaultAuditFile } from '../../api/audit-path.js';
import type { CliContext } from '../context.js';

const actions = () => import('../actions/audit.js');

export function registerAudit(program: Command, ctx: () => CliContext): void {
  const audit = program
    .command('audit')
    .description('Who rolled back or froze what, when and why (reads the audit trail the worker writes)')
    .option('--since <when>', 'only events from then on: a duration back from now (24h, 7d) or a time (2026-11-29T08:00Z, 2026-11-29)')
    .option('--service <service>', 'only this service')
    .option('--env <environment>', 'only this environment')
    .option('--actor <actor>', 'only events by this person or system')
    .option('--action <prefix>', 'only actions starting with this, e.g. rollback.approved')
    .option('--workflow <id>', 'only events of this workflow')
    .option('--file <path>', `audit file (env REARGUARD_AUDIT_FILE, default ${defaultAuditFile(process.env)})`)
    .option('--token <token>', 'OIDC bearer token for rearguard serve, when REARGUARD_SERVE_URL is set (env REARGUARD_SERVE_TOKEN, which keeps it out of ps)')
    .action(async (raw: Record<string, unknown>) => (await actions()).show(ctx, raw));
  audit
    .command('verify')
    .argument('[file]', 'audit file (default: --file, REARGUARD_AUDIT_FILE, or the worker default)')
    .description("Checks the audit file's hash chain from its first line; names the first event that breaks it (exit 1)")
    .option('--allowed-signers <file>', 'check the signatures of signed events against this allowed_signers file (as ssh-keygen -Y verify)')
    .action(async (fileArg: string | undefined, raw: Record<string, unknown>) =>
      (await actions()).verify(ctx, fileArg, audit.opts<{ file?: string }>().file, raw),
    );
}
