// Real Prometheus and Alertmanager (Debian's packages, scripts/provision-prometheus.sh) against a metrics target
// whose error ratio the test sets: the error-ratio query a `prometheus` verify check runs answers what the
// target serves, and an alert travels rule -> Alertmanager -> webhook (bearer token), firing, then resolved.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { waitFor } from '../helpers/wait.js';
import {
  startAlertmanager,
  startMetricsTarget,
  startPrometheus,
  startWebhookReceiver,
  type PromAlert,
  type RunningServer,
  type WebhookCall,
} from '../helpers/prometheus.js';

const ratio = (window: string) => `sum(rate(http_requests_total{code=~"5.."}[${window}])) / sum(rate(http_requests_total[${window}]))`;

/** Stops everything pushed, last first, whatever happened. */
async function withCleanup(body: (stopLater: (s: Pick<RunningServer, 'stop'>) => void) => Promise<void>): Promise<void> {
  const stack: Pick<RunningServer, 'stop'>[] = [];
  try {
    await body((s) => stack.push(s));
  } finally {
    for (const s of stack.reverse()) await s.stop().catch(() => undefined);
  }
}

const value = (samples: { value: [number, string] }[]): number | undefined => (samples.length === 1 ? Number(samples[0].value[1]) : undefined);

describe('prometheus', () => {
  it('scrapes the target: the error-ratio query answers the ratio the target serves', (t) =>
    withCleanup(async (stopLater) => {
      const t0 = Date.now();
      const target = await startMetricsTarget();
      stopLater(target);
      target.set({ rps: 20, errorRatio: 0.5, latencySeconds: 0.05 });
      const prom = await startPrometheus({ scrapeTargets: [target.hostPort] });
      stopLater(prom);
      const started = Date.now();

      const got = await waitFor(
        async () => {
          const v = value(await prom.query(ratio('15s')));
          return v !== undefined && Math.abs(v - 0.5) < 0.01 ? v : undefined;
        },
        'error ratio ~0.5',
        30_000,
      );
      t.diagnostic(`prometheus ready in ${started - t0} ms; ratio ${got} after ${Date.now() - started} ms`);

      const up = await prom.query('up');
      assert.deepEqual(
        up.map((s) => [s.metric.job, s.metric.instance, s.value[1]]),
        [['app', target.hostPort, '1']],
      );
      // rate() over a window not yet full under-reports (it extrapolates half a scrape past the samples); irate() does not.
      const rps = value(await prom.query('sum(irate(http_requests_total[15s]))'))!;
      assert.ok(Math.abs(rps - 20) < 1, `request rate ${rps}, want ~20/s`);
      const latency = value(await prom.query('sum(rate(http_request_duration_seconds_sum[15s])) / sum(rate(http_request_duration_seconds_count[15s]))'))!;
      assert.ok(Math.abs(latency - 0.05) < 0.001, `mean latency ${latency}, want 0.05`);
      const p99 = value(await prom.query('histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[15s])))'))!;
      assert.ok(p99 > 0.025 && p99 <= 0.05, `p99 ${p99}, want in the (0.025, 0.05] bucket`);

      const health = await fetch(`${target.url}/healthz`);
      assert.equal(health.status, 200);
      target.set({ healthy: false });
      assert.equal((await fetch(`${target.url}/healthz`)).status, 500);
    }));

  it('an alert on the error ratio reaches a webhook through Alertmanager, firing then resolved, with a bearer token', (t) =>
    withCleanup(async (stopLater) => {
      const t0 = Date.now();
      const token = randomBytes(16).toString('hex');
      const receiver = await startWebhookReceiver();
      stopLater({ stop: receiver.close });
      const am = await startAlertmanager({ webhookUrl: receiver.url, bearerToken: token, groupWait: '1s', groupInterval: '1s' });
      stopLater(am);
      const target = await startMetricsTarget({ rps: 20, errorRatio: 0 });
      stopLater(target);
      // A short window so that the ratio falls (and the alert resolves) within seconds of the errors stopping.
      const rules = `groups:
  - name: rearguard-test
    rules:
      - alert: HighErrorRatio
        expr: ${ratio('5s')} > 0.25
        for: 1s
        labels:
          severity: page
          service: web
        annotations:
          summary: 'error ratio {{ $value }}'
`;
      const prom = await startPrometheus({ scrapeTargets: [target.hostPort], rules, alertmanagerUrl: am.url });
      stopLater(prom);

      // Steady state first: the target scraped and the Alertmanager discovered (Prometheus applies its static
      // configs on a 5 s tick), so what follows measures the alert path alone.
      await waitFor(async () => value(await prom.query(ratio('5s'))) === 0 || undefined, 'ratio 0 scraped', 30_000);
      await waitFor(
        async () => (await prom.api<{ activeAlertmanagers: unknown[] }>('alertmanagers')).activeAlertmanagers.length > 0 || undefined,
        'alertmanager discovered',
        30_000,
      );
      const ready = Date.now();

      // Prometheus's view of the alert, every 100 ms, to time each hop.
      const seen: Record<string, number> = {};
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const alerts: PromAlert[] = await prom.alerts().catch(() => []);
          seen[alerts.find((a) => a.labels.alertname === 'HighErrorRatio')?.state ?? 'inactive'] ??= Date.now();
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      try {
        const errorsAt = Date.now();
        target.set({ errorRatio: 0.5 });
        const firing = await receiver.next((c) => c.body.status === 'firing', 'firing notification', 30_000);

        assert.equal(firing.path, '/alerts');
        assert.equal(firing.headers.authorization, `Bearer ${token}`);
        assert.equal(firing.body.version, '4');
        assert.equal(firing.body.receiver, 'webhook');
        assert.deepEqual(firing.body.groupLabels, { alertname: 'HighErrorRatio' });
        assert.deepEqual(firing.body.commonLabels, { alertname: 'HighErrorRatio', severity: 'page', service: 'web' });
        assert.equal(firing.body.alerts.length, 1);
        const [alert] = firing.body.alerts;
        assert.equal(alert.status, 'firing');
        assert.deepEqual(alert.labels, { alertname: 'HighErrorRatio', severity: 'page', service: 'web' });
        assert.match(alert.annotations.summary, /^error ratio 0\.\d+/);
        assert.match(alert.generatorURL, /\/graph\?g0\.expr=/);
        assert.equal(alert.endsAt, '0001-01-01T00:00:00Z');

        const okAt = Date.now();
        target.set({ errorRatio: 0 });
        const resolved = await receiver.next((c: WebhookCall) => c.body.status === 'resolved', 'resolved notification', 30_000);
        assert.equal(resolved.headers.authorization, `Bearer ${token}`);
        assert.equal(resolved.body.alerts.length, 1);
        assert.equal(resolved.body.alerts[0].status, 'resolved');
        assert.equal(resolved.body.alerts[0].fingerprint, alert.fingerprint);
        assert.ok(Date.parse(resolved.body.alerts[0].endsAt) > Date.parse(alert.startsAt));
        assert.equal(receiver.calls.filter((c) => c.body.status === 'firing').length, 1, 'one firing notification (repeat_interval 1h)');

        // Prometheus's own resolution time is the resolved alert's endsAt; its firing time only shows when polled.
        const resolvedAt = Date.parse(resolved.body.alerts[0].endsAt);
        t.diagnostic(
          `setup ${ready - t0} ms; errors on -> pending ${seen.pending - errorsAt} ms -> firing ${seen.firing - errorsAt} ms (polled) -> ` +
            `webhook ${firing.at - errorsAt} ms (firing -> webhook ~${firing.at - seen.firing} ms); errors off -> ` +
            `resolved ${resolvedAt - okAt} ms -> webhook ${resolved.at - okAt} ms (resolved -> webhook ${resolved.at - resolvedAt} ms); total ${Date.now() - t0} ms`,
        );
        t.diagnostic(`firing payload: ${JSON.stringify(firing.body)}`);
      } finally {
        polling = false;
        await poller;
      }
    }));
});
