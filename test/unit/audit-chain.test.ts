// The audit file's hash chain: each event names the previous event line (`prev`); `rearguard audit verify`
// (the real CLI on real files) passes a clean file and names the first event of an edited, cut, reordered or torn
// one. Writers on one file (two logs in a process, several processes) still form one chain; a retried append is
// a no-op; signed decisions verify against an allowed_signers file (real ssh-keygen keys and signatures); the
// default file is absolute and the same for the worker and the CLI.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { decisionSignatureVerifier, verifyAuditChain, type ChainReport } from '../../api/audit-chain.js';
import { AuditLog, CHAIN_GENESIS, defaultAuditFile, lineHash } from '../../api/audit-file.js';
import { defaultAuditFile as cliDefaultAuditFile } from '../../client/actions/audit.js';
import { canonicalDecision, DECISION_NAMESPACE, type SignedDecision } from '../../runbook/decision.js';
import type { AuditEvent } from '../../runbook/types.js';
import { loadWorkerConfig } from '../../worker/config.js';
import { CLI, ROOT, cliEnv } from '../helpers/tools.js';
import { auditEvent } from '../helpers/fixtures.js';

const run = promisify(execFile);

const event = auditEvent;

const tempFile = async (): Promise<string> => join(await mkdtemp(join(tmpdir(), 'audit-chain-')), 'audit.jsonl');

/** A file of `ids` written by the audit log. */
async function chained(ids: string[]): Promise<string> {
  const file = await tempFile();
  const log = new AuditLog(file);
  for (const id of ids) assert.equal(await log.append(event(id)), true);
  return file;
}

