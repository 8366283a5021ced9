// `rearguard audit verify`: walks an audit file's hash chain (written by api/audit-file.ts) from its first
// line, names the first event that breaks it, and checks the SSH signatures of signed decisions.
import { readFile } from 'node:fs/promises';
import { canonicalDecision, DECISION_NAMESPACE, delegateProblem, isDelegatePrincipal, type SignedDecision } from '../runbook/decision.js';
import { verifySshSignature, type AllowedSigner } from '../runbook/sshsig.js';
import type { AuditEvent } from '../runbook/types.js';
import { CHAIN_GENESIS, lineHash, parseEvent, isBlank } from './audit-file.js';

/**
 * What is wrong at the first broken link:
 * - `torn-line`: a line that is not a readable event (cut short by a crash, or edited into something else);
 * - `missing-prev`: an event without a valid `prev` after the chain started (added by hand or by an old worker,
 *   or its prev removed); `no-chain`: no event has one at all;
 * - `reordered`: its prev is the hash of another line of the file, not of the event before it (moved, swapped,
 *   or a copy inserted);
 * - `edited-or-deleted`: its prev matches no line: the event before it was edited, or events between were deleted;
 * - `deleted-before`: the first event of the file does not start a chain: events before it were deleted;
 * - `inserted-before`: it starts a new chain after other events: lines were inserted before it (or files joined).
 */
export type ChainBreakKind = 'torn-line' | 'missing-prev' | 'no-chain' | 'reordered' | 'edited-or-deleted' | 'deleted-before' | 'inserted-before';

export interface LineRef {
  line: number;
  id: string;
}

export interface ChainBreak {
  kind: ChainBreakKind;
  /** 1-based line of the event (or unreadable line) whose link is broken. */
  line: number;
  /** Its event ID (for a torn line, as far as it can be read). */
  id?: string;
  message: string;
  /** The event line before it, which its prev should have named. */
  previous?: LineRef;
  /** For `reordered`: the line its prev does name. */
  names?: LineRef;
}

export interface SignatureCheck {
  ok: boolean;
  /** Why it failed. */
  error?: string;
}

/**
 * Checks an event's `signature` (present) against the allowed signers it was built from. Injected by the caller,
 * so the audit file does not depend on how signatures are made.
 */
export type SignatureVerifier = (event: AuditEvent) => SignatureCheck | Promise<SignatureCheck>;

/**
 * The signature check of `rearguard audit verify --allowed-signers`: a signed event carries the decision its
 * signer signed in `details.decision` (a SignedDecision, runbook/decision.ts) and `signature.armored` is
 * `ssh-keygen -Y sign -n rearguard` over canonicalDecision(decision). It verifies when the signature covers that
 * decision, the decision is for this event's workflow and by `signature.principal`, the key is listed for that
 * principal in allowed_signers (valid at the event's time), and `signature.fingerprint`, if given, is that key's.
 * A `delegate:` principal signs for the event's actor only when the decision names its OIDC subject and issuer
 * and that delegate (runbook/decision.ts delegateProblem).
 */
/** The audit action each signed decision is recorded as (workflows/rollback/state.ts). */
const EVENT_OF_DECISION: Record<string, string | readonly string[] | undefined> = {
  'rollback.trigger': 'rollback.trigger-verified',
  'rollback.approve': 'rollback.approved',
  'rollback.reject': 'rollback.rejected',
  'rollback.approve-plan': 'rollback.plan-approved',
  'rollback.cancel': 'rollback.cancel-requested',
  'guard.pause': 'guard.paused',
  'guard.resume': 'guard.resumed',
  'drill.force': 'drill.forced',
  // workflows/freeze.ts, freeze/state.ts, unfreeze.ts, unfreeze/: an exception vote is recorded as approved once it makes the quorum.
  'freeze.start': 'freeze.started',
  'freeze.extend': 'freeze.extended',
  'freeze.lift': 'freeze.lifted',
  'freeze.exception-request': 'freeze.exception-requested',
  'freeze.exception-approve': ['freeze.exception-vote', 'freeze.exception-approved'],
  'freeze.exception-reject': ['freeze.exception-rejected', 'freeze.exception-revoked'],
  'unfreeze.start': 'unfreeze.started',
  'unfreeze.approve': 'unfreeze.approved',
  'unfreeze.advance': 'unfreeze.advanced',
  'unfreeze.abort': 'unfreeze.aborted',
};

