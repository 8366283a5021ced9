// After a successful rollback with `freezeAfter`, the service is frozen (a freeze window started as an
// abandoned child, so it outlives the rollback) while people find the cause, so nobody redeploys the bad
// change in the meantime.
import { ParentClosePolicy, startChild } from '@temporalio/workflow';
import { durationText } from '../../runbook/duration.js';
import { freezeWorkflowId } from '../../api/ids.js';
import { errorMessage } from '../kit/index.js';
import { freezeWindow } from '../freeze.js';
import type { RollbackRun } from './state.js';

/** Freezes the service until the freeze is lifted or `durationMs` ends. */
export async function freezeForRca(r: RollbackRun, durationMs: number): Promise<void> {
  const { spec } = r;
  const name = `rca-${spec.environment}-${spec.service}`.slice(0, 253);
  const end = new Date(Date.now() + durationMs).toISOString();
  try {
    await startChild(freezeWindow, {
      workflowId: freezeWorkflowId(name),
      args: [
        {
          name,
          scope: { environments: [spec.environment], services: [spec.service] },
          reason: `RCA after rollback ${r.workflowId}: ${r.trigger.reason}`,
          actor: 'rearguard',
          end,
          exceptions: { approvers: r.status.approval.approvers, quorum: 1 },
        },
      ],
      // The freeze outlives this rollback.
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    r.audit(
      'rollback.freeze-started',
      'rearguard',
      `freezeAfter ${durationText(durationMs)}: ${spec.environment}/${spec.service} frozen until lifted or ${end}`,
      {
        freeze: freezeWorkflowId(name),
        end,
      },
    );
  } catch (err) {
    // Most often a freeze from an earlier rollback is still running: it already covers the service.
    r.audit('rollback.freeze-not-started', 'rearguard', errorMessage(err), { freeze: freezeWorkflowId(name) });
  }
}