const lines = async (file: string): Promise<string[]> => (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');

interface Verdict {
  code: number;
  stdout: string;
  stderr: string;
}
async function cli(args: string[], env: NodeJS.ProcessEnv = process.env, cwd = ROOT): Promise<Verdict> {
  try {
    return { code: 0, ...(await run(process.execPath, [CLI, ...args], { env: cliEnv(env), cwd })) };
  } catch (err) {
    const e = err as Verdict;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
const verify = (file: string): Promise<Verdict> => cli(['audit', 'verify', file]);
async function verifyJson(file: string): Promise<{ code: number; report: ChainReport }> {
  const r = await cli(['audit', 'verify', file, '--json']);
  return { code: r.code, report: JSON.parse(r.stdout) as ChainReport };
}

describe('the hash chain', () => {
  it('links each event to the exact bytes of the event line before it, the first to the genesis value', async () => {
    const file = await chained(['a', 'b', 'c']);
    const raw = await lines(file);
    const prevs = raw.map((l) => (JSON.parse(l) as AuditEvent).prev);
    assert.deepEqual(prevs, [CHAIN_GENESIS, lineHash(Buffer.from(raw[0])), lineHash(Buffer.from(raw[1]))]);
    assert.match(prevs[1]!, /^sha256:[0-9a-f]{64}$/);
  });

  it('a clean file verifies: exit 0, "N events, chain intact", and the head hash', async () => {
    const file = await chained(['a', 'b', 'c', 'd']);
    const r = await verify(file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /4 events, chain intact/);
    const { code, report } = await verifyJson(file);
    assert.equal(code, 0);
    assert.equal(report.ok, true);
    assert.equal(report.events, 4);
    assert.equal(report.break, null);
    assert.equal(report.head, lineHash(Buffer.from((await lines(file))[3])));
  });

  it('an edited event: exit 1, the break is at the next event and names the edited one', async () => {
    const file = await chained(['a', 'b', 'c', 'd']);
    const raw = await lines(file);
    raw[1] = raw[1].replace('reason of b', 'reason of someone else');
    await writeFile(file, `${raw.join('\n')}\n`);
    const r = await verify(file);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /chain broken at line 3 \(event c\): edited-or-deleted/);
    assert.match(r.stdout, /line 2 \(event b\) was edited/);
    const { report } = await verifyJson(file);
    assert.equal(report.break?.kind, 'edited-or-deleted');
    assert.deepEqual(report.break?.previous, { line: 2, id: 'b' });
    assert.equal(report.linked, 2);
  });

  it('a deleted event: exit 1, named at the event after the gap; deleting the first event too', async () => {
    const file = await chained(['a', 'b', 'c', 'd']);
    const raw = await lines(file);
    await writeFile(file, `${[raw[0], raw[2], raw[3]].join('\n')}\n`);
    const r = await verify(file);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /chain broken at line 2 \(event c\)/);
    assert.match(r.stdout, /events between line 1 and line 2 were deleted/);

    await writeFile(file, `${raw.slice(1).join('\n')}\n`);
    const first = await verifyJson(file);
    assert.equal(first.code, 1);
    assert.equal(first.report.break?.kind, 'deleted-before');
    assert.equal(first.report.break?.id, 'b');
  });

  it('two events swapped: exit 1, reordered, naming both', async () => {
    const file = await chained(['a', 'b', 'c', 'd']);
    const raw = await lines(file);
    await writeFile(file, `${[raw[0], raw[2], raw[1], raw[3]].join('\n')}\n`);
    const r = await verify(file);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /chain broken at line 2 \(event c\): reordered/);
    assert.match(r.stdout, /names line 3 \(event b\)/);
    const { report } = await verifyJson(file);
    assert.deepEqual(report.break?.names, { line: 3, id: 'b' });
  });

  it('a torn line is a break; removing it (the repair) leaves the chain intact', async () => {
    const file = await chained(['a', 'b']);
    await writeFile(file, `${(await readFile(file, 'utf8')).trimEnd()}\n{"id":"c","time":"2026-`); // disk full mid-write
    assert.equal(await new AuditLog(file).append(event('d')), true, 'the next writer closes the torn line off');
    const r = await verifyJson(file);
    assert.equal(r.code, 1);
    assert.equal(r.report.break?.kind, 'torn-line');
    assert.equal(r.report.break?.line, 3);
    assert.equal(r.report.break?.id, 'c');
    const repaired = (await lines(file)).filter((l) => !l.endsWith('"2026-'));
    await writeFile(file, `${repaired.join('\n')}\n`);
    assert.equal((await verify(file)).code, 0, 'the event after the torn line chains to the event before it');
  });

  it('an event without prev after the chain started is a break', async () => {
    const file = await chained(['a', 'b']);
    await writeFile(file, `${JSON.stringify(event('by-hand'))}\n`, { flag: 'a' });
    const { code, report } = await verifyJson(file);
    assert.equal(code, 1);
    assert.equal(report.break?.kind, 'missing-prev');
    assert.equal(report.break?.id, 'by-hand');
  });

  it('a file written before the chain: the chain starts at its first chained event; no chain at all is exit 1', async () => {
    const file = await tempFile();
    await writeFile(file, `${[event('old-1'), event('old-2')].map((e) => JSON.stringify(e)).join('\n')}\n`);
    const none = await verify(file);
    assert.equal(none.code, 1);
    assert.match(none.stdout, /no-chain/);
    const log = new AuditLog(file);
    await log.append(event('new-1'));
    await log.append(event('new-2'));
    const r = await verify(file);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /4 events, chain intact/);
    assert.match(r.stdout, /chain starts at line 3 \(event new-1\): the 2 event\(s\) before it were written before the chain/);
    // The first chained event still names the last unchained line: editing that line breaks the chain.
    const raw = await lines(file);
    raw[1] = raw[1].replace('reason of old-2', 'changed');
    await writeFile(file, `${raw.join('\n')}\n`);
    assert.equal((await verifyJson(file)).report.break?.kind, 'edited-or-deleted');
  });
});