export function decisionSignatureVerifier(allowedSigners: readonly AllowedSigner[]): SignatureVerifier {
  return (event) => {
    const sig = event.signature;
    if (!sig || typeof sig.armored !== 'string' || typeof sig.principal !== 'string') return { ok: false, error: 'signature: expected { armored, principal }' };
    const decision = (event.details as { decision?: unknown } | undefined)?.decision;
    if (typeof decision !== 'object' || decision === null) return { ok: false, error: 'the event carries no signed decision (details.decision)' };
    let message: string;
    try {
      message = canonicalDecision(decision as SignedDecision);
    } catch (err) {
      return { ok: false, error: `details.decision: ${(err as Error).message}` };
    }
    const d = decision as SignedDecision;
    // The signature must be for exactly this event: a genuine signature moved onto a forged event is refused.
    if (d.workflowId !== event.workflowId) return { ok: false, error: `the decision is signed for workflow ${d.workflowId}, not ${event.workflowId}` };
    // A delegate (`rearguard serve`) signs for the person its OIDC provider authenticated, under the rule the workflow applied.
    if (isDelegatePrincipal(sig.principal)) {
      const problem = delegateProblem(d, sig.principal);
      if (problem) return { ok: false, error: problem };
    } else if (d.actor !== sig.principal) return { ok: false, error: `the decision is signed as ${d.actor}, not ${sig.principal}` };
    if (d.actor !== event.actor) return { ok: false, error: `the decision is signed as ${d.actor}, but the event's actor is ${event.actor}` };
    if (d.reason !== event.reason) return { ok: false, error: `the signed reason is not the event's reason` };
    const recorded = [EVENT_OF_DECISION[d.action] ?? []].flat();
    if (!recorded.includes(event.action))
      return { ok: false, error: `a ${d.action} decision cannot sign a ${event.action} event${recorded.length ? ` (it signs ${recorded.join(' or ')})` : ''}` };
    const run = event.id.split('/')[1];
    if (d.extra?.run !== undefined && d.extra.run !== run) return { ok: false, error: `the decision is signed for run ${d.extra.run}, not ${run}` };
    if (d.extra?.step !== undefined && d.extra.step !== (event.details as { step?: unknown }).step)
      return { ok: false, error: `the decision is signed for step ${d.extra.step}, not ${String((event.details as { step?: unknown }).step)}` };
    const at = Date.parse(event.time);
    const r = verifySshSignature({
      message,
      armored: sig.armored,
      namespace: DECISION_NAMESPACE,
      allowedSigners,
      principal: sig.principal,
      ...(Number.isFinite(at) ? { nowMs: at } : {}),
    });
    if (!r.ok) return { ok: false, error: `${r.code}: ${r.reason}` };
    if (sig.fingerprint && sig.fingerprint !== r.fingerprint)
      return { ok: false, error: `the event names key ${sig.fingerprint}, the signature is by ${r.fingerprint}` };
    return { ok: true };
  };
}

export interface ChainReport {
  file: string;
  /** True when the chain is intact and no signature failed. */
  ok: boolean;
  /** Readable event lines in the file (duplicates included: the chain links lines). */
  events: number;
  /** Events before the first event with `prev`: written before the chain existed; not covered by it. */
  unchained: number;
  /** The first event with `prev`, where the chain starts (line 1's event for a file written with the chain). */
  chainStart: LineRef | null;
  /** Events whose link was checked and holds (up to the break, if any). */
  linked: number;
  /** The hash of the last event line: the next event's prev. Recorded elsewhere, it also shows a cut tail. */
  head: string | null;
  break: ChainBreak | null;
  signatures: {
    signed: number;
    verified: number;
    /** Signed events not checked (no verifier given). */
    unverified: number;
    failed: (LineRef & { principal: string; error: string })[];
  };
}

interface Line {
  n: number;
  hash?: string;
  event?: AuditEvent;
  error?: string;
  excerpt?: string;
}

const idOf = (text: string): string | undefined => /"id"\s*:\s*"((?:[^"\\]|\\.){1,300})"/.exec(text)?.[1];

/**
 * Walks the chain of an audit file from its first line. Events before the first event with `prev` are the
 * unchained prefix of a file written before the chain existed (counted, not checked; the first chained event
 * must still name the last of them); from there on every event must name the event line before it. Blank lines
 * are ignored. Undefined when the file does not exist.
 */
