// GET /v1/audit: the audit trail for people authenticated by OIDC (client/oidc.ts), read from the audit file the
// workers write (REARGUARD_AUDIT_FILE or the default, api/audit-file.ts), which serve must see (same host or
// volume). It takes the filters of `rearguard audit` (since, service, env, actor, action, workflow) and answers
// the newest `limit` events that match, oldest first, with the lines it could not read: the trail is evidence,
// nothing is skipped in silence. `rearguard audit` reads through it when REARGUARD_SERVE_URL is set.
import { stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { readAuditFile, type UnreadableLine } from '../api/audit-file.js';
import { verifyAuditChain, type ChainReport } from '../api/audit-chain.js';
import { DURATION_LIMITS } from '../runbook/duration.js';
import { friendlyErrors, issueLines } from '../runbook/issues.js';
import type { AuditEvent } from '../runbook/types.js';
import type { OidcVerifier } from './oidc.js';
import { actorName, label, sinceOption, wholeNumber } from './options.js';
import { authenticatePerson } from './serve-auth.js';

/** What one GET /v1/audit returns by default, and at most. */
export const AUDIT_LIMIT = { default: 1000, max: 10_000 };

export interface AuditFilter {
  cutoffMs?: number;
  service?: string;
  env?: string;
  actor?: string;
  action?: string;
  workflow?: string;
}

/** The events `rearguard audit` shows for these filters (the CLI's reading of a local file and serve's alike). */
export const filterEvents = (events: AuditEvent[], f: AuditFilter): AuditEvent[] =>
  events.filter(
    (e) =>
      Date.parse(e.time) >= (f.cutoffMs ?? -Infinity) &&
      (!f.service || e.target.service === f.service) &&
      (!f.env || e.target.environment === f.env) &&
      (!f.actor || e.actor === f.actor) &&
      (!f.action || e.action.startsWith(f.action)) &&
      (!f.workflow || e.workflowId === f.workflow),
  );

/** GET /v1/audit's answer. */
export interface AuditAnswer {
  events: AuditEvent[];
  /** Matching events left out, oldest first, beyond `limit`. */
  truncated: number;
  unreadable: UnreadableLine[];
  duplicates: number;
  /** With verify=true: the hash chain of the whole file (signatures are not checked by serve). */
  chain?: Pick<ChainReport, 'events' | 'linked' | 'unchained' | 'head' | 'break'> & { ok: boolean; signed: number };
}

const auditQuery = z.strictObject({
  since: sinceOption(DURATION_LIMITS.lookback).optional(),
  service: label.optional(),
  env: label.optional(),
  actor: actorName.optional(),
  action: z.string().max(128, 'expected an action prefix of at most 128 characters').optional(),
  workflow: z.string().max(300, 'expected a workflow ID of at most 300 characters').optional(),
  limit: wholeNumber(1, AUDIT_LIMIT.max).optional(),
  /** Also walk the file's hash chain (api/audit-chain.ts; signatures are not checked here: `rearguard audit verify`). */
  verify: z.enum(['true', 'false'], { error: 'expected true or false' }).optional(),
});

export interface AuditRouteOptions {
  oidc?: OidcVerifier;
  auditFile: string;
  rateLimit?: { max: number; timeWindow: number };
}

export function registerAuditRoute(app: FastifyInstance, o: AuditRouteOptions): void {
  // The chain is walked again only when the file changed (size or modification time): the walk hashes every line.
  let chainCache: { size: number; mtimeMs: number; report: Promise<ChainReport | undefined> } | undefined;
  const chainOf = async (): Promise<ChainReport | undefined> => {
    const st = await stat(o.auditFile).catch(() => undefined);
    if (!st) return undefined;
    if (!chainCache || chainCache.size !== st.size || chainCache.mtimeMs !== st.mtimeMs)
      chainCache = { size: st.size, mtimeMs: st.mtimeMs, report: verifyAuditChain(o.auditFile) };
    return chainCache.report;
  };
  app.get('/v1/audit', { config: o.rateLimit ? { rateLimit: o.rateLimit } : {} }, async (req, reply) => {
    if (!(await authenticatePerson(o.oidc, req, reply))) return reply;
    const q = auditQuery.safeParse(req.query ?? {}, { error: friendlyErrors });
    if (!q.success) return reply.code(400).send({ error: 'bad request', problems: issueLines(q.error.issues) });
    const file = await readAuditFile(o.auditFile);
    if (!file.exists)
      return reply.code(404).send({ error: 'no audit file yet on the rearguard serve host: serve reads the file the workers write (REARGUARD_AUDIT_FILE)' });
    const { since, limit = AUDIT_LIMIT.default, verify, ...rest } = q.data;
    const matching = filterEvents(file.events, { ...rest, cutoffMs: since?.cutoffMs });
    const events = matching.slice(-limit);
    const answer: AuditAnswer = { events, truncated: matching.length - events.length, unreadable: file.unreadable, duplicates: file.duplicates };
    if (verify === 'true') {
      const report = await chainOf();
      if (report)
        answer.chain = {
          ok: report.break === null,
          events: report.events,
          linked: report.linked,
          unchained: report.unchained,
          head: report.head,
          break: report.break,
          signed: report.signatures.signed,
        };
    }
    return reply.send(answer);
  });
}
