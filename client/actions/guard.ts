// `rearguard guard start|pause|resume|status`: the SLO guard of a runbook (workflow `guard:<env>:<service>`),
// which starts the runbook's rollback when its spec.slo is violated. Each command parses its options,
// calls api/guards.ts and renders (client/render/guard.ts).
import { z } from 'zod';
import { guardStatus, setGuardPaused, startGuard } from '../../api/guards.js';
import { guardWorkflowId } from '../../api/ids.js';
import { GUARD_DECISIONS } from '../../api/messages.js';
import { sloProblems } from '../../runbook/cross-checks.js';
import { durationText } from '../../runbook/duration.js';
import type { CliContext } from '../context.js';
import { envelope, signIfKey, signedBy } from '../decision-signing.js';
import { badInput, parseOptions } from '../errors.js';
import { reason as reasonText, targetIdOf } from '../options.js';
import { describeSlo, renderGuard } from '../render/guard.js';
import { catalogRef, chooseRunbook } from '../runbook-source.js';

const workflowIdOf = (raw: Record<string, unknown>): string => targetIdOf('guard', raw, guardWorkflowId);

export async function start(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const opts = parseOptions(z.object({ runbook: z.string().min(1, 'expected a runbook file'), reason: reasonText }), raw);
  const c = ctx();
  const chosen = await chooseRunbook(c, opts.runbook);
  const { runbook } = chosen;
  // spec.slo's references to the rest of the runbook are checked by `runbook validate` (runbook/cross-checks.ts).
  const problems = sloProblems(runbook);
  if (problems.length) throw badInput(...problems.map((p) => `${opts.runbook}: ${p}`));
  const { workflowId, runId } = await startGuard(
    await c.connect(),
    c.opts.taskQueue,
    runbook,
    { actor: c.actor, reason: opts.reason },
    catalogRef(chosen.catalog),
  );
  if (c.opts.json) return c.out(JSON.stringify({ workflowId, runId }));
  const slo = runbook.spec.slo!;
  c.out(
    `Started guard ${workflowId} (runbook ${runbook.metadata.name}): every ${durationText(slo.interval)}, cooldown ${durationText(slo.cooldown)} after a trigger.`,
  );
  describeSlo(runbook).forEach((l) => c.out(`  ${l}`));
}

export async function setPaused(ctx: () => CliContext, action: 'pause' | 'resume', raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const workflowId = workflowIdOf(raw);
  const { reason } = parseOptions(z.object({ reason: reasonText }), { reason: raw.reason });
  const signed = await signIfKey(c, { action: GUARD_DECISIONS[action], workflowId, reason });
  const s = await setGuardPaused(await c.connect(), workflowId, action, { actor: c.actor, reason, ...envelope(signed) });
  if (c.opts.json) c.out(JSON.stringify(s));
  else
    c.out(
      action === 'pause'
        ? `Paused ${workflowId} as ${c.actor}${signedBy(signed)}: no automatic rollback until \`rearguard guard resume\`.`
        : `Resumed ${workflowId} as ${c.actor}${signedBy(signed)}: evaluating again.`,
    );
}

export async function status(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const workflowId = workflowIdOf(raw);
  const s = await guardStatus(await c.connect(), workflowId);
  if (c.opts.json) c.out(JSON.stringify(s));
  else renderGuard(s).forEach((l) => c.out(l));
}
