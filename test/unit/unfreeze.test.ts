// The gradual unfreeze's pure parts: the CLI's --gate syntax, per-environment gates, gate descriptions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeGate, gateFailureDetail, gateFor, parseGate } from '../../runbook/unfreeze.js';

describe('unfreeze --gate syntax', () => {
  it('splits the query from the last < or > followed by a number, with an optional `for`', () => {
    assert.deepEqual(parseGate('sum(rate(errors[5m])) / sum(rate(requests[5m])) < 0.01'), {
      type: 'prometheus',
      query: 'sum(rate(errors[5m])) / sum(rate(requests[5m]))',
      below: 0.01,
    });
    assert.deepEqual(parseGate('sum(up{job="api"}) > 2 for 2m'), { type: 'prometheus', query: 'sum(up{job="api"})', above: 2, for: 120_000 });
    // A comparison inside the query stays in the query.
    assert.deepEqual(parseGate('count(latency > 0.5) < 1e-3'), { type: 'prometheus', query: 'count(latency > 0.5)', below: 0.001 });
  });

  it('explains what it expects', () => {
    assert.match(parseGate('up') as string, /expected a Prometheus query, then < or > and a number/);
    assert.match(parseGate('< 0.01') as string, /expected a Prometheus query/);
    assert.match(parseGate('x <= 0.01') as string, /<= is not supported: use </);
    assert.match(parseGate('x < 0.01 for soon') as string, /for: expected a duration/);
  });

  it('gates are per environment: $environment in a query or URL becomes its name', () => {
    const g = gateFor({ type: 'prometheus', query: 'errors{env="$environment"}', below: 1 }, 'staging');
    assert.equal(g.type === 'prometheus' && g.query, 'errors{env="staging"}');
    const h = gateFor(
      { type: 'http', url: 'https://$environment.example.com/healthz', method: 'GET', expectStatus: 200, successes: 1, interval: 5_000 },
      'prod',
    );
    assert.equal(h.type === 'http' && h.url, 'https://prod.example.com/healthz');
    assert.equal(describeGate(g), 'errors{env="staging"} < 1');
    assert.equal(describeGate(h), 'GET https://prod.example.com/healthz -> 200');
  });

  it('an http gate is named once, without its query string, and its failure does not repeat the URL', () => {
    const check = {
      type: 'http' as const,
      method: 'GET' as const,
      url: 'http://api.staging:8080/healthz?token=s3cr3t',
      expectStatus: 200,
      successes: 1,
      interval: 5_000,
    };
    const gate = describeGate(check);
    assert.equal(gate, 'GET http://api.staging:8080/healthz -> 200');
    const detail = gateFailureDetail(check, 'GET http://api.staging:8080/healthz: expected 200 within 2m; last: ECONNREFUSED');
    assert.equal(`${gate}: ${detail}`, 'GET http://api.staging:8080/healthz -> 200: expected 200 within 2m; last: ECONNREFUSED');
    assert.equal(gateFailureDetail(check, 'worker lost'), 'worker lost', 'other failures are kept as they are');
  });
});
