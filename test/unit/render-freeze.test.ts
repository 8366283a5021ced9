// `freeze list` lines: a scheduled window says when it starts as well as when it ends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freezeLine } from '../../client/render/freeze.js';
import type { FreezeState } from '../../runbook/freeze.js';
import { localTime } from '../../runbook/time.js';

const window = (phase: FreezeState['phase']): FreezeState =>
  ({
    id: 'freeze:black-friday',
    name: 'black-friday',
    phase,
    scope: { environments: ['prod'], services: ['*'] },
    start: '2026-11-27T00:00:00.000Z',
    end: '2026-11-30T00:00:00.000Z',
    reason: 'peak sales',
    actor: 'rm-ann',
    approvers: [],
    quorum: 1,
    exceptions: [],
  }) as unknown as FreezeState;

describe('freeze list line', () => {
  it('a scheduled window: from its start until its end', () => {
    const line = freezeLine(window('scheduled'));
    assert.ok(line.includes(`from ${localTime('2026-11-27T00:00:00.000Z')} until ${localTime('2026-11-30T00:00:00.000Z')}`), line);
  });
  it('an active window: until its end', () => {
    const line = freezeLine(window('active'));
    assert.ok(line.includes(`  until ${localTime('2026-11-30T00:00:00.000Z')}`), line);
    assert.ok(!line.includes(' from '), line);
  });
});
