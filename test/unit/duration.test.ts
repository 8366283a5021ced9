import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, isDuration, parseDuration } from '../../runbook/duration.js';

describe('durations', () => {
  it('parses the forms runbooks use', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('3d'), 259_200_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
  });
  it('rejects everything else', () => {
    for (const bad of ['', '5', 'm5', '5 m', '-5m', '1.5h', '5M', '5min', 'PT5M']) assert.equal(isDuration(bad), false, bad);
    assert.throws(() => parseDuration('5x'), /expected a duration like 90s, 5m, 2h/);
  });
  it('formats compactly', () => {
    assert.equal(formatDuration(330_000), '5m30s');
    assert.equal(formatDuration(259_200_000), '3d');
    assert.equal(formatDuration(-90_000), '-1m30s');
    assert.equal(formatDuration(0), '0ms');
  });
});
