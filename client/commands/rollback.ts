import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { durationText } from '../../runbook/duration.js';
import { TRIGGER_SOURCES, type RollbackStatus, type Trigger } from '../../runbook/types.js';
import { approvePlanUpdate, approveUpdate, cancelRequestSignal, rejectUpdate, statusQuery, type VoteResult } from '../../api/messages.js';
import type { planRollback } from '../../workflows/plan.js';
import type { CliContext } from '../context.js';
import { EXIT, CliError, badInput, failed, parseOptions, rootMessage } from '../errors.js';
import { resolveExplicitTarget } from '../../runbook/repeat.js';
import { eventLine, renderStatus, slaLine } from '../render.js';
import { readRunbookOrFail } from './runbook.js';
import { isWedgedRunError, wedgedLines, wedgedRun, type WedgedRun } from '../../api/wedged.js';
import { triggerRollback } from '../../api/rollbacks.js';
import { failIfWedged, queryFailure } from '../wedged.js';
import { targetOptions, reason as reasonText } from '../options.js';
import { rollbackWorkflowId } from '../../api/ids.js';

function workflowIdOf(opts: unknown): string {
  const o = parseOptions(targetOptions('rollback'), opts);
  return o.id ?? rollbackWorkflowId(o.env!, o.service!);
}

const withTarget = (cmd: Command): Command =>
  cmd
    .option('--env <environment>', 'environment of the rollback')
    .option('--service <service>', 'service of the rollback')
    .option('--id <workflowId>', 'workflow ID instead of --env/--service');

export const outcomeExitCode = (s: RollbackStatus): number => (s.outcome === 'succeeded' ? EXIT.ok : EXIT.failed);

