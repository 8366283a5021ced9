// `rearguard audit`: who rolled back or froze what, when and why, read from the audit file the worker writes
// (api/audit-file.ts); unreadable lines are reported, never skipped in silence.
import type { Command } from 'commander';
import { z } from 'zod';
import { readAuditFile } from '../../api/audit-file.js';
import { DURATION_LIMITS } from '../../runbook/duration.js';
import type { CliContext } from '../context.js';
import { failed, parseOptions } from '../errors.js';
import { sinceOption } from '../options.js';
import { auditLine } from '../render/audit.js';

export const defaultAuditFile = (env: NodeJS.ProcessEnv): string => env.REARGUARD_AUDIT_FILE ?? '.rearguard/audit.jsonl';

export function registerAudit(program: Command, ctx: () => CliContext): void {
  program
    .command('audit')
    .description('Who rolled back or froze what, when and why (reads the audit trail the worker writes)')
    .option('--since <when>', 'only events from then on: a duration back from now (24h, 7d) or a time (2026-11-29T08:00Z, 2026-11-29)')
    .option('--service <service>', 'only this service')
    .option('--env <environment>', 'only this environment')
    .option('--actor <actor>', 'only events by this person or system')
    .option('--action <prefix>', 'only actions starting with this, e.g. rollback.approved')
    .option('--workflow <id>', 'only events of this workflow')
    .option('--file <path>', 'audit file (env REARGUARD_AUDIT_FILE, default .rearguard/audit.jsonl)')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(
        z.object({
          since: sinceOption(DURATION_LIMITS.lookback).optional(),
          service: z.string().optional(),
          env: z.string().optional(),
          actor: z.string().optional(),
          action: z.string().optional(),
          workflow: z.string().optional(),
          file: z.string().default(defaultAuditFile(process.env)),
        }),
        raw,
      );
      const cutoff = o.since?.cutoffMs ?? -Infinity;
      const file = await readAuditFile(o.file);
      if (!file.exists) {
        throw failed(
          `audit file ${o.file} does not exist`,
          'Point --file or REARGUARD_AUDIT_FILE at the file the worker writes (the worker logs its path at start).',
        );
      }
      // Unreadable lines are reported, never skipped in silence: the trail is evidence.
      for (const u of file.unreadable) c.err(`warning: ${o.file} line ${u.line} is not a readable audit event (${u.error}): ${JSON.stringify(u.excerpt)}`);
      if (file.duplicates) c.err(`note: ${file.duplicates} event(s) were written twice (same ID, by two workers) and are shown once`);
      const events = file.events.filter(
        (e) =>
          Date.parse(e.time) >= cutoff &&
          (!o.service || e.target.service === o.service) &&
          (!o.env || e.target.environment === o.env) &&
          (!o.actor || e.actor === o.actor) &&
          (!o.action || e.action.startsWith(o.action)) &&
          (!o.workflow || e.workflowId === o.workflow),
      );
      if (c.opts.json) {
        for (const e of events) c.out(JSON.stringify(e));
        return;
      }
      if (events.length === 0) return c.out(`No audit events${o.since ? ` ${o.since.text}` : ''} in ${o.file}.`);
      for (const e of events) c.out(auditLine(e));
    });
}
