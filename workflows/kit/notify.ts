// Announcements (chat, pager, webhook targets of a runbook or freeze) are best effort in every workflow: a
// broken webhook is audited by the caller, it never stops a rollback, holds a freeze open or stops a
// ladder. Cancellation cannot interrupt one either, so "rollback cancelled" is still announced.
import { CancellationScope, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { createActivities } from '../../activities/index.js';
import type { NotifyRequest } from '../../runbook/types.js';

/** How most workflows send: a few attempts within half a minute each. */
export const NOTIFY_OPTIONS: ActivityOptions = { startToCloseTimeout: '30s', retry: { maximumAttempts: 5 } };

/** Sends one announcement; `failed` hears about a send that gave up (to audit it). Nothing to send: no activity. */
export type Send = (request: NotifyRequest, failed: (err: unknown) => void) => Promise<void>;

/** A sender with these activity options (they are part of each workflow's history, so each keeps its own). */
export function notifier(options: ActivityOptions): Send {
  const { notify } = proxyActivities<ReturnType<typeof createActivities>>(options);
  return async (request, failed) => {
    if (request.targets.length === 0) return;
    try {
      await CancellationScope.nonCancellable(() => notify(request));
    } catch (err) {
      failed(err);
    }
  };
}
