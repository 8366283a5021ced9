// Delegate signatures (`rearguard serve` signing for a person its OIDC provider authenticated), judged by the
// rule workflows apply (workflows/kit/decisions.ts judgeDecision) and `rearguard audit verify` applies
// (api/audit-chain.ts decisionSignatureVerifier): real ssh-keygen keys and signatures (client/signing.ts), an
// allowed_signers file listing serve's key under `delegate:rearguard-serve`. A delegate's signature counts for
// the person only with the OIDC subject and issuer and the delegate named in the decision.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import type { TrustSettings } from '../../activities/trust.js';
import { decisionSignatureVerifier } from '../../api/audit-chain.js';
import { signDecision } from '../../client/signing.js';
import type { SignedDecision } from '../../runbook/decision.js';
import { parseAllowedSigners } from '../../runbook/sshsig.js';
import type { AuditEvent } from '../../runbook/types.js';
import { judgeDecision } from '../../workflows/kit/decisions.js';

const DELEGATE = 'delegate:rearguard-serve';
const WORKFLOW = 'rollback:prod:payments';
const RUN = 'run-1';
let dir = '';
let trust: TrustSettings;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'decision-delegate-'));
  const lines: string[] = [];
  for (const [name, principal] of [
    ['serve', DELEGATE],
    ['alice', 'alice'],
  ]) {
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
    lines.push(`${principal} ${(await readFile(join(dir, `${name}.pub`), 'utf8')).trim()}`);
  }
  trust = { requireSignatures: true, allowedSigners: parseAllowedSigners(`${lines.join('\n')}\n`) };
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const OIDC = { oidcIssuer: 'https://login.example.com/realms/ops', oidcSubject: 'f3a1c2d4-0000-4000-8000-000000000001', delegate: DELEGATE };

const without = (o: Record<string, string>, key: string): Record<string, string> => Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));

/** A rollback approval by `actor`, signed with `key`; extra as given (run always). */
async function signed(key: string, actor: string, extra: Record<string, string>) {
  const d: SignedDecision = {
    action: 'rollback.approve',
    workflowId: WORKFLOW,
    actor,
    reason: 'confirmed on the dashboard',
    at: new Date().toISOString(),
    nonce: randomUUID(),
    extra: { run: RUN, ...extra },
  };
  const s = await signDecision(d, { key: join(dir, key) });
  return { d, envelope: { payload: s.payload, signature: s.signature } };
}

const judge = (actor: string, envelope: { payload: string; signature: string }) =>
  judgeDecision(
    trust,
    { action: 'rollback.approve', workflowId: WORKFLOW, actor, reason: 'confirmed on the dashboard', signed: envelope, extra: { run: RUN } },
    Date.now(),
    new Set(),
  );

describe('delegate signatures in judgeDecision', () => {
  it("admits serve's signature for the OIDC-authenticated person, recording the delegate as the signer", async () => {
    const { envelope } = await signed('serve', 'bob', OIDC);
    const v = judge('bob', envelope);
    assert.equal(v?.decision.actor, 'bob');
    assert.equal(v?.signature.principal, DELEGATE);
    assert.equal(v?.decision.extra?.oidcSubject, OIDC.oidcSubject);
  });

  it('refuses a delegate signature without an OIDC subject or issuer', async () => {
    const cases: Record<string, string>[] = [{ delegate: DELEGATE }, { delegate: DELEGATE, oidcIssuer: OIDC.oidcIssuer }, { ...OIDC, oidcSubject: ' ' }];
    for (const extra of cases) {
      const { envelope } = await signed('serve', 'bob', extra);
      assert.throws(
        () => judge('bob', envelope),
        /signed decision refused: signed by delegate delegate:rearguard-serve for bob, but the decision names no OIDC subject and issuer \(extra\.oidcSubject, extra\.oidcIssuer\)/,
      );
    }
  });

  it('refuses a delegate signature that names another delegate, or none', async () => {
    const other = await signed('serve', 'bob', { ...OIDC, delegate: 'delegate:someone-else' });
    assert.throws(() => judge('bob', other.envelope), /signed by the key of delegate:rearguard-serve, but the decision names delegate "delegate:someone-else"/);
    const none = await signed('serve', 'bob', without(OIDC, 'delegate'));
    assert.throws(() => judge('bob', none.envelope), /names delegate "\(none\)"/);
  });

  it("a person's key is no delegate: alice cannot sign for bob, OIDC fields or not", async () => {
    const { envelope } = await signed('alice', 'bob', { ...OIDC, delegate: 'alice' });
    assert.throws(() => judge('bob', envelope), /signed by a key allowed for alice, not for bob/);
  });

  it('a delegate does not decide under its own name', async () => {
    const { envelope } = await signed('serve', DELEGATE, OIDC);
    assert.throws(() => judge(DELEGATE, envelope), /delegate:rearguard-serve is a delegate: a delegate signs for people, it does not decide/);
  });
});

describe('delegate signatures in audit verify', () => {
  const eventOf = (d: SignedDecision, armored: string, principal: string): AuditEvent => ({
    id: `${WORKFLOW}/${RUN}/3`,
    time: new Date().toISOString(),
    actor: d.actor,
    action: 'rollback.approved',
    reason: d.reason,
    workflowId: WORKFLOW,
    target: { environment: 'prod', service: 'payments' },
    details: { decision: d },
    signature: { armored, principal },
  });

  it('verifies an event signed by the delegate for the OIDC subject, and refuses one without the subject', async () => {
    const verify = decisionSignatureVerifier(trust.allowedSigners);
    const good = await signed('serve', 'bob', OIDC);
    assert.deepEqual(await verify(eventOf(good.d, good.envelope.signature, DELEGATE)), { ok: true });
    // The person's own principal does not list serve's key.
    assert.match((await verify(eventOf(good.d, good.envelope.signature, 'bob'))).error ?? '', /key-not-listed/);
    const bad = await signed('serve', 'bob', without(OIDC, 'oidcSubject'));
    assert.match((await verify(eventOf(bad.d, bad.envelope.signature, DELEGATE))).error ?? '', /names no OIDC subject and issuer/);
    // A person's key recorded as a delegate: the decision's delegate is not that principal, and the key is not listed for it.
    const alice = await signed('alice', 'bob', { ...OIDC, delegate: 'delegate:alice' });
    assert.match((await verify(eventOf(alice.d, alice.envelope.signature, 'delegate:alice'))).error ?? '', /key-not-listed/);
  });
});
