import { Context } from '@temporalio/activity';

/**
 * Heartbeats every few seconds while `work` runs, so the server notices a dead worker within the
 * heartbeat timeout and the activity learns about cancellation (delivered with heartbeat replies).
 */
export async function withHeartbeat<T>(details: unknown, work: () => Promise<T>, everyMs = 5_000): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(details);
  const timer = setInterval(() => ctx.heartbeat(details), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
