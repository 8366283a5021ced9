// What a gradual unfreeze asks of a running freeze window. A workflow cannot send an Update to another
// workflow (TS SDK 1.24), so these activities do it with a Temporal Client: the worker's own
// (`Context.current().client`), unless one is passed in. Each is idempotent: the
// freeze's state is read first, so a retry after the Update landed is recognised and not refused; the
// Update also carries a request ID that is the same on every attempt.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { configurationError } from './errors.js';
import { gateSynced } from '../api/gate-view.js';
import type { FreezeState } from '../runbook/freeze.js';
import type { FreezeControlResult } from '../runbook/unfreeze.js';
import { freezeStateQuery, liftFreezeUpdate, refreezeEnvironmentUpdate, releaseEnvironmentUpdate } from '../api/messages.js';

export interface FreezeControlRequest {
  freezeId: string;
  actor: string;
  reason: string;
  /** Same on every attempt of one request (sent as the Update ID). */
  requestId: string;
}

const open = (s: FreezeState) => s.phase === 'scheduled' || s.phase === 'active';
const closed = (s: FreezeState): FreezeControlResult => ({
  ok: false,
  closed: true,
  phase: s.phase,
  message: `freeze ${s.name} has ${s.phase === 'lifted' ? 'been lifted' : 'ended'}`,
});
const done = (s: FreezeState, already: boolean): FreezeControlResult => ({ ok: true, scope: s.scope.environments, released: s.released ?? [], already });

export function freezeControl(client?: Client) {
  const need = (): Client => client ?? Context.current().client;
  /** The freeze's state (a closed window answers too, with its final phase). */
  async function state(freezeId: string): Promise<FreezeState> {
    const h = need().workflow.getHandle(freezeId);
    try {
      return await h.query(freezeStateQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw configurationError(`no freeze ${freezeId} was found`);
      throw err;
    }
  }
  async function change(
    req: FreezeControlRequest,
    already: (s: FreezeState) => boolean,
    send: (s: FreezeState) => Promise<FreezeState>,
  ): Promise<FreezeControlResult> {
    const before = await state(req.freezeId);
    if (!open(before)) return closed(before);
    // Terminated or timed out: its last state still reads open, but nothing will answer an Update.
    const { status } = await need().workflow.getHandle(req.freezeId).describe();
    if (status.name !== 'RUNNING')
      return { ok: false, closed: true, phase: status.name.toLowerCase(), message: `freeze ${before.name} is ${status.name.toLowerCase()}` };
    // Already done (a retry after the Update landed): still only once the gate enforces it.
    if (already(before)) return (await gateSynced(need(), req.freezeId), done(before, true));
    try {
      const after = await send(before);
      // The unfreeze's next rung starts only once the gate enforces this one (api/gate-view.ts).
      await gateSynced(need(), req.freezeId);
      return done(after, false);
    } catch (err) {
      if (!(err instanceof WorkflowUpdateFailedError)) throw err;
      // Refused: maybe it closed, or a concurrent request did it first. Look again before failing.
      const after = await state(req.freezeId);
      if (!open(after)) return closed(after);
      if (already(after)) return (await gateSynced(need(), req.freezeId), done(after, true));
      throw configurationError((err.cause as Error | undefined)?.message ?? err.message);
    }
  }

  return {
    /** The freeze window's state (the unfreeze checks its ladder against it before opening anything). */
    async freezeState({ freezeId }: { freezeId: string }): Promise<FreezeState> {
      return state(freezeId);
    },

    /** Opens one environment of the freeze (the gate allows deploys there). */
    async releaseEnvironment(req: FreezeControlRequest & { environment: string }): Promise<FreezeControlResult> {
      return change(
        req,
        (s) => (s.released ?? []).includes(req.environment) && !s.scope.environments.includes(req.environment),
        (s) => {
          if (!s.scope.environments.includes(req.environment))
            throw configurationError(`freeze ${s.name} does not hold ${req.environment} (holds: ${s.scope.environments.join(', ') || 'nothing'})`);
          return need()
            .workflow.getHandle(req.freezeId)
            .executeUpdate(releaseEnvironmentUpdate, {
              args: [{ actor: req.actor, reason: req.reason, environment: req.environment }],
              updateId: req.requestId,
            });
        },
      );
    },

    /** Closes an environment the unfreeze opened again (a gate failed during its soak). */
    async refreezeEnvironment(req: FreezeControlRequest & { environment: string }): Promise<FreezeControlResult> {
      return change(
        req,
        (s) => s.scope.environments.includes(req.environment),
        () =>
          need()
            .workflow.getHandle(req.freezeId)
            .executeUpdate(refreezeEnvironmentUpdate, {
              args: [{ actor: req.actor, reason: req.reason, environment: req.environment }],
              updateId: req.requestId,
            }),
      );
    },

    /** Lifts the freeze (the ladder completed). A freeze that already ended or was lifted is left as it is. */
    async liftFreeze(req: FreezeControlRequest): Promise<FreezeControlResult> {
      return change(
        req,
        () => false,
        () =>
          need()
            .workflow.getHandle(req.freezeId)
            .executeUpdate(liftFreezeUpdate, { args: [{ actor: req.actor, reason: req.reason }], updateId: req.requestId }),
      );
    },
  };
}
