// The bench's verdicts (scripts/bench/report.ts), not its timings (those stay out of npm test): a figure meets
// its goal or misses it, a figure with no samples (NaN) misses, the ratio is read against a peer in the same
// unit, and the table shows every figure and every failed scenario.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judge, table } from '../../scripts/bench/report.js';

describe('bench report', () => {
  it('judges each figure against its goal; NaN misses; no goal, no verdict', () => {
    assert.equal(judge({ name: 'p99', value: 4, unit: 'ms', goal: { op: '<=', value: 5 } }).pass, true);
    assert.equal(judge({ name: 'p99', value: 6, unit: 'ms', goal: { op: '<=', value: 5 } }).pass, false);
    assert.equal(judge({ name: 'rps', value: 1000, unit: 'req/s', goal: { op: '>=', value: 1000 } }).pass, true);
    assert.equal(judge({ name: 'rps', value: NaN, unit: 'req/s', goal: { op: '>=', value: 1000 } }).pass, false);
    assert.equal(judge({ name: 'rss', value: 250, unit: 'MB' }).pass, undefined);
  });

  it('reads a ratio against a peer in the same unit, or takes a ratio figure as it is', () => {
    const vsPeer = judge({ name: 'median', value: 90, unit: 'ms', peer: { name: 'kubectl', value: 45, unit: 'ms' } });
    assert.equal(vsPeer.ratio, 2);
    const ratio = judge({ name: 'a/b', value: 1.5, unit: 'x', goal: { op: '<=', value: 2 }, peer: { name: 'b', value: 3, unit: 'ms' } });
    assert.equal(ratio.ratio, 1.5);
    assert.equal(ratio.pass, true);
    assert.equal(judge({ name: 'x', value: 1, unit: 'ms', peer: { name: 'other unit', value: 1, unit: 'MB' } }).ratio, undefined);
  });

  it('prints one row per figure and per failed scenario, and the notes', () => {
    const text = table([
      {
        name: 'gate',
        description: '',
        seconds: 1,
        figures: [judge({ name: 'gate p99', value: 7, unit: 'ms', goal: { op: '<=', value: 5 }, note: 'n=100' })],
      },
      { name: 'scale', description: '', seconds: 1, figures: [], error: 'Error: boom\n    at somewhere' },
    ]);
    assert.match(text, /^scenario\s+figure\s+value\s+goal\s+peer\s+ratio\s+result$/m);
    assert.match(text, /^gate\s+gate p99\s+7 ms\s+<= 5 ms\s+MISS$/m);
    assert.match(text, /^scale\s+scenario failed\s+Error: boom\s+FAIL$/m);
    assert.match(text, /\[gate\] gate p99: n=100/);
  });
});
