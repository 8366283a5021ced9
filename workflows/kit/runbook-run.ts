// What every run of a runbook (a rollback, an SLO guard) knows about itself from the start: its workflow
// and run IDs, the runbook and the target it acts on. The state classes of those workflows extend it.
import { workflowInfo } from '@temporalio/workflow';
import type { Runbook } from '../../runbook/schema.js';
import type { Target } from '../../runbook/types.js';

export abstract class RunbookRun {
  readonly workflowId: string;
  readonly runId: string;
  readonly runbook: Runbook;
  readonly spec: Runbook['spec'];
  readonly target: Target;

  protected constructor(runbook: Runbook) {
    const { workflowId, runId } = workflowInfo();
    this.workflowId = workflowId;
    this.runId = runId;
    this.runbook = runbook;
    this.spec = runbook.spec;
    this.target = { environment: runbook.spec.environment, service: runbook.spec.service };
  }
}
