// `rearguard doctor`'s worker half (activities/doctor.ts) as a workflow: the only way for the CLI to reach a worker
// of the task queue. One read-only activity, tried once (a check that fails is a finding, not an error), bounded by
// a minute; nothing else is recorded.
import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { DiagnoseInput, Finding } from '../runbook/doctor.js';

const { diagnose: checkWorker } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 1 },
});

export async function diagnose(input: DiagnoseInput): Promise<Finding[]> {
  return checkWorker(input);
}
