// The `http` verify check: the endpoint must answer the expected status `successes` times in a row,
// polled every `interval` until the check's timeout, then it fails with the last observation.
import { ApplicationFailure, Context, sleep } from '@temporalio/activity';
import { checkFailed } from './errors.js';
import { enforcePolicy, type Egress } from './egress.js';
import { durationText } from '../runbook/duration.js';
import type { HttpCheck } from '../runbook/schema.js';
import { send } from './http.js';

export async function runHttpCheck(check: HttpCheck, egress: Egress = {}): Promise<Record<string, unknown>> {
  const ctx = Context.current();
  const label = check.url.replace(/\?.*$/, '');
  enforcePolicy(egress.policy, { url: check.url }, `check ${check.name ?? 'http'}: ${check.method} ${label}`);
  let streak = 0;
  let polls = 0;
  let last = '';
  const budgetMs = check.timeout ?? 120_000;
  const deadline = Date.now() + budgetMs;
  // At least 1s between polls (the schema requires it too): a check never spins.
  const intervalMs = Math.max(1_000, check.interval);
  for (;;) {
    polls++;
    try {
      const res = await send({ url: check.url, label, method: check.method, timeoutMs: 10_000, signal: ctx.cancellationSignal, lookup: egress.lookup });
      last = `status ${res.status}`;
      streak = res.status === check.expectStatus ? streak + 1 : 0;
    } catch (err) {
      if (ctx.cancellationSignal.aborted) throw err;
      // A refused destination (activities/egress.ts) is a configuration error: polling again cannot help.
      if (err instanceof ApplicationFailure && err.type === 'ConfigurationError') throw err;
      // The failure below names the method and URL once; the transport error would repeat them.
      last = (err as Error).message.replace(`${check.method} ${label}: `, '');
      streak = 0;
    }
    ctx.heartbeat({ polls, streak, last });
    if (streak >= check.successes) return { url: label, status: check.expectStatus, polls };
    if (Date.now() + intervalMs > deadline) {
      const want = `${check.expectStatus}${check.successes > 1 ? ` ${check.successes} times in a row` : ''}`;
      throw checkFailed(`${check.method} ${label}: expected ${want} within ${durationText(budgetMs)}; last: ${last}`);
    }
    // Activity sleep is cancelled with the activity: a cancelled rollback stops polling at once.
    await sleep(intervalMs);
  }
}
