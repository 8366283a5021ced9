// Human output for rollbacks: the status block (redrawn on a TTY by --wait), one-line audit events, the
// lines of `rollback start`, `list` and `plan`.
import type { RollbackPlan, RollbackRow, TriggerResult } from '../../api/rollbacks.js';
import { durationText, formatDuration } from '../../runbook/duration.js';
import type { Runbook } from '../../runbook/schema.js';
import type { AuditEvent, ItemStatus, RollbackStatus, Trigger } from '../../runbook/types.js';

const MARK: Record<ItemStatus['state'], string> = { pending: '·', running: '▶', succeeded: '✓', failed: '✗', skipped: '-' };

/** Outcomes in which nothing was restored, so the restore SLA does not apply. */
const NOTHING_RESTORED = new Set(['rejected', 'approval-timeout', 'already-restored']);

export function slaLine(s: RollbackStatus, now = Date.now()): string {
  if (s.outcome && NOTHING_RESTORED.has(s.outcome)) return `SLA ${s.sla.target}: not applicable (${s.outcome}: nothing was restored)`;
  const end = s.endedAt ? Date.parse(s.endedAt) : now;
  const elapsed = end - Date.parse(s.startedAt);
  const remaining = Date.parse(s.sla.deadline) - end;
  const state = s.sla.breached || remaining < 0 ? `BREACHED by ${formatDuration(-remaining)}` : `${formatDuration(remaining)} left`;
  return `SLA ${s.sla.target}: ${formatDuration(elapsed)} elapsed, ${s.endedAt ? (s.sla.breached ? 'breached' : 'met') : state}`;
}

function item(i: ItemStatus): string {
  const took = i.durationMs !== undefined ? ` (${formatDuration(i.durationMs)})` : '';
  const waiting = i.planApproval && !i.planApproval.approvedBy && i.state === 'running' ? ' (waiting for plan approval: rearguard rollback approve-plan)' : '';
  const extra = waiting || (i.error ? `: ${i.error}` : i.result?.status !== undefined ? ` → ${String(i.result.status)}` : '');
  return `  ${MARK[i.state]} ${i.name} [${i.type}] ${i.state}${took}${extra}`;
}

export function renderStatus(s: RollbackStatus, now = Date.now()): string[] {
  const lines = [
    `${s.workflowId}  runbook ${s.runbook}  ${s.outcome ? `outcome ${s.outcome.toUpperCase()}` : `phase ${s.phase}`}`,
    `trigger: ${s.trigger.source} by ${s.trigger.actor} at ${s.startedAt}: ${s.trigger.reason}`,
    ...s.joins.map((j) => `joined:  ${j.source} by ${j.actor}: ${j.reason}`),
    slaLine(s, now),
  ];
  if (s.approval.required) {
    const yes = s.approval.votes.filter((v) => v.decision === 'approve').map((v) => v.actor);
    const no = s.approval.votes.filter((v) => v.decision === 'reject').map((v) => v.actor);
    lines.push(
      `approval: ${yes.length}/${s.approval.quorum} (${yes.join(', ') || 'none yet'})${no.length ? `, rejected by ${no.join(', ')}` : ''}; approvers ${s.approval.approvers.join(', ')}`,
    );
  }
  lines.push('steps:', ...s.steps.map(item));
  if (s.verify.length) lines.push('verify:', ...s.verify.map(item));
  if (s.failure) lines.push(`failure in ${s.failure.phase}${s.failure.item ? ` (${s.failure.item})` : ''}: ${s.failure.error}`);
  if (s.cancel && s.outcome === 'cancelled') lines.push(`cancelled by ${s.cancel.actor}: ${s.cancel.reason}`);
  if (s.alreadyRestored) {
    lines.push(
      `already restored (step ${s.alreadyRestored.step}): ${s.alreadyRestored.message}`,
      `  ${s.alreadyRestored.record.detail}; nothing was changed. To go further back: rearguard rollback start --to-revision N`,
    );
  }
  return lines;
}

export function eventLine(e: AuditEvent): string {
  const what = (e.details.step ?? e.details.check ?? '') as string;
  return `${e.time}  ${e.action.replace(/^rollback\./, '').padEnd(18)} ${what ? `${what}  ` : ''}${e.actor}: ${e.reason}`;
}

/** What `rollback start` tells the person: started or joined, their explicit target, who must approve. */
export function startLines(r: TriggerResult, runbook: Runbook, actor: string, explicitTarget: Trigger['explicitTarget']): string[] {
  const lines = [
    r.joined
      ? `Joined the rollback already running: ${r.workflowId} (started by ${r.startedBy ?? 'someone else'}); your trigger is in its audit trail.`
      : `Started rollback ${r.workflowId} (runbook ${runbook.metadata.name}, SLA ${durationText(runbook.spec.sla)}).`,
  ];
  if (explicitTarget)
    lines.push(
      r.joined
        ? `Your --to-revision ${explicitTarget.toRevision} was not applied: the running rollback keeps its own targets (it is recorded in its audit trail).`
        : `Step ${explicitTarget.step} goes to revision ${explicitTarget.toRevision}, as you asked (recorded in the audit trail).`,
    );
  const a = runbook.spec.approval;
  if (a?.required && !r.joined) {
    lines.push(`Needs ${a.quorum} approval(s) from ${a.approvers.filter((x) => x !== actor).join(', ')} within ${durationText(a.timeout)}:`);
    lines.push(`  rearguard rollback approve --env ${runbook.spec.environment} --service ${runbook.spec.service} --as <approver> --reason "..."`);
  }
  return lines;
}

/** `rollback plan`: each step's change, then the preflight problems. */
export function planLines(plan: RollbackPlan, runbook: Runbook): string[] {
  const lines = [`Plan for ${runbook.metadata.name} (${runbook.spec.environment}/${runbook.spec.service}):`];
  plan.steps.forEach((s, i) => lines.push(`  ${i + 1}. ${s.name} [${s.type}] ${s.error ? `cannot plan: ${s.error}` : s.summary}`));
  if (plan.problems.length) {
    lines.push('Preflight problems (the rollback would fail before changing anything):');
    plan.problems.forEach((p) => lines.push(`  - ${p}`));
  }
  return lines;
}

/** One line of `rollback list`: a running rollback's phase (memo `phase`, e.g. awaiting-approval), a finished one's outcome (memo `outcome`, e.g. already-restored) say more than "running" or "completed". */
export const rollbackRowLine = (r: RollbackRow): string =>
  `${String(r.workflowId).padEnd(34)} ${String(r.outcome ?? r.phase ?? r.status).padEnd(17)} ${String(r.startTime)}  ${String(r.runbook ?? '')} by ${String(r.actor ?? '?')}: ${String(r.reason ?? '')}`;
