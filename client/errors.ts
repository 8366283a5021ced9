// One way to fail for every command: a CliError carries the exit code of the README ("Exit codes") and
// the lines to print. Validation problems are `path: message` lines; no stack traces for user mistakes.
// Failures of api/ operations arrive as OperationErrors (api/errors.ts), already worded: only the exit code is ours.
import type { z } from 'zod';
import { OperationError, rootMessage } from '../api/operation-error.js';
import { formatPath, friendlyErrors } from '../runbook/issues.js';
import type { Loaded } from '../runbook/load.js';
import { renderLine, type OutputFormat } from './output.js';

export const EXIT = { ok: 0, failed: 1, badInput: 2, frozen: 3 } as const;

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    readonly lines: string[],
  ) {
    super(lines.join('\n'));
  }
}

const CODES: Record<number, string> = { 1: 'failed', 2: 'bad-input', 3: 'frozen' };

/** An error as `--json` callers get it on stderr: one object, `code` stable for scripts, `message` for people. */
export const jsonError = (exitCode: number, lines: string[]): string =>
  JSON.stringify({ error: { code: CODES[exitCode] ?? 'failed', exitCode, message: lines.join('\n') } });

/** The same error object in the output format asked for (`-o yaml` gets it as a YAML document). */
export const errorDocument = (exitCode: number, lines: string[], format: OutputFormat): string => renderLine(jsonError(exitCode, lines), format);

export const badInput = (...lines: string[]): CliError => new CliError(EXIT.badInput, lines);
export const failed = (...lines: string[]): CliError => new CliError(EXIT.failed, lines);

/** Validates command options with a zod schema; problems name the flag (`--since: ...`). */
export function parseOptions<S extends z.ZodType>(schema: S, opts: unknown): z.output<S> {
  const parsed = schema.safeParse(opts, { error: friendlyErrors });
  if (parsed.success) return parsed.data;
  throw badInput(
    ...parsed.error.issues.map((i) => {
      const [first, ...rest] = i.path;
      const flag = typeof first === 'string' ? `--${first.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'options';
      const given = typeof first === 'string' ? (opts as Record<string, unknown> | undefined)?.[first] : undefined;
      // Every refusal shows what was given, unless the message already does (", got ...").
      const got = typeof given === 'string' && !/, got /.test(i.message) ? `, got ${echo(given)}` : '';
      return `${rest.length ? `${flag}${formatPath(rest).replace(/^(?!\[)/, '.')}` : flag}: ${i.message}${got}`;
    }),
  );
}

/**
 * A user's value in an error message: quoted, at most 60 characters, and with every character that is not
 * printable ASCII escaped, so a hostile value cannot move the cursor, recolour or reorder the terminal.
 */
export function echo(value: string): string {
  const short = value.length > 60 ? `${value.slice(0, 60)}...` : value;
  return JSON.stringify(short).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export { rootMessage };

/** A loaded file's value, or exit code 2 with every problem as `path: message` under `file: invalid <what>`. */
export function loadedOrFail<T>(loaded: Loaded<T>, file: string, what: string): T {
  if (!loaded.ok) throw loaded.io ? badInput(...loaded.problems) : badInput(`${file}: invalid ${what}`, ...loaded.problems.map((p) => `  ${p}`));
  return loaded.value;
}

/** The CLI's error for an api/ operation's failure: its lines, exit code 1 whatever the kind (README, "Exit codes"). */
export const cliErrorOf = (err: OperationError): CliError => new CliError(EXIT.failed, err.lines);

/** err as the CLI reports it: a CliError as it is, an OperationError converted, anything else undefined. */
export function asCliError(err: unknown): CliError | undefined {
  if (err instanceof CliError) return err;
  return err instanceof OperationError ? cliErrorOf(err) : undefined;
}
