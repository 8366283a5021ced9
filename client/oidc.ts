// Who is calling `rearguard serve`'s endpoints for people (decisions, the audit trail): an OIDC bearer token,
// a JWT signed by the configured issuer for serve's audience, verified with `jose` against the issuer's keys
// (its JWKS URL, given or found by OIDC discovery). The person is named by one claim of the token (`sub` unless
// configured), which must be a Rearguard actor name. Failures say what was wrong (expired, audience, issuer,
// signature) and never repeat the token; a provider serve cannot reach is the server's problem (503), not the caller's.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ACTOR, ACTOR_HINT } from '../runbook/names.js';
import { DELEGATE_PREFIX } from '../runbook/decision.js';
import { echo } from './errors.js';
import { logLine } from './http-errors.js';

export interface OidcConfig {
  /** The `iss` tokens must carry, e.g. https://login.example.com/realms/ops. */
  issuer: string;
  /** The `aud` tokens must carry: serve's client ID at the provider. */
  audience: string;
  /** Where the issuer publishes its signing keys; default: `jwks_uri` of its discovery document. */
  jwksUrl?: string;
  /** The claim that names the person (default `sub`; e.g. preferred_username or email). */
  actorClaim: string;
}

/** Asymmetric signatures only: a shared-secret (HS*) or unsigned token is never accepted. */
export const OIDC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** Clock skew allowed between the provider and serve, in seconds. */
export const OIDC_CLOCK_TOLERANCE_S = 30;

const CLAIM = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;

/** The settings' names, for messages: the flag and the variable of each. */
const NAMES = {
  issuer: '--oidc-issuer (REARGUARD_OIDC_ISSUER)',
  audience: '--oidc-audience (REARGUARD_OIDC_AUDIENCE)',
  jwksUrl: '--oidc-jwks-url (REARGUARD_OIDC_JWKS_URL)',
  actorClaim: '--oidc-actor-claim (REARGUARD_OIDC_ACTOR_CLAIM)',
};

/** https, or http on this machine only (a provider run for tests or a local demo). */
function urlProblem(text: string, what: string): string | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return `${what}: expected a URL such as https://login.example.com/realms/ops, got ${echo(text)}`;
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  if (u.protocol === 'https:' || (u.protocol === 'http:' && loopback)) return undefined;
  return `${what}: expected an https URL (http only for localhost), got ${echo(text)}`;
}

/**
 * The OIDC settings from serve's flags, else its environment: undefined when none is set (endpoints for people
 * then answer 501). Throws an Error with every problem, one a line, when they are incomplete or invalid.
 */
export function oidcConfigFrom(flags: Partial<Record<keyof OidcConfig, string>>, env: NodeJS.ProcessEnv): OidcConfig | undefined {
  const pick = (k: keyof OidcConfig, v: string): string | undefined => (flags[k] ?? env[v])?.trim() || undefined;
  const issuer = pick('issuer', 'REARGUARD_OIDC_ISSUER');
  const audience = pick('audience', 'REARGUARD_OIDC_AUDIENCE');
  const jwksUrl = pick('jwksUrl', 'REARGUARD_OIDC_JWKS_URL');
  const actorClaim = pick('actorClaim', 'REARGUARD_OIDC_ACTOR_CLAIM') ?? 'sub';
  if (!issuer && !audience && !jwksUrl && !flags.actorClaim && !env.REARGUARD_OIDC_ACTOR_CLAIM?.trim()) return undefined;
  const problems: string[] = [];
  if (!issuer) problems.push(`${NAMES.issuer}: expected the OIDC issuer URL (the other OIDC settings need it)`);
  else {
    const p = urlProblem(issuer, NAMES.issuer);
    if (p) problems.push(p);
  }
  if (!audience) problems.push(`${NAMES.audience}: expected the audience tokens are issued for (serve's client ID at the provider)`);
  if (jwksUrl) {
    const p = urlProblem(jwksUrl, NAMES.jwksUrl);
    if (p) problems.push(p);
  }
  if (!CLAIM.test(actorClaim)) problems.push(`${NAMES.actorClaim}: expected a claim name such as sub, preferred_username or email, got ${echo(actorClaim)}`);
  if (problems.length) throw new Error(problems.join('\n'));
  return { issuer: issuer!, audience: audience!, actorClaim, ...(jwksUrl ? { jwksUrl } : {}) };
}

/** The person a valid token names. */
export interface OidcIdentity {
  /** The actor claim's value: who decides, as workflows and the audit trail name them. */
  actor: string;
  /** The token's `sub` and `iss`, recorded in signed decisions (extra.oidcSubject, extra.oidcIssuer). */
  subject: string;
  issuer: string;
}

export type OidcOutcome =
  | { ok: true; identity: OidcIdentity }
  /** 401: no usable token; 403: a valid token for someone serve cannot name; 503: the provider's keys cannot be read. */
  | { ok: false; status: 401 | 403 | 503; error: string; wwwAuthenticate?: string };

export interface OidcVerifier {
  readonly config: OidcConfig;
  verify(authorization: string | undefined): Promise<OidcOutcome>;
}

const REALM = 'Bearer realm="rearguard"';
/** RFC 6750: what the client did wrong, for the WWW-Authenticate header; the body says it in words. */
const challenge = (code: 'invalid_request' | 'invalid_token', description: string): string =>
  `${REALM}, error="${code}", error_description="${description.replace(/["\\]/g, '')}"`;

