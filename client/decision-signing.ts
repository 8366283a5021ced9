// Signing a person's decision from any command (approve, reject, cancel, lift, ...): the key as the user
// configured it (--signing-key, REARGUARD_SIGNING_KEY, git's user.signingkey), the canonical payload
// (runbook/decision.ts) signed by client/signing.ts. Shared so every decision is signed the same way.
import { randomUUID } from 'node:crypto';
import type { SignedEnvelope } from '../api/messages.js';
import type { CliContext } from './context.js';
import { CliError } from './errors.js';

export interface DecisionToSign {
  /** SignedDecision.action, e.g. rollback.approve (api/messages.ts lists them per workflow). */
  action: string;
  workflowId: string;
  reason: string;
  /** Fields the workflow checks (e.g. run, step), computed only when a key is configured. */
  extra?: () => Promise<Record<string, string>>;
}

/**
 * Signs a decision when a key is configured: --signing-key, REARGUARD_SIGNING_KEY, or git's user.signingkey.
 * Without one the decision goes unsigned and the worker decides (it refuses unsigned decisions when it
 * requires signatures, saying what to configure). A key named on the command line or in REARGUARD_SIGNING_KEY
 * must work; one from git that cannot sign (e.g. a GPG key ID) is reported and skipped.
 */
export async function signIfKey(c: CliContext, d: DecisionToSign): Promise<(SignedEnvelope & { fingerprint: string }) | undefined> {
  const key = (c.opts as { signingKey?: string }).signingKey;
  const explicit = key !== undefined || Boolean(process.env.REARGUARD_SIGNING_KEY?.trim());
  try {
    // Loaded only when a decision is made: it costs every other command's start-up time.
    const { resolveSigningKey, signDecision } = await import('./signing.js');
    await (await resolveSigningKey({ key })).cleanup();
    const extra = await d.extra?.();
    const s = await signDecision(
      {
        action: d.action,
        workflowId: d.workflowId,
        actor: c.actor,
        reason: d.reason,
        at: new Date().toISOString(),
        nonce: randomUUID(),
        ...(extra && Object.keys(extra).length ? { extra } : {}),
      },
      { key },
    );
    return { payload: s.payload, signature: s.signature, fingerprint: s.fingerprint };
  } catch (err) {
    if (explicit || !(err instanceof CliError)) throw err;
    if (!err.message.startsWith('no signing key')) c.err(`rearguard: not signing (the decision goes unsigned): ${err.message}`);
    return undefined;
  }
}

/** " (signed with key SHA256:...)" for a confirmation line, or nothing. */
export const signedBy = (s: { fingerprint: string } | undefined): string => (s ? ` (signed with key ${s.fingerprint})` : '');

/** The envelope alone, for a message payload: `{ signed }` or nothing. */
export const envelope = (s: (SignedEnvelope & { fingerprint: string }) | undefined): { signed?: SignedEnvelope } =>
  s ? { signed: { payload: s.payload, signature: s.signature } } : {};
