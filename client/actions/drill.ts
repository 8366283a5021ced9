// `rearguard drill run|status|schedule`: rollback drills (README, "Rollback drills"). A drill deploys a marked
// bad revision in staging, runs the runbook's rollback, and reports time-to-restore against the SLA. Each
// command parses its options, calls api/drills.ts and renders (client/render/drill.ts). The command line is
// client/commands/drill.ts.
import { randomUUID } from 'node:crypto';
import { IANAZone } from 'luxon';
import { z } from 'zod';
import {
  deleteDrillSchedule,
  drillScheduleOptions,
  drillStatus,
  drillUnderWay,
  followDrill,
  newDrillWorkflowId,
  scheduleDrills,
  startDrill,
} from '../../api/drills.js';
import { DRILL_DECISIONS } from '../../api/messages.js';
import { cronField } from '../../runbook/cron.js';
import { drillRefusal, type DrillInput, type DrillReport } from '../../runbook/drill.js';
import { durationText } from '../../runbook/duration.js';
import type { CliContext } from '../context.js';
import { envelope, signIfKey, signedBy } from '../decision-signing.js';
import { CliError, EXIT, badInput, parseOptions } from '../errors.js';
import { reason as reasonText } from '../options.js';
import { drillPhaseLine, renderDrill } from '../render/drill.js';
import { catalogRef, chooseRunbook } from '../runbook-source.js';
import { drillScheduleId } from '../../api/ids.js';

/** 0 when restored within the SLA; 1 when the SLA was missed or the rollback did not restore the service. */
export const drillExitCode = (r: DrillReport): number => (r.verdict === 'met' ? EXIT.ok : EXIT.failed);

/** Prints each phase of a followed drill once (nothing in --json mode). */
function phasePrinter(c: CliContext): (r: DrillReport) => void {
  let last = '';
  return (r) => {
    if (c.opts.json || r.phase === last) return;
    last = r.phase;
    const line = drillPhaseLine(r);
    if (line) c.out(line);
  };
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

const cronOption = cronField('"0 10 * * TUE"', (error) => `expected a cron expression such as "0 10 * * TUE": ${error}`);
const zoneOption = z.string().refine((zone) => IANAZone.isValidZone(zone), 'expected an IANA time zone such as Europe/Paris or UTC');

/** --force is a person's decision like an approval: it needs a reason, which the audit trail keeps. */
const forcedWithReason = (o: { force?: boolean; reason?: string }): boolean => !o.force || o.reason !== undefined;
const FORCE_NEEDS_REASON = { message: 'expected --reason "..." with --force (a forced drill is a decision the audit trail keeps)', path: ['reason'] };

export async function run(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const opts = parseOptions(
    z
      .object({ runbook: z.string().min(1), force: z.boolean().optional(), reason: reasonText.optional(), wait: z.boolean().optional() })
      .refine(forcedWithReason, FORCE_NEEDS_REASON),
    raw,
  );
  const c = ctx();
  const chosen = await chooseRunbook(c, opts.runbook);
  const { runbook } = chosen;
  const refusal = drillRefusal(runbook, opts.force === true);
  if (refusal) throw badInput(`drill refused: ${refusal}`);
  const client = await c.connect();
  // Forcing is a person's decision: signed (with a key configured) for this drill's workflow ID, judged by the drill.
  const workflowId = newDrillWorkflowId(runbook.metadata.name);
  const signed = opts.force ? await signIfKey(c, { action: DRILL_DECISIONS.force, workflowId, reason: opts.reason! }) : undefined;
  const input: DrillInput = {
    runbook,
    actor: c.actor,
    forced: opts.force === true,
    ...(opts.reason ? { reason: opts.reason } : {}),
    requestId: randomUUID(),
    ...envelope(signed),
    ...(chosen.catalog ? { catalog: catalogRef(chosen.catalog)! } : {}),
  };
  await startDrill(client, c.opts.taskQueue, input, workflowId);
  const started = `Started drill ${workflowId} (runbook ${runbook.metadata.name}, SLA ${durationText(runbook.spec.sla)})${opts.force ? `, forced by ${c.actor}${signedBy(signed)}` : ''}.`;
  if (!opts.wait) {
    // The worker judges who forced it at the drill's start: a refusal is this command's failure, not a later surprise.
    const state = opts.force ? await drillUnderWay(client, workflowId, 60_000) : undefined;
    if (state?.report?.phase === 'refused') {
      print(c, state.report, state.error);
      return exitFor(state.report);
    }
    c.out(c.opts.json ? JSON.stringify({ workflowId }) : `${started} Follow it: rearguard drill status --id '${workflowId}' --wait`);
    return;
  }
  if (!c.opts.json) c.out(started);
  const { report, error } = await followDrill(client, workflowId, phasePrinter(c));
  print(c, report, error);
  exitFor(report);
}

export async function status(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const opts = parseOptions(
    z.object({ id: z.string().regex(/^drill:/, 'expected a drill workflow ID, drill:<runbook>:<time>'), wait: z.boolean().optional() }),
    raw,
  );
  const c = ctx();
  const state = await drillStatus(await c.connect(), opts.id, opts.wait ? phasePrinter(c) : undefined);
  print(c, state.report, state.error);
  if (!opts.wait && state.running) return;
  exitFor(state.report);
}

export async function schedule(ctx: () => CliContext, raw: Record<string, unknown>): Promise<void> {
  const c = ctx();
  const chosen = await chooseRunbook(c, String(raw.runbook));
  const { runbook } = chosen;
  const scheduleId = drillScheduleId(runbook.metadata.name);
  if (raw.delete) {
    const deleted = await deleteDrillSchedule(await c.connect(), scheduleId);
    c.out(c.opts.json ? JSON.stringify({ scheduleId, deleted }) : deleted ? `Deleted ${scheduleId}.` : `No schedule ${scheduleId}: nothing to delete.`);
    return;
  }
  const opts = parseOptions(
    z
      .object({
        cron: z.string({ error: 'expected a five-field cron expression such as "0 10 * * TUE" (or --delete)' }).pipe(cronOption),
        timezone: zoneOption,
        force: z.boolean().optional(),
        reason: reasonText.optional(),
      })
      .refine(forcedWithReason, FORCE_NEEDS_REASON),
    raw,
  );
  const refusal = drillRefusal(runbook, opts.force === true);
  if (refusal) throw badInput(`drill schedule refused: ${refusal}`);
  const input: DrillInput = {
    runbook,
    actor: `schedule:${scheduleId}`,
    forced: opts.force === true,
    ...(opts.reason ? { reason: `${opts.reason} (forced by ${c.actor})` } : {}),
    // By name only: each scheduled drill loads the catalog's version of its day.
    ...(chosen.catalog ? { catalog: { name: chosen.catalog.name } } : {}),
  };
  const options = drillScheduleOptions(input, opts.cron, opts.timezone, c.opts.taskQueue, c.actor);
  const { outcome, nextRuns: next } = await scheduleDrills(await c.connect(), options);
  if (c.opts.json) return c.out(JSON.stringify({ scheduleId, outcome, cron: opts.cron, timezone: opts.timezone, nextRuns: next }));
  c.out(`${outcome === 'created' ? 'Created' : 'Updated'} ${scheduleId}: drill of runbook ${runbook.metadata.name} at "${opts.cron}" (${opts.timezone}).`);
  if (next.length) c.out(`Next runs: ${next.join(', ')}`);
}
