// `rearguard guard start|pause|resume|status`: the SLO guard of a runbook (workflow `guard:<env>:<service>`),
// which starts the runbook's rollback when its spec.slo is violated.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { sloProblems } from '../../runbook/cross-checks.js';
import { durationText, formatDuration } from '../../runbook/duration.js';
import type { Runbook } from '../../runbook/schema.js';
import { guardStatusQuery, pauseGuardUpdate, resumeGuardUpdate } from '../../api/messages.js';
import { type sloGuard } from '../../workflows/slo-guard.js';
import { targetOptions, reason as reasonText } from '../options.js';
import type { CliContext } from '../context.js';
import { badInput, failed, parseOptions, rootMessage } from '../errors.js';
import { readRunbookOrFail } from './runbook.js';
import { failIfWedged, queryFailure } from '../wedged.js';
import { guardWorkflowId } from '../../api/ids.js';
import { type SloGuardStatus } from '../../runbook/slo-guard.js';

function workflowIdOf(raw: Record<string, unknown>): string {
  const o = parseOptions(targetOptions('guard'), { env: raw.env, service: raw.service, id: raw.id });
  return o.id ?? guardWorkflowId(o.env!, o.service!);
}

const withTarget = (cmd: Command): Command =>
  cmd
    .option('--env <environment>', 'environment of the guarded service')
    .option('--service <service>', 'the guarded service')
    .option('--id <workflowId>', 'workflow ID instead of --env/--service');

/** spec.slo's references to the rest of the runbook are checked by `runbook validate` (runbook/cross-checks.ts). */
export { sloProblems };

/** One line per thing the guard watches. */
export function describeSlo(runbook: Runbook): string[] {
  const slo = runbook.spec.slo!;
  const lines = slo.conditions.map(
    (c) => `condition ${c.name}: ${c.above !== undefined ? `above ${c.above}` : `below ${c.below}`}${c.for !== undefined ? ` for ${durationText(c.for)}` : ''}`,
  );
  for (const w of slo.burnRate?.windows ?? [])
    lines.push(`burn rate of ${slo.objective}%: ${durationText(w.long)} and ${durationText(w.short)} windows above ${w.factor}x`);
  if (slo.health?.deployment) lines.push('deployment health: ProgressDeadlineExceeded');
  if (slo.health?.http) lines.push(`http health: GET ${slo.health.http.url.replace(/\?.*$/, '')} (${slo.health.http.failures} failures in a row)`);
  return lines;
}

