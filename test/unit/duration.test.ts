import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { CliError, parseOptions } from '../../client/errors.js';
import { durationOption } from '../../client/options.js';
import {
  DURATION_LIMITS,
  checkDuration,
  durationText,
  formatDuration,
  isDuration,
  parseDuration,
  rangeText,
  runbookDurationProblems,
} from '../../runbook/duration.js';
import { friendlyErrors } from '../../runbook/issues.js';
import { durationField } from '../../runbook/schema.js';

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

describe('durations with limits (checkDuration, the schema fields, CLI flags)', () => {
  const t = DURATION_LIMITS.timeout;
  it('parses single units, combined forms and milliseconds once, to milliseconds', () => {
    for (const [text, ms] of [
      ['1h30m', 5_400_000],
      ['2d12h', 216_000_000],
      ['1m30s', 90_000],
      ['1s500ms', 1_500],
      ['90m', 5_400_000],
      ['7d', 604_800_000],
      ['1s', 1_000],
      ['5000ms', 5_000],
    ] as const)
      assert.deepEqual(checkDuration(text, t), { ok: true, ms }, text);
  });
  it('refuses units out of order or repeated, signs, fractions, spaces', () => {
    for (const bad of ['30m1h', '5m5m', '1h 30m', '+5m', '1.5h', '5ms5s', 'h', '1d1d']) {
      const r = checkDuration(bad, t);
      assert.equal(r.ok, false, bad);
      assert.equal(!r.ok && r.message, `expected a duration like 90s, 5m, 2h (at least 1s, at most 7d), got ${JSON.stringify(bad)}`);
    }
  });
  it('applies the caps with messages that say what is allowed', () => {
    assert.deepEqual(checkDuration('8d', t), { ok: false, message: 'expected at most 7d, got 8d' });
    assert.deepEqual(checkDuration('99999999999h', t), { ok: false, message: 'expected at most 7d, got 99999999999h' });
    assert.deepEqual(checkDuration(`${'9'.repeat(400)}s`, t), { ok: false, message: `expected at most 7d, got ${'9'.repeat(40)}…` });
    assert.deepEqual(checkDuration('500ms', t), { ok: false, message: 'expected at least 1s, got 500ms' });
    assert.deepEqual(checkDuration('0s', DURATION_LIMITS.hold), { ok: true, ms: 0 });
    assert.deepEqual(checkDuration('366d', DURATION_LIMITS.freeze), { ok: true, ms: 366 * 86_400_000 });
    assert.deepEqual(checkDuration('367d', DURATION_LIMITS.freeze), { ok: false, message: 'expected at most 366d, got 367d' });
    assert.deepEqual(checkDuration('0s', DURATION_LIMITS.poll), { ok: false, message: 'expected at least 1s, got 0s' });
    assert.equal(rangeText(DURATION_LIMITS.hold), 'at most 7d');
  });
  it('the caps: SLAs and timeouts at most 7d, freezes at most 366d, intervals at least 1s', () => {
    assert.deepEqual(DURATION_LIMITS.timeout, { min: 1_000, max: 7 * 86_400_000 });
    assert.deepEqual(DURATION_LIMITS.freeze, { min: 1_000, max: 366 * 86_400_000 });
    assert.equal(DURATION_LIMITS.poll.min, 1_000);
    assert.equal(DURATION_LIMITS.evaluation.min, 1_000);
  });
  it('durationText is exact and parses back', () => {
    for (const ms of [0, 1, 999, 1_000, 1_500, 90_000, 5_400_000, 86_400_000 + 1, 366 * 86_400_000]) {
      const text = durationText(ms);
      assert.equal(ms === 0 ? 0 : parseDuration(text), ms, text);
    }
    assert.equal(durationText(5_400_000), '1h30m');
  });
  it('a schema field turns text into milliseconds and names what it expected', () => {
    const field = durationField(DURATION_LIMITS.timeout);
    assert.equal(field.parse('1h30m'), 5_400_000);
    const err = (v: unknown) => {
      const r = field.safeParse(v, { error: friendlyErrors });
      return r.success ? [] : r.error.issues.map((i) => i.message);
    };
    assert.deepEqual(err(300), ['expected a duration like 90s, 5m, 2h (at least 1s, at most 7d), got number 300']);
    assert.deepEqual(err('8d'), ['expected at most 7d, got 8d']);
    assert.deepEqual(
      z
        .object({ sla: field })
        .safeParse({}, { error: friendlyErrors })
        .error?.issues.map((i) => i.message),
      ['Required'],
    );
  });
  it('every CLI flag taking a duration fails with `--flag: ...` and exit code 2', () => {
    const opts = z.object({ validFor: durationOption(DURATION_LIMITS.freeze), interval: durationOption(DURATION_LIMITS.evaluation) });
    assert.deepEqual(parseOptions(opts, { validFor: '4h', interval: '30s' }), { validFor: 14_400_000, interval: 30_000 });
    assert.throws(
      () => parseOptions(opts, { validFor: '400d', interval: '0s' }),
      (e: unknown) =>
        e instanceof CliError &&
        e.exitCode === 2 &&
        JSON.stringify(e.lines) === JSON.stringify(['--valid-for: expected at most 366d, got 400d', '--interval: expected at least 1s, got 0s']),
    );
    assert.throws(
      () => parseOptions(opts, { validFor: 'soon', interval: '1m' }),
      (e: unknown) => e instanceof CliError && e.lines[0] === '--valid-for: expected a duration like 90s, 5m, 2h (at least 1s, at most 366d), got "soon"',
    );
  });
  it('runbooks carry milliseconds; workflows refuse anything else with a clear failure, not a wedged task', () => {
    assert.deepEqual(runbookDurationProblems({ spec: { sla: 300_000, escalation: [{ at: '50%' }, { at: 60_000 }] } }), []);
    assert.deepEqual(runbookDurationProblems({ spec: { sla: '5m', steps: [{ timeout: 1e17 }] } }), [
      'spec.sla: expected milliseconds between 1000 and 604800000, got "5m"',
      'spec.steps[0].timeout: expected milliseconds between 1000 and 604800000, got 100000000000000000',
    ]);
  });
});