describe('writers of one chain', () => {
  it('a retried append (same event ID) is a no-op, also from a new log', async () => {
    const file = await chained(['a', 'b']);
    const before = await readFile(file);
    assert.equal(await new AuditLog(file).append(event('a')), false);
    const log = new AuditLog(file);
    assert.equal(await log.append(event('c')), true);
    assert.equal(await log.append(event('c')), false);
    assert.equal(await new AuditLog(file).append(event('b')), false);
    assert.deepEqual((await readFile(file)).subarray(0, before.length), before);
    assert.equal((await lines(file)).length, 3);
    assert.equal((await verify(file)).code, 0);
  });

  it('two logs on one file appending at once form one valid chain, each event once', async () => {
    const file = await tempFile();
    const one = new AuditLog(file);
    const two = new AuditLog(file);
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => [one.append(event(`one-${i}`)), two.append(event(`two-${i}`)), two.append(event(`one-${i}`))]).flat(),
    );
    const ids = (await lines(file)).map((l) => (JSON.parse(l) as AuditEvent).id);
    assert.equal(ids.length, 120);
    assert.equal(new Set(ids).size, 120, 'an event both logs appended is written once');
    const report = await verifyAuditChain(file);
    assert.equal(report?.ok, true, JSON.stringify(report?.break));
    assert.equal(report?.linked, 120);
    await assert.rejects(stat(`${file}.lock`), { code: 'ENOENT' }, 'the lock is released');
  });

  // Several processes appending at once form one chain: audit-log.test.ts (4 processes, 800 events).

  it('a lock left by a process that is gone is taken away at once; a live holder makes the append wait, then fail', async () => {
    const file = await chained(['a']);
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    const { readFile: read, readlink } = await import('node:fs/promises');
    const boot = (await read('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => undefined))?.trim();
    const pidns = await readlink('/proc/self/ns/pid').catch(() => undefined);
    if (boot && pidns) {
      await writeFile(`${file}.lock`, JSON.stringify({ host: 'h', pid: gone, boot, pidns, nonce: 'n' }));
      const started = Date.now();
      assert.equal(await new AuditLog(file, { lockStaleMs: 60_000, lockWaitMs: 5_000 }).append(event('b')), true);
      assert.ok(Date.now() - started < 2_000, 'no waiting for the stale age');
    }
    await writeFile(`${file}.lock`, JSON.stringify({ host: 'h', pid: process.pid, boot, pidns, nonce: 'live' }));
    await assert.rejects(new AuditLog(file, { lockStaleMs: 60_000, lockWaitMs: 300 }).append(event('c')), /the audit file is locked/);
    assert.equal(await new AuditLog(file, { lockStaleMs: 0, lockWaitMs: 5_000 }).append(event('c')), true, 'an old lock is taken away');
    assert.equal((await verifyAuditChain(file))?.ok, true);
  });
});

describe('signatures', () => {
  /** An ed25519 key made by ssh-keygen, and its allowed_signers line for `principal`. */
  async function sshKey(dir: string, name: string, principal: string): Promise<{ path: string; allowed: string }> {
    const path = join(dir, name);
    const made = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path]);
    assert.equal(made.status, 0, String(made.stderr));
    const [type, key] = (await readFile(`${path}.pub`, 'utf8')).trim().split(/\s+/);
    return { path, allowed: `${principal} namespaces="${DECISION_NAMESPACE}" ${type} ${key}\n` };
  }
  const sign = (keyPath: string, message: string): string => {
    const r = spawnSync('ssh-keygen', ['-Y', 'sign', '-n', DECISION_NAMESPACE, '-f', keyPath], { input: message });
    assert.equal(r.status, 0, String(r.stderr));
    return String(r.stdout);
  };

  it('a signed decision verifies against allowed_signers; without the file it is reported as not verified', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'audit-sig-'));
    const alice = await sshKey(dir, 'alice', 'alice@example.com');
    const bob = await sshKey(dir, 'bob', 'alice@example.com');
    const decision: SignedDecision = {
      action: 'rollback.approve',
      workflowId: 'rollback:prod:payments',
      actor: 'alice@example.com',
      reason: 'looks right',
      at: new Date().toISOString(),
      nonce: 'n-1',
    };
    const armored = sign(alice.path, canonicalDecision(decision));
    const file = join(dir, 'audit.jsonl');
    const log = new AuditLog(file);
    await log.append(event('a'));
    const signature = { armored, principal: 'alice@example.com' };
    await log.append(event('b', { action: 'rollback.approved', actor: 'alice@example.com', reason: 'looks right', details: { decision }, signature }));
    await log.append(event('c'));
    await writeFile(join(dir, 'alice.allowed'), alice.allowed);
    await writeFile(join(dir, 'bob.allowed'), bob.allowed);
    await writeFile(join(dir, 'bad.allowed'), 'not an allowed signers line\n');

    const plain = await verify(file);
    assert.equal(plain.code, 0, plain.stdout);
    assert.match(plain.stdout, /1 signed event\(s\), not verified/);
    const good = await cli(['audit', 'verify', file, '--allowed-signers', join(dir, 'alice.allowed'), '--json']);
    assert.equal(good.code, 0, good.stdout);
    assert.deepEqual((JSON.parse(good.stdout) as ChainReport).signatures, { signed: 1, verified: 1, unverified: 0, failed: [] });
    const other = await cli(['audit', 'verify', file, '--allowed-signers', join(dir, 'bob.allowed')]);
    assert.equal(other.code, 1, 'a key not listed for the principal');
    assert.match(other.stdout, /chain intact/);
    assert.match(other.stdout, /signature of line 2 \(event b, by alice@example.com\) does not verify: key-not-listed/);
    const bad = await cli(['audit', 'verify', file, '--allowed-signers', join(dir, 'bad.allowed')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--allowed-signers: invalid allowed_signers file/);

    // Alice's genuine signature moved onto a forged event (a rejection, by bob, another reason): each refused.
    const verifier = decisionSignatureVerifier((await import('../../runbook/sshsig.js')).parseAllowedSigners(alice.allowed));
    const base = event('f', { action: 'rollback.approved', actor: 'alice@example.com', reason: 'looks right', details: { decision }, signature });
    assert.deepEqual(await verifier(base), { ok: true });
    assert.match((await verifier({ ...base, action: 'rollback.rejected' })).error ?? '', /a rollback\.approve decision cannot sign a rollback\.rejected event/);
    assert.match((await verifier({ ...base, actor: 'bob' })).error ?? '', /signed as alice@example\.com, but the event's actor is bob/);
    assert.match((await verifier({ ...base, reason: 'forged' })).error ?? '', /the signed reason is not the event's reason/);
  });

  it('the verifier is injected: a failed check fails the file, a decision for another workflow does not verify', async () => {
    const file = await tempFile();
    const log = new AuditLog(file);
    const signature = { armored: '-----BEGIN SSH SIGNATURE-----\nx\n-----END SSH SIGNATURE-----', principal: 'alice@example.com' };
    const decision: SignedDecision = { action: 'approve', workflowId: 'rollback:prod:other', actor: 'alice@example.com', reason: 'r', at: 'x', nonce: 'n' };
    await log.append(event('a', { details: { decision }, signature }));
    assert.deepEqual((await verifyAuditChain(file))?.signatures, { signed: 1, verified: 0, unverified: 1, failed: [] });
    assert.equal((await verifyAuditChain(file, () => ({ ok: true })))?.signatures.verified, 1);
    const bad = await verifyAuditChain(file, (e) => ({ ok: false, error: `not ${e.signature?.principal}` }));
    assert.equal(bad?.ok, false);
    assert.deepEqual(bad?.signatures.failed, [{ line: 1, id: 'a', principal: 'alice@example.com', error: 'not alice@example.com' }]);
    const real = await verifyAuditChain(file, decisionSignatureVerifier([]));
    assert.match(real?.signatures.failed[0]?.error ?? '', /signed for workflow rollback:prod:other, not rollback:prod:payments/);
  });
});