async function queryStatus(client: Client, workflowId: string): Promise<RollbackStatus> {
  try {
    await failIfWedged(client, workflowId, 'read the status of');
    return await client.workflow.getHandle(workflowId).query(statusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw failed(`no rollback ${workflowId} was found`);
    throw await queryFailure(client, workflowId, err, 'read the status of');
  }
}

/** Follows a rollback until it ends: a redrawn block on a TTY, one line per audit event otherwise. */
async function follow(ctx: CliContext, client: Client, workflowId: string): Promise<RollbackStatus> {
  const tty = process.stdout.isTTY && !ctx.opts.json;
  let printed = 0;
  let drawn = 0;
  for (;;) {
    const s = await queryStatus(client, workflowId);
    if (ctx.opts.json) {
      if (s.outcome) ctx.out(JSON.stringify(s));
    } else if (tty) {
      const block = renderStatus(s);
      if (drawn) process.stdout.write(`\x1b[${drawn}F\x1b[J`);
      process.stdout.write(`${block.join('\n')}\n`);
      drawn = block.length;
    } else {
      for (const e of s.audit.slice(printed)) ctx.out(eventLine(e));
      printed = s.audit.length;
    }
    if (s.outcome && s.phase === 'done' && (await closed(client, workflowId))) {
      if (!tty && !ctx.opts.json) ctx.out(`${workflowId}: ${s.outcome}. ${slaLine(s)}`);
      return s;
    }
    await delay(tty ? 1000 : 500);
  }
}

async function closed(client: Client, workflowId: string): Promise<boolean> {
  const d = await client.workflow.getHandle(workflowId).describe();
  return d.status.name !== 'RUNNING';
}

export function registerRollback(program: Command, ctx: () => CliContext): void {
  const rb = program.command('rollback').description('Start, follow, approve and cancel rollbacks');

  rb.command('start')
    .description('Start the rollback of a runbook (or join the one already running for its target)')
    .requiredOption('--runbook <file>', 'runbook YAML file')
    .requiredOption('--reason <text>', 'why: recorded in the audit trail and shown to approvers')
    .option('--source <source>', `what triggered it: ${TRIGGER_SOURCES.join(', ')}`, 'manual')
    .option('--wait', 'follow progress until the rollback ends; exit code from its outcome')
    .option('--to-revision <n>', "an explicit target for the runbook's kubernetes or helm step (audited); goes past a state an earlier rollback restored")
    .option('--step <name>', 'with --to-revision: the kubernetes or helm step it is for (needed when the runbook has several)')
    .action(async (raw: Record<string, unknown>) => {
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
          step: z.string().optional(),
        }),
        raw,
      );
      if (opts.step !== undefined && opts.toRevision === undefined) throw badInput('--step: only with --to-revision');
      const c = ctx();
      const runbook = await readRunbookOrFail(opts.runbook);
      let explicitTarget: Trigger['explicitTarget'];
      if (opts.toRevision !== undefined) {
        const r = resolveExplicitTarget(runbook.spec.steps, opts.toRevision, opts.step);
        if (!r.ok) throw badInput(r.message);
        explicitTarget = r.target;
      }
      const trigger: Trigger = {
        source: opts.source,
        actor: c.actor,
        reason: opts.reason,
        requestId: randomUUID(),
        ...(explicitTarget ? { explicitTarget } : {}),
      };
      const client = await c.connect();
      const { workflowId, runId, joined, startedBy } = await triggerRollback(client, c.opts.taskQueue, runbook, trigger).catch((err: unknown) => {
        if (isWedgedRunError(err)) {
          const w = err.details?.[0] as WedgedRun;
          throw failed(`refusing to join ${w.workflowId}: the rollback running for this target is wedged.`, ...wedgedLines(w));
        }
        throw err;
      });
      if (c.opts.json && !opts.wait) c.out(JSON.stringify({ workflowId, runId, joined }));
      else if (!c.opts.json) {
        c.out(
          joined
            ? `Joined the rollback already running: ${workflowId} (started by ${startedBy ?? 'someone else'}); your trigger is in its audit trail.`
            : `Started rollback ${workflowId} (runbook ${runbook.metadata.name}, SLA ${durationText(runbook.spec.sla)}).`,
        );
        if (explicitTarget)
          c.out(
            joined
              ? `Your --to-revision ${explicitTarget.toRevision} was not applied: the running rollback keeps its own targets (it is recorded in its audit trail).`
              : `Step ${explicitTarget.step} goes to revision ${explicitTarget.toRevision}, as you asked (recorded in the audit trail).`,
          );
        const a = runbook.spec.approval;
        if (a?.required && !joined) {
          c.out(`Needs ${a.quorum} approval(s) from ${a.approvers.filter((x) => x !== c.actor).join(', ')} within ${durationText(a.timeout)}:`);
          c.out(`  rearguard rollback approve --env ${runbook.spec.environment} --service ${runbook.spec.service} --as <approver> --reason "..."`);
        }
      }
      if (opts.wait) {
        const final = await follow(c, client, workflowId);
        if (final.outcome !== 'succeeded') throw new CliError(outcomeExitCode(final), []);
      }
    });

  rb.command('plan')
    .description('Show what each step of a runbook would change (current -> target), changing nothing')
    .requiredOption('--runbook <file>', 'runbook YAML file')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const runbook = await readRunbookOrFail(String(raw.runbook));
      const client = await c.connect();
      // Planned by the worker, which holds the cluster credentials; a short workflow, never a change.
      const plan = await client.workflow
        .execute<typeof planRollback>('planRollback', {
          workflowId: `plan:${runbook.spec.environment}:${runbook.spec.service}:${randomUUID()}`,
          taskQueue: c.opts.taskQueue,
          args: [{ runbook }],
          workflowExecutionTimeout: '5m',
        })
        .catch((err: unknown) => {
          throw failed(`cannot plan: ${rootMessage(err)}`);
        });
      if (c.opts.json) c.out(JSON.stringify(plan));
      else {
        c.out(`Plan for ${runbook.metadata.name} (${runbook.spec.environment}/${runbook.spec.service}):`);
        plan.steps.forEach((s, i) => c.out(`  ${i + 1}. ${s.name} [${s.type}] ${s.error ? `cannot plan: ${s.error}` : s.summary}`));
        if (plan.problems.length) {
          c.out('Preflight problems (the rollback would fail before changing anything):');
          plan.problems.forEach((p) => c.out(`  - ${p}`));
        }
      }
      if (plan.problems.length || plan.steps.some((s) => s.error)) throw new CliError(EXIT.failed, []);
    });

  withTarget(rb.command('status').description('Show a rollback: phase, approvals, steps, SLA'))
    .option('--wait', 'follow it until it ends')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const workflowId = workflowIdOf(raw);
      const client = await c.connect();
      const s = raw.wait ? await follow(c, client, workflowId) : await queryStatus(client, workflowId);
      if (!raw.wait) {
        if (c.opts.json) c.out(JSON.stringify(s));
        else renderStatus(s).forEach((l) => c.out(l));
      }
      if (s.outcome && s.outcome !== 'succeeded') throw new CliError(EXIT.failed, []);
    });

  for (const decision of ['approve', 'reject'] as const) {
    withTarget(
      rb
        .command(decision)
        .description(decision === 'approve' ? 'Approve a rollback waiting for approval' : 'Reject a rollback waiting for approval (it ends, changing nothing)'),
    )
      .requiredOption('--reason <text>', 'recorded in the audit trail')
      .action(async (raw: Record<string, unknown>) => {
        const c = ctx();
        const workflowId = workflowIdOf(raw);
        const { reason } = parseOptions(z.object({ reason: reasonText }), { reason: raw.reason });
        const client = await c.connect();
        let result: VoteResult;
        try {
          result = await client.workflow
            .getHandle(workflowId)
            .executeUpdate(decision === 'approve' ? approveUpdate : rejectUpdate, { args: [{ actor: c.actor, reason }] });
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw failed(`no running rollback ${workflowId}`);
          if (err instanceof WorkflowUpdateFailedError) throw failed(`${decision} refused: ${rootMessage(err)}`);
          throw failed(`${decision} failed: ${rootMessage(err)}`);
        }
        if (c.opts.json) c.out(JSON.stringify({ workflowId, decision, actor: c.actor, ...result }));
        else if (decision === 'reject') c.out(`Rejected ${workflowId} as ${c.actor}: the rollback ends without changing anything.`);
        else
          c.out(
            `Approved ${workflowId} as ${c.actor} (${result.approvals}/${result.quorum})${result.decided ? ': quorum reached, the rollback proceeds.' : '.'}`,
          );
      });
  }

  withTarget(rb.command('approve-plan').description('Approve the saved plan of a step marked approvePlan (e.g. Terraform), so it is applied'))
    .requiredOption('--reason <text>', 'recorded in the audit trail')
    .option('--step <name>', 'the step whose plan you approve (default: the one waiting)')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const workflowId = workflowIdOf(raw);
      const { reason, step } = parseOptions(z.object({ reason: reasonText, step: z.string().optional() }), {
        reason: raw.reason,
        step: raw.step,
      });
      const client = await c.connect();
      try {
        const r = await client.workflow.getHandle(workflowId).executeUpdate(approvePlanUpdate, { args: [{ actor: c.actor, reason, step }] });
        c.out(
          c.opts.json
            ? JSON.stringify({ workflowId, ...r, actor: c.actor })
            : `Approved the plan of step ${r.step} of ${workflowId} as ${c.actor}: it is being applied.`,
        );
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw failed(`no running rollback ${workflowId}`);
        if (err instanceof WorkflowUpdateFailedError) throw failed(`approve-plan refused: ${rootMessage(err)}`);
        throw failed(`approve-plan failed: ${rootMessage(err)}`);
      }
    });

  withTarget(rb.command('cancel').description('Cancel a rollback: the running step is cancelled, no further step starts'))
    .requiredOption('--reason <text>', 'recorded in the audit trail')
    .option('--wait', 'wait until the rollback has stopped')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const workflowId = workflowIdOf(raw);
      const { reason } = parseOptions(z.object({ reason: reasonText }), { reason: raw.reason });
      const client = await c.connect();
      const handle: WorkflowHandle = client.workflow.getHandle(workflowId);
      try {
        const d = await handle.describe();
        if (d.status.name !== 'RUNNING') throw failed(`${workflowId} is not running (${d.status.name.toLowerCase()})`);
        // A wedged run never handles a cancellation (that takes a workflow task too): terminate it instead.
        const wedged = await wedgedRun(client, workflowId, d);
        if (wedged) {
          await handle.terminate(`cancelled by ${c.actor}: ${reason} (wedged: ${wedged.error})`);
          c.out(
            c.opts.json
              ? JSON.stringify({ workflowId, cancelled: true, terminated: true, actor: c.actor })
              : `Terminated ${workflowId} (wedged: its workflow task kept failing: ${wedged.error}) as ${c.actor}. Steps already done are not undone; a new trigger starts a new rollback.`,
          );
          return;
        }
        await handle.signal(cancelRequestSignal, { actor: c.actor, reason });
        await handle.cancel();
      } catch (err) {
        if (err instanceof CliError) throw err;
        if (err instanceof WorkflowNotFoundError) throw failed(`no running rollback ${workflowId}`);
        throw failed(`cancel failed: ${rootMessage(err)}`);
      }
      if (raw.wait) await handle.result().catch(() => undefined);
      c.out(c.opts.json ? JSON.stringify({ workflowId, cancelled: true, actor: c.actor }) : `Cancellation of ${workflowId} requested by ${c.actor}.`);
    });

  rb.command('list')
    .description('List rollbacks (running ones unless --all)')
    .option('--all', 'include finished rollbacks')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const { limit, all } = parseOptions(z.object({ limit: z.coerce.number().int().min(1).max(1000), all: z.boolean().optional() }), raw);
      const client = await c.connect();
      const query = `WorkflowType = 'rollback'${all ? '' : " AND ExecutionStatus = 'Running'"}`;
      const rows: Record<string, unknown>[] = [];
      try {
        for await (const w of client.workflow.list({ query })) {
          rows.push({ workflowId: w.workflowId, status: w.status.name.toLowerCase(), startTime: w.startTime.toISOString(), ...(w.memo ?? {}) });
          if (rows.length >= limit) break;
        }
      } catch (err) {
        throw failed(`cannot list rollbacks: ${rootMessage(err)}`);
      }
      if (c.opts.json) return c.out(JSON.stringify(rows));
      if (rows.length === 0) return c.out(all ? 'No rollbacks.' : 'No running rollbacks (use --all for finished ones).');
      // A finished rollback's outcome (memo `outcome`, e.g. already-restored) says more than "completed".
      for (const r of rows)
        c.out(
          `${String(r.workflowId).padEnd(34)} ${String(r.outcome ?? r.status).padEnd(16)} ${String(r.startTime)}  ${String(r.runbook ?? '')} by ${String(r.actor ?? '?')}: ${String(r.reason ?? '')}`,
        );
    });
}
