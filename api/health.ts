// Is Temporal reachable? `rearguard serve`'s readiness (GET /readyz) asks the frontend for its system info
// (the cheapest call every frontend answers, as the Temporal CLI does) with a short deadline, so a server that is down is reported in a couple of seconds, not after
// the client's retries give up.
import type { Client } from '@temporalio/client';
import { rootMessage } from './errors.js';

/** How long the health check may take before Temporal counts as unreachable. */
export const HEALTH_TIMEOUT_MS = 2_000;

export type TemporalHealth = { reachable: true } | { reachable: false; error: string };

export async function temporalHealth(client: Client, timeoutMs = HEALTH_TIMEOUT_MS): Promise<TemporalHealth> {
  try {
    await client.withDeadline(Date.now() + timeoutMs, () => client.workflowService.getSystemInfo({}));
    return { reachable: true };
  } catch (err) {
    return { reachable: false, error: rootMessage(err) };
  }
}
