// `rearguard serve`: the HTTP API (client/serve.ts) started with the command's flags, serve's limits and its
// people's settings (OIDC, serve's signing key). The command line is in client/cli.ts.
import type { CliContext } from '../context.js';
import { badInput, echo } from '../errors.js';
import { loadRunbookDir } from '../runbook-dir.js';
import { DEFAULT_DELEGATE_PRINCIPAL, DELEGATE_PRINCIPAL } from '../../runbook/decision.js';
import { durationText, parseDuration } from '../../runbook/duration.js';
import { MAX_GATE_LEASE_MS, MIN_GATE_LEASE_MS } from '../../runbook/gate-view.js';

/** `serve` limits from the environment: whole numbers, 0 turns a rate limit off. */
function serveLimits(env: NodeJS.ProcessEnv): { gatePerMinute?: number; alertsPerMinute?: number } {
  const read = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    if (!/^\d{1,9}$/.test(raw))
      throw badInput(`${name}: expected a whole number of requests per minute (0: no limit), got ${JSON.stringify(raw.slice(0, 40))}`);
    return Number(raw);
  };
  return { gatePerMinute: read('REARGUARD_GATE_RATE_LIMIT'), alertsPerMinute: read('REARGUARD_ALERTS_RATE_LIMIT') };
}

/** The gate's copy of the freeze registry (api/gate-view.ts): its lease and how often unregistered freezes are looked for. */
function gateSettings(env: NodeJS.ProcessEnv): { leaseMs?: number; reconcileMs?: number } {
  const read = (name: string, min: number, max: number): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    let ms: number;
    try {
      ms = parseDuration(raw);
    } catch {
      ms = NaN;
    }
    if (!(ms >= min && ms <= max))
      throw badInput(`${name}: expected a duration between ${durationText(min)} and ${durationText(max)} such as 10s, got ${echo(raw.slice(0, 40))}`);
    return ms;
  };
  return {
    leaseMs: read('REARGUARD_GATE_LEASE', MIN_GATE_LEASE_MS, MAX_GATE_LEASE_MS),
    reconcileMs: read('REARGUARD_GATE_RECONCILE', 1_000, 3_600_000),
  };
}

