// `rearguard serve`: the command line; client/actions/serve.ts starts the HTTP API (client/serve.ts).
import type { Command } from 'commander';
import { DEFAULT_DELEGATE_PRINCIPAL } from '../../runbook/decision.js';
import type { ServeFlags } from '../actions/serve.js';
import type { CliContext } from '../context.js';

const actions = () => import('../actions/serve.js');

export function registerServe(program: Command, ctx: () => CliContext, env: NodeJS.ProcessEnv): void {
  program
    .command('serve')
    .description('HTTP API: GET /v1/gate (200 allowed, 423 frozen), /healthz, /metrics; decisions and GET /v1/audit for people with OIDC tokens')
    .option('--host <host>', 'bind address', '127.0.0.1')
    .option('--port <port>', 'port', '8080')
    .option('--runbooks <dir>', 'directory of runbooks that POST /v1/alerts maps Alertmanager alerts to (needs REARGUARD_API_TOKEN)')
    .option('--oidc-issuer <url>', 'OIDC issuer of the tokens people call decision and audit endpoints with (env REARGUARD_OIDC_ISSUER)')
    .option('--oidc-audience <aud>', "audience those tokens must carry: serve's client ID at the provider (env REARGUARD_OIDC_AUDIENCE)")
    .option('--oidc-jwks-url <url>', "the issuer's signing keys (env REARGUARD_OIDC_JWKS_URL, default: found by OIDC discovery)")
    .option('--oidc-actor-claim <claim>', 'token claim that names the person, e.g. preferred_username (env REARGUARD_OIDC_ACTOR_CLAIM, default sub)')
    .option('--no-console', 'do not serve the web console at / (env REARGUARD_CONSOLE=off)')
    .option('--delegate <principal>', `allowed_signers principal of serve's signing key (env REARGUARD_SERVE_PRINCIPAL, default ${DEFAULT_DELEGATE_PRINCIPAL})`)
    .action(async (raw: ServeFlags) => (await actions()).serve(ctx, raw, env));
}
