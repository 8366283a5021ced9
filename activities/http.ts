// Outgoing HTTP for webhooks, notifications and health checks: a per-request timeout, cancellation
// from the activity context, and status classification (4xx is a configuration problem, 5xx and
// network errors are worth retrying).
import { ApplicationFailure } from '@temporalio/activity';
import { configurationError, excerpt } from './errors.js';
import { pinnedDispatcher, redactor, resolveDestination, type Lookup } from './egress.js';

export interface HttpRequest {
  url: string;
  /** What to show in errors and results instead of the URL, which may embed a secret token. */
  label: string;
  method: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Values of the secrets this request carries (a URL from urlEnv, headers from env): redacted from the body and errors. */
  secrets?: readonly string[];
  /** Resolver for the egress check (tests); node:dns by default. */
  lookup?: Lookup;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export async function send(req: HttpRequest): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  const redact = redactor(req.secrets ?? []);
  const unavailable = (why: string) => ApplicationFailure.retryable(redact(`${req.method} ${req.label}: ${why}`), 'HttpUnavailable');
  // The egress check (activities/egress.ts): metadata and link-local addresses are refused before any
  // connection, and the connection goes to the addresses checked here (no second DNS answer).
  let aborted: () => void = () => undefined;
  const abortedPromise = new Promise<never>((_, reject) => {
    aborted = () => reject(signal.reason as Error);
    signal.addEventListener('abort', aborted, { once: true });
  });
  abortedPromise.catch(() => undefined);
  let dispatcher: Awaited<ReturnType<typeof pinnedDispatcher>>;
  try {
    dispatcher = await Promise.race([resolveDestination(req.url, `${req.method} ${req.label}`, req.lookup).then(pinnedDispatcher), abortedPromise]);
  } catch (err) {
    if (req.signal?.aborted) throw err;
    if (timeout.aborted) throw unavailable(`no answer within ${req.timeoutMs} ms`);
    throw err;
  } finally {
    signal.removeEventListener('abort', aborted);
  }
  // The dispatcher is kept for the next request to the same checked addresses (activities/egress.ts).
  let res: Response;
  try {
    const init = { method: req.method, headers: req.headers, body: req.body, signal, redirect: 'manual', ...(dispatcher ? { dispatcher } : {}) };
    res = await fetch(req.url, init as RequestInit);
  } catch (err) {
    if (req.signal?.aborted) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw unavailable(timeout.aborted ? `no answer within ${req.timeoutMs} ms` : (cause?.code ?? cause?.message ?? String(err)));
  }
  const body = redact(await res.text().catch(() => ''));
  return { status: res.status, body };
}

/** Throws the right kind of failure for an unexpected status. */
export function rejectStatus(req: Pick<HttpRequest, 'method' | 'label'>, res: HttpResponse, expected: string): never {
  const msg = `${req.method} ${req.label} answered ${res.status}, expected ${expected}${res.body ? `: ${excerpt(res.body, 200)}` : ''}`;
  const transient = res.status >= 500 || res.status === 408 || res.status === 429;
  if (transient) throw ApplicationFailure.retryable(msg, 'HttpStatus');
  throw configurationError(msg);
}

/** Host and path without query string or credentials: safe to log and to keep in history. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
