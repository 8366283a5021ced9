// Flags several command groups declare alike (their values are checked by client/options.ts when a command runs).
import { Option, type Command } from 'commander';

/** Adds --env, --service and --id to a command that names a rollback or a guard (`env`, `service`: their help). */
export const withTarget = (cmd: Command, env: string, service: string): Command =>
  cmd.option('--env <environment>', env).option('--service <service>', service).option('--id <workflowId>', 'workflow ID instead of --env/--service');

/**
 * An option whose default is worked out only when it is needed: when help shows it (client/cli.ts shows it as
 * commander shows a default) and when the command runs without the flag (`withLateDefaults`), never at start-up.
 */
export class LateDefaultOption extends Option {
  constructor(
    flags: string,
    description: string,
    readonly lateDefault: () => string,
  ) {
    super(flags, description);
  }
}

/** A command's option values with each late default that was not given filled in, as commander fills in a default. */
export function withLateDefaults(cmd: Command, raw: Record<string, unknown>): Record<string, unknown> {
  const out = { ...raw };
  for (const o of cmd.options) if (o instanceof LateDefaultOption && out[o.attributeName()] === undefined) out[o.attributeName()] = o.lateDefault();
  return out;
}

/** `--tz`'s default: a late one, as Intl's first answer costs 20-90 ms, which `--version` and every command would pay. */
export const localTimeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;
