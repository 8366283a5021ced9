// Signed decisions with the real ssh-keygen: signatures made by client/signing.ts (ssh-keygen -Y sign)
// verify with runbook/sshsig.ts, and for every case `ssh-keygen -Y verify` gives the same answer
// (except where Rearguard refuses more on purpose: RSA keys). Also the allowed_signers parser, strict
// base64, the canonical decision and its freshness/replay checks, and how the signing key is found.
// ssh-keygen (OpenSSH 8.2+) is required: a missing one fails the file, it is never skipped.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { CliError } from '../../client/errors.js';
import { resolveSigningKey, signDecision, signMessage } from '../../client/signing.js';
import { canonicalDecision, checkDecision, DECISION_NAMESPACE, type SignedDecision } from '../../runbook/decision.js';
import {
  decodeBase64,
  encodeBase64,
  matchPatternList,
  parseAllowedSigners,
  parseSshSignature,
  sshFingerprint,
  SshSigError,
  utf8,
  verifySshSignature,
  type VerifyFailure,
} from '../../runbook/sshsig.js';

let dir = '';
const key = (name: string) => join(dir, name);
const pub = async (name: string) => (await readFile(`${key(name)}.pub`, 'utf8')).trim();

/** Signs with ssh-keygen directly (for variants client/signing.ts never makes: other namespaces, sha256, RSA). */
async function keygenSign(name: string, message: string, extra: string[] = [], namespace = DECISION_NAMESPACE): Promise<string> {
  const r = await execa('ssh-keygen', ['-Y', 'sign', '-n', namespace, '-f', key(name), ...extra], { input: message, stripFinalNewline: false });
  return r.stdout;
}

let seq = 0;
/** `ssh-keygen -Y verify`: true when it accepts. nowMs becomes -O verify-time. */
async function keygenVerify(o: { allowed: string; principal: string; message: string; armored: string; namespace?: string; nowMs?: number }): Promise<boolean> {
  const n = ++seq;
  await writeFile(key(`allowed-${n}`), o.allowed);
  await writeFile(key(`sig-${n}`), o.armored);
  const time = o.nowMs !== undefined ? ['-O', `verify-time=${new Date(o.nowMs).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`] : [];
  const r = await execa(
    'ssh-keygen',
    ['-Y', 'verify', '-f', key(`allowed-${n}`), '-I', o.principal, '-n', o.namespace ?? DECISION_NAMESPACE, '-s', key(`sig-${n}`), ...time],
    { input: o.message, reject: false },
  );
  return r.exitCode === 0;
}

/** Our verdict and ssh-keygen's for the same inputs. */
async function both(o: { allowed: string; principal: string; message: string; armored: string; namespace?: string; nowMs?: number }) {
  let ours;
  try {
    ours = verifySshSignature({
      message: o.message,
      armored: o.armored,
      namespace: o.namespace ?? DECISION_NAMESPACE,
      allowedSigners: parseAllowedSigners(o.allowed),
      principal: o.principal,
      nowMs: o.nowMs,
    });
  } catch (err) {
    assert.fail(`verifySshSignature or parseAllowedSigners threw: ${(err as Error).message}`);
  }
  return { ours, keygen: await keygenVerify(o) };
}

function refused(result: ReturnType<typeof verifySshSignature>, code: VerifyFailure, reason: RegExp): void {
  assert.equal(result.ok, false, `expected a refusal (${code}), got ${JSON.stringify(result)}`);
  if (result.ok) return;
  assert.equal(result.code, code, result.reason);
  assert.match(result.reason, reason);
}

const decision = (over: Partial<SignedDecision> = {}): SignedDecision => ({
  action: 'approve',
  workflowId: 'rollback:prod:payments',
  actor: 'alice@example.com',
  reason: 'error rate 12% since 1.4.2 — roll back',
  at: new Date().toISOString(),
  nonce: `n-${Math.random().toString(36).slice(2)}`,
  ...over,
});

