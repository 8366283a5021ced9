// Records the history of one run of an older version's workflow code, for a test that replays it on today's code
// (test/workflows/patches-replay.test.ts): the workflows of `<worktree>` (a `git worktree add <dir> <commit>` with
// node_modules linked in) run on a dev server with stub activities, and the run's history is written as binary
// protobuf (temporal.api.history.v1.History). Messages are sent by name and the runbook is built by the worktree's
// own test/helpers/runbooks.ts, so the same scenarios run on any commit since the workflows had these messages.
//
//   node --import tsx scripts/record-old-history.ts <worktree> <scenario> <out.binpb>
//
// Scenarios (see SCENARIOS below): rollback, rollback-approved, rollback-signed-trigger, rollback-relative, freeze,
// drill. Prints the workflow ID, the number of events and the patch markers of the history.
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createDevServerEnv } from '../test/helpers/temporal.js';
import type { RearguardMetrics } from '../worker/metrics.js';

type MakeRunbook = (spec?: Record<string, unknown>, name?: string) => { spec: { environment: string; service: string } };

const webhooks = { approval: { required: false } };
const approved = {}; // makeRunbook's default: approvers alice, bob and carol, quorum 1
const relative = {
  approval: { required: false },
  steps: [
    { name: 'drain', type: 'webhook', url: 'http://127.0.0.1:9/drain' },
    { name: 'undo-api', type: 'kubernetes', namespace: 'shop', deployment: 'api', toRevision: 'previous' },
    { name: 'announce', type: 'webhook', url: 'http://127.0.0.1:9/announce' },
  ],
  verify: [{ type: 'http', url: 'http://127.0.0.1:9/healthz' }],
};
/** A trigger signed the way a newer CLI signs it; code from before signed triggers ignores the field. */
const signed = { payload: 'cmVhcmd1YXJk', signature: '-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----' };
const DAY = 86_400_000;

interface Scenario {
  about: string;
  run(env: TestWorkflowEnvironment, taskQueue: string, makeRunbook: MakeRunbook): Promise<WorkflowHandle>;
}

