// Where the audit trail is (api/audit-file.ts reads and writes it). Apart from audit-file.ts, whose I/O code the
// CLI's start-up would load only to show this path in `rearguard audit --help`.
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * Where the audit trail is when neither a flag nor REARGUARD_AUDIT_FILE names it, for the worker and the CLI
 * alike: `$XDG_STATE_HOME/rearguard/audit.jsonl`, or `~/.local/state/rearguard/audit.jsonl`. Always absolute,
 * so both find the same file whatever their working directory.
 */
export function defaultAuditFile(env: NodeJS.ProcessEnv = process.env): string {
  const absolute = (p: string | undefined): p is string => !!p && isAbsolute(p);
  // XDG: a relative XDG_STATE_HOME is invalid and ignored.
  const state = absolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(absolute(env.HOME) ? env.HOME : homedir(), '.local', 'state');
  return join(state, 'rearguard', 'audit.jsonl');
}

/** The audit file of this environment: REARGUARD_AUDIT_FILE, else `defaultAuditFile` (flags override both). */
export const auditFileFrom = (env: NodeJS.ProcessEnv = process.env): string => env.REARGUARD_AUDIT_FILE || defaultAuditFile(env);
