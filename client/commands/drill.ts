// `rearguard drill run|status|schedule`: rollback drills (issue 6, section 4). A drill deploys a marked
// bad revision in staging, runs the runbook's rollback, and reports time-to-restore against the SLA.
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type ScheduleOptions,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Command } from 'commander';
import { CronExpressionParser } from 'cron-parser';
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { DRILL_MARKER, drillRefusal, drillScheduleId, type DrillInput, type DrillReport } from '../../runbook/drill.js';
import { durationText } from '../../runbook/duration.js';
import type { drill } from '../../workflows/drill.js';
import { drillResultQuery } from '../../api/messages.js';
import type { CliContext } from '../context.js';
import { CliError, EXIT, badInput, failed, parseOptions, rootMessage } from '../errors.js';
import { readRunbookOrFail } from './runbook.js';
import { drillScheduleWorkflowId, drillWorkflowId } from '../../api/ids.js';

/** 0 when restored within the SLA; 1 when the SLA was missed or the rollback did not restore the service. */
export const drillExitCode = (r: DrillReport): number => (r.verdict === 'met' ? EXIT.ok : EXIT.failed);

const seconds = (s: number | undefined): string => (s === undefined ? '-' : `${s.toFixed(1)}s`);

export function renderDrill(r: DrillReport): string[] {
  const head = `${r.workflowId}  runbook ${r.runbook} (${r.target.environment}/${r.target.service})`;
  if (r.phase === 'refused') return [head, `REFUSED: ${r.error ?? ''}`];
  const verdict = r.verdict === 'met' ? 'SLA MET' : r.verdict === 'missed' ? 'SLA MISSED' : r.verdict === 'failed' ? 'FAILED' : `phase ${r.phase}`;
  const lines = [`${head}: ${verdict}`];
  const rev = r.revision;
  if (rev)
    lines.push(
      `  bad revision: deployment ${rev.namespace}/${rev.deployment} revision ${rev.goodRevision} (${rev.goodImages.join(', ')}) -> ${rev.badRevision} (${rev.badImages.join(', ')}), ${DRILL_MARKER}=${r.workflowId}`,
    );
  if (r.rollback)
    lines.push(
      `  rollback:     ${r.rollback.workflowId} ${r.rollback.outcome ?? 'not finished'}${r.rollback.failure ? `: ${r.rollback.failure}` : ''}${r.rollback.startedAt ? ` (triggered ${r.rollback.startedAt}${r.rollback.endedAt ? `, ended ${r.rollback.endedAt}` : ''})` : ''}`,
    );
  if (r.verdict)
    lines.push(
      `  restore time: ${seconds(r.restoreSeconds)} (trigger to verified), SLA ${r.sla} (${r.slaSeconds}s): ${r.verdict === 'failed' ? 'not restored' : r.slaMet ? 'met' : 'missed'}`,
    );
  if (r.after)
    lines.push(
      `  deployment:   revision ${r.after.revision ?? '?'} (${r.after.images.join(', ')}), ${r.after.marker ? `still carries the drill marker ${r.after.marker}` : 'drill marker gone'}${r.after.rolloutDone ? '' : ', rollout not complete'}`,
    );
  if (r.cleanedUp) lines.push('  clean-up:     the drill put the pre-drill template back itself');
  if (r.error) lines.push(`  error:        ${r.error}`);
  return lines;
}

/** The report of a drill, running (by Query) or closed (its result, or the report attached to its failure). */
async function reportOf(handle: WorkflowHandle): Promise<{ report?: DrillReport; running: boolean; error?: string }> {
  const d = await handle.describe();
  if (d.status.name === 'RUNNING') return { running: true, report: await handle.query(drillResultQuery).catch(() => undefined) };
  try {
    return { running: false, report: (await handle.result()) as DrillReport };
  } catch (err) {
    const details = err instanceof WorkflowFailedError ? (err.cause as { details?: unknown[] } | undefined)?.details : undefined;
    const report = details?.[0] as DrillReport | undefined;
    return { running: false, report: report && typeof report === 'object' && 'workflowId' in report ? report : undefined, error: rootMessage(err) };
  }
}

