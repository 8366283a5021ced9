// Human output for rollback status: a compact block (redrawn on a TTY by --wait) and one-line events.
import { formatDuration } from '../runbook/duration.js';
import type { AuditEvent, ItemStatus, RollbackStatus } from '../runbook/types.js';

const MARK: Record<ItemStatus['state'], string> = { pending: '·', running: '▶', succeeded: '✓', failed: '✗', skipped: '-' };

export function slaLine(s: RollbackStatus, now = Date.now()): string {
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
