// Builds the `rearguard` program: global flags (README, "CLI") and one file per command group (client/commands/),
// which declares its commands and flags; a command's action loads its implementation (client/actions/: parse the
// options, call api/, render) when it runs, so `--help`, `--version` and each command load only what they use
// (docs/architecture.md, "Layers" and "Build").
import { Command, Help, Option } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerCatalog } from './commands/catalog.js';
import { registerCompletion } from './commands/completion.js';
import { registerDoctor } from './commands/doctor.js';
import { registerDrill } from './commands/drill.js';
import { LateDefaultOption } from './commands/flags.js';
import { registerFreeze } from './commands/freeze.js';
import { registerGuard } from './commands/guard.js';
import { registerRollback } from './commands/rollback.js';
import { registerRunbook } from './commands/runbook.js';
import { registerServe } from './commands/serve.js';
import { registerUnfreeze } from './commands/unfreeze.js';
import { registerUpgrade } from './commands/upgrade.js';
import { createContext, globalDefaults, type CliContext, type GlobalOptions } from './context.js';
import { EXIT, echo, errorDocument } from './errors.js';
import { OUTPUT_FORMATS, type OutputFormat } from './output.js';

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
  { errorFormat = 'text' }: { errorFormat?: OutputFormat } = {},
): { program: Command; context: () => CliContext | undefined } {
  const defaults = globalDefaults(env);
  const program = new RearguardCommand('rearguard')
    .description('Durable rollbacks and release freezes on Temporal')
    .version('0.1.0')
    // Without the flags, TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE, then the Temporal CLI's profile, then the defaults.
    .option('--address <host:port>', 'Temporal frontend (env TEMPORAL_ADDRESS, or the TEMPORAL_PROFILE profile; default: "localhost:7233")')
    .option('--namespace <ns>', 'Temporal namespace (env TEMPORAL_NAMESPACE, or the profile; default: "default")')
    .addOption(new Option('--task-queue <name>', 'Rearguard task queue (env REARGUARD_TASK_QUEUE)').default(defaults.taskQueue))
    .option('--as <actor>', 'who is acting, for approvals and the audit trail (env REARGUARD_ACTOR, default: OS user)')
    .option('--signing-key <file>', 'SSH key that signs approvals and rejections (env REARGUARD_SIGNING_KEY, default: git config user.signingkey)')
    .option('--json', 'machine-readable output: JSON (same as -o json)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS))
    // Every command's help lists the global flags too (--json, --as, ...) and marks required options.
    .configureHelp({
      showGlobalOptions: true,
      optionDescription(this: Help, option: Option): string {
        let text = Help.prototype.optionDescription.call(this, option);
        // A default worked out late (commands/flags.ts) is shown as commander shows a default.
        if (option instanceof LateDefaultOption) text = `${text} (default: ${JSON.stringify(option.lateDefault())})`;
        return option.mandatory ? `${text} (required)` : text;
      },
    })
    .showHelpAfterError(errorFormat === 'text' ? '(run with --help for usage)' : false)
    // With --json or -o yaml, a usage mistake is one document on stderr too (the hint to run --help is left out).
    .configureOutput({
      outputError: (text, write) => {
        if (errorFormat === 'text') return write(text);
        if (text.trim() === '(run with --help for usage)') return;
        write(`${errorDocument(EXIT.badInput, [text.trim().replace(/^error: /, '')], errorFormat)}\n`);
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
  registerServe(program, ctx, env);
  registerUpgrade(program, ctx, env);
  registerDoctor(program, ctx, env);
  registerCompletion(program, ctx);
  program.commands.forEach(function override(cmd: Command) {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  });
  return { program, context: () => context };
}
