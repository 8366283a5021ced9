// `rearguard rollback start|plan|status|approve|reject|approve-plan|cancel|list`: each command parses its
// options, calls the rollback operations of api/rollbacks.ts and renders (client/render/rollback.ts).
// The command line is client/commands/rollback.ts.
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { rollbackWorkflowId } from '../../api/ids.js';
import {
  approveRollbackPlan,
  cancelRollback,
  listRollbacks,
  planRollback,
  rollbackClosed,
  rollbackRunId,
  rollbackEnded,
  rollbackFinal,
  type RunEnd,
  rollbackStatus,
  startRollback,
  voteOnRollback,
} from '../../api/rollbacks.js';
import { ROLLBACK_DECISIONS } from '../../api/messages.js';
import { resolveExplicitTarget } from '../../runbook/repeat.js';
import { triggerExtra } from '../../runbook/decision.js';
import { TRIGGER_SOURCES, type RollbackStatus, type Trigger } from '../../runbook/types.js';
import type { CliContext } from '../context.js';
import { EXIT, CliError, badInput, failed, parseOptions } from '../errors.js';
import { reason as reasonText, stepName, targetIdOf, wholeNumber } from '../options.js';
import { eventLine, planLines, renderStatus, rollbackRowLine, slaLine, startLines } from '../render/rollback.js';
import { catalogRef, chooseRunbook } from '../runbook-source.js';
import { envelope, signIfKey as signDecisionIfKey, signedBy, type DecisionToSign } from '../decision-signing.js';

const workflowIdOf = (raw: Record<string, unknown>): string => targetIdOf('rollback', raw, rollbackWorkflowId);
const reasonOf = (raw: Record<string, unknown>): string => parseOptions(z.object({ reason: reasonText }), { reason: raw.reason }).reason;

/** Signs a rollback decision bound to this run: a signed decision cannot be replayed on a later rollback of the same service. */
const signIfKey = (c: CliContext, d: DecisionToSign) =>
  signDecisionIfKey(c, { ...d, extra: async () => ({ run: await rollbackRunId(await c.connect(), d.workflowId), ...(await d.extra?.()) }) });

export const outcomeExitCode = (s: RollbackStatus): number => (s.outcome === 'succeeded' ? EXIT.ok : EXIT.failed);

/**
 * Follows a rollback until it ends: a redrawn block on a TTY, one line per audit event otherwise, and with --json
 * the final status, once. The run's result arrives the moment it closes (a long poll), so this returns without
 * waiting out a poll; the status Queries between draw the progress. A run closed without a final status
 * (cancelled, terminated) is read once more and returned as it stands.
 */
async function follow(ctx: CliContext, client: Client, workflowId: string): Promise<RollbackStatus> {
  const tty = process.stdout.isTTY && !ctx.opts.json;
  let printed = 0;
  let drawn = 0;
  let end: RunEnd | undefined;
  const stop = new AbortController();
  const closed = rollbackFinal(client, workflowId, stop.signal).then((e) => {
    end = e;
    // Not known to have closed (the long poll failed): the Queries go on alone.
    if (!e.closed) return new Promise<void>(() => {});
  });
  try {
    for (;;) {
      const s = end?.status ?? (await rollbackStatus(client, workflowId));
      const done = end?.closed === true || (s.outcome !== undefined && s.phase === 'done' && (await rollbackClosed(client, workflowId)));
      if (ctx.opts.json) {
        if (done) ctx.out(JSON.stringify(s));
      } else if (tty) {
        const block = renderStatus(s);
        if (drawn) process.stdout.write(`\x1b[${drawn}F\x1b[J`);
        process.stdout.write(`${block.join('\n')}\n`);
        drawn = block.length;
      } else {
        for (const e of s.audit.slice(printed)) ctx.out(eventLine(e));
        printed = s.audit.length;
      }
      if (done) {
        if (!tty && !ctx.opts.json) ctx.out(`${workflowId}: ${s.outcome ?? 'closed without an outcome (terminated?)'}. ${slaLine(s)}`);
        return s;
      }
      // The pause is cancelled when the run closes first: a pending timer would hold the process up to 500 ms.
      const pause = new AbortController();
      await Promise.race([delay(tty ? 1000 : 500, undefined, { signal: pause.signal }).catch(() => undefined), closed]);
      pause.abort();
    }
  } finally {
    // Stop the long poll however this ends (an error included): it would hold the process open.
    stop.abort();
  }
}

