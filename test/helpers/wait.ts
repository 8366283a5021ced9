// The one polling helper of the test suite: probe until it answers, or fail with what was awaited.

export interface WaitOptions {
  /** How long to keep probing, in ms (default 30 s). */
  timeout?: number;
  /** Pause between probes, in ms (default 100). */
  interval?: number;
  /** A probe that throws counts as "not yet" instead of failing the wait (e.g. a server still starting). */
  ignoreErrors?: boolean;
  /** Appended to the timeout message (e.g. the last lines of a log). */
  detail?: () => string;
}

/**
 * Calls `probe` until it returns something other than `undefined` or `false`, and resolves with that value;
 * rejects with `timed out after N ms waiting for <what>` once `timeout` has passed.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string, o: WaitOptions | number = {}): Promise<T> {
  const { timeout = 30_000, interval = 100, ignoreErrors = false, detail } = typeof o === 'number' ? { timeout: o } : o;
  const until = Date.now() + timeout;
  for (;;) {
    const v = ignoreErrors
      ? await Promise.resolve()
          .then(probe)
          .catch(() => undefined)
      : await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}