export async function verifyAuditChain(path: string, verifySignature?: SignatureVerifier): Promise<ChainReport | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const lines: Line[] = [];
  const where = new Map<string, number[]>();
  let start = 0;
  for (let n = 1; start < bytes.length; n++) {
    const nl = bytes.indexOf(0x0a, start);
    const raw = bytes.subarray(start, nl === -1 ? bytes.length : nl);
    start = nl === -1 ? bytes.length : nl + 1;
    const text = raw.toString('utf8');
    if (isBlank(text)) continue;
    const parsed = parseEvent(text);
    if ('error' in parsed) {
      lines.push({ n, error: nl === -1 ? `${parsed.error}; the file ends in the middle of it` : parsed.error, excerpt: text.slice(0, 80) });
      continue;
    }
    const hash = lineHash(raw);
    lines.push({ n, hash, event: parsed.event });
    where.set(hash, [...(where.get(hash) ?? []), lines.length - 1]);
  }

  const events = lines.filter((l) => l.event);
  const report: ChainReport = {
    file: path,
    ok: true,
    events: events.length,
    unchained: 0,
    chainStart: null,
    linked: 0,
    head: null,
    break: null,
    signatures: { signed: 0, verified: 0, unverified: 0, failed: [] },
  };
  const ref = (l: Line): LineRef => ({ line: l.n, id: l.event!.id });
  let before: Line | undefined; // the last event line
  for (const l of lines) {
    if (!l.event) {
      const id = idOf(l.excerpt ?? '');
      report.break = {
        kind: 'torn-line',
        line: l.n,
        ...(id ? { id } : {}),
        message: `line ${l.n} is not a readable audit event (${l.error}): torn by a crash or a full disk, or edited. Starts with ${JSON.stringify(l.excerpt)}`,
        ...(before ? { previous: ref(before) } : {}),
      };
      break;
    }
    const prev = l.event.prev;
    const previous = before ? ref(before) : undefined;
    const at = `event ${l.event.id}`;
    if (prev === undefined && !report.chainStart) {
      report.unchained++;
      before = l;
      continue;
    }
    if (typeof prev !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(prev)) {
      report.break = {
        kind: 'missing-prev',
        line: l.n,
        id: l.event.id,
        message:
          prev === undefined
            ? `${at} has no prev, but the chain starts at line ${report.chainStart!.line}: it was added without the chain (by hand, or by a worker of an older version) or its prev was removed`
            : `${at} has a prev that is not a sha256 hash: ${JSON.stringify(prev).slice(0, 80)}`,
        ...(previous ? { previous } : {}),
      };
      break;
    }
    report.chainStart ??= ref(l);
    const expected = before ? before.hash! : CHAIN_GENESIS;
    if (prev !== expected) {
      const named = (where.get(prev) ?? []).map((i) => lines[i]);
      const other = named.find((o) => o.n > l.n) ?? named.at(-1);
      report.break =
        other !== undefined
          ? {
              kind: 'reordered',
              line: l.n,
              id: l.event.id,
              message:
                other.n > l.n
                  ? `${at} names line ${other.n} (event ${other.event!.id}) as the event before it, but that line comes after it: events were reordered`
                  : `${at} names line ${other.n} (event ${other.event!.id}) as the event before it, not line ${before!.n} (event ${before!.event!.id}): events were moved, or inserted between them`,
              ...(previous ? { previous } : {}),
              names: ref(other),
            }
          : prev === CHAIN_GENESIS
            ? {
                kind: 'inserted-before',
                line: l.n,
                id: l.event.id,
                message: `${at} starts a new chain, but line ${before!.n} (event ${before!.event!.id}) comes before it: lines were inserted before it, or two files were joined`,
                ...(previous ? { previous } : {}),
              }
            : before
              ? {
                  kind: 'edited-or-deleted',
                  line: l.n,
                  id: l.event.id,
                  message: `${at} names an event line that is not in the file: line ${before.n} (event ${before.event!.id}) was edited, or events between line ${before.n} and line ${l.n} were deleted`,
                  previous: ref(before),
                }
              : {
                  kind: 'deleted-before',
                  line: l.n,
                  id: l.event.id,
                  message: `${at} is the first event of the file but does not start a chain: the events before it were deleted`,
                };
      break;
    }
    report.linked++;
    before = l;
  }
  if (!report.break && events.length > 0 && !report.chainStart) {
    const first = events[0];
    report.break = {
      kind: 'no-chain',
      line: first.n,
      id: first.event!.id,
      message: `none of the ${events.length} events has a prev: the file was written before the chain existed, or the prev fields were removed; nothing is verified`,
    };
  }
  report.head = report.break ? null : (before?.hash ?? null);

  for (const l of events) {
    const signature = l.event!.signature;
    if (!signature) continue;
    report.signatures.signed++;
    if (!verifySignature) {
      report.signatures.unverified++;
      continue;
    }
    let check: SignatureCheck;
    try {
      check = await verifySignature(l.event!);
    } catch (err) {
      check = { ok: false, error: (err as Error).message };
    }
    if (check.ok) report.signatures.verified++;
    else report.signatures.failed.push({ ...ref(l), principal: String(signature.principal), error: check.error ?? 'the signature does not verify' });
  }
  report.ok = !report.break && report.signatures.failed.length === 0;
  return report;
}
