// `rearguard audit --since` takes a duration back from now or a time, like every time flag; a bad value
// is echoed with both forms. The real CLI on a real audit file (it reads no Temporal).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI, cliEnv } from '../helpers/tools.js';

const run = promisify(execFile);
let file: string;

async function audit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    return { code: 0, ...(await run(process.execPath, [CLI, 'audit', '--file', file, ...args], { env: cliEnv() })) };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
const ids = (stdout: string): string[] =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { id: string }).id);

before(async () => {
  file = join(await mkdtemp(join(tmpdir(), 'rearguard-since-')), 'audit.jsonl');
  const at = (id: string, time: string) =>
    JSON.stringify({
      id,
      time,
      actor: 'alice',
      action: 'rollback.started',
      reason: 'test',
      workflowId: 'rollback:prod:api',
      target: { environment: 'prod', service: 'api' },
      details: {},
    });
  const recent = new Date(Date.now() - 60_000).toISOString();
  await writeFile(file, [at('old', '2026-01-10T09:00:00.000Z'), at('mid', '2026-06-01T12:00:00.000Z'), at('recent', recent)].join('\n') + '\n');
});

describe('audit --since', () => {
  it('a duration back from now', async () => {
    const r = await audit('--since', '1h', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(ids(r.stdout), ['recent']);
  });
  it('a time with its zone, and a day (from 00:00 UTC)', async () => {
    assert.deepEqual(ids((await audit('--since', '2026-06-01T11:00+00:00', '--json')).stdout), ['mid', 'recent']);
    assert.deepEqual(ids((await audit('--since', '2026-06-01T12:30Z', '--json')).stdout), ['recent']);
    assert.deepEqual(ids((await audit('--since', '2026-01-10', '--json')).stdout), ['old', 'mid', 'recent']);
  });
  it('a bad value: exit 2, echoed, both forms named', async () => {
    for (const bad of ['yesterday', '2026-13-01', '2026-06-01T12:00']) {
      const r = await audit('--since', bad);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /^--since: .*2026-11-29T08:00Z/m);
      assert.ok(r.stderr.includes(JSON.stringify(bad)), `${bad} is echoed: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});