/** The runbooks directory must exist at start; invalid runbooks in it are reported, not fatal. */
async function checkRunbookDir(dir: string, c: CliContext): Promise<void> {
  try {
    const { runbooks, problems } = await loadRunbookDir(dir);
    for (const p of problems) c.err(`rearguard serve: --runbooks: ${p} (alerts naming it will be unmatched)`);
    c.err(`rearguard serve: ${runbooks.length} runbook(s) in ${dir}, re-read when the directory changes`);
  } catch (err) {
    throw badInput(`--runbooks: cannot read the directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export interface ServeFlags {
  host: string;
  port: string;
  runbooks?: string;
  oidcIssuer?: string;
  oidcAudience?: string;
  oidcJwksUrl?: string;
  oidcActorClaim?: string;
  delegate?: string;
  /** false with --no-console. */
  console?: boolean;
}

/**
 * serve's endpoints for people: the OIDC settings (flags, else REARGUARD_OIDC_*) and serve's own signing key
 * (--signing-key, else REARGUARD_SERVE_SIGNING_KEY; never a person's REARGUARD_SIGNING_KEY or git's key), checked
 * at start by signing once, so the operator sees the allowed_signers line to give the workers.
 */
async function servePeople(raw: ServeFlags, signingKey: string | undefined, env: NodeJS.ProcessEnv, c: CliContext) {
  const { oidcConfigFrom } = await import('../oidc.js');
  let oidc;
  try {
    oidc = oidcConfigFrom({ issuer: raw.oidcIssuer, audience: raw.oidcAudience, jwksUrl: raw.oidcJwksUrl, actorClaim: raw.oidcActorClaim }, env);
  } catch (err) {
    throw badInput(...(err as Error).message.split('\n'));
  }
  const principal = raw.delegate ?? (env.REARGUARD_SERVE_PRINCIPAL?.trim() || DEFAULT_DELEGATE_PRINCIPAL);
  if (!DELEGATE_PRINCIPAL.test(principal))
    throw badInput(`--delegate (REARGUARD_SERVE_PRINCIPAL): expected an allowed_signers principal such as delegate:rearguard-serve, got ${echo(principal)}`);
  const key = signingKey?.trim() || env.REARGUARD_SERVE_SIGNING_KEY?.trim() || undefined;
  const keySource = signingKey?.trim() ? '--signing-key' : 'REARGUARD_SERVE_SIGNING_KEY';
  if (!oidc) {
    if (key) c.err('rearguard serve: a signing key is set but OIDC is not (REARGUARD_OIDC_ISSUER, REARGUARD_OIDC_AUDIENCE): decision endpoints answer 501');
    return {};
  }
  c.err(`rearguard serve: people authenticate with OIDC tokens of ${oidc.issuer} for audience ${oidc.audience}, named by their ${oidc.actorClaim} claim`);
  if (!key) {
    c.err('rearguard serve: no signing key (REARGUARD_SERVE_SIGNING_KEY): decision endpoints answer 501; GET /v1/audit is on');
    return { oidc };
  }
  const [{ signMessage }, { parseSshSignature, encodeBase64 }] = await Promise.all([import('../signing.js'), import('../../runbook/sshsig.js')]);
  const probe = await signMessage('rearguard serve: signing key check', { key, keyOption: keySource });
  const publicKey = encodeBase64(parseSshSignature(probe.signature).publicKey);
  c.err(`rearguard serve: signs decisions as ${principal} with key ${probe.fingerprint}; the workers' allowed_signers must list it:`);
  c.err(`  ${principal} ssh-ed25519 ${publicKey}`);
  return { oidc, delegate: { principal, key, keySource } };
}

export async function serve(ctx: () => CliContext, raw: ServeFlags, env: NodeJS.ProcessEnv): Promise<void> {
  const c = ctx();
  const port = Number(raw.port);
  if (!/^\d{1,5}$/.test(raw.port) || port > 65535) throw badInput(`--port: expected a port number 0-65535, got ${JSON.stringify(raw.port)}`);
  const { buildServer } = await import('../serve.js');
  if (raw.runbooks !== undefined && !env.REARGUARD_API_TOKEN) throw badInput('--runbooks: the alert intake needs a bearer token: set REARGUARD_API_TOKEN');
  const people = await servePeople(raw, (c.opts as { signingKey?: string }).signingKey, env, c);
  if (raw.runbooks !== undefined) await checkRunbookDir(raw.runbooks, c);
  const limits = serveLimits(env);
  const consoleEnv = env.REARGUARD_CONSOLE?.trim().toLowerCase();
  if (consoleEnv && !['on', 'off'].includes(consoleEnv))
    throw badInput(`REARGUARD_CONSOLE: expected on or off, got ${echo(env.REARGUARD_CONSOLE!.slice(0, 40))}`);
  const withConsole = raw.console !== false && consoleEnv !== 'off';
  const gate = gateSettings(env);
  const {
    app,
    gate: view,
    progress,
  } = buildServer({
    client: await c.connect(),
    token: env.REARGUARD_API_TOKEN,
    runbooksDir: raw.runbooks,
    taskQueue: c.opts.taskQueue,
    limits,
    gate,
    console: withConsole,
    prometheusUrl: env.REARGUARD_PROMETHEUS_URL?.trim() || undefined,
    ...people,
  });
  const address = await app.listen({ host: raw.host, port });
  // The gate's copy of the freeze registry, current before the first deploy asks (a check meanwhile waits for it).
  view.start();
  progress.start();
  c.out(
    c.opts.json
      ? JSON.stringify({ listening: address, gate: '/v1/gate', ...(withConsole ? { console: '/' } : {}), temporal: c.temporal })
      : `rearguard serve: listening on ${address} (GET /v1/gate?env=&service=&change=${withConsole ? `; console at ${address}/` : ''}); Temporal at ${c.temporal}`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  progress.stop();
  await app.close();
}
