// What `rearguard serve` tells a caller when something inside it fails: a reference, never the
// internal error (addresses, stack frames, Temporal details). The error itself goes to the server's
// log (stderr, one JSON line) under that reference, so an operator can find it. A failed api/ operation
// (api/errors.ts) gets the HTTP status of its kind.
import { randomBytes } from 'node:crypto';
import type { OperationError, OperationErrorKind } from '../api/errors.js';

const STATUS: Record<OperationErrorKind, number> = {
  'not-found': 404,
  refused: 409,
  conflict: 409,
  // Retry later: the run is being fixed (wedged), or no worker answers yet.
  wedged: 503,
  unavailable: 503,
  failed: 502,
};

/** The HTTP status of an operation's failure. */
export const httpStatusOf = (err: OperationError): number => STATUS[err.kind];

export function logLine(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields })}\n`);
}

/** Logs `err` with a fresh reference and returns the message for the caller. */
export function internalError(err: unknown, context: string): string {
  const ref = randomBytes(6).toString('hex');
  const e = err as { message?: string; name?: string; stack?: string } | undefined;
  logLine('error', context, { ref, error: e?.message ?? String(err), type: e?.name, stack: e?.stack });
  return `internal error (reference ${ref}; the details are in the rearguard serve log)`;
}
