// `rearguard upgrade BUILD_ID`: an upgrade of Rearguard's workers with Worker Versioning (README "Upgrading").
// 1. The new version becomes current: new runs start on it; freezes, unfreezes and guards move to it at their next
//    task (their history replays on the new code, which keeps it working with patched()).
// 2. Rollbacks, plans and drills are pinned to the version that started them and finish there, so the old workers
//    keep running until none is left. A rollback still awaiting approval has not acted yet and may wait for hours:
//    it is moved to the new version (its next task, the approval, runs there), so the old version can stop.
// 3. Exit 0 once no run is pinned to an old version: its workers can stop. Exit 1 if the drain timeout passes
//    first, naming the runs left.
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { describeDeployment, makeCurrent, movePinnedRun, pinnedElsewhere, withPhases, type PinnedRun } from '../../api/deployments.js';
import { DEPLOYMENT_NAME } from '../../api/ids.js';
import { DURATION_LIMITS } from '../../runbook/duration.js';
import type { CliContext } from '../context.js';
import { failed, parseOptions } from '../errors.js';
import { durationOption } from '../options.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
const BUILD_ID = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;

const options = z.object({
  buildId: z.string().regex(BUILD_ID, 'expected 1-100 letters, digits, ".", "_", "+" or "-", starting with a letter or digit'),
  deployment: z.string().regex(NAME, 'expected 1-100 letters, digits, "_" or "-", starting with a letter or digit'),
  drainTimeout: z.union([z.literal('0').transform(() => 0), durationOption(DURATION_LIMITS.timeout)]),
});

/** How often the drain is checked. */
const POLL_MS = 2_000;

const line = (r: PinnedRun): string => `${r.workflowId} (${r.type} on ${r.buildId}${r.phase ? `, ${r.phase}` : ''})`;

export async function upgrade(ctx: () => CliContext, buildId: string, raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<void> {
  const c = ctx();
  const o = parseOptions(options, { buildId, deployment: raw.deployment ?? env.REARGUARD_DEPLOYMENT ?? DEPLOYMENT_NAME, drainTimeout: raw.drainTimeout });
  const client = await c.connect();
  const identity = `rearguard upgrade (${c.actor})`;
  const { previous } = await makeCurrent(client, o.deployment, o.buildId, identity);
  const say = (text: string, data: Record<string, unknown>) => c.out(c.opts.json ? JSON.stringify(data) : text);
  say(
    previous === o.buildId
      ? `${o.buildId} is already the current version of ${o.deployment}`
      : `${o.buildId} is now the current version of ${o.deployment}${previous ? ` (was ${previous})` : ''}: new runs start on it; freezes, unfreezes and guards move to it at their next task`,
    { event: 'current', deployment: o.deployment, buildId: o.buildId, previous: previous ?? null },
  );

  const deadline = Date.now() + o.drainTimeout;
  const moved = new Set<string>();
  for (;;) {
    const left = await withPhases(client, await pinnedElsewhere(client, o.deployment, o.buildId));
    for (const r of left.filter((r) => r.phase === 'awaiting-approval' && !moved.has(r.runId))) {
      await movePinnedRun(client, r, o.deployment, o.buildId, identity);
      moved.add(r.runId);
      say(`moved ${r.workflowId} to ${o.buildId}: it was awaiting approval on ${r.buildId} and had not acted yet`, {
        event: 'moved',
        workflowId: r.workflowId,
        from: r.buildId,
        to: o.buildId,
      });
    }
    const staying = left.filter((r) => !moved.has(r.runId));
    if (staying.length === 0) {
      const d = await describeDeployment(client, o.deployment);
      const old = (d?.versions ?? []).map((v) => v.buildId).filter((b) => b !== o.buildId);
      say(`drained: no run is left on ${old.join(', ') || 'an older version'}; their workers can stop`, { event: 'drained', versions: old });
      return;
    }
    if (Date.now() >= deadline)
      throw failed(
        `still running on an older version after the drain timeout (keep its workers running until these end, then run this again):`,
        ...staying.map((r) => `  ${line(r)}`),
      );
    await delay(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
  }
}
