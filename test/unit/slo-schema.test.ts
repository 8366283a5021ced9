// spec.slo (the SLO guard's section of a runbook): defaults, and the exact `path: message` lines of mistakes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateRunbook } from '../../runbook/load.js';
import { sloProblems } from '../../runbook/cross-checks.js';
import { withWindow } from '../../activities/prometheus.js';
import { guardWatch } from '../../runbook/slo-guard.js';

const doc = (slo: unknown, steps: unknown[] = [{ type: 'kubernetes', namespace: 'payments', deployment: 'api' }]) => ({
  apiVersion: 'rearguard/v1',
  kind: 'Runbook',
  metadata: { name: 'payments-prod' },
  spec: { service: 'payments', environment: 'prod', sla: '5m', steps, notify: [{ name: 'oncall', type: 'webhook', url: 'http://127.0.0.1:9/x' }], slo },
});
const problems = (slo: unknown) => {
  const r = validateRunbook(doc(slo));
  return r.ok ? [] : r.problems;
};
const ratio = 'sum(rate(http_requests_total{code=~"5.."}[$window])) / sum(rate(http_requests_total[$window]))';

describe('spec.slo schema', () => {
  it('accepts the documented example and fills in defaults', () => {
    const r = validateRunbook(
      doc({
        objective: 99.9,
        conditions: [{ name: 'error-ratio', query: 'x', above: 0.05, for: '2m' }],
        burnRate: { errorRatio: ratio },
        health: { deployment: true, http: { url: 'http://payments.internal/healthz' } },
        notify: ['oncall'],
      }),
    );
    assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    const slo = r.value.spec.slo!;
    // Durations are milliseconds once validated: 30s, 15m, and the default windows 1h/5m and 6h/30m.
    assert.equal(slo.interval, 30_000);
    assert.equal(slo.cooldown, 15 * 60_000);
    assert.deepEqual(slo.burnRate!.windows, [
      { long: 3_600_000, short: 5 * 60_000, factor: 14.4 },
      { long: 6 * 3_600_000, short: 30 * 60_000, factor: 6 },
    ]);
    assert.deepEqual(slo.health!.http, { url: 'http://payments.internal/healthz', expectStatus: 200, failures: 3 });
    assert.deepEqual(sloProblems(r.value), []);
  });

  it('a runbook without spec.slo stays valid', () => {
    const r = validateRunbook(doc(undefined));
    assert.ok(r.ok);
    assert.equal(r.value.spec.slo, undefined);
    assert.deepEqual(sloProblems(r.value), ['spec.slo: Required (the SLO guard needs conditions, burnRate or health to watch)']);
  });

  const table: [string, unknown, string[]][] = [
    ['unknown key', { conditions: [{ name: 'e', query: 'x', above: 1 }], intervall: '1m' }, ['spec.slo.intervall: unknown key']],
    ['nothing to watch', {}, ['spec.slo: expected at least one of conditions, burnRate or health']],
    [
      'both thresholds',
      { conditions: [{ name: 'e', query: 'x', above: 1, below: 0 }] },
      ['spec.slo.conditions[0].above: expected exactly one of above or below'],
    ],
    ['no threshold', { conditions: [{ name: 'e', query: 'x' }] }, ['spec.slo.conditions[0].above: expected exactly one of above or below']],
    [
      'bad for',
      { conditions: [{ name: 'e', query: 'x', above: 1, for: 'two minutes' }] },
      ['spec.slo.conditions[0].for: expected a duration like 90s, 5m, 2h (at most 7d), got "two minutes"'],
    ],
    ['unknown key in a condition', { conditions: [{ name: 'e', query: 'x', above: 1, window: '5m' }] }, ['spec.slo.conditions[0].window: unknown key']],
    ['burn rate without objective', { burnRate: { errorRatio: ratio } }, ['spec.slo.objective: expected objective (e.g. 99.9) with burnRate']],
    ['objective out of range', { objective: 100, burnRate: { errorRatio: ratio } }, ['spec.slo.objective: expected a percentage between 0 and 100']],
    [
      'errorRatio without $window',
      { objective: 99.9, burnRate: { errorRatio: 'sum(rate(x[5m]))' } },
      ['spec.slo.burnRate.errorRatio: expected $window in the query (e.g. rate(http_requests_total[$window]))'],
    ],
    [
      'short window not shorter',
      { objective: 99.9, burnRate: { errorRatio: ratio, windows: [{ long: '5m', short: '1h', factor: 14.4 }] } },
      ['spec.slo.burnRate.windows[0].short: expected short to be shorter than long'],
    ],
    ['interval under 1s', { interval: '500ms', health: { deployment: true } }, ['spec.slo.interval: expected at least 1s, got 500ms']],
    ['bad deployment health', { health: { deployment: 'yes' } }, ['spec.slo.health.deployment: expected true or { namespace, deployment }']],
    ['bad http url', { health: { http: { url: 'payments/healthz' } } }, ['spec.slo.health.http.url: expected an http:// or https:// URL']],
  ];
  for (const [name, slo, want] of table) {
    it(name, () => assert.deepEqual(problems(slo), want));
  }

  it('references the schema cannot see: notify names, deployment: true without a kubernetes step (reported by validation)', () => {
    const r = validateRunbook(doc({ health: { deployment: true }, notify: ['pager'] }, [{ type: 'webhook', url: 'http://127.0.0.1:9/x' }]));
    assert.equal(r.ok, false);
    assert.deepEqual(r.ok ? [] : r.problems, [
      'spec.slo.notify[0]: no notify target named pager in spec.notify (oncall)',
      'spec.slo.health.deployment: true needs a kubernetes step naming the Deployment; or give { namespace, deployment }',
    ]);
  });

  it('$window is replaced in every place', () => {
    assert.equal(withWindow(ratio, '1h'), 'sum(rate(http_requests_total{code=~"5.."}[1h])) / sum(rate(http_requests_total[1h]))');
  });

  it("what a guard watches (its status Query's `watches`): thresholds, `for`, burn-rate queries as evaluated, health without secrets", () => {
    const r = validateRunbook(
      doc({
        objective: 99.5,
        conditions: [
          { name: 'errors', query: 'sum(rate(x[5m]))', above: 0.05, for: '2m' },
          { name: 'traffic', query: 'sum(rate(y[5m]))', below: 1 },
        ],
        burnRate: { errorRatio: ratio, windows: [{ long: '1h', short: '5m', factor: 14.4 }] },
        health: { deployment: true, http: { url: 'https://user:secret@api.example.com/healthz?token=abc' } },
      }),
    );
    assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    assert.deepEqual(guardWatch(r.value.spec.slo!), {
      conditions: [
        { name: 'errors', query: 'sum(rate(x[5m]))', op: 'above', threshold: 0.05, for: '2m' },
        { name: 'traffic', query: 'sum(rate(y[5m]))', op: 'below', threshold: 1 },
      ],
      burnRate: {
        objective: 99.5,
        budget: 1 - 99.5 / 100,
        windows: [{ long: '1h', short: '5m', factor: 14.4, longQuery: withWindow(ratio, '1h'), shortQuery: withWindow(ratio, '5m') }],
      },
      health: { deployment: true, http: { url: 'https://api.example.com/healthz', expectStatus: 200, failures: 3 } },
    });
  });
});