async function queryGuard(client: Client, workflowId: string): Promise<SloGuardStatus> {
  try {
    await failIfWedged(client, workflowId, 'read the status of');
    return await client.workflow.getHandle(workflowId).query(guardStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw failed(`no guard ${workflowId} was found`, 'Start one with `rearguard guard start --runbook FILE`.');
    throw await queryFailure(client, workflowId, err, 'read the status of');
  }
}

const ago = (iso: string | undefined, now = Date.now()) => (iso ? `${formatDuration(now - Date.parse(iso))} ago` : 'never');

export function renderGuard(s: SloGuardStatus, now = Date.now()): string[] {
  const lines = [`${s.workflowId} (runbook ${s.runbook}): ${s.state}`];
  lines.push(`  started by ${s.startedBy} at ${s.startedAt}; evaluates every ${s.interval}, cooldown ${s.cooldown}; ${s.evaluations} evaluation(s)`);
  if (s.paused) lines.push(`  paused by ${s.paused.actor} ${ago(s.paused.since, now)}: ${s.paused.reason}`);
  if (s.cooldownUntil && Date.parse(s.cooldownUntil) > now)
    lines.push(`  cooldown until ${s.cooldownUntil} (${formatDuration(Date.parse(s.cooldownUntil) - now)} left): no new trigger before`);
  if (!s.prometheus.reachable) lines.push(`  Prometheus unreachable since ${s.prometheus.since}: ${s.prometheus.error ?? ''} (alerting, not rolling back)`);
  const ev = s.lastEvaluation;
  if (ev) {
    lines.push(`  last evaluation ${ago(ev.time, now)}:`);
    for (const c of ev.conditions)
      lines.push(`    ${c.name}: ${c.value ?? 'no data'}${c.breached ? ` (crossed since ${s.breachedSince[c.name] ?? '?'})` : ''}`);
    for (const w of ev.burnRate)
      lines.push(
        `    burn ${w.long}/${w.short}: ${w.longBurn?.toFixed(2) ?? 'no data'}x / ${w.shortBurn?.toFixed(2) ?? 'no data'}x (factor ${w.factor})${w.breached ? ' BREACHED' : ''}`,
      );
    if (ev.health.deployment) lines.push(`    deployment: ${ev.health.deployment.message}`);
    if (ev.health.http) lines.push(`    http: ${ev.health.http.message}`);
    if (ev.prometheusError) lines.push(`    prometheus: ${ev.prometheusError}`);
    lines.push(ev.violations.length ? `  violations: ${ev.violations.join('; ')}` : '  no violation');
  }
  for (const t of s.triggers.slice(-5)) lines.push(`  ${t.time} ${t.joined ? 'joined' : 'started'} ${t.rollbackId}: ${t.violations.join('; ')}`);
  return lines;
}

export function registerGuard(program: Command, ctx: () => CliContext): void {
  const guard = program.command('guard').description('SLO guards: roll back automatically when a runbook’s spec.slo is violated');

  guard
    .command('start')
    .description('Start guarding the runbook’s service (workflow guard:<env>:<service>)')
    .requiredOption('--runbook <file>', 'runbook YAML file with a spec.slo section')
    .option('--reason <text>', 'why: recorded in the audit trail', 'guard started')
    .action(async (raw: Record<string, unknown>) => {
      const opts = parseOptions(z.object({ runbook: z.string().min(1, 'expected a runbook file'), reason: reasonText }), raw);
      const c = ctx();
      const runbook = await readRunbookOrFail(opts.runbook);
      const problems = sloProblems(runbook);
      if (problems.length) throw badInput(...problems.map((p) => `${opts.runbook}: ${p}`));
      const workflowId = guardWorkflowId(runbook.spec.environment, runbook.spec.service);
      const client = await c.connect();
      try {
        const handle = await client.workflow.start<typeof sloGuard>('sloGuard', {
          workflowId,
          taskQueue: c.opts.taskQueue,
          args: [{ runbook, actor: c.actor, reason: opts.reason }],
          memo: { runbook: runbook.metadata.name, actor: c.actor },
        });
        if (c.opts.json) c.out(JSON.stringify({ workflowId, runId: handle.firstExecutionRunId }));
        else {
          const slo = runbook.spec.slo!;
          c.out(
            `Started guard ${workflowId} (runbook ${runbook.metadata.name}): every ${durationText(slo.interval)}, cooldown ${durationText(slo.cooldown)} after a trigger.`,
          );
          describeSlo(runbook).forEach((l) => c.out(`  ${l}`));
        }
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError)
          throw failed(
            `a guard is already running for ${runbook.spec.environment}/${runbook.spec.service} (${workflowId})`,
            `See it with \`rearguard guard status --env ${runbook.spec.environment} --service ${runbook.spec.service}\`.`,
          );
        throw failed(`cannot start guard ${workflowId}: ${rootMessage(err)}`);
      }
    });

  for (const action of ['pause', 'resume'] as const) {
    withTarget(
      guard
        .command(action)
        .description(action === 'pause' ? 'Pause a guard: no evaluation, no automatic rollback until resumed' : 'Resume a paused guard (it evaluates at once)'),
    )
      .option('--reason <text>', 'recorded in the audit trail (required to pause)')
      .action(async (raw: Record<string, unknown>) => {
        const c = ctx();
        const workflowId = workflowIdOf(raw);
        const { reason } = parseOptions(
          z.object({
            reason: action === 'pause' ? reasonText : reasonText.default('resumed'),
          }),
          { reason: raw.reason },
        );
        const client = await c.connect();
        let s: SloGuardStatus;
        try {
          s = await client.workflow
            .getHandle(workflowId)
            .executeUpdate(action === 'pause' ? pauseGuardUpdate : resumeGuardUpdate, { args: [{ actor: c.actor, reason }] });
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) throw failed(`no guard ${workflowId} is running`);
          if (err instanceof WorkflowUpdateFailedError) throw failed(`cannot ${action} ${workflowId}: ${rootMessage(err)}`);
          throw failed(`cannot ${action} ${workflowId}: ${rootMessage(err)}`);
        }
        if (c.opts.json) c.out(JSON.stringify(s));
        else
          c.out(
            action === 'pause' ? `Paused ${workflowId}: no automatic rollback until \`rearguard guard resume\`.` : `Resumed ${workflowId}: evaluating again.`,
          );
      });
  }

  withTarget(guard.command('status').description('Show a guard: state, last evaluation and its values, cooldown, pause, triggers')).action(
    async (raw: Record<string, unknown>) => {
      const c = ctx();
      const workflowId = workflowIdOf(raw);
      const s = await queryGuard(await c.connect(), workflowId);
      if (c.opts.json) c.out(JSON.stringify(s));
      else renderGuard(s).forEach((l) => c.out(l));
    },
  );
}
