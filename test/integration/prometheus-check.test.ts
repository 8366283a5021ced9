// The `prometheus` verify check and the SLO guard's evaluation against a real Prometheus (Debian's package)
// scraping a metrics target whose error ratio the test sets: passes when the value holds for `for`, fails
// with the last value, a bad query is a non-retryable configuration error quoting Prometheus, and an
// unreachable Prometheus is a retryable error (the guard reports it instead of deciding).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Clusters } from '../../activities/targets.js';
import { evaluateSlo, instantQuery, runPrometheusCheck, type PrometheusCheck } from '../../activities/prometheus.js';
import { freePort } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { startMetricsTarget, startPrometheus, type MetricsTarget, type Prometheus } from '../helpers/prometheus.js';
import { makeRunbook } from '../helpers/runbooks.js';

const ratio = (window: string) => `sum(rate(http_requests_total{code=~"5.."}[${window}])) / sum(rate(http_requests_total[${window}]))`;
const activity = <T>(fn: () => Promise<T>, startToCloseTimeoutMs = 40_000): Promise<T> =>
  new MockActivityEnvironment({ startToCloseTimeoutMs }).run(fn) as Promise<T>;
const check = (c: Partial<PrometheusCheck>): PrometheusCheck =>
  ({ type: 'prometheus', name: 'errors', query: ratio('5s'), below: 0.1, ...c }) as PrometheusCheck;

let target: MetricsTarget;
let prom: Prometheus;
let env: Record<string, string>;
before(async () => {
  target = await startMetricsTarget({ rps: 20, errorRatio: 0 });
  prom = await startPrometheus({ scrapeTargets: [target.hostPort] });
  env = { REARGUARD_PROMETHEUS_URL: prom.url };
  // Scraped: the ratio is known (Prometheus 2.42 scrapes ~5-7 s after start).
  await waitFor(async () => (await prom.query(ratio('5s'))).length === 1 || undefined, 'first scrapes', 30_000);
});
after(async () => {
  await prom?.stop();
  await target?.stop();
});

describe('prometheus check (real Prometheus)', () => {
  it('passes when the value holds the threshold for `for`', async () => {
    const started = Date.now();
    const r = await activity(() => runPrometheusCheck(env, check({ for: 3_000 })));
    assert.equal(r.value, 0);
    assert.ok(Date.now() - started >= 3_000, 'held for 3s before passing');
    assert.ok((r.polls as number) >= 3);
  });

  it('fails with the last value when the threshold is not held within its time', async () => {
    target.set({ errorRatio: 0.5 });
    await waitFor(async () => Number((await prom.query(ratio('5s')))[0]?.value[1]) > 0.2 || undefined, 'errors visible', 20_000);
    await assert.rejects(
      activity(() => runPrometheusCheck(env, check({ for: 2_000 })), 10_000),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.type === 'CheckFailed' &&
        err.nonRetryable &&
        // An answer, not a fault: the worker logs it at DEBUG, not as a WARN with a stack trace.
        err.category === ApplicationFailureCategory.BENIGN &&
        /expected below 0\.1 for 2s within 5s; last value 0\.\d+/.test(err.message),
    );
    target.set({ errorRatio: 0 });
  });

  it('a query Prometheus refuses is a non-retryable configuration error quoting Prometheus', async () => {
    await assert.rejects(
      activity(() => runPrometheusCheck(env, check({ query: 'sum(rate(http_requests_total[5s]' }))),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.type === 'ConfigurationError' &&
        err.nonRetryable &&
        /Prometheus refused the query .*: ".*parse error.*" \(bad_data\)/.test(err.message),
    );
  });

  it('an unreachable Prometheus is a retryable PrometheusUnavailable; no URL configured is a configuration error', async () => {
    const down = { REARGUARD_PROMETHEUS_URL: `http://127.0.0.1:${await freePort()}` };
    await assert.rejects(
      activity(() => runPrometheusCheck(down, check({}))),
      (err: unknown) => err instanceof ApplicationFailure && err.type === 'PrometheusUnavailable' && !err.nonRetryable && /cannot be reached/.test(err.message),
    );
    await assert.rejects(
      activity(() => runPrometheusCheck({}, check({}))),
      (err: unknown) => err instanceof ApplicationFailure && err.type === 'ConfigurationError' && /set REARGUARD_PROMETHEUS_URL/.test(err.message),
    );
  });

  it('instantQuery answers vectors and scalars', async () => {
    assert.deepEqual(await instantQuery(prom.url, '1 + 1'), [{ metric: {}, value: 2 }]);
    const up = await instantQuery(prom.url, 'up');
    assert.equal(up[0].metric.instance, target.hostPort);
  });

  it('the SLO evaluation: threshold and multi-window burn rate from the same data; an unreachable Prometheus is reported', async () => {
    target.set({ errorRatio: 0.5 });
    await waitFor(async () => Number((await prom.query(ratio('3s')))[0]?.value[1]) > 0.4 || undefined, 'errors visible', 20_000);
    const runbook = makeRunbook({
      slo: {
        objective: 99,
        conditions: [{ name: 'error-ratio', query: ratio('3s'), above: 0.1 }],
        burnRate: { errorRatio: ratio('$window'), windows: [{ long: '10s', short: '3s', factor: 10 }] },
      },
    });
    const ev = await activity(() => evaluateSlo({ env, clusters: new Clusters({}) }, runbook));
    assert.equal(ev.prometheusError, undefined);
    assert.equal(ev.conditions[0].breached, true);
    assert.ok(ev.conditions[0].value! > 0.4);
    assert.equal(ev.burnRate[0].breached, true, JSON.stringify(ev.burnRate));
    assert.ok(ev.burnRate[0].shortBurn! > 40, 'error ratio 0.5 of a 1% budget is a 50x burn');
    target.set({ errorRatio: 0 });

    const down = await activity(() => evaluateSlo({ env: { REARGUARD_PROMETHEUS_URL: 'http://127.0.0.1:9' }, clusters: new Clusters({}) }, runbook));
    assert.match(down.prometheusError!, /cannot be reached/);
    assert.deepEqual(down.conditions, []);
  });
});
