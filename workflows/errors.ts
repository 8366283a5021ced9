// Failures as people read them in audit events and notifications.

/** An activity failure wraps the real cause; this returns the innermost message, which names the problem. */
export const errorMessage = (err: unknown): string => {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
};
