// Who may sign human decisions, as this worker is configured: REARGUARD_ALLOWED_SIGNERS (an OpenSSH
// allowed_signers file) and REARGUARD_REQUIRE_SIGNATURES (default: true when that file is configured). Read
// once when the activities are built (a bad file stops the worker at start, with every problem), and handed
// to a workflow by the trustSettings activity at its start, so the settings a run judges votes by are in its
// history and replay the same. The verification itself is workflow code (runbook/sshsig.ts, runbook/decision.ts).
import { readFileSync } from 'node:fs';
import { parseAllowedSigners, SshSigError, type AllowedSigner } from '../runbook/sshsig.js';
import { permissionRules, type PermissionRules } from '../runbook/permissions.js';
import type { Policy } from '../runbook/policy.js';
import type { Env } from './secrets.js';
import type { Catalog, CatalogSnapshot } from './catalog.js';

export const ALLOWED_SIGNERS_ENV = 'REARGUARD_ALLOWED_SIGNERS';
export const REQUIRE_SIGNATURES_ENV = 'REARGUARD_REQUIRE_SIGNATURES';

export interface TrustSettings {
  /** Refuse unsigned approvals and rejections. */
  requireSignatures: boolean;
  /** The parsed allowed_signers file (plain JSON, so it crosses into the workflow); empty when none is configured. */
  allowedSigners: AllowedSigner[];
  /** The worker's Policy's permission rules (REARGUARD_POLICY): who may trigger and approve where. None: not limited. */
  permissions?: PermissionRules;
  /**
   * With a catalog: the environment patterns where a runbook sent by the client (a local file) is accepted
   * (the Policy's spec.localRunbooks); elsewhere only catalog runbooks run. Absent: development mode, any.
   */
  localRunbooks?: string[];
  /** The catalog these settings come from: its source and revision (a git commit), for the audit trail. */
  catalog?: { source: string; revision: string };
}

/** The development default: no file, unsigned decisions accepted. */
export const DEVELOPMENT_TRUST: TrustSettings = { requireSignatures: false, allowedSigners: [] };

/** A configuration the worker must not start with; `problems` one a line. */
export class TrustConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'TrustConfigError';
  }
}

/** `true`/`false` (also 1/0, yes/no, any case); undefined when unset; anything else is a problem. */
export function parseRequireSignatures(raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new TrustConfigError([`${REQUIRE_SIGNATURES_ENV}: expected true or false, got ${JSON.stringify(raw.slice(0, 40))}`]);
}

/** Reads and parses an allowed_signers file; every problem (unreadable, bad lines, no usable key) in one error. */
export function readAllowedSigners(path: string): AllowedSigner[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : `cannot be read (${code ?? (err as Error).message})`;
    throw new TrustConfigError([`${ALLOWED_SIGNERS_ENV}: ${path} ${what} (expected an OpenSSH allowed_signers file)`]);
  }
  let signers: AllowedSigner[];
  try {
    signers = parseAllowedSigners(text, path);
  } catch (err) {
    if (err instanceof SshSigError) throw new TrustConfigError(err.problems.map((p) => `${ALLOWED_SIGNERS_ENV}: ${p}`));
    throw err;
  }
  if (!signers.some((s) => s.keyType === 'ssh-ed25519')) {
    throw new TrustConfigError([
      `${ALLOWED_SIGNERS_ENV}: ${path} lists no ssh-ed25519 key, so every signed decision would be refused (lines: principals ssh-ed25519 AAAA...)`,
    ]);
  }
  return signers;
}

/** The worker's trust settings from its environment; throws a TrustConfigError listing every problem. */
export function loadTrustSettings(env: Env): TrustSettings {
  const file = env[ALLOWED_SIGNERS_ENV]?.trim() || undefined;
  const problems: string[] = [];
  let require: boolean | undefined;
  let allowedSigners: AllowedSigner[] = [];
  try {
    require = parseRequireSignatures(env[REQUIRE_SIGNATURES_ENV]);
  } catch (err) {
    if (!(err instanceof TrustConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (file) {
    try {
      allowedSigners = readAllowedSigners(file);
    } catch (err) {
      if (!(err instanceof TrustConfigError)) throw err;
      problems.push(...err.problems);
    }
  } else if (require === true) {
    problems.push(`${REQUIRE_SIGNATURES_ENV}=true needs ${ALLOWED_SIGNERS_ENV}: the allowed_signers file listing who may sign decisions`);
  }
  if (problems.length) throw new TrustConfigError(problems);
  return { requireSignatures: require ?? file !== undefined, allowedSigners };
}

/** Trust settings from a catalog snapshot: its allowed_signers and Policy; signatures required unless the environment says false. */
export function catalogTrust(env: Env, s: CatalogSnapshot): TrustSettings {
  const require = parseRequireSignatures(env[REQUIRE_SIGNATURES_ENV]);
  return {
    requireSignatures: require ?? true,
    allowedSigners: s.allowedSigners,
    permissions: permissionRules(s.policy),
    localRunbooks: s.policy.spec.localRunbooks,
    catalog: { source: s.source, revision: s.revision },
  };
}

/**
 * The trustSettings activity. Without a catalog: settings read once, when the activities are built (a bad
 * allowed_signers file stops the worker). With one: the current snapshot's (a refresh applies to runs that
 * start after it; a running workflow keeps the settings recorded in its history).
 */
export function trustActivities(env: Env, policy?: Policy, catalog?: Catalog) {
  const settings: TrustSettings | undefined = catalog ? undefined : { ...loadTrustSettings(env), ...(policy ? { permissions: permissionRules(policy) } : {}) };
  return {
    /** Called by a workflow at its start: recorded in its history, so replay judges decisions the same way. */
    async trustSettings(): Promise<TrustSettings> {
      return settings ?? catalogTrust(env, catalog!.current());
    },
  };
}