/** Follows a drill until it ends, printing each phase once (not in --json mode). */
async function follow(c: CliContext, handle: WorkflowHandle): Promise<{ report?: DrillReport; error?: string }> {
  let last = '';
  for (;;) {
    const state = await reportOf(handle);
    if (!c.opts.json && state.report && state.running && state.report.phase !== last) {
      last = state.report.phase;
      const r = state.report;
      if (r.phase === 'deploying-bad-revision') c.out(`deploying a marked bad revision of ${r.step ?? 'the kubernetes step'}...`);
      if (r.phase === 'rolling-back')
        c.out(
          `bad revision ${r.revision?.badRevision ?? '?'} is live; rollback ${r.rollback?.workflowId ?? ''} triggered (rearguard rollback status --id ${r.rollback?.workflowId ?? ''})`,
        );
      if (r.phase === 'checking') c.out(`rollback ${r.rollback?.outcome ?? 'ended'}; checking the deployment...`);
    }
    if (!state.running) return state;
    await delay(500);
  }
}

function print(c: CliContext, report: DrillReport | undefined, error: string | undefined): void {
  if (c.opts.json) return c.out(JSON.stringify(report ?? { error }));
  if (report) renderDrill(report).forEach((l) => c.out(l));
  else if (error) c.err(`drill failed: ${error}`);
}

function exitFor(report: DrillReport | undefined): void {
  if (!report) throw new CliError(EXIT.failed, []);
  if (report.phase === 'refused') throw new CliError(EXIT.failed, []);
  if (report.verdict && drillExitCode(report) !== EXIT.ok) throw new CliError(drillExitCode(report), []);
}

const cronOption = z.string().superRefine((s, ctx) => {
  if (s.trim().split(/\s+/).length !== 5) {
    ctx.addIssue({ code: 'custom', message: 'expected a five-field cron expression such as "0 10 * * TUE"' });
    return;
  }
  try {
    CronExpressionParser.parse(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `expected a cron expression such as "0 10 * * TUE": ${(err as Error).message}` });
  }
});
const zoneOption = z.string().refine((zone) => IANAZone.isValidZone(zone), 'expected an IANA time zone such as Europe/Paris or UTC');

export function drillScheduleOptions(input: DrillInput, cron: string, timezone: string, taskQueue: string, actor: string): ScheduleOptions {
  const name = input.runbook.metadata.name;
  return {
    scheduleId: drillScheduleId(name),
    spec: { cronExpressions: [cron], timezone },
    action: { type: 'startWorkflow', workflowType: 'drill', workflowId: drillScheduleWorkflowId(name), taskQueue, args: [input] },
    // One drill at a time per runbook; a drill missed while the cluster was down is not worth running hours late.
    policies: { overlap: 'SKIP', catchupWindow: '10m' },
    memo: { runbook: name, by: actor },
    state: { note: `rollback drill of runbook ${name}: cron "${cron}" (${timezone}), set by ${actor}` },
  };
}

