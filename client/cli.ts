// Builds the `rearguard` program: global flags (README, "CLI") and one file per command group, each of
// which parses options, calls api/ and renders (docs/architecture.md, "Layers").
import { Command, Help, Option } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerCatalog } from './commands/catalog.js';
import { registerDrill } from './commands/drill.js';
import { registerFreeze } from './commands/freeze.js';
import { registerGuard } from './commands/guard.js';
import { registerRollback } from './commands/rollback.js';
import { registerRunbook } from './commands/runbook.js';
import { registerUnfreeze } from './commands/unfreeze.js';
import { createContext, globalDefaults, type CliContext, type GlobalOptions } from './context.js';
import { EXIT, badInput, echo, jsonError } from './errors.js';
import { loadRunbookDir } from './runbook-dir.js';
import { DEFAULT_DELEGATE_PRINCIPAL, DELEGATE_PRINCIPAL } from '../runbook/decision.js';

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

interface ServeFlags {
  host: string;
  port: string;
  runbooks?: string;
  oidcIssuer?: string;
  oidcAudience?: string;
  oidcJwksUrl?: string;
  oidcActorClaim?: string;
  delegate?: string;
}

/**
 * serve's endpoints for people: the OIDC settings (flags, else REARGUARD_OIDC_*) and serve's own signing key
 * (--signing-key, else REARGUARD_SERVE_SIGNING_KEY; never a person's REARGUARD_SIGNING_KEY or git's key), checked
 * at start by signing once, so the operator sees the allowed_signers line to give the workers.
 */
async function servePeople(raw: ServeFlags, signingKey: string | undefined, env: NodeJS.ProcessEnv, c: CliContext) {
  const { oidcConfigFrom } = await import('./oidc.js');
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
  const [{ signMessage }, { parseSshSignature, encodeBase64 }] = await Promise.all([import('./signing.js'), import('../runbook/sshsig.js')]);
  const probe = await signMessage('rearguard serve: signing key check', { key, keyOption: keySource });
  const publicKey = encodeBase64(parseSshSignature(probe.signature).publicKey);
  c.err(`rearguard serve: signs decisions as ${principal} with key ${probe.fingerprint}; the workers' allowed_signers must list it:`);
  c.err(`  ${principal} ssh-ed25519 ${publicKey}`);
  return { oidc, delegate: { principal, key, keySource } };
}

/**
 * commander reports a missing required option before an unknown one, so a typo (`--runbok x.yaml`) read as
 * "required option '--runbook' not specified". The typo is the real mistake: report it first, with
 * commander's own "unknown option" message and suggestion. (Hooks into commander 14's
 * missingMandatoryOptionValue and unknownOption, which test/unit/cli-text-input.test.ts exercises.)
 */
class RearguardCommand extends Command {
  override createCommand(name?: string): Command {
    return new RearguardCommand(name);
  }

  missingMandatoryOptionValue(option: Option): void {
    const self = this as unknown as { unknownOption(flag: string): void; args: string[] };
    const known = (flag: string): boolean => {
      const commands: Command[] = [];
      for (let c: Command | null = this.parent; c; c = c.parent) commands.push(c);
      return [this as Command, ...commands].some((c) => c.options.some((o) => o.long === flag || o.short === flag));
    };
    const typo = self.args.find((a) => a.startsWith('-') && a !== '-' && a !== '--' && !known(a.split('=')[0]));
    if (typo) self.unknownOption(typo.split('=')[0]);
    (Command.prototype as unknown as { missingMandatoryOptionValue(o: Option): void }).missingMandatoryOptionValue.call(this, option);
  }

  /** commander says how many arguments it got; say which ones, so a stray word (an unquoted reason) is visible. */
  _excessArguments(received: string[]): void {
    const self = this as unknown as { _allowExcessArguments: boolean; registeredArguments: unknown[]; error(m: string, o: { code: string }): never };
    if (self._allowExcessArguments) return;
    const expected = self.registeredArguments.length;
    const extra = received.slice(expected).map((a) => echo(a));
    self.error(
      `error: too many arguments for '${this.name()}': expected ${expected === 0 ? 'none' : expected}, got ${extra.join(' ')} in addition (quote a value that has spaces)`,
      { code: 'commander.excessArguments' },
    );
  }
}