/** `rollback start --to-revision N [--step S]`: the explicit target it names, checked against the runbook. */
function explicitTargetOf(steps: Parameters<typeof resolveExplicitTarget>[0], toRevision?: number, step?: string): Trigger['explicitTarget'] {
  if (toRevision === undefined) return undefined;
  const r = resolveExplicitTarget(steps, toRevision, step);
  if (!r.ok) throw badInput(r.message);
  return r.target;
}

export async function start(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const opts = parseOptions(
    z.object({
      runbook: z.string(),
      reason: reasonText,
      source: z.enum(TRIGGER_SOURCES),
      wait: z.boolean().optional(),
      toRevision: z
        .string()
        .regex(/^[1-9]\d{0,8}$/, 'expected a positive revision number such as 3')
        .transform(Number)
        .optional(),
      step: stepName.optional(),
    }),
    raw,
  );
  if (opts.step !== undefined && opts.toRevision === undefined) throw badInput('--step: only with --to-revision');
  const c = ctx();
  const chosen = await chooseRunbook(c, opts.runbook);
  const { runbook } = chosen;
  const explicitTarget = explicitTargetOf(runbook.spec.steps, opts.toRevision, opts.step);
  // A person's trigger is signed over the runbook (and the catalog digest seen here), its source and explicit
  // target, like every decision (runbook/decision.ts triggerExtra; the workflow checks the same fields).
  const signed =
    opts.source === 'manual'
      ? await signDecisionIfKey(c, {
          action: ROLLBACK_DECISIONS.trigger,
          workflowId: rollbackWorkflowId(runbook.spec.environment, runbook.spec.service),
          reason: opts.reason,
          extra: async () => triggerExtra(runbook.metadata.name, chosen.catalog?.digest, { source: opts.source, explicitTarget }),
        })
      : undefined;
  const trigger: Trigger = {
    source: opts.source,
    actor: c.actor,
    reason: opts.reason,
    requestId: randomUUID(),
    ...(explicitTarget ? { explicitTarget } : {}),
    ...envelope(signed),
  };
  const client = await c.connect();
  const r = await startRollback(client, c.opts.taskQueue, runbook, trigger, catalogRef(chosen.catalog));
  const digest = chosen.catalog ? { digest: chosen.catalog.digest, catalog: chosen.catalog.source, revision: chosen.catalog.revision } : {};
  if (c.opts.json && !opts.wait) c.out(JSON.stringify({ workflowId: r.workflowId, runId: r.runId, joined: r.joined, ...digest }));
  else if (!c.opts.json) {
    startLines(r, runbook, c.actor, explicitTarget).forEach((l) => c.out(l));
    if (chosen.catalog) c.out(`  Runbook: ${runbook.metadata.name} from the catalog ${chosen.catalog.source} (${chosen.catalog.digest})`);
  }
  if (opts.wait) {
    const final = await follow(c, client, r.workflowId);
    if (final.outcome !== 'succeeded') throw new CliError(outcomeExitCode(final), []);
  }
}

export async function plan(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const { runbook, catalog } = await chooseRunbook(c, String(raw.runbook));
  const plan = await planRollback(await c.connect(), c.opts.taskQueue, runbook, catalogRef(catalog));
  if (c.opts.json) c.out(JSON.stringify(plan));
  else planLines(plan, runbook).forEach((l) => c.out(l));
  if (plan.problems.length || plan.steps.some((s) => s.error)) throw new CliError(EXIT.failed, []);
}

export async function status(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const workflowId = workflowIdOf(raw);
  const client = await c.connect();
  const s = raw.wait ? await follow(c, client, workflowId) : await rollbackStatus(client, workflowId);
  if (!raw.wait) {
    if (c.opts.json) c.out(JSON.stringify(s));
    else renderStatus(s).forEach((l) => c.out(l));
  }
  if (s.outcome && s.outcome !== 'succeeded') throw new CliError(EXIT.failed, []);
}

