// `rearguard audit`: who rolled back or froze what, when and why, read from the audit file the worker writes
// (api/audit-file.ts); unreadable lines are reported, never skipped in silence. In production people read it
// through `rearguard serve` (REARGUARD_SERVE_URL and an OIDC token: GET /v1/audit, client/serve-audit.ts), which
// sees the workers' file; --file reads a local file. `rearguard audit verify` checks the file's hash chain and
// names the first event that breaks it (a local file: the chain is in its bytes). The command line is
// client/commands/audit.ts.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { auditFileFrom, readAuditFile } from '../../api/audit-file.js';
import type { SignatureVerifier } from '../../api/audit-chain.js';
import { DURATION_LIMITS } from '../../runbook/duration.js';
import type { CliContext } from '../context.js';
import { serveUrlOf } from '../serve-url.js';
import { CliError, EXIT, badInput, failed, parseOptions, rootMessage } from '../errors.js';
import { sinceOption } from '../options.js';
import { auditLine, renderChainReport } from '../render/audit.js';
import { printable } from '../../runbook/names.js';
import type { AuditEvent } from '../../runbook/types.js';
import type { UnreadableLine } from '../../api/audit-file.js';
import { AUDIT_LIMIT, filterEvents, type AuditAnswer, type AuditFilter } from '../serve-audit.js';

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

/** What `rearguard audit` shows: the matching events and the problems of the file they were read from. */
interface AuditRead {
  events: AuditEvent[];
  unreadable: UnreadableLine[];
  duplicates: number;
  truncated: number;
  /** Where it was read, for messages: the file, or the serve URL. */
  from: string;
}

/** GET /v1/audit of rearguard serve with the person's OIDC token; its refusals worded for the CLI. */
async function readThroughServe(base: URL, token: string, f: AuditFilter): Promise<AuditRead> {
  const url = new URL('v1/audit', base);
  const query: Record<string, string | undefined> = {
    since: f.cutoffMs !== undefined ? new Date(f.cutoffMs).toISOString() : undefined,
    service: f.service,
    env: f.env,
    actor: f.actor,
    action: f.action,
    workflow: f.workflow,
    limit: String(AUDIT_LIMIT.max),
  };
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
  const where = `rearguard serve at ${base.origin} (REARGUARD_SERVE_URL)`;
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw failed(`cannot reach ${where}: ${rootMessage(err)}`);
  }
  const body = (await res.json().catch(() => ({}))) as Partial<AuditAnswer> & { error?: string; problems?: string[] };
  const said = printable(String(body.error ?? `HTTP ${res.status}`));
  if (res.status === 400) throw badInput(...(body.problems ?? [said]).map((p) => printable(String(p))));
  if (res.status === 401 || res.status === 403) throw failed(`${where} refused the token (REARGUARD_SERVE_TOKEN or --token): ${said}`);
  if (res.status !== 200 || !Array.isArray(body.events)) throw failed(`${where} answered ${res.status}: ${said}`);
  return {
    events: body.events,
    unreadable: body.unreadable ?? [],
    duplicates: body.duplicates ?? 0,
    truncated: body.truncated ?? 0,
    from: `the audit file of ${where}`,
  };
}

const missingFile = (file: string): CliError =>
  failed(`audit file ${file} does not exist`, 'Point --file or REARGUARD_AUDIT_FILE at the file the worker writes (the worker logs its path at start).');

export async function show(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const o = parseOptions(
    z.object({
      since: sinceOption(DURATION_LIMITS.lookback).optional(),
      service: z.string().optional(),
      env: z.string().optional(),
      actor: z.string().optional(),
      action: z.string().optional(),
      workflow: z.string().optional(),
      file: z.string().optional(),
      token: z.string().trim().min(1, 'expected a bearer token').optional(),
    }),
    raw,
  );
  const filter: AuditFilter = { ...o, cutoffMs: o.since?.cutoffMs };
  // Through serve unless a file is named: in production the workers' file is on serve's host, not the reader's.
  const serve = o.file === undefined ? serveUrlOf(process.env) : undefined;
  const token = o.token ?? (process.env.REARGUARD_SERVE_TOKEN?.trim() || undefined);
  if (o.token !== undefined && !serve)
    throw badInput(`--token: only for reading through rearguard serve (REARGUARD_SERVE_URL${o.file !== undefined ? ', and not with --file' : ''})`);
  if (serve && !token)
    throw badInput(
      'REARGUARD_SERVE_URL is set, so the audit trail is read through rearguard serve: give an OIDC bearer token in REARGUARD_SERVE_TOKEN (or --token), or read a local file with --file',
    );
  let read: AuditRead;
  if (serve) read = await readThroughServe(serve, token!, filter);
  else {
    const path = o.file ?? defaultAuditFile(process.env);
    const file = await readAuditFile(path);
    if (!file.exists) throw missingFile(path);
    read = { ...file, events: filterEvents(file.events, filter), truncated: 0, from: path };
  }
  // Unreadable lines are reported, never skipped in silence: the trail is evidence.
  for (const u of read.unreadable) c.err(`warning: ${read.from} line ${u.line} is not a readable audit event (${u.error}): ${JSON.stringify(u.excerpt)}`);
  if (read.duplicates) c.err(`note: ${read.duplicates} event(s) were written twice (same ID, by two workers) and are shown once`);
  if (read.truncated) c.err(`note: ${read.truncated} older matching event(s) are not shown: narrow the listing with --since or the other filters`);
  const { events } = read;
  if (c.opts.json) {
    for (const e of events) c.out(JSON.stringify(e));
    return;
  }
  if (events.length === 0) return c.out(`No audit events${o.since ? ` ${o.since.text}` : ''} in ${read.from}.`);
  for (const e of events) c.out(auditLine(e));
}

/** `audit verify [file]`; `fileOption`: audit's own --file, the default of [file]. */
export async function verify(ctx: () => CliContext, fileArg: string | undefined, fileOption: string | undefined, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const o = parseOptions(z.object({ allowedSigners: z.string().min(1).optional() }), raw);
  const file = fileArg ?? (fileOption || defaultAuditFile(process.env));
  const verifier = o.allowedSigners !== undefined ? await loadSignatureVerifier(o.allowedSigners) : undefined;
  const { verifyAuditChain } = await import('../../api/audit-chain.js');
  const report = await verifyAuditChain(file, verifier);
  // A file named on the command line that is not there is a mistake in the command (exit 2, like `runbook validate`).
  if (!report) throw fileArg !== undefined ? badInput(`${fileArg}: no such file`) : missingFile(file);
  if (c.opts.json) c.out(JSON.stringify(report));
  else for (const line of renderChainReport(report, { signersGiven: verifier !== undefined })) c.out(line);
  if (!report.ok) throw new CliError(EXIT.failed, []);
}