/** The message of a token refused by jwtVerify: what was wrong, never the token. Undefined for a failure of the provider. */
function tokenProblem(err: unknown, c: OidcConfig): string | undefined {
  if (err instanceof errors.JWTExpired) {
    const exp = (err.payload as JWTPayload | undefined)?.exp;
    return `the token expired${typeof exp === 'number' ? ` at ${new Date(exp * 1000).toISOString()}` : ''}: get a new one from ${c.issuer}`;
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return `the token's audience is not ${c.audience}: it was issued for another client`;
    if (err.claim === 'iss') return `the token was not issued by ${c.issuer}`;
    if (err.claim === 'nbf') return 'the token is not valid yet (nbf)';
    if (err.claim === 'iat') return 'the token is dated in the future (iat)';
    if (err.reason === 'missing') return `the token has no ${err.claim} claim`;
    return `the token's ${err.claim} claim is not valid (${err.reason})`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return `the token's signature does not verify with the keys of ${c.issuer}`;
  if (err instanceof errors.JWKSNoMatchingKey) return `the token is signed by a key ${c.issuer} does not publish (signature)`;
  if (err instanceof errors.JWKSMultipleMatchingKeys) return `the token names no key that tells the keys of ${c.issuer} apart (signature)`;
  if (err instanceof errors.JOSEAlgNotAllowed) return `the token's signature algorithm is not accepted (expected one of ${OIDC_ALGORITHMS.join(', ')})`;
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported)
    return 'the token is not a signed JWT (expected an OIDC ID or access token in compact JWS form)';
  return undefined;
}

/** The issuer's JWKS URL from its discovery document (`jwks_uri`), which must be for this issuer. */
async function discoverJwks(issuer: string): Promise<URL> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000), redirect: 'error', headers: { accept: 'application/json' } });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (doc.issuer !== issuer) throw new Error(`${url} is the discovery document of issuer ${JSON.stringify(doc.issuer)}, not ${issuer}`);
  if (typeof doc.jwks_uri !== 'string' || urlProblem(doc.jwks_uri, 'jwks_uri')) throw new Error(`${url}: expected jwks_uri, an https URL`);
  return new URL(doc.jwks_uri);
}

export function createOidcVerifier(config: OidcConfig): OidcVerifier {
  // The key set is fetched when first needed (and refetched by jose when a token names a key it has not seen);
  // a failed discovery is tried again on the next request.
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const keySet = (): Promise<JWTVerifyGetKey> => {
    if (keys) return keys;
    const pending = (keys = (config.jwksUrl ? Promise.resolve(new URL(config.jwksUrl)) : discoverJwks(config.issuer)).then((url) => createRemoteJWKSet(url)));
    pending.catch(() => {
      if (keys === pending) keys = undefined;
    });
    return pending;
  };
  const unavailable = (err: unknown): OidcOutcome => {
    logLine('error', 'cannot read the OIDC provider’s signing keys', { issuer: config.issuer, error: (err as Error)?.message ?? String(err) });
    return { ok: false, status: 503, error: `cannot read the signing keys of ${config.issuer} (the rearguard serve log says why): try again later` };
  };

  return {
    config,
    async verify(authorization) {
      const expected = `expected Authorization: Bearer <token>, an OIDC token from ${config.issuer} for audience ${config.audience}`;
      if (authorization === undefined || authorization.trim() === '') return { ok: false, status: 401, error: expected, wwwAuthenticate: REALM };
      const m = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(authorization);
      if (!m) return { ok: false, status: 401, error: expected, wwwAuthenticate: challenge('invalid_request', 'expected a bearer token') };
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(m[1], await keySet(), {
          issuer: config.issuer,
          audience: config.audience,
          algorithms: OIDC_ALGORITHMS,
          clockTolerance: OIDC_CLOCK_TOLERANCE_S,
          requiredClaims: ['sub', 'exp'],
        }));
      } catch (err) {
        const problem = tokenProblem(err, config);
        if (problem === undefined) return unavailable(err);
        return { ok: false, status: 401, error: `invalid token: ${problem}`, wwwAuthenticate: challenge('invalid_token', problem) };
      }
      const subject = payload.sub;
      if (typeof subject !== 'string' || subject === '' || subject.length > 255)
        return { ok: false, status: 403, error: 'the token has no usable sub claim (a non-empty string of at most 255 characters)' };
      const value = payload[config.actorClaim];
      if (typeof value !== 'string' || value === '')
        return { ok: false, status: 403, error: `the token has no ${config.actorClaim} claim to name you by (REARGUARD_OIDC_ACTOR_CLAIM)` };
      // An address the user can change at the provider names nobody until the provider says it was verified.
      if (config.actorClaim === 'email' && payload.email_verified !== true)
        return { ok: false, status: 403, error: 'the token names you by email, but its email_verified claim is not true' };
      if (!ACTOR.test(value))
        return { ok: false, status: 403, error: `the token's ${config.actorClaim} claim ${echo(value)} is not a Rearguard actor name: ${ACTOR_HINT}` };
      // A delegate's principal names the signer, never a person: a token naming one would let serve sign as itself.
      if (value.startsWith(DELEGATE_PREFIX))
        return { ok: false, status: 403, error: `the token's ${config.actorClaim} claim ${echo(value)} names a delegate, not a person` };
      return { ok: true, identity: { actor: value, subject, issuer: config.issuer } };
    },
  };
}
