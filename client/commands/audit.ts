// `rearguard audit`: who rolled back or froze what, when and why, read from the audit file the worker writes
// (api/audit-file.ts); unreadable lines are reported, never skipped in silence. `rearguard audit verify` checks
// the file's hash chain and names the first event that breaks it.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { auditFileFrom, readAuditFile } from '../../api/audit-file.js';
import type { SignatureVerifier } from '../../api/audit-chain.js';
import { DURATION_LIMITS } from '../../runbook/duration.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, badInput, failed, parseOptions } from '../errors.js';
import { sinceOption } from '../options.js';
import { auditLine, renderChainReport } from '../render/audit.js';

/** The file `rearguard audit` reads without --file: REARGUARD_AUDIT_FILE, else the worker's default (api/audit-file.ts). */
export const defaultAuditFile = (env: NodeJS.ProcessEnv): string => auditFileFrom(env);

/** The checker of signed events from an allowed_signers file (`--allowed-signers`); a bad file is bad input. */
export async function loadSignatureVerifier(allowedSignersFile: string): Promise<SignatureVerifier> {
  // Loaded only here: the signature code (and its curve library) costs every other command's start-up time.
  const [{ decisionSignatureVerifier }, { parseAllowedSigners, SshSigError }] = await Promise.all([
    import('../../api/audit-chain.js'),
    import('../../runbook/sshsig.js'),
  ]);
  let text: string;
  try {
    text = await readFile(allowedSignersFile, 'utf8');
  } catch (err) {
    throw badInput(`--allowed-signers: cannot read ${allowedSignersFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return decisionSignatureVerifier(parseAllowedSigners(text, allowedSignersFile));
  } catch (err) {
    if (err instanceof SshSigError) throw badInput(`--allowed-signers: invalid allowed_signers file`, ...err.problems.map((p) => `  ${p}`));
    throw err;
  }
}

const missingFile = (file: string): CliError =>
  failed(`audit file ${file} does not exist`, 'Point --file or REARGUARD_AUDIT_FILE at the file the worker writes (the worker logs its path at start).');

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
    .option('--file <path>', `audit file (env REARGUARD_AUDIT_FILE, default ${defaultAuditFile({ ...process.env, REARGUARD_AUDIT_FILE: '' })})`)
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
      if (!file.exists) throw missingFile(o.file);
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
  audit
    .command('verify')
    .argument('[file]', 'audit file (default: --file, REARGUARD_AUDIT_FILE, or the worker default)')
    .description("Checks the audit file's hash chain from its first line; names the first event that breaks it (exit 1)")
    .option('--allowed-signers <file>', 'check the signatures of signed events against this allowed_signers file (as ssh-keygen -Y verify)')
    .action(async (fileArg: string | undefined, raw: Record<string, unknown>) => {
      const c = ctx();
      const o = parseOptions(z.object({ allowedSigners: z.string().min(1).optional() }), raw);
      const file = fileArg ?? (audit.opts<{ file?: string }>().file || defaultAuditFile(process.env));
      const verifier = o.allowedSigners !== undefined ? await loadSignatureVerifier(o.allowedSigners) : undefined;
      const { verifyAuditChain } = await import('../../api/audit-chain.js');
      const report = await verifyAuditChain(file, verifier);
      // A file named on the command line that is not there is a mistake in the command (exit 2, like `runbook validate`).
      if (!report) throw fileArg !== undefined ? badInput(`${fileArg}: no such file`) : missingFile(file);
      if (c.opts.json) c.out(JSON.stringify(report));
      else for (const line of renderChainReport(report, { signersGiven: verifier !== undefined })) c.out(line);
      if (!report.ok) throw new CliError(EXIT.failed, []);
    });
}
