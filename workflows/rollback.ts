// The rollback runbook as a durable workflow: approvals by Update, an SLA clock with escalations,
// steps then verify checks as activities, and an audit event for everything that happens. This file is
// the run from start to end; the procedure itself is rollback/procedure.ts, the state and its message
// handlers rollback/state.ts.
import { ApplicationFailure, CancellationScope, deprecatePatch, isCancellation, proxySinks, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { formatDuration, runbookDurationProblems } from '../runbook/duration.js';
import type { CatalogRollbackInput, RollbackInput, RollbackStatus } from '../runbook/types.js';
import { loadCatalogRunbook } from './catalog.js';
import { cancelUpdate, type VoteRequest } from '../api/messages.js';
import type { RearguardSinks } from './sinks.js';
import { procedure } from './rollback/procedure.js';
import { freezeForRca } from './rollback/rca.js';
import { watchSla } from './rollback/sla.js';
import { RollbackRun } from './rollback/state.js';

const { metrics } = proxySinks<RearguardSinks>();

export async function rollback(start: RollbackInput | CatalogRollbackInput): Promise<RollbackStatus> {
  // A catalog runbook is loaded here, on the worker, by name and the digest the requester saw (in history);
  // a refusal (unknown, changed since the trigger) fails the run before anything is done or audited.
  let input: RollbackInput;
  if ('catalog' in start) {
    // Until the runbook is loaded nothing has run, and the handlers are not set: a cancel is refused with a
    // reason (not left without a handler, which older clients would take for an older worker).
    setHandler(cancelUpdate, (_req: VoteRequest) => ({ accepted: true as const }), {
      validator: (_req: VoteRequest): void => {
        throw new Error('the rollback is still loading its runbook from the catalog (nothing has run yet): cancel again in a moment');
      },
    });
    const entry = await loadCatalogRunbook(start.catalog);
    input = { runbook: entry.runbook, trigger: start.trigger, origin: { catalog: entry.source, revision: entry.revision, digest: entry.digest } };
  } else if (start.origin && !workflowInfo().parent) {
    // Only a drill (a parent workflow that loaded the runbook from the catalog) may say where a runbook came
    // from; a client claiming a catalog origin for the body it sends is treated as sending a local runbook.
    input = { runbook: start.runbook, trigger: start.trigger };
  } else input = start;
  // Validation leaves milliseconds; anything else (an older client's '5m') fails the run, not its tasks.
  const inputProblems = runbookDurationProblems(input.runbook);
  if (inputProblems.length > 0) throw ApplicationFailure.nonRetryable(`invalid runbook input: ${inputProblems.join('; ')}`, 'InvalidRunbook');
  const r = new RollbackRun(input);
  const { status, spec, trigger, target, workflowId, startedMs } = r;
  r.registerHandlers();

  r.audit('rollback.triggered', trigger.actor, trigger.reason, {
    source: trigger.source,
    ...(input.origin ? { runbook: { name: input.runbook.metadata.name, ...input.origin } } : {}),
    sla: r.slaText,
    steps: spec.steps.length,
    ...(trigger.explicitTarget ? { explicitTarget: trigger.explicitTarget } : {}),
  });
  const slaClock = new CancellationScope();
  const slaWatch = slaClock
    .run(() => watchSla(r))
    .catch((err: unknown) => {
      if (!isCancellation(err)) throw err;
    });

  let cancellation: unknown;
  try {
    await procedure(r);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancellation = err;
    r.outcome = 'cancelled';
    const by = status.cancel ?? { actor: 'temporal', reason: 'workflow cancelled' };
    r.audit('rollback.cancelled', by.actor, by.reason, { phase: status.phase });
  }

  const outcome = r.outcome;
  status.outcome = outcome;
  status.phase = 'done';
  // Nothing runs after a rejection, an approval timeout or an already-restored target: its steps and checks
  // read as skipped, not as still to come. State only: no command changes.
  if (outcome === 'rejected' || outcome === 'approval-timeout' || outcome === 'already-restored')
    for (const item of [...status.steps, ...status.verify]) if (item.state === 'pending') item.state = 'skipped';
  // Visible in `rollback list` (visibility) without asking a worker. deprecatePatch: the upsert was added without a
  // patch (0225bf7) and wrapped in patched() a commit later, so every run that can replay has it, with or without
  // the marker: both replay.
  deprecatePatch('outcome-memo');
  upsertMemo({ outcome });
  status.endedAt = new Date().toISOString();
  slaClock.cancel();
  await slaWatch;
  const durationSeconds = (Date.now() - startedMs) / 1000;
  // Rejected, timed-out and cancelled runs already ended with their own event (by the voter, the
  // approval timer, the canceller); succeeded and failed ones get a closing event here.
  if (outcome === 'succeeded' || outcome === 'failed') {
    r.audit(`rollback.${outcome}`, 'rearguard', status.failure?.error ?? 'rollback succeeded', {
      outcome,
      durationMs: Date.now() - startedMs,
      slaBreached: status.sla.breached,
      ...(status.failure ? { failure: status.failure } : {}),
    });
  }
  metrics.rollbackFinished({ ...target, outcome }, durationSeconds);
  if (outcome === 'succeeded' && spec.freezeAfter !== undefined) await freezeForRca(r, spec.freezeAfter);
  // Everyone on the runbook's notify list hears how it ended (an approval timeout and an already-restored
  // target were announced to the escalation targets already).
  if (outcome !== 'approval-timeout' && outcome !== 'already-restored') {
    await r.notify(
      r.everyone(),
      `rollback.${outcome}`,
      `Rollback ${workflowId} ${outcome} in ${formatDuration(Date.now() - startedMs)}${status.failure ? `: ${status.failure.error}` : ''}`,
    );
  }
  await r.flushed();

  // Report the run as cancelled to Temporal too, once the audit trail is complete.
  if (cancellation !== undefined) throw cancellation;
  if (outcome === 'failed') {
    throw ApplicationFailure.create({ type: 'RollbackFailed', message: status.failure?.error ?? 'rollback failed', nonRetryable: true, details: [status] });
  }
  return status;
}
