// How every operation of api/ fails (api/errors.ts words Temporal's errors into these). Apart from errors.ts
// because it loads no Temporal code: the CLI needs OperationError to report any failure, and its start-up
// (`rearguard --version`, `--help`, `runbook validate`) must not pay for @temporalio/client.
import type { WedgedRun } from './wedged.js';

/**
 * not-found: no such run (or none running); refused: the workflow (an Update's validator) or the operation
 * said no; conflict: one already exists or runs with other settings; wedged: the run's workflow task keeps
 * failing; unavailable: no worker answered; failed: Temporal failed the call otherwise.
 */
export type OperationErrorKind = 'not-found' | 'refused' | 'conflict' | 'wedged' | 'unavailable' | 'failed';

export class OperationError extends Error {
  constructor(
    readonly kind: OperationErrorKind,
    readonly lines: string[],
    /** The wedge, when kind is wedged: callers that log it or word it their own way (the alert intake). */
    readonly wedged?: WedgedRun,
  ) {
    super(lines.join('\n'));
    this.name = 'OperationError';
  }
}

export const opError = (kind: OperationErrorKind, ...lines: string[]): OperationError => new OperationError(kind, lines);

/** Makes the underlying cause of a Temporal client error readable in one line. */
export function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown; details?: unknown } | undefined;
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  // gRPC errors keep the server's explanation in a string `details`; failures keep theirs in `message`.
  if (typeof e?.details === 'string' && e.details) return e.details;
  return e?.message || String(err);
}