function rollback(spec: Record<string, unknown>, approvers: string[], trigger: Record<string, unknown> = {}): Scenario['run'] {
  return async (env, taskQueue, makeRunbook) => {
    const runbook = makeRunbook({ service: 'payments', ...spec });
    const t = { source: 'manual', actor: 'dave', reason: 'error rate 12%', requestId: 'req-1', ...trigger };
    const workflowId = `rollback:${runbook.spec.environment}:${runbook.spec.service}`;
    const h = await env.client.workflow.signalWithStart('rollback', {
      workflowId,
      taskQueue,
      args: [{ runbook, trigger: t }],
      signal: 'trigger',
      signalArgs: [t],
    });
    for (const actor of approvers) {
      for (let tries = 0; ; tries++) {
        // The approval phase comes after the trust settings and the preflight: retry until the vote is taken.
        try {
          await h.executeUpdate('approve', { args: [{ actor, reason: 'confirmed on dashboard' }] });
          break;
        } catch (err) {
          if (tries > 100) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
    return h;
  };
}

const SCENARIOS: Record<string, Scenario> = {
  rollback: { about: 'a prod rollback of 3 webhook steps without approval, succeeded', run: rollback(webhooks, []) },
  'rollback-approved': {
    about: 'a prod rollback of 3 webhook steps approved by alice (approvers alice, bob, carol), succeeded',
    run: rollback(approved, ['alice']),
  },
  'rollback-signed-trigger': {
    about: 'rollback-approved whose trigger carries a signed envelope (as a newer CLI sends it), succeeded',
    run: rollback(approved, ['alice'], { signed }),
  },
  'rollback-relative': {
    about: 'a prod rollback without approval: webhook, kubernetes step to the previous revision (relative), webhook, http check; succeeded',
    run: rollback(relative, []),
  },
  freeze: {
    about: 'a freeze window of prod from now for 3 days, extended by a day, then lifted',
    async run(env, taskQueue) {
      const now = Date.now();
      const name = 'black-friday';
      const input = {
        name,
        scope: { environments: ['prod'], services: ['*'] },
        reason: 'Black Friday',
        actor: 'rm-ann',
        start: new Date(now).toISOString(),
        end: new Date(now + 3 * DAY).toISOString(),
        exceptions: { approvers: ['rm-bo', 'rm-cy'], quorum: 1 },
      };
      const h = await env.client.workflow.start('freezeWindow', { workflowId: `freeze:${name}`, taskQueue, args: [input] });
      await h.executeUpdate('extend', { args: [{ actor: 'rm-ann', reason: 'RCA not done', end: new Date(now + 4 * DAY).toISOString() }] });
      await h.executeUpdate('lift', { args: [{ actor: 'rm-bo', reason: 'incident resolved' }] });
      return h;
    },
  },
  drill: {
    about: 'a staging drill of a local runbook (not from a catalog): bad revision deployed, its rollback child succeeded, SLA met',
    async run(env, taskQueue, makeRunbook) {
      const step = { name: 'undo-api', type: 'kubernetes', namespace: 'shop', deployment: 'api' };
      const runbook = makeRunbook({ service: 'api', environment: 'staging', cluster: 'testbed', approval: undefined, steps: [step] }, 'api-staging');
      return env.client.workflow.start('drill', { workflowId: 'drill:api-staging:2026-12-04T16:00:00.000Z', taskQueue, args: [{ runbook, actor: 'dave' }] });
    },
  },
};

/** What the scenarios' runs call, answered as the workflow tests' stubs answer (one set for every commit). */
const activities = {
  appendAudit: async () => undefined,
  trustSettings: async () => ({ requireSignatures: false, allowedSigners: [] }),
  preflight: async () => [],
  findRestored: async () => null,
  planStep: async () => ({
    kind: 'kubernetes',
    cluster: 'testbed',
    namespace: 'shop',
    deployment: 'api',
    fromRevision: 2,
    toRevision: 1,
    fromImages: ['api=api:1.27'],
    toImages: ['api=api:1.25'],
    replicaSet: 'api-1',
    alreadyAtTarget: false,
  }),
  runStep: async () => ({ ok: true }),
  runCheck: async () => ({ ok: true }),
  notify: async (req: { targets?: { name: string }[] }) => ({ sent: (req.targets ?? []).map((t) => t.name) }),
  applyGuardrails: async () => ({ changes: [] }),
  restoreGuardrails: async () => ({ changes: [] }),
  publishGate: async () => undefined,
  drillDeployBadRevision: async (req: { marker: string }) => ({
    cluster: 'testbed',
    namespace: 'shop',
    deployment: 'api',
    marker: req.marker,
    goodRevision: 1,
    goodReplicaSet: 'api-1',
    goodImages: ['api=api:1.0'],
    badRevision: 2,
    badImages: ['api=api:rearguard-drill-bad'],
    created: true,
  }),
  drillInspect: async () => ({ revision: 3, images: ['api=api:1.0'], marker: undefined, rolloutDone: true }),
  drillRestore: async () => ({ patched: true, revision: 3 }),
};

const [worktree, name, out] = process.argv.slice(2);
const scenario = name ? SCENARIOS[name] : undefined;
if (!worktree || !scenario || !out) {
  console.error(
    `usage: record-old-history.ts <worktree> <scenario> <out.binpb>\nscenarios:\n${Object.entries(SCENARIOS)
      .map(([n, s]) => `  ${n}: ${s.about}`)
      .join('\n')}`,
  );
  process.exit(2);
}
const root = resolve(worktree);
const { makeRunbook } = (await import(`${root}/test/helpers/runbooks.ts`)) as { makeRunbook: MakeRunbook };
const workflowBundle = await bundleWorkflowCode({
  workflowsPath: `${root}/workflows/index.ts`,
  logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
});
// The worktree's own metric sinks, which its workflows call (without them the worker logs each call as an error).
const metrics = (await import(`${root}/worker/metrics.ts`)) as { RearguardMetrics: new (o: { defaultMetrics: boolean }) => Pick<RearguardMetrics, 'sinks'> };
const sinks = new metrics.RearguardMetrics({ defaultMetrics: false }).sinks();
const env = await createDevServerEnv();
try {
  const taskQueue = 'record-old-history';
  const worker = await Worker.create({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, workflowBundle, activities, sinks });
  const { workflowId, history } = await worker.runUntil(async () => {
    const h = await scenario.run(env, taskQueue, makeRunbook);
    await h.result().catch((err: unknown) => console.error(`the run failed: ${String(err)}`));
    return { workflowId: h.workflowId, history: await h.fetchHistory() };
  });
  await writeFile(out, proto.temporal.api.history.v1.History.encode(history).finish());
  const markers = (history.events ?? []).flatMap((e) => {
    const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
    return data ? [(JSON.parse(Buffer.from(data).toString()) as { id: string }).id] : [];
  });
  console.log(`${out}: ${workflowId}, ${history.events?.length} events; patch markers: ${markers.join(', ') || 'none'}`);
} finally {
  await env.teardown();
}