export function buildProgram(
  env: NodeJS.ProcessEnv = process.env,
  { jsonErrors = false }: { jsonErrors?: boolean } = {},
): { program: Command; context: () => CliContext | undefined } {
  const defaults = globalDefaults(env);
  const program = new RearguardCommand('rearguard')
    .description('Durable rollbacks and release freezes on Temporal')
    .version('0.1.0')
    .addOption(new Option('--address <host:port>', 'Temporal frontend (env TEMPORAL_ADDRESS)').default(defaults.address))
    .addOption(new Option('--namespace <ns>', 'Temporal namespace (env TEMPORAL_NAMESPACE)').default(defaults.namespace))
    .addOption(new Option('--task-queue <name>', 'Rearguard task queue (env REARGUARD_TASK_QUEUE)').default(defaults.taskQueue))
    .option('--as <actor>', 'who is acting, for approvals and the audit trail (env REARGUARD_ACTOR, default: OS user)')
    .option('--signing-key <file>', 'SSH key that signs approvals and rejections (env REARGUARD_SIGNING_KEY, default: git config user.signingkey)')
    .option('--json', 'machine-readable output')
    // Every command's help lists the global flags too (--json, --as, ...) and marks required options.
    .configureHelp({
      showGlobalOptions: true,
      optionDescription(this: Help, option: Option): string {
        const text = Help.prototype.optionDescription.call(this, option);
        return option.mandatory ? `${text} (required)` : text;
      },
    })
    .showHelpAfterError(jsonErrors ? false : '(run with --help for usage)')
    // With --json, a usage mistake is one JSON object on stderr too (the hint to run --help is left out).
    .configureOutput({
      outputError: (text, write) => {
        if (!jsonErrors) return write(text);
        if (text.trim() === '(run with --help for usage)') return;
        write(`${jsonError(EXIT.badInput, [text.trim().replace(/^error: /, '')])}\n`);
      },
    })
    .exitOverride();

  let context: CliContext | undefined;
  const ctx = (): CliContext => (context ??= createContext(program.opts<GlobalOptions>(), env));
  registerRunbook(program, ctx);
  registerRollback(program, ctx);
  registerFreeze(program, ctx);
  registerUnfreeze(program, ctx);
  registerGuard(program, ctx);
  registerAudit(program, ctx);
  registerDrill(program, ctx);
  registerCatalog(program, ctx);
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
    .option('--delegate <principal>', `allowed_signers principal of serve's signing key (env REARGUARD_SERVE_PRINCIPAL, default ${DEFAULT_DELEGATE_PRINCIPAL})`)
    .action(async (raw: ServeFlags) => {
      const c = ctx();
      const port = Number(raw.port);
      if (!/^\d{1,5}$/.test(raw.port) || port > 65535) throw badInput(`--port: expected a port number 0-65535, got ${JSON.stringify(raw.port)}`);
      const { buildServer } = await import('./serve.js');
      if (raw.runbooks !== undefined && !env.REARGUARD_API_TOKEN) throw badInput('--runbooks: the alert intake needs a bearer token: set REARGUARD_API_TOKEN');
      const people = await servePeople(raw, (c.opts as { signingKey?: string }).signingKey, env, c);
      if (raw.runbooks !== undefined) await checkRunbookDir(raw.runbooks, c);
      const limits = serveLimits(env);
      const { app } = buildServer({
        client: await c.connect(),
        token: env.REARGUARD_API_TOKEN,
        runbooksDir: raw.runbooks,
        taskQueue: c.opts.taskQueue,
        limits,
        ...people,
      });
      const address = await app.listen({ host: raw.host, port });
      c.out(`rearguard serve: listening on ${address} (GET /v1/gate?env=&service=&change=)`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await app.close();
    });
  program.commands.forEach(function override(cmd: Command) {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  });
  return { program, context: () => context };
}
