// One way to fail for every command: a CliError carries the exit code of the README ("Exit codes") and
// the lines to print. Validation problems are `path: message` lines; no stack traces for user mistakes.
import type { z } from 'zod';
import { formatPath, friendlyErrors } from '../runbook/issues.js';

export const EXIT = { ok: 0, failed: 1, badInput: 2, frozen: 3 } as const;

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    readonly lines: string[],
  ) {
    super(lines.join('\n'));
  }
}

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
      return `${rest.length ? `${flag}${formatPath(rest).replace(/^(?!\[)/, '.')}` : flag}: ${i.message}`;
    }),
  );
}

/** Makes the underlying cause of a Temporal client error readable in one line. */
export function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown; details?: unknown } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  // gRPC errors keep the server's explanation in a string `details`; failures keep theirs in `message`.
  if (typeof e?.details === 'string' && e.details) return e.details;
  return e?.message || String(err);
}
