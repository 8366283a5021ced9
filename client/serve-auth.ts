// The gate of `rearguard serve`'s endpoints for people: fail closed when OIDC is not configured (501, saying
// what to configure), else the person the bearer token names (client/oidc.ts), or a 401/403/503 already sent.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OidcIdentity, OidcVerifier } from './oidc.js';

export const OIDC_NOT_CONFIGURED =
  'this endpoint is for people authenticated by OIDC, which this rearguard serve is not configured for: set REARGUARD_OIDC_ISSUER and REARGUARD_OIDC_AUDIENCE (or --oidc-issuer and --oidc-audience; README, "rearguard serve")';

/** The caller's identity, or undefined when the reply (501, 401, 403 or 503) has been sent. */
export async function authenticatePerson(oidc: OidcVerifier | undefined, req: FastifyRequest, reply: FastifyReply): Promise<OidcIdentity | undefined> {
  if (!oidc) {
    await reply.code(501).send({ error: OIDC_NOT_CONFIGURED });
    return undefined;
  }
  const r = await oidc.verify(req.headers.authorization);
  if (r.ok) return r.identity;
  if (r.wwwAuthenticate) void reply.header('www-authenticate', r.wwwAuthenticate);
  await reply.code(r.status).send({ error: r.error });
  return undefined;
}