describe('the default audit file', () => {
  it('is absolute, under XDG_STATE_HOME or ~/.local/state, and the same for the worker and the CLI', () => {
    const env = { HOME: '/home/oncall' };
    assert.equal(defaultAuditFile(env), '/home/oncall/.local/state/rearguard/audit.jsonl');
    assert.equal(defaultAuditFile({ ...env, XDG_STATE_HOME: '/var/state' }), '/var/state/rearguard/audit.jsonl');
    assert.equal(defaultAuditFile({ ...env, XDG_STATE_HOME: 'relative' }), '/home/oncall/.local/state/rearguard/audit.jsonl', 'a relative XDG dir is ignored');
    assert.ok(isAbsolute(defaultAuditFile({})));
    assert.equal(loadWorkerConfig(env).auditFile, defaultAuditFile(env));
    assert.equal(cliDefaultAuditFile(env), defaultAuditFile(env));
    const named = { ...env, REARGUARD_AUDIT_FILE: '/srv/audit.jsonl' };
    assert.equal(loadWorkerConfig(named).auditFile, '/srv/audit.jsonl');
    assert.equal(cliDefaultAuditFile(named), '/srv/audit.jsonl');
    assert.equal(loadWorkerConfig(named, { auditFile: '/flag.jsonl' }).auditFile, '/flag.jsonl');
  });

  it('the CLI finds what the worker wrote at the default, from any directory', async () => {
    const home = await mkdtemp(join(tmpdir(), 'audit-home-'));
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_STATE_HOME: '', REARGUARD_AUDIT_FILE: '' };
    const file = loadWorkerConfig(env).auditFile;
    assert.equal(file, join(home, '.local/state/rearguard/audit.jsonl'));
    await new AuditLog(file).append(event('a'));
    const elsewhere = await mkdtemp(join(tmpdir(), 'audit-cwd-'));
    const list = await cli(['audit', '--json'], env, elsewhere);
    assert.equal(list.code, 0, list.stderr);
    assert.equal((JSON.parse(list.stdout) as AuditEvent).id, 'a');
    const v = await cli(['audit', 'verify'], env, elsewhere);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /1 event, chain intact/);
  });
});
