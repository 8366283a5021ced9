// Failures as workflows classify them (which error types no retry can fix) and as people read them in
// audit events and notifications. One list per kind of call, so every workflow gives up on the same errors.

/** A worker misconfiguration (unknown cluster, missing secret): retrying cannot fix it. */
export const CONFIGURATION_ERRORS = ['ConfigurationError'];

/** A step or plan that cannot succeed by retrying: misconfigured, unsupported, forbidden, or aimed at nothing. */
export const FINAL_STEP_ERRORS = ['ConfigurationError', 'MechanismNotAvailable', 'PermissionDenied', 'NotFound'];

/** A check that polled until its own timeout and failed already waited as long as it was meant to. */
export const FINAL_CHECK_ERRORS = [...FINAL_STEP_ERRORS, 'CheckFailed'];

/** An activity failure wraps the real cause; this returns the innermost message, which names the problem. */
export const errorMessage = (err: unknown): string => {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
};
