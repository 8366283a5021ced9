// The audit file under concurrent writers: separate processes appending at once never interleave
// lines, and a retried append (same event ID) is not written twice.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { AuditLog, readEvents } from '../../activities/audit-log.js';
import type { AuditEvent } from '../../runbook/types.js';
import { ROOT } from '../helpers/tools.js';

const event = (id: string, pad = 0): AuditEvent => ({
  id,
  time: new Date().toISOString(),
  actor: 'tester',
  action: 'rollback.step-succeeded',
  reason: 'x'.repeat(pad),
  workflowId: 'rollback:prod:payments',
  target: { environment: 'prod', service: 'payments' },
  details: {},
});

describe('audit log', () => {
  it('appends each event ID once, also across a new process (a retry after a crash)', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'audit-')), 'nested', 'audit.jsonl');
    const log = new AuditLog(file);
    assert.equal(await log.append(event('a')), true);
    assert.equal(await log.append(event('a')), false);
    assert.equal(await new AuditLog(file).append(event('a')), false, 'a fresh worker reads existing IDs');
    await new AuditLog(file).append(event('b'));
    assert.deepEqual(
      (await readEvents(file)).map((e) => e.id),
      ['a', 'b'],
    );
  });

  it('keeps lines whole with 4 processes appending 200 large events each at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'audit-'));
    const file = join(dir, 'audit.jsonl');
    const script = join(dir, 'writer.mts');
    await writeFile(
      script,
      `import { AuditLog } from ${JSON.stringify(join(ROOT, 'activities/audit-log.ts'))};
const log = new AuditLog(process.argv[2]);
const who = process.argv[3];
await Promise.all(Array.from({ length: 200 }, (_, i) => log.append({ id: who + '-' + i, time: new Date().toISOString(), actor: who, action: 'test', reason: 'x'.repeat(6000), workflowId: 'w', target: { environment: 'e', service: 's' }, details: {} })));
`,
    );
    const run = promisify(execFile);
    await Promise.all(['p1', 'p2', 'p3', 'p4'].map((who) => run(process.execPath, ['--import', 'tsx', script, file, who], { cwd: ROOT })));
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 800);
    const ids = lines.map((l) => (JSON.parse(l) as AuditEvent).id);
    assert.equal(new Set(ids).size, 800);
  });
});
