// Publishes a freeze window's gate entry to its registry shard (workflows/gate-registry.ts). A workflow cannot
// signal-with-start another workflow, and the registry must exist however the installation started: this
// activity does it with the worker's Temporal client. Idempotent: the registry ignores a revision it already has.
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { gateRegistryId } from '../api/ids.js';
import { publishGateSignal } from '../api/messages.js';
import { gateShardOf, type GatePublication } from '../runbook/gate-view.js';

export function gatePublisher(client?: Client) {
  return {
    async publishGate(req: GatePublication): Promise<void> {
      const c = client ?? Context.current().client;
      const { taskQueue } = Context.current().info;
      const shard = gateShardOf(req.id);
      await c.workflow.signalWithStart('freezeGateRegistry', {
        workflowId: gateRegistryId(taskQueue, shard),
        taskQueue,
        args: [{ shard }],
        signal: publishGateSignal,
        signalArgs: [req],
      });
    },
  };
}
