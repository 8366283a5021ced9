// `rearguard freeze check`, the deploy gate: exit 0 allowed, 3 frozen, 1 when it cannot tell (README, "CLI").
// CI runs it before every deploy, so it is apart from the other freeze commands (client/actions/freeze.ts)
// and loads only what it needs: with REARGUARD_SERVE_URL, one HTTP request to `rearguard serve` (whose copy of
// the gate's registry is exact: api/gate-view.ts); otherwise Temporal's client, api/freezes.ts; and the rendering.
import { unreachableFailedOpen, type GateAnswer, type GateQuery } from '../../runbook/gate.js';
import { serveUrlOf } from '../serve-url.js';
import { CHANGE_ID, CHANGE_ID_HINT, CHANGE_ID_MAX, DNS1123_LABEL } from '../../runbook/names.js';
import type { CliContext } from '../context.js';
import { EXIT, CliError, badInput, echo, failed, rootMessage } from '../errors.js';
import { describeDecision, failedOpenWarning } from '../render/freeze.js';

export interface GateFlags {
  env: string;
  service: string;
  change?: string;
  failOpen?: boolean;
}

/**
 * The gate's flags, refused as parseOptions refuses a zod schema's (every problem, `--flag: message, got "value"`,
 * exit 2), without loading zod: it would be a sixth of the gate's start-up. `--change` follows options.ts
 * `changeId` (the rules are runbook/names.ts CHANGE_ID*); test/unit/gate-options.test.ts holds the two to the same lines.
 */
export function gateOptions(raw: Record<string, unknown>): GateFlags {
  const problems: string[] = [];
  const check = (flag: string, value: string, ...rules: [ok: boolean, message: string][]) => {
    for (const [ok, message] of rules) if (!ok) problems.push(`${flag}: ${message}, got ${echo(value)}`);
  };
  const env = String(raw.env);
  const service = String(raw.service);
  const change = raw.change === undefined ? undefined : String(raw.change);
  check('--env', env, [DNS1123_LABEL.test(env), 'expected an environment name in lowercase, such as prod (a DNS-1123 label)']);
  check('--service', service, [DNS1123_LABEL.test(service), 'expected a service name in lowercase, such as payments (a DNS-1123 label)']);
  if (change !== undefined)
    check(
      '--change',
      change,
      [change.length <= CHANGE_ID_MAX, `expected a change ID of at most ${CHANGE_ID_MAX} characters`],
      [CHANGE_ID.test(change), CHANGE_ID_HINT],
    );
  if (problems.length) throw badInput(...problems);
  return { env, service, ...(change !== undefined ? { change } : {}), ...(raw.failOpen === true ? { failOpen: true } : {}) };
}

export async function check(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const o = gateOptions(raw);
  const q = { environment: o.env, service: o.service, ...(o.change ? { change: o.change } : {}) };
  let decision: GateAnswer;
  const serve = serveUrlOf(process.env);
  try {
    if (serve) decision = await askServe(serve, q, o.failOpen === true);
    else {
      const { checkGate } = await import('../../api/freezes.js');
      decision = await checkGate(await c.connect(), c.opts.taskQueue, q, { failOpen: o.failOpen });
    }
  } catch (err) {
    // Temporal cannot be reached at all: as unknown as an unreadable freeze.
    const why = err instanceof CliError ? err.lines.join(' ') : rootMessage(err);
    if (!o.failOpen)
      throw failed(
        `UNKNOWN: cannot check the freeze gate for ${o.env}/${o.service}: ${why}`,
        'The gate fails closed; to deploy anyway, ask again with --fail-open (logged).',
      );
    decision = unreachableFailedOpen(q, why);
  }
  if (decision.failedOpen) c.err(failedOpenWarning(decision, c.actor));
  if (c.opts.json) c.out(JSON.stringify(decision));
  else describeDecision(decision).forEach((l) => (decision.result === 'allowed' ? c.out(l) : c.err(l)));
  if (decision.result === 'frozen') throw new CliError(EXIT.frozen, []);
  if (decision.result === 'unknown') throw new CliError(EXIT.failed, []);
}

/** How long `freeze check` waits for `rearguard serve` (which answers from memory) before it answers unknown. */
const SERVE_TIMEOUT_MS = 10_000;

/**
 * GET /v1/gate of `rearguard serve`: 200, 423 and 503 carry the answer; 400 is this command's bad input (serve
 * checks the same rules); anything else, or no answer, throws (the caller answers unknown: the gate fails closed).
 */
async function askServe(base: URL, q: GateQuery, failOpen: boolean): Promise<GateAnswer> {
  const url = new URL('v1/gate', base);
  url.searchParams.set('env', q.environment);
  url.searchParams.set('service', q.service);
  if (q.change) url.searchParams.set('change', q.change);
  if (failOpen) url.searchParams.set('failOpen', 'true');
  const where = `rearguard serve at ${base.origin} (REARGUARD_SERVE_URL)`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(SERVE_TIMEOUT_MS), redirect: 'error' });
  } catch (err) {
    throw new Error(`cannot reach ${where}: ${rootMessage(err)}`);
  }
  const body = (await res.json().catch(() => undefined)) as (GateAnswer & { problems?: string[]; error?: string }) | undefined;
  if (res.status === 400 && body?.problems) throw badInput(...body.problems.map((p) => `--${p.replace(/^failOpen:/, 'fail-open:')}`));
  if ([200, 423, 503].includes(res.status) && body && typeof body.result === 'string' && Array.isArray(body.unreadable)) {
    // serve keeps the reasons in its log; the IDs and kinds are what it answers.
    return { ...body, unreadable: body.unreadable.map((u) => ({ ...u, error: u.error ?? `${u.kind} (the reason is in the log of ${where})` })) };
  }
  throw new Error(`${where} answered ${res.status}${body?.error ? `: ${body.error}` : ''}`);
}