export async function decide(ctx: () => CliContext, decision: 'approve' | 'reject', raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const workflowId = workflowIdOf(raw);
  const reason = reasonOf(raw);
  const signed = await signIfKey(c, { action: ROLLBACK_DECISIONS[decision], workflowId, reason });
  const vote = { actor: c.actor, reason, ...(signed ? { signed: { payload: signed.payload, signature: signed.signature } } : {}) };
  const result = await voteOnRollback(await c.connect(), workflowId, decision, vote);
  if (c.opts.json) c.out(JSON.stringify({ workflowId, decision, actor: c.actor, ...result, ...(signed ? { signedWith: signed.fingerprint } : {}) }));
  else if (decision === 'reject') c.out(`Rejected ${workflowId} as ${c.actor}${signedBy(signed)}: the rollback ends without changing anything.`);
  else
    c.out(
      `Approved ${workflowId} as ${c.actor}${signedBy(signed)} (${result.approvals}/${result.quorum})${result.decided ? ': quorum reached, the rollback proceeds.' : '.'}`,
    );
}

export async function approvePlan(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const workflowId = workflowIdOf(raw);
  const { reason, step } = parseOptions(z.object({ reason: reasonText, step: stepName.optional() }), { reason: raw.reason, step: raw.step });
  const client = await c.connect();
  // A signed plan approval names its step: the one given, else the one waiting now.
  const waiting = async () => {
    const name = (await rollbackStatus(client, workflowId)).steps.find((s) => s.planApproval && !s.planApproval.approvedBy && s.state === 'running')?.name;
    if (name === undefined) throw failed(`no step of ${workflowId} is waiting for plan approval`);
    return name;
  };
  const extra = async () => ({ step: step ?? (await waiting()) });
  const signed = await signIfKey(c, { action: ROLLBACK_DECISIONS.approvePlan, workflowId, reason, extra });
  const r = await approveRollbackPlan(client, workflowId, {
    actor: c.actor,
    reason,
    step,
    ...(signed ? { signed: { payload: signed.payload, signature: signed.signature } } : {}),
  });
  c.out(
    c.opts.json
      ? JSON.stringify({ workflowId, ...r, actor: c.actor, ...(signed ? { signedWith: signed.fingerprint } : {}) })
      : `Approved the plan of step ${r.step} of ${workflowId} as ${c.actor}${signedBy(signed)}: it is being applied.`,
  );
}

export async function cancel(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const workflowId = workflowIdOf(raw);
  const reason = reasonOf(raw);
  const client = await c.connect();
  // A cancellation is a decision like a vote: signed for this run when a key is configured, judged by the run.
  const signed = await signIfKey(c, { action: ROLLBACK_DECISIONS.cancel, workflowId, reason });
  const r = await cancelRollback(client, workflowId, { actor: c.actor, reason, ...envelope(signed) });
  if (r.terminated) {
    // A wedged run never handles a cancellation (that takes a workflow task too): it was terminated instead.
    return c.out(
      c.opts.json
        ? JSON.stringify({ workflowId, cancelled: true, terminated: true, actor: c.actor })
        : `Terminated ${workflowId} (wedged: its workflow task kept failing: ${r.error}) as ${c.actor}. Steps already done are not undone; a new trigger starts a new rollback.`,
    );
  }
  if (raw.wait) await rollbackEnded(client, workflowId);
  c.out(
    c.opts.json
      ? JSON.stringify({ workflowId, cancelled: true, actor: c.actor, ...(signed ? { signedWith: signed.fingerprint } : {}) })
      : `Cancellation of ${workflowId} requested by ${c.actor}${signedBy(signed)}.`,
  );
}

export async function list(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const { limit, all } = parseOptions(z.object({ limit: wholeNumber(1, 1000), all: z.boolean().optional() }), raw);
  const rows = await listRollbacks(await c.connect(), { all, limit });
  if (c.opts.json) return c.out(JSON.stringify(rows));
  if (rows.length === 0) return c.out(all ? 'No rollbacks.' : 'No running rollbacks (use --all for finished ones).');
  rows.forEach((r) => c.out(rollbackRowLine(r)));
}
