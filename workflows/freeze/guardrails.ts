// A freeze's guardrails hold other systems still while it is active (Argo CD auto-sync, Flux
// reconciliation, feature flags). They must come off again however long the cluster is unreachable, so
// their activities retry without a limit; a failure to apply is announced (the deploy gate still holds).
import { CancellationScope, proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../../activities/index.js';
import type { GuardrailChange, Guardrails } from '../../runbook/freeze.js';
import { CONFIGURATION_ERRORS, errorMessage } from '../kit/index.js';
import type { FreezeRun } from './state.js';

const guardrailActivities = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '1m',
  // The activities heartbeat: a worker that dies mid-way is noticed in 20 s, not the minute.
  heartbeatTimeout: '20s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: CONFIGURATION_ERRORS },
});

function record(f: FreezeRun, changes: GuardrailChange[]): void {
  f.state.guardrails ??= { applied: false, restored: false, changes: [] };
  f.state.guardrails.changes.push(...changes);
}

/** Applies the window's current guardrails (a no-op without any). */
export async function applyGuardrails(f: FreezeRun): Promise<void> {
  const { input, state } = f;
  if (!input.guardrails) return;
  try {
    const { changes } = await CancellationScope.nonCancellable(() =>
      guardrailActivities.applyGuardrails({ freezeId: f.workflowId, reason: state.reason, guardrails: input.guardrails! }),
    );
    record(f, changes);
    state.guardrails!.applied = true;
    f.audit('freeze.guardrails-applied', 'rearguard', state.reason, { changes });
  } catch (err) {
    // The gate still blocks deploys; say loudly that the other systems are not held.
    f.audit('freeze.guardrails-failed', 'rearguard', errorMessage(err), {});
    await f.tell('freeze-guardrails-failed', `Freeze ${state.name}: guardrails could not be applied: ${errorMessage(err)}`);
  }
}

/** Puts `guardrails` back (the activities only undo what carries this freeze's marker). */
export async function restoreGuardrails(f: FreezeRun, guardrails: Guardrails | undefined): Promise<void> {
  if (!guardrails) return;
  try {
    const { changes } = await CancellationScope.nonCancellable(() => guardrailActivities.restoreGuardrails({ freezeId: f.workflowId, guardrails }));
    f.audit('freeze.guardrails-restored', 'rearguard', `freeze ${f.state.name} is over`, { changes });
  } catch (err) {
    f.audit('freeze.guardrails-restore-failed', 'rearguard', errorMessage(err), {});
    await f.tell('freeze-guardrails-failed', `Freeze ${f.state.name}: guardrails could not be restored, fix by hand: ${errorMessage(err)}`);
  }
}
