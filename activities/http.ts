// Outgoing HTTP for webhooks, notifications and health checks: a per-request timeout, cancellation
// from the activity context, and status classification (4xx is a configuration problem, 5xx and
// network errors are worth retrying).
import { ApplicationFailure } from '@temporalio/activity';
import { configurationError, excerpt } from './errors.js';

export interface HttpRequest {
  url: string;
  /** What to show in errors and results instead of the URL, which may embed a secret token. */
  label: string;
  method: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export async function send(req: HttpRequest): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, signal, redirect: 'manual' });
  } catch (err) {
    if (req.signal?.aborted) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = timeout.aborted ? `no answer within ${req.timeoutMs} ms` : (cause?.code ?? cause?.message ?? String(err));
    throw ApplicationFailure.retryable(`${req.method} ${req.label}: ${why}`, 'HttpUnavailable');
  }
  const body = await res.text().catch(() => '');
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
