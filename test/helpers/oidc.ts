// A local OIDC provider for the tests of `rearguard serve`'s endpoints for people: an ES256 key made with jose, its
// discovery document and JWKS served over HTTP, and tokens as the provider would issue them (actor claim
// preferred_username, audience `rearguard` unless told otherwise).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

export const OIDC_AUDIENCE = 'rearguard';

export interface TokenOptions {
  sub?: string;
  aud?: string;
  iss?: string;
  /** Another key than the provider's (a forged token). */
  key?: CryptoKey;
  expiresAt?: number;
  issuedAt?: number;
}

export interface OidcIssuer {
  issuer: string;
  /** A token for `user` (its preferred_username), valid 5 minutes unless `o` says otherwise. */
  token(user: string, o?: TokenOptions): Promise<string>;
  close(): Promise<void>;
}

export async function startOidcIssuer(audience = OIDC_AUDIENCE): Promise<OidcIssuer> {
  const keys = await generateKeyPair('ES256');
  const jwk = await exportJWK(keys.publicKey);
  let issuer = '';
  const server = createServer((req, res) => {
    const send = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/.well-known/openid-configuration') return send({ issuer, jwks_uri: `${issuer}/jwks` });
    if (req.url === '/jwks') return send({ keys: [{ ...jwk, kid: 'test-key', alg: 'ES256', use: 'sig' }] });
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    token(user, o = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ preferred_username: user })
        .setProtectedHeader({ alg: 'ES256', kid: 'test-key' })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud ?? audience)
        .setSubject(o.sub ?? `sub-${user}`)
        .setIssuedAt(o.issuedAt ?? now)
        .setExpirationTime(o.expiresAt ?? now + 300)
        .sign(o.key ?? keys.privateKey);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