before(async () => {
  const which = await execa('ssh-keygen', ['-?'], { reject: false });
  if (which.exitCode === undefined) throw new Error('ssh-keygen not found on PATH: these tests need OpenSSH 8.2 or newer (apt-get install openssh-client)');
  dir = await mkdtemp(join(tmpdir(), 'rearguard-sshsig-'));
  await Promise.all([
    execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', key('alice')]),
    execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bob', '-f', key('bob')]),
    execa('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-C', 'carol', '-f', key('carol-rsa')]),
  ]);
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('verifying ssh-keygen signatures (ssh-keygen -Y verify agrees)', () => {
  it('a decision signed by client/signing.ts verifies; the fingerprint is the one ssh-keygen -l prints', async () => {
    const d = decision();
    const signed = await signDecision(d, { key: key('alice') });
    assert.equal(signed.payload, canonicalDecision(d));
    assert.match(signed.signature, /^-----BEGIN SSH SIGNATURE-----\n[\s\S]+\n-----END SSH SIGNATURE-----\n$/);
    const allowed = `alice@example.com namespaces="rearguard" ${await pub('alice')}\nbob@example.com ${await pub('bob')}\n`;
    const r = await both({ allowed, principal: d.actor, message: signed.payload, armored: signed.signature });
    assert.deepEqual(r.ours, { ok: true, fingerprint: signed.fingerprint, line: 1 });
    assert.equal(r.keygen, true);
    const printed = (await execa('ssh-keygen', ['-l', '-f', `${key('alice')}.pub`])).stdout.split(' ')[1];
    assert.equal(signed.fingerprint, printed);
    assert.equal(sshFingerprint(parseSshSignature(signed.signature).publicKey), printed);
  });

  it('sha256 signatures (-O hashalg=sha256) verify too; CRLF armor is accepted', async () => {
    const message = canonicalDecision(decision());
    const armored = await keygenSign('alice', message, ['-O', 'hashalg=sha256']);
    assert.equal(parseSshSignature(armored).hashAlgorithm, 'sha256');
    const r = await both({ allowed: `alice@example.com ${await pub('alice')}\n`, principal: 'alice@example.com', message, armored });
    assert.equal(r.ours.ok, true);
    assert.equal(r.keygen, true);
    const crlf = verifySshSignature({
      message,
      armored: `\r\n${armored.replace(/\n/g, '\r\n')}`,
      namespace: DECISION_NAMESPACE,
      allowedSigners: parseAllowedSigners(`alice@example.com ${await pub('alice')}`),
      principal: 'alice@example.com',
    });
    assert.equal(crlf.ok, true);
  });

  it('a tampered message is a bad signature', async () => {
    const d = decision();
    const { signature, payload } = await signDecision(d, { key: key('alice') });
    const allowed = `alice@example.com ${await pub('alice')}\n`;
    for (const message of [canonicalDecision({ ...d, reason: 'something else' }), `${payload}\n`, payload.slice(0, -1)]) {
      const r = await both({ allowed, principal: d.actor, message, armored: signature });
      refused(r.ours, 'bad-signature', /^bad signature: the signature by key SHA256:\S+ does not match this message/);
      assert.equal(r.keygen, false);
    }
  });

  it("another person's key is not listed for the principal", async () => {
    const d = decision();
    const { signature, payload } = await signDecision(d, { key: key('bob') });
    const r = await both({
      allowed: `alice@example.com ${await pub('alice')}\nbob@example.com ${await pub('bob')}\n`,
      principal: d.actor,
      message: payload,
      armored: signature,
    });
    refused(r.ours, 'key-not-listed', /is not listed for principal "alice@example\.com" in allowed_signers: its line lists another key/);
    assert.equal(r.keygen, false);
  });

  it('a principal nobody listed is refused', async () => {
    const d = decision({ actor: 'mallory@example.com' });
    const { signature, payload } = await signDecision(d, { key: key('alice') });
    const r = await both({ allowed: `alice@example.com ${await pub('alice')}\n`, principal: d.actor, message: payload, armored: signature });
    refused(r.ours, 'key-not-listed', /no line lists principal "mallory@example\.com"/);
    assert.equal(r.keygen, false);
  });

  it('a signature in another namespace is refused (-n file is not -n rearguard)', async () => {
    const message = canonicalDecision(decision());
    const armored = await keygenSign('alice', message, [], 'file');
    const r = await both({ allowed: `alice@example.com ${await pub('alice')}\n`, principal: 'alice@example.com', message, armored });
    refused(r.ours, 'namespace-mismatch', /^signature namespace is "file", expected "rearguard"/);
    assert.equal(r.keygen, false);
  });

  it('a key limited to other namespaces (namespaces="file,git") is refused', async () => {
    const message = canonicalDecision(decision());
    const armored = await keygenSign('alice', message);
    const r = await both({ allowed: `alice@example.com namespaces="file,git" ${await pub('alice')}\n`, principal: 'alice@example.com', message, armored });
    refused(r.ours, 'namespace-not-allowed', /allowed_signers line 1 permits key SHA256:\S+ only for namespaces="file,git", not "rearguard"/);
    assert.equal(r.keygen, false);
  });

  it('garbage armor is a malformed signature', async () => {
    const message = 'hello';
    const good = await keygenSign('alice', message);
    const body = good.split('\n').slice(1, -2).join('');
    const bytes = decodeBase64(body);
    const rewrap = (b: Uint8Array) => `-----BEGIN SSH SIGNATURE-----\n${encodeBase64(b)}\n-----END SSH SIGNATURE-----\n`;
    const badMagic = bytes.slice();
    badMagic[0] ^= 1;
    const badVersion = bytes.slice();
    badVersion[9] = 2;
    const cases: [string, RegExp][] = [
      ['', /expected "-----BEGIN SSH SIGNATURE-----" on the first line/],
      ['not a signature at all', /expected "-----BEGIN SSH SIGNATURE-----" on the first line/],
      [good.replace('-----END SSH SIGNATURE-----', ''), /expected base64 lines, then "-----END SSH SIGNATURE-----"/],
      [good.replace(/U1NIU0lH/, 'U1NIU0l!'), /invalid base64: unexpected "!"/],
      [good.replace(/=\n-----END/, 'A\n-----END'), /invalid base64|truncated|trailing/],
      [rewrap(bytes.slice(0, 40)), /truncated/],
      [rewrap(Uint8Array.from([...bytes, 0])), /1 unexpected trailing bytes/],
      [rewrap(badMagic), /does not start with the SSHSIG magic/],
      [rewrap(badVersion), /SSHSIG version 2/],
      ['x'.repeat(20_000), /characters, an SSH signature has far fewer/],
    ];
    const allowed = `alice@example.com ${await pub('alice')}\n`;
    for (const [armored, reason] of cases) {
      const r = await both({ allowed, principal: 'alice@example.com', message, armored });
      refused(r.ours, 'malformed-signature', reason);
      assert.equal(r.keygen, false, `ssh-keygen accepted ${JSON.stringify(armored.slice(0, 60))}`);
    }
  });

  it('an RSA key in allowed_signers is refused clearly (ssh-keygen would accept it: Rearguard verifies ssh-ed25519 only)', async () => {
    const message = canonicalDecision(decision({ actor: 'carol@example.com' }));
    const armored = await keygenSign('carol-rsa', message);
    const allowed = `carol@example.com ${await pub('carol-rsa')}\n`;
    const r = await both({ allowed, principal: 'carol@example.com', message, armored });
    refused(r.ours, 'unsupported-key-type', /^unsupported key type ssh-rsa \(key SHA256:\S+\): Rearguard verifies ssh-ed25519 signatures only/);
    assert.equal(r.keygen, true, 'ssh-keygen accepts RSA; the refusal is ours');
    // An ed25519 signature claiming to be carol, whose only listed key is RSA.
    const byAlice = await keygenSign('alice', message);
    const claim = await both({ allowed, principal: 'carol@example.com', message, armored: byAlice });
    refused(claim.ours, 'key-not-listed', /its lines list only ssh-rsa keys, which Rearguard does not verify \(ssh-ed25519 only\)/);
    assert.equal(claim.keygen, false);
  });

  it('valid-before and valid-after: expired and not-yet-valid keys are refused, inside the window accepted', async () => {
    const message = canonicalDecision(decision());
    const armored = await keygenSign('alice', message);
    const alice = await pub('alice');
    const line = (opts: string) => `alice@example.com ${opts} ${alice}\n`;
    const now = Date.UTC(2026, 5, 1, 12, 0, 0);
    const expired = await both({ allowed: line('valid-before="20260101Z"'), principal: 'alice@example.com', message, armored, nowMs: now });
    refused(expired.ours, 'key-expired', /expired at 2026-01-01T00:00:00\.000Z \(valid-before, allowed_signers line 1\); now is 2026-06-01T12:00:00\.000Z/);
    assert.equal(expired.keygen, false);
    const early = await both({ allowed: line('valid-after="202607010000Z"'), principal: 'alice@example.com', message, armored, nowMs: now });
    refused(early.ours, 'key-not-yet-valid', /is not valid before 2026-07-01T00:00:00\.000Z/);
    assert.equal(early.keygen, false);
    const inside = await both({
      allowed: line('valid-after="20260101Z",VALID-BEFORE="20260601120000Z"'),
      principal: 'alice@example.com',
      message,
      armored,
      nowMs: now,
    });
    assert.equal(inside.ours.ok, true, JSON.stringify(inside.ours));
    assert.equal(inside.keygen, true);
    const oneSecondLate = await both({ allowed: line('valid-before="20260601120000Z"'), principal: 'alice@example.com', message, armored, nowMs: now + 1000 });
    refused(oneSecondLate.ours, 'key-expired', /expired/);
    assert.equal(oneSecondLate.keygen, false);
  });

  it('principal patterns: wildcards and negation, as ssh-keygen matches them', async () => {
    const message = canonicalDecision(decision());
    const armored = await keygenSign('alice', message);
    const allowed = `*@example.com,!mallory@example.com,ops-?@corp ${await pub('alice')}\n`;
    for (const [principal, accepted] of [
      ['alice@example.com', true],
      ['mallory@example.com', false],
      ['ops-1@corp', true],
      ['ops-12@corp', false],
      ['alice@example.org', false],
      ['ALICE@EXAMPLE.COM', false],
    ] as const) {
      const r = await both({ allowed, principal, message, armored });
      assert.equal(r.ours.ok, accepted, `${principal}: ${JSON.stringify(r.ours)}`);
      assert.equal(r.keygen, accepted, `ssh-keygen for ${principal}`);
    }
    assert.equal(matchPatternList('a*b*c', ['a**c']), true);
    assert.equal(matchPatternList('abc', ['*', '!a?c']), false);
  });
});

describe('allowed_signers', () => {
  it('parses comments, blank lines, quoted principals, options and key comments', async () => {
    const alice = await pub('alice');
    const text = [
      '# Rearguard approvers',
      '',
      `alice@example.com,bob@example.com ${alice}`,
      `  "ops team@corp" Namespaces="rearguard,file",valid-after="20260101Z" ${alice.split(' ').slice(0, 2).join(' ')}   on-call laptop  `,
      `carol@example.com ${await pub('carol-rsa')}\r`,
    ].join('\n');
    const signers = parseAllowedSigners(text);
    assert.equal(signers.length, 3);
    assert.deepEqual(signers[0].principals, ['alice@example.com', 'bob@example.com']);
    assert.equal(signers[0].comment, 'alice');
    assert.deepEqual(
      { ...signers[1], publicKey: '' },
      {
        line: 4,
        principals: ['ops team@corp'],
        namespaces: ['rearguard', 'file'],
        validAfterMs: Date.UTC(2026, 0, 1),
        keyType: 'ssh-ed25519',
        publicKey: '',
        comment: 'on-call laptop',
      },
    );
    assert.equal(signers[2].keyType, 'ssh-rsa', 'other key types are kept; verification refuses them');
    assert.deepEqual(JSON.parse(JSON.stringify(signers)), signers, 'plain JSON: can be a workflow input');
  });

  it('refuses cert-authority, timestamps without Z, unknown options and broken keys, every bad line named', async () => {
    const alice = await pub('alice');
    const [type, b64] = alice.split(' ');
    const bad = [
      `*@example.com cert-authority ${alice}`,
      `alice@example.com valid-before="20300101" ${alice}`,
      `alice@example.com no-touch-required ${alice}`,
      `alice@example.com namespaces=rearguard ${alice}`,
      `alice@example.com ${type} ${b64.slice(0, -4)}`,
      `alice@example.com ssh-rsa ${b64}`,
      `alice@example.com ${type}`,
      `alice@example.com valid-after="20300101Z",valid-before="20200101Z" ${alice}`,
    ];
    const text = [`ok@example.com ${alice}`, ...bad].join('\n');
    let error: unknown;
    try {
      parseAllowedSigners(text, 'approvers');
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof SshSigError, `expected an SshSigError, got ${String(error)}`);
    assert.deepEqual(
      error.problems.map((p) => p.split(': ')[0]),
      bad.map((_, i) => `approvers:${i + 2}`),
    );
    const [ca, noZ, unknown, unquoted, truncated, mismatch, missing, range] = error.problems;
    assert.match(ca, /^approvers:2: cert-authority is not supported: Rearguard verifies plain ssh-ed25519 keys, not SSH certificates/);
    assert.match(noZ, /valid-before="20300101": add the Z suffix \(UTC\)/);
    assert.match(unknown, /unknown option "no-touch-required"/);
    assert.match(unquoted, /namespaces: expected a double-quoted value, e.g. namespaces="rearguard"/);
    assert.match(truncated, /the ssh-ed25519 key is truncated \(reading ed25519 key\)/);
    assert.match(mismatch, /the key says it is ssh-ed25519, the line says ssh-rsa/);
    assert.match(missing, /expected the base64 key after ssh-ed25519/);
    assert.match(range, /valid-before must be later than valid-after/);
  });
});

describe('bytes', () => {
  it('base64 is strict: canonical, padded, no stray characters', () => {
    for (const text of ['', 'Zg==', 'Zm8=', 'Zm9v', 'AAECAwQFBgcICQoLDA0ODw==']) assert.equal(encodeBase64(decodeBase64(text)), text);
    for (const [text, why] of [
      ['Zg', /multiple of 4/],
      ['Zh==', /non-zero bits/],
      ['Zm9=', /non-zero bits/],
      ['Z===', /unexpected "="/],
      ['Zg==Zg==', /unexpected "="/],
      ['Zm 9', /unexpected " "/],
      ['Zm-_', /unexpected "-"/],
      ['Zm9v\n', /multiple of 4/],
    ] as const) {
      assert.throws(() => decodeBase64(text), why, text);
    }
    assert.equal(encodeBase64(Uint8Array.from([0xff, 0xfe]), false), '//4');
  });

  it('utf8 matches TextEncoder, lone surrogates included', () => {
    for (const text of ['', 'plain', 'é — 中文 🙂', '\ud800x', 'x\udc00']) assert.deepEqual([...utf8(text)], [...new TextEncoder().encode(text)], text);
  });
});

describe('canonical decisions', () => {
  it('sorted keys, no whitespace, the same text whatever the key order; extra only when present', () => {
    const d = decision({ reason: 'a "quoted" reason\nwith a newline', at: '2026-06-01T12:00:00.000Z', nonce: 'n1' });
    const text = canonicalDecision(d);
    assert.equal(
      text,
      '{"action":"approve","actor":"alice@example.com","at":"2026-06-01T12:00:00.000Z","nonce":"n1","reason":"a \\"quoted\\" reason\\nwith a newline","workflowId":"rollback:prod:payments"}',
    );
    const shuffled = Object.fromEntries(Object.entries(d).reverse()) as unknown as SignedDecision;
    assert.equal(canonicalDecision(shuffled), text);
    assert.equal(JSON.stringify(JSON.parse(text)), text, 'valid JSON with no whitespace');
    const withExtra = canonicalDecision({ ...d, extra: { z: '1', a: '2' } });
    assert.match(withExtra, /"at":"[^"]+","extra":\{"a":"2","z":"1"\},"nonce":"n1"/);
  });

  it('refuses what is not a SignedDecision, naming the field', () => {
    const d = decision();
    assert.throws(() => canonicalDecision({ ...d, approved: 'yes' } as unknown as SignedDecision), /unknown field "approved"/);
    assert.throws(() => canonicalDecision({ ...d, actor: 42 } as unknown as SignedDecision), /decision\.actor: expected a string, got number/);
    assert.throws(() => canonicalDecision({ ...d, extra: { n: 1 } } as unknown as SignedDecision), /decision\.extra\.n: expected a string/);
  });

  it('checkDecision: wrong action or workflow, stale, future-dated, replayed', () => {
    const now = Date.UTC(2026, 5, 1, 12, 0, 0);
    const d = decision({ at: new Date(now - 60_000).toISOString(), nonce: 'n1' });
    const base = { expectedAction: 'approve', expectedWorkflowId: 'rollback:prod:payments', nowMs: now, maxAgeMs: 10 * 60_000, seenNonces: [] as string[] };
    assert.deepEqual(checkDecision(d, base), { ok: true, atMs: now - 60_000 });
    const reason = (r: ReturnType<typeof checkDecision>) => (r.ok ? 'accepted' : r.reason);
    assert.match(reason(checkDecision(d, { ...base, expectedAction: 'reject' })), /signed for action "approve", not "reject"/);
    assert.match(
      reason(checkDecision(d, { ...base, expectedWorkflowId: 'rollback:prod:api' })),
      /signed for workflow "rollback:prod:payments", not "rollback:prod:api"/,
    );
    assert.match(reason(checkDecision(d, { ...base, nowMs: now + 20 * 60_000 })), /signed at .*, 1260s ago: older than 600s, sign it again/);
    assert.match(reason(checkDecision({ ...d, at: new Date(now + 3_600_000).toISOString() }, base)), /in the future/);
    assert.match(reason(checkDecision({ ...d, at: '2026-06-01 12:00' }, base)), /not an ISO 8601 time with its zone/);
    assert.match(reason(checkDecision(d, { ...base, seenNonces: new Set(['n1']) })), /nonce n1 was already used.*replay refused/);
    assert.match(reason(checkDecision(d, { ...base, seenNonces: ['n1'] })), /replay refused/);
  });
});

describe('finding the signing key (client/signing.ts)', () => {
  const env = (over: Record<string, string | undefined> = {}) => ({
    ...process.env,
    REARGUARD_SIGNING_KEY: undefined,
    SSH_AUTH_SOCK: undefined,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: key('empty-gitconfig'),
    ...over,
  });
  async function cliError(p: Promise<unknown>): Promise<CliError> {
    try {
      await p;
    } catch (err) {
      assert.ok(err instanceof CliError, `expected a CliError, got ${String((err as Error)?.stack ?? err)}`);
      assert.doesNotMatch(err.message, /\n\s+at /, 'no stack trace');
      return err;
    }
    assert.fail('expected a failure');
  }

  before(async () => {
    await writeFile(key('empty-gitconfig'), '');
  });

  it('the option wins over REARGUARD_SIGNING_KEY, which wins over git config user.signingkey', async () => {
    const gitconfig = key('gitconfig-bob');
    await writeFile(gitconfig, `[user]\n\tsigningkey = ${key('bob')}\n`);
    const e = env({ GIT_CONFIG_GLOBAL: gitconfig, REARGUARD_SIGNING_KEY: key('alice') });
    assert.deepEqual(await resolveSigningKey({ key: key('alice'), env: e, cwd: dir }).then(({ cleanup: _, ...k }) => k), {
      path: key('alice'),
      source: '--signing-key',
      agent: false,
    });
    assert.equal((await resolveSigningKey({ env: e, cwd: dir })).source, 'REARGUARD_SIGNING_KEY');
    const fromGit = await signMessage('hi', { env: env({ GIT_CONFIG_GLOBAL: gitconfig }), cwd: dir });
    assert.equal(fromGit.key.source, 'git config user.signingkey');
    assert.equal(fromGit.fingerprint, sshFingerprint(decodeBase64((await pub('bob')).split(' ')[1])));
  });

  it('no key anywhere: the error names the option, the variable and git', async () => {
    const err = await cliError(signMessage('hi', { env: env(), cwd: dir }));
    assert.equal(err.exitCode, 2);
    assert.match(err.message, /^no signing key: pass --signing-key KEY, set REARGUARD_SIGNING_KEY, or set git's user\.signingkey/);
  });

  it('a missing file, a file that is no key, an RSA key and a missing ssh-keygen are refused, naming the path and where it came from', async () => {
    const missing = await cliError(signMessage('hi', { env: env({ REARGUARD_SIGNING_KEY: key('nope') }) }));
    assert.match(
      missing.message,
      new RegExp(`^signing key ${key('nope')} \\(from REARGUARD_SIGNING_KEY\\) does not exist: expected an OpenSSH ed25519 private key file`),
    );
    await writeFile(key('not-a-key'), 'hello\n');
    const notKey = await cliError(signMessage('hi', { key: key('not-a-key'), keyOption: '--key', env: env() }));
    assert.match(notKey.message, /\(from --key\) is not an SSH key/);
    const rsaPub = await cliError(signMessage('hi', { key: `${key('carol-rsa')}.pub`, env: env() }));
    assert.match(rsaPub.message, /is ssh-rsa; Rearguard verifies ssh-ed25519 signatures only/);
    const rsaPrivate = await cliError(signMessage('hi', { key: key('carol-rsa'), env: env() }));
    assert.match(rsaPrivate.message, /is ssh-rsa; Rearguard verifies ssh-ed25519 signatures only/);
    const noKeygen = await cliError(signMessage('hi', { key: key('alice'), env: env(), sshKeygen: key('no-such-ssh-keygen') }));
    assert.equal(noKeygen.exitCode, 1);
    assert.match(noKeygen.message, /no-such-ssh-keygen not found: install OpenSSH 8\.2 or newer/);
  });

  it('a public key without its private key needs ssh-agent: refused without SSH_AUTH_SOCK, signs with -U through a real agent', async () => {
    await writeFile(key('lonely.pub'), `${await pub('alice')}\n`);
    const noAgent = await cliError(signMessage('hi', { key: key('lonely.pub'), env: env() }));
    assert.match(noAgent.message, /is a public key without its private key beside it: the private half must be in ssh-agent, but SSH_AUTH_SOCK is not set/);

    const sock = key('agent.sock');
    const agent: ResultPromise = execa('ssh-agent', ['-D', '-a', sock], { reject: false, stdout: 'ignore', stderr: 'ignore' });
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(sock), 'ssh-agent did not create its socket');
      const e = env({ SSH_AUTH_SOCK: sock });
      // Not in the agent yet: ssh-keygen -U says so, and the error says what was expected.
      const notLoaded = await cliError(signMessage('hi', { key: key('lonely.pub'), env: e }));
      assert.match(notLoaded.message, /could not sign with key .*lonely\.pub \(from --signing-key\): ssh-keygen says: .*agent/);
      assert.match(notLoaded.message, /expected ssh-agent \(SSH_AUTH_SOCK\) to hold the private half/);
      await execa('ssh-add', ['-q', key('alice')], { env: e });
      const d = decision();
      const signed = await signDecision(d, { key: key('lonely.pub'), env: e });
      assert.equal(signed.key.agent, true);
      const ok = verifySshSignature({
        message: signed.payload,
        armored: signed.signature,
        namespace: DECISION_NAMESPACE,
        allowedSigners: parseAllowedSigners(`alice@example.com ${await pub('alice')}`),
        principal: d.actor,
      });
      assert.equal(ok.ok, true, JSON.stringify(ok));
      // git's literal form: user.signingkey = key::ssh-ed25519 AAAA...
      const gitconfig = key('gitconfig-literal');
      await writeFile(gitconfig, `[user]\n\tsigningkey = key::${await pub('alice')}\n`);
      const literal = await signMessage('hi', { env: { ...e, GIT_CONFIG_GLOBAL: gitconfig }, cwd: dir });
      assert.equal(literal.key.source, 'git config user.signingkey');
      assert.equal(literal.fingerprint, signed.fingerprint);
      assert.equal(existsSync(literal.key.path), false, 'the temporary key file is removed');
    } finally {
      agent.kill();
      await agent;
    }
  });
});