export function registerDrill(program: Command, ctx: () => CliContext): void {
  const drillCmd = program.command('drill').description('Rollback drills: break staging on purpose, roll back, measure time-to-restore');

  drillCmd
    .command('run')
    .description('Deploy a marked bad revision (staging only unless --force), run the rollback, report restore time vs SLA')
    .requiredOption('--runbook <file>', 'runbook YAML file (needs a kubernetes step)')
    .option('--force', 'drill a runbook outside staging, or one that requires approval')
    .option('--wait', 'follow the drill and print its report; exit 1 if the SLA was missed or the service was not restored')
    .action(async (raw: Record<string, unknown>) => {
      const opts = parseOptions(z.object({ runbook: z.string().min(1), force: z.boolean().optional(), wait: z.boolean().optional() }), raw);
      const c = ctx();
      const runbook = await readRunbookOrFail(opts.runbook);
      const refusal = drillRefusal(runbook, opts.force === true);
      if (refusal) throw badInput(`drill refused: ${refusal}`);
      const client = await c.connect();
      const workflowId = drillWorkflowId(runbook.metadata.name, new Date().toISOString());
      const input: DrillInput = { runbook, actor: c.actor, forced: opts.force === true, requestId: randomUUID() };
      let handle: WorkflowHandle<typeof drill>;
      try {
        handle = await client.workflow.start<typeof drill>('drill', {
          workflowId,
          taskQueue: c.opts.taskQueue,
          args: [input],
          memo: { runbook: runbook.metadata.name, actor: c.actor },
        });
      } catch (err) {
        throw failed(`cannot start the drill: ${rootMessage(err)}`);
      }
      if (!opts.wait) {
        c.out(
          c.opts.json
            ? JSON.stringify({ workflowId })
            : `Started drill ${workflowId} (runbook ${runbook.metadata.name}, SLA ${durationText(runbook.spec.sla)}). Follow it: rearguard drill status --id '${workflowId}' --wait`,
        );
        return;
      }
      if (!c.opts.json) c.out(`Started drill ${workflowId} (runbook ${runbook.metadata.name}, SLA ${durationText(runbook.spec.sla)}).`);
      const { report, error } = await follow(c, handle);
      print(c, report, error);
      exitFor(report);
    });

  drillCmd
    .command('status')
    .description('Show a drill: phase, or its report once it ended')
    .requiredOption('--id <workflowId>', 'the drill workflow ID (drill:<runbook>:<time>)')
    .option('--wait', 'follow it until it ends')
    .action(async (raw: Record<string, unknown>) => {
      const opts = parseOptions(
        z.object({ id: z.string().regex(/^drill:/, 'expected a drill workflow ID, drill:<runbook>:<time>'), wait: z.boolean().optional() }),
        raw,
      );
      const c = ctx();
      const client = await c.connect();
      const handle = client.workflow.getHandle(opts.id);
      try {
        const state = opts.wait ? await follow(c, handle) : await reportOf(handle);
        print(c, state.report, state.error);
        if (!opts.wait && 'running' in state && state.running) return;
        exitFor(state.report);
      } catch (err) {
        if (err instanceof CliError) throw err;
        if (err instanceof WorkflowNotFoundError) throw failed(`no drill ${opts.id} was found`);
        throw failed(`cannot read drill ${opts.id}: ${rootMessage(err)}`);
      }
    });

  drillCmd
    .command('schedule')
    .description('Run a runbook drill on a Temporal Schedule (created or updated; --delete removes it)')
    .requiredOption('--runbook <file>', 'runbook YAML file (the schedule keeps this version of it; re-run after editing)')
    .option('--cron <expr>', 'five-field cron, e.g. "0 10 * * TUE"')
    .option('--timezone <zone>', 'IANA time zone of the cron', 'UTC')
    .option('--force', 'allow a runbook outside staging, or one that requires approval')
    .option('--delete', 'delete the schedule of this runbook')
    .action(async (raw: Record<string, unknown>) => {
      const c = ctx();
      const runbook = await readRunbookOrFail(String(raw.runbook));
      const scheduleId = drillScheduleId(runbook.metadata.name);
      if (raw.delete) {
        const client = await c.connect();
        let deleted = true;
        try {
          await client.schedule.getHandle(scheduleId).delete();
        } catch (err) {
          if (!(err instanceof ScheduleNotFoundError)) throw failed(`cannot delete ${scheduleId}: ${rootMessage(err)}`);
          deleted = false;
        }
        c.out(c.opts.json ? JSON.stringify({ scheduleId, deleted }) : deleted ? `Deleted ${scheduleId}.` : `No schedule ${scheduleId}: nothing to delete.`);
        return;
      }
      const opts = parseOptions(
        z.object({
          cron: z.string({ error: 'expected a five-field cron expression such as "0 10 * * TUE" (or --delete)' }).pipe(cronOption),
          timezone: zoneOption,
          force: z.boolean().optional(),
        }),
        raw,
      );
      const refusal = drillRefusal(runbook, opts.force === true);
      if (refusal) throw badInput(`drill schedule refused: ${refusal}`);
      const input: DrillInput = { runbook, actor: `schedule:${scheduleId}`, forced: opts.force === true };
      const options = drillScheduleOptions(input, opts.cron, opts.timezone, c.opts.taskQueue, c.actor);
      const client = await c.connect();
      let outcome: 'created' | 'updated' = 'created';
      try {
        await client.schedule.create(options);
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw failed(`cannot create ${scheduleId}: ${rootMessage(err)}`);
        outcome = 'updated';
        await client.schedule
          .getHandle(scheduleId)
          .update((prev) => ({ ...prev, spec: options.spec, action: options.action, policies: { ...prev.policies, ...options.policies } }))
          .catch((e: unknown) => {
            throw failed(`cannot update ${scheduleId}: ${rootMessage(e)}`);
          });
      }
      const next = await nextRuns(client, scheduleId);
      if (c.opts.json) return c.out(JSON.stringify({ scheduleId, outcome, cron: opts.cron, timezone: opts.timezone, nextRuns: next }));
      c.out(`${outcome === 'created' ? 'Created' : 'Updated'} ${scheduleId}: drill of runbook ${runbook.metadata.name} at "${opts.cron}" (${opts.timezone}).`);
      if (next.length) c.out(`Next runs: ${next.join(', ')}`);
    });
}

async function nextRuns(client: Client, scheduleId: string): Promise<string[]> {
  try {
    const d = await client.schedule.getHandle(scheduleId).describe();
    return d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString());
  } catch {
    return [];
  }
}
