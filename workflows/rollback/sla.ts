// The SLA clock of a rollback: runs beside the procedure (in its own cancellation scope) and, at each
// escalation mark and at the SLA itself, audits and tells the escalation targets how long it has taken.
import { proxySinks, sleep } from '@temporalio/workflow';
import { formatDuration } from '../../runbook/duration.js';
import type { RearguardSinks } from '../sinks.js';
import type { RollbackRun } from './state.js';

const { metrics } = proxySinks<RearguardSinks>();

export async function watchSla(r: RollbackRun): Promise<void> {
  const { status, slaMs, slaText, startedMs } = r;
  type Mark = { atMs: number; breach: boolean; index: number };
  // At the same instant the breach is marked before an escalation.
  const marks: Mark[] = [{ atMs: slaMs, breach: true, index: -1 }, ...status.sla.escalations.map((e, index) => ({ atMs: e.atMs, breach: false, index }))].sort(
    (a, b) => a.atMs - b.atMs || Number(b.breach) - Number(a.breach),
  );
  for (const mark of marks) {
    const wait = startedMs + mark.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (status.phase === 'done') return;
    if (mark.breach) {
      status.sla.breached = true;
      r.audit('rollback.sla-breached', 'sla-timer', `not restored within the ${slaText} SLA`, { phase: status.phase });
      metrics.slaBreached(r.target);
    } else {
      const esc = status.sla.escalations[mark.index];
      esc.firedAt = new Date().toISOString();
      r.audit('rollback.escalated', 'sla-timer', `${esc.at} of the ${slaText} SLA elapsed`, { notify: esc.notify, phase: status.phase });
      await r.notify(esc.notify, 'escalation', `Rollback ${r.workflowId} still ${status.phase} after ${formatDuration(mark.atMs)} (SLA ${slaText})`, {
        at: esc.at,
        phase: status.phase,
      });
    }
  }
}
