// Long-lived workflows (freeze windows, unfreeze ladders, SLO guards) continue as new before their history
// grows past what replays quickly. Temporal suggests when; `limit` (an input, small in tests) caps it too.
import { workflowInfo } from '@temporalio/workflow';

/** Whether this run should hand over to a new one now. */
export const historyTooLong = (limit: number) => (): boolean => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > limit;
