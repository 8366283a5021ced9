// Where a run stands, in its memo: `rollback list`, `rearguard serve`'s /metrics (approvals pending, and for how
// long) and anything else reading visibility see each running rollback's or unfreeze's phase without a Query to a
// worker per run.
import { patched, upsertMemo } from '@temporalio/workflow';

/**
 * Sets `fields` in the run's memo. A memo upsert is a command, so it is behind patched('progress-memo'), asked
 * here at each use rather than once at the start: a run started by a version before it replays without the
 * upserts, and once a newer worker carries it on (a long-lived run moving to a new version) it shows its progress
 * from its next change on. The memo only adds information; nothing in the workflows reads it back.
 */
export function showProgress(fields: Record<string, string | undefined>): void {
  // `since`: when the run entered this phase (workflow time), e.g. how long an approval has been waiting.
  if (patched('progress-memo')) upsertMemo({ ...fields, since: new Date().toISOString() });
}
