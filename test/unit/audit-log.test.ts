// The audit file under concurrent writers: separate processes appending at once never interleave
// lines, and a retried append (same event ID) is not written twice.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { verifyAuditChain } from '../../api/audit-chain.js';
import { AuditLog, readAuditFile, readEvents } from '../../api/audit-file.js';
import type { AuditEvent } from '../../runbook/types.js';
import { CLI, ROOT, cliEnv } from '../helpers/tools.js';

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
      `import { AuditLog } from ${JSON.stringify(join(ROOT, 'api/audit-file.ts'))};
const log = new AuditLog(process.argv[2]);
const who = process.argv[3];
await Promise.all(Array.from({ length: 200 }, (_, i) => log.append({ id: who + '-' + i, time: new Date().toISOString(), actor: who, action: 'test', reason: 'x'.repeat(6000), workflowId: 'w', target: { environment: 'e', service: 's' }, details: {} })));
`,
    );
    const run = promisify(execFile);
    await Promise.all(['p1', 'p2', 'p3', 'p4'].map((who) => run(process.execPath, ['--import', 'tsx', script, file, who], { cwd: ROOT })));
    // Writers take turns through the lock file; blank lines (skipped by readers) would not break anything,
    // merged or broken events would.
    const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 800);
    const ids = lines.map((l) => (JSON.parse(l) as AuditEvent).id);
    assert.equal(new Set(ids).size, 800);
    const chain = await verifyAuditChain(file);
    assert.equal(chain?.ok, true, JSON.stringify(chain?.break));
    assert.equal(chain?.linked, 800);
  });
});

describe('audit file damage', () => {
  it('closes off a torn last line before the next event, so the two never merge', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'audit-')), 'audit.jsonl');
    await writeFile(file, `${JSON.stringify(event('a'))}\n{"id":"b","time":"2026-`); // disk full mid-write
    assert.equal(await new AuditLog(file).append(event('c')), true);
    const lines = (await readFile(file, 'utf8')).split('\n');
    assert.deepEqual(lines.at(-1), '', 'the file ends with a newline');
    assert.equal((JSON.parse(lines[2]) as AuditEvent).id, 'c', 'the new event is a line of its own');
    const read = await readAuditFile(file);
    assert.deepEqual(
      read.events.map((e) => e.id),
      ['a', 'c'],
    );
    assert.equal(read.unreadable.length, 1);
    assert.equal(read.unreadable[0].line, 2);
    assert.match(read.unreadable[0].excerpt, /^\{"id":"b"/);
  });

  it('reports lines that are not audit events and shows an event written twice once', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'audit-')), 'audit.jsonl');
    const a = JSON.stringify(event('a'));
    await writeFile(file, `${a}\n${a}\n[1,2]\nnot json\n${JSON.stringify(event('b'))}\n`);
    const read = await readAuditFile(file);
    assert.deepEqual(
      read.events.map((e) => e.id),
      ['a', 'b'],
    );
    assert.equal(read.duplicates, 1);
    assert.deepEqual(
      read.unreadable.map((u) => u.line),
      [3, 4],
    );
    assert.equal((await readAuditFile(join(tmpdir(), 'no-such-dir-rg', 'audit.jsonl'))).exists, false);
  });

  it('rearguard audit prints the unreadable lines as warnings and fails on a missing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'audit-'));
    const file = join(dir, 'audit.jsonl');
    await writeFile(file, `${JSON.stringify(event('a'))}\ngarbage\n${JSON.stringify(event('a'))}\n`);
    const run = promisify(execFile);
    const ok = await run(process.execPath, [CLI, 'audit', '--file', file], { cwd: dir, env: cliEnv() });
    assert.match(ok.stderr, /line 2 is not a readable audit event/);
    assert.match(ok.stderr, /1 event\(s\) were written twice/);
    assert.equal(ok.stdout.trim().split('\n').length, 1, 'one event shown');
    const missing = await run(process.execPath, [CLI, 'audit', '--file', join(dir, 'nope.jsonl')], { cwd: dir, env: cliEnv() }).catch(
      (e: { code: number; stderr: string; stdout: string }) => e,
    );
    assert.equal((missing as { code: number }).code, 1);
    assert.match((missing as { stderr: string }).stderr, /nope\.jsonl does not exist/);
    assert.doesNotMatch((missing as { stderr: string }).stderr, /\n\s+at /, 'no stack trace');
  });
});
