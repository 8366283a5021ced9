// The freeze gate: every running freeze window's state (by Query), then the pure decision of
// runbook/freeze.ts. Shared by `rearguard freeze check` and `GET /v1/gate`.
import type { Client } from '@temporalio/client';
import { DateTime } from 'luxon';
import { evaluateGate, type FreezeState, type GateDecision } from '../runbook/freeze.js';
import { freezeStateQuery } from '../workflows/messages.js';

export async function runningFreezes(client: Client): Promise<FreezeState[]> {
  const ids: string[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowType = 'freezeWindow' AND ExecutionStatus = 'Running'` })) ids.push(w.workflowId);
  const states = await Promise.all(
    ids.map((id) =>
      client.workflow
        .getHandle(id)
        .query(freezeStateQuery)
        .catch(() => undefined),
    ),
  );
  return states.filter((s): s is FreezeState => s !== undefined);
}

export async function checkGate(client: Client, q: { environment: string; service: string; change?: string }): Promise<GateDecision> {
  return evaluateGate(await runningFreezes(client), q, Date.now());
}

/** How the CLI names a window: its name, or its ID for occurrences of a recurring one. */
const windowRef = (w: { id: string; name: string }): string => (w.id === `freeze:${w.name}` ? w.name : w.id);

/** When a window ends, in the caller's time zone (the gate's reader is usually a person or a CI log). */
export function localTime(iso: string, zone = Intl.DateTimeFormat().resolvedOptions().timeZone): string {
  return DateTime.fromISO(iso, { zone: 'utc' }).setZone(zone).toFormat('yyyy-LL-dd HH:mm ZZZZ');
}

export function describeDecision(d: GateDecision): string[] {
  if (d.allowed) {
    return [
      `allowed: ${d.environment}/${d.service}${d.change ? ` change ${d.change}` : ''} is not frozen`,
      ...d.exceptedBy.map((e) => `  (freeze ${e.name} applies, but exception ${e.changeId} is approved until ${localTime(e.validUntil)})`),
    ];
  }
  return [
    `FROZEN: ${d.environment}/${d.service}${d.change ? ` change ${d.change}` : ''} is blocked by a release freeze`,
    ...d.blockedBy.map((w) => `  ${w.name}: ${w.reason} (by ${w.actor}) until ${localTime(w.end)}`),
    `To ask for an exception: rearguard freeze exception request --name ${windowRef(d.blockedBy[0])} --change <CHANGE-ID> --reason "..."`,
  ];
}
