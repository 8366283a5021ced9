// The audit log's group commit (issue 14): the events waiting while a write is under way (a worker's many
// rollbacks at once, and a workflow's batch) go in the next write, under one lock and one fsync, and still form
// one hash chain, in the order they were appended, each event once.
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { verifyAuditChain } from '../../api/audit-chain.js';
import { AuditLog } from '../../api/audit-file.js';
import type { AuditEvent } from '../../runbook/types.js';
import { auditEvent } from '../helpers/fixtures.js';

const event = auditEvent;

const tempFile = async (): Promise<string> => join(await mkdtemp(join(tmpdir(), 'audit-group-')), 'audit.jsonl');
const ids = async (file: string): Promise<string[]> =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as AuditEvent).id);

describe('audit log group commit', () => {
  it('many appends at once: one chain, in append order, each event once, in fewer fsyncs than events', async () => {
    const file = await tempFile();
    const log = new AuditLog(file);
    const fsyncs = { n: 0 };
    // Count the writes (one fsync each) through the log's private writer.
    const writer = log as unknown as { appendNow(events: AuditEvent[]): Promise<boolean[]> };
    const original = writer.appendNow.bind(log);
    writer.appendNow = (events) => (fsyncs.n++, original(events));
    const appended = await Promise.all(Array.from({ length: 300 }, (_, i) => log.append(event(`e-${i}`))));
    assert.ok(appended.every(Boolean));
    assert.deepEqual(
      await ids(file),
      Array.from({ length: 300 }, (_, i) => `e-${i}`),
    );
    assert.ok(fsyncs.n < 10, `300 concurrent appends took ${fsyncs.n} writes`);
    const report = await verifyAuditChain(file);
    assert.equal(report?.ok, true, JSON.stringify(report?.break));
    assert.equal(report?.events, 300);
  });

  it('a batch: its own repeats and events already in the file are skipped, the rest chained after the file', async () => {
    const file = await tempFile();
    const log = new AuditLog(file);
    assert.equal(await log.append(event('a')), true);
    assert.deepEqual(await log.appendMany([event('b'), event('a'), event('c'), event('b')]), [true, false, true, false]);
    assert.deepEqual(await new AuditLog(file).appendMany([event('c'), event('d')]), [false, true], 'a fresh log reads the IDs in the file');
    assert.deepEqual(await ids(file), ['a', 'b', 'c', 'd']);
    assert.equal((await verifyAuditChain(file))?.ok, true);
  });

  it('two logs on one file, appending at once, still form one chain', async () => {
    const file = await tempFile();
    const [one, two] = [new AuditLog(file), new AuditLog(file)];
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => [
        one.appendMany([event(`one-${i}`), event(`one-${i}-b`)]),
        two.append(event(`two-${i}`)),
        two.append(event(`one-${i}`)),
      ]).flat(),
    );
    const written = await ids(file);
    assert.equal(written.length, 150, 'each event once');
    assert.equal(new Set(written).size, 150);
    for (let i = 0; i < 50; i++) assert.ok(written.indexOf(`one-${i}`) < written.indexOf(`one-${i}-b`), 'a batch keeps its order');
    assert.equal((await verifyAuditChain(file))?.ok, true);
  });
});
